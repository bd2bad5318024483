"""The logger registry and the rule that checks ``trainer.loggers``; backends register here (see ``__init__``)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Protocol

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


def logger_problems(key: str, names: list[str]) -> list[str]:
    """Unknown names and missing optional packages, found before a run directory is used."""
    problems = []
    for name in names:
        if name not in LOGGERS:
            problems.append(f"{key} has unknown logger {name!r}; valid names are: {', '.join(LOGGERS.names())}.")
        elif name in REQUIRES and importlib.util.find_spec(REQUIRES[name][0]) is None:
            module, extra = REQUIRES[name]
            problems.append(
                f"{key} includes {name!r}, which needs the {module!r} package: "
                f'pip install "seqtune[{extra}]" (or pip install {module}), or remove it from {key}.'
            )
    return problems
