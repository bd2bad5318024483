"""Metric loggers: where the training loop's metric records go.

A logger is any object with two methods::

    log(record: dict)   # {"step": int, "epoch": int, "train/loss": float, "val/ppl": float, ...}
    close()

built from the run directory by a function registered under a short name::

    @register("mlflow", requires=("mlflow", "mlflow"))
    def build(run_dir: Path) -> Logger: ...

``metrics.jsonl`` (``MetricsLogger``) is always written; ``trainer.loggers=[tensorboard]`` adds the others.
A new backend (MLflow, W&B) is one file in this package that registers itself (``registry.register``) and is
imported here, plus the
package its ``requires`` names (checked before the run starts, so a missing extra never costs a run).
"""

from __future__ import annotations

from pathlib import Path

from seqtune.errors import ConfigError
from seqtune.loggers import tensorboard as _tensorboard  # noqa: F401  (registers "tensorboard")
from seqtune.loggers.metrics import MetricsLogger
from seqtune.loggers.registry import LOGGERS, REQUIRES, Logger, logger_problems, register

__all__ = ["LOGGERS", "REQUIRES", "Logger", "MultiLogger", "build_loggers", "logger_problems", "register"]


class MultiLogger:
    """Sends every record to metrics.jsonl and the configured backends, in that order."""

    def __init__(self, loggers: list[Logger]):
        self.loggers = loggers

    def log(self, record: dict[str, object]) -> None:
        for lg in self.loggers:
            lg.log(record)

    def close(self) -> None:
        for lg in self.loggers:
            lg.close()


def build_loggers(run_dir: Path, names: tuple[str, ...] | list[str] = (), enabled: bool = True) -> MultiLogger:
    """metrics.jsonl plus the named backends; ``enabled=False`` (data-parallel ranks other than 0): none."""
    problems = logger_problems("trainer.loggers", list(names))
    if problems:
        raise ConfigError(" ".join(problems))
    if not enabled:
        return MultiLogger([])
    return MultiLogger([MetricsLogger(run_dir)] + [LOGGERS.get(n, key="trainer.loggers")(run_dir) for n in names])
