"""One small registry per component kind, so YAML chooses components by a short ``name:``.

Builders register themselves with a decorator::

    @MODELS.register("lstm")
    def build_lstm(vocab_size: int, hidden_size: int, ...) -> nn.Module: ...

and callers look them up with ``MODELS.get(name, key="model.name")``.  An unknown name raises a
:class:`~seqtune.errors.ConfigError` that lists the valid names.  Names survive refactors; dotted
``_target_`` paths do not, and they could import anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from seqtune.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> entry table for one kind of component: a builder (models, optimizers, ...) or a spec that
    carries the component's facts and builder (objectives, heads, dataset formats)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(fn: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = fn
            return fn

        return add

    def get(self, name: str, key: str | None = None) -> T:
        if name not in self._entries:
            where = f"{key}={name!r}" if key else repr(name)
            raise ConfigError(
                f"unknown {self.kind} {where}; valid names are: {', '.join(self.names())}. "
                f"Choose one of them{f' (e.g. {key.split(chr(46))[0]}={self.names()[0]})' if key and self else ''}."
            )
        return self._entries[name]

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries


MODELS: Registry = Registry("model")
OBJECTIVES: Registry = Registry("objective")
OPTIMIZERS: Registry = Registry("optimizer")
SCHEDULES: Registry = Registry("schedule")
DATASETS: Registry = Registry("dataset format")
TOKENIZERS: Registry = Registry("tokenizer")
HEADS: Registry = Registry("head")
TRANSFERS: Registry = Registry("transfer strategy")
