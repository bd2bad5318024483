"""One module per ``seqtune <command>``: pretrain, finetune, evaluate, predict, explain, generate (Hydra entry
points, each ``run(cfg) -> dict``), and export, report, ls (plain functions of argv).  ``sweep`` is the multirun
support the CLI installs as a Hydra callback.  A command never imports another command; what two commands share lives in
``seqtune.training`` (or below)."""
