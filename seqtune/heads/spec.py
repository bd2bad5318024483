"""A head's spec: its task, its options' schema, its rules, its default monitor; declared once beside its code.

Each head module ends with ``register_head(HeadSpec(...))``; the package imports every module it holds, so a new
head is one Python file plus one YAML file under ``conf/head/``.  A spec's ``rules(cfg)`` get the whole composed
finetune config (the head group already typed by ``schema``) and return one line per problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from seqtune.registry import HEADS

Task = Literal["classification", "tagging", "regression"]
Rules = Callable[[Any], list[str]]


def no_rules(cfg: Any) -> list[str]:
    return []


@dataclass(frozen=True)
class HeadSpec:
    name: str
    task: Task  # what its labels are: one per text, one per token, or forecast values
    schema: type  # the head group's dataclass (types; the YAML option states the values)
    build: Callable[..., Any]  # (head_cfg, encoder, labels, series) -> nn.Module
    default_monitor: str  # the validation metric that picks best.pt under trainer.monitor=auto
    rules: Rules = field(default=no_rules)  # its own rules (its options, and the dataset it needs)

    @property
    def reads(self) -> Literal["text", "series"]:
        return "series" if self.task == "regression" else "text"


def register_head(spec: HeadSpec) -> HeadSpec:
    return HEADS.register(spec.name)(spec)
