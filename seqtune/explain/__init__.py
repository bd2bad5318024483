"""``seqtune explain``: which tokens (text) or time steps (numeric series) drove a fine-tuned model's prediction.

``attribution.py`` computes the scores with Captum (Integrated Gradients through the embedding layer, or
occlusion), ``render.py`` shows them (terminal, JSON Lines, HTML, top-k words per class) and ``command.py`` is
the command: checkpoint and inputs in, outputs written.  Captum is an optional extra (``seqtune[explain]``) and
is imported only when an attribution runs.
"""
from seqtune.explain.command import run

__all__ = ["run"]
