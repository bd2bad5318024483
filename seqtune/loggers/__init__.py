"""Metric loggers: where the training loop's metric records go.

A logger is any object with two methods::

    log(record: dict)   # {"step": int, "epoch": int, "train/loss": float, "val/ppl": float, ...}
    close()

built from the run directory by a function registered under a short name::

    @LOGGERS.register("mlflow")
    def build(run_dir: Path) -> Logger: ...

``metrics.jsonl`` (``MetricsLogger``) is always written; ``trainer.loggers=[tensorboard]`` adds the others.
A new backend (MLflow, W&B) is one file in this package that registers itself and is imported below, plus the
package its ``requires`` names (checked before the run starts, so a missing extra never costs a run).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Callable, Protocol

from seqtune.errors import ConfigError
from seqtune.loggers.metrics import MetricsLogger
from seqtune.registry import Registry


class Logger(Protocol):
    def log(self, record: dict[str, object]) -> None: ...

    def close(self) -> None: ...


LOGGERS: Registry = Registry("logger")
# name -> (importable module the backend needs, pip extra that installs it)
REQUIRES: dict[str, tuple[str, str]] = {}


def register(name: str, requires: tuple[str, str] | None = None) -> Callable:
    if requires:
        REQUIRES[name] = requires
    return LOGGERS.register(name)


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


def logger_problems(key: str, names: list[str]) -> list[str]:
    """Unknown names and missing optional packages, found before a run directory is used."""
    problems = []
    for name in names:
        if name not in LOGGERS:
            problems.append(f"{key} has unknown logger {name!r}; valid names are: {', '.join(LOGGERS.names())}.")
        elif name in REQUIRES and importlib.util.find_spec(REQUIRES[name][0]) is None:
            module, extra = REQUIRES[name]
            problems.append(f"{key} includes {name!r}, which needs the {module!r} package: "
                            f"pip install \"seqtune[{extra}]\" (or pip install {module}), or remove it from {key}.")
    return problems


def build_loggers(run_dir: Path, names: tuple[str, ...] | list[str] = (), enabled: bool = True) -> MultiLogger:
    """metrics.jsonl plus the named backends; ``enabled=False`` (data-parallel ranks other than 0): none."""
    problems = logger_problems("trainer.loggers", list(names))
    if problems:
        raise ConfigError(" ".join(problems))
    if not enabled:
        return MultiLogger([])
    return MultiLogger([MetricsLogger(run_dir)] + [LOGGERS.get(n, key="trainer.loggers")(run_dir) for n in names])


from seqtune.loggers import tensorboard as _tensorboard  # noqa: E402,F401  (registers "tensorboard")
