"""An objective's spec: what it is, reads and needs, declared once beside its code.

Each objective module ends with ``register_objective(ObjectiveSpec(...))`` (heads: ``heads/spec.py``); the
package imports every module it holds, so a new objective is one Python file (its options' schema, its rules, its
spec and its ``nn.Module``) plus one YAML file under ``conf/objective/``.

Everything the rest of seqtune asks about a component comes from its spec: the pretraining data path
(``data_kind``), what the encoder must read and how (``input``, ``direction``), the schema its config group is
typed with when a command validates it, its own rules, and whether ``transfer=multitask`` can keep training it on
a task's batches.  A spec's ``rules(cfg)`` get the whole composed config (its own group already typed) and return
one line per problem, each naming the key, the bad value and the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from seqtune.data.pretraining import DataKind
from seqtune.registry import OBJECTIVES

InputKind = Literal["tokens", "numeric"]
Direction = Literal["any", "unidirectional", "bidirectional"]
Rules = Callable[[Any], list[str]]


def no_rules(cfg: Any) -> list[str]:
    return []


@dataclass(frozen=True)
class ObjectiveSpec:
    name: str
    title: str  # what it is, for messages: "causal language model"
    schema: type  # the objective group's dataclass (types; the YAML option states the values)
    build: Callable[..., Any]  # (encoder, cfg, tokenizer, info) -> nn.Module; info: the data's facts (a series')
    data_kind: DataKind  # which pretraining data path feeds it (data/pretraining.py)
    input: InputKind = "tokens"  # what the encoder reads: token ids, or numeric values (model.input)
    direction: Direction = "any"  # the encoder direction it needs (model.bidirectional)
    multitask: bool = False  # transfer=multitask can train it on a task's batches (text: tokens; series: windows)
    rules: Rules = field(default=no_rules)  # its own rules (its options against the model and the data)


def register_objective(spec: ObjectiveSpec) -> ObjectiveSpec:
    return OBJECTIVES.register(spec.name)(spec)
