"""What runs a model: the loop, checkpoints and resume, data-parallel helpers, optimizers and schedules,
transfer strategies, inference helpers and the run's environment record.  Commands (``seqtune.commands``) are
built from these parts; nothing here imports a command."""
