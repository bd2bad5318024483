"""``python -m seqtune ...`` (also what ``torchrun -m seqtune ...`` runs)."""

from seqtune.cli import main

main()
