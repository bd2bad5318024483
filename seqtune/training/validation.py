"""A command's config, checked before anything runs: every group's rules and the components' own, all problems
reported together in one ConfigError (each line names the key, the bad value and the fix).

    validate_pretrain(cfg)    unknown keys; the objective typed by its spec's schema; model, objective (its facts:
                              data kind, input, direction, and its own rules), trainer, optimizer, loggers, dataset
    validate_finetune(cfg)    unknown keys; the head typed by its spec's schema; head (its rules), transfer,
                              trainer, optimizer, loggers, dataset

The generic groups' rules are ``config/rules.py``; a component's rules are in its own module (its spec), a
tokenizer's in ``data/tokenizers.py``, a logger's in ``loggers/registry.py``, what a dataset format holds in its
reader's registration.  Fine-tuning checks its merged model (the checkpoint's architecture with ``model.*``
overrides) with the same ``model_problems`` when it has read the checkpoint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

import seqtune.heads  # noqa: F401  (registers the heads validate_finetune looks up)
import seqtune.objectives  # noqa: F401  (registers the objectives)
from seqtune.config.rules import (
    dataset_problems,
    model_problems,
    optimizer_problems,
    trainer_problems,
    transfer_problems,
    unknown_key,
    unknown_keys,
)
from seqtune.config.values import value_problems
from seqtune.data.records import dataset_holds
from seqtune.data.tokenizers import tokenizer_problems
from seqtune.errors import ConfigError
from seqtune.loggers import logger_problems
from seqtune.objectives.spec import ObjectiveSpec
from seqtune.registry import HEADS, OBJECTIVES
from seqtune.training import distributed

NUMERIC_HOLDS = ("series", "labelled_series")  # dataset formats of numeric values (a numeric objective reads them)


def validate_pretrain(cfg: DictConfig) -> None:
    problems = unknown_keys(cfg)
    if cfg.init_vocab == "extend" and cfg.init_from is None:
        problems.append(
            "init_vocab=extend extends the vocabulary of init_from's checkpoint; give init_from=<run> "
            "or leave init_vocab=keep."
        )
    spec, typing = component(cfg, "objective", OBJECTIVES)
    if spec is not None and spec.input == "numeric" and dataset_holds(cfg.dataset.format) in NUMERIC_HOLDS:
        cfg.model.input = "numeric"  # the only value that can work with a series objective on series data

    def rules() -> list[str]:
        own = objective_problems(cfg, spec) if spec is not None and not typing else []
        return model_problems(cfg.model) + own + common_problems(cfg)

    problems += typing + values_and_rules(cfg, "objective" if typing or spec is None else None, rules)
    if problems:
        raise ConfigError(problems)


def validate_finetune(cfg: DictConfig) -> None:
    """The finetune rules that need no data or checkpoint."""
    problems = unknown_keys(cfg)
    spec, typing = component(cfg, "head", HEADS)

    def rules() -> list[str]:
        own = spec.rules(cfg) if spec is not None and not typing else []
        return own + transfer_problems(cfg.transfer, cfg.model) + common_problems(cfg)

    problems += typing + values_and_rules(cfg, "head" if typing or spec is None else None, rules)
    if problems:
        raise ConfigError(problems)


def values_and_rules(cfg: DictConfig, untyped: str | None, rules: Callable[[], list[str]]) -> list[str]:
    """Every value in its range (``config/values.py``; the component group ``untyped`` left out), then the rules
    that span fields.  With a value out of range the rules may see it too: their lines about a key already
    reported are dropped, and a rule that cannot handle the value (a null, a NaN) is not reported at all."""
    bad = value_problems(cfg, skip=(untyped,) if untyped else ())
    if not bad:
        return rules()
    try:
        more = rules()
    except Exception:  # noqa: BLE001 - a rule tripped over a value the lines in `bad` already name
        more = []
    named = {line.split("=", 1)[0].split(" ", 1)[0].rstrip(":") for line in bad}
    return bad + [line for line in more if not any(key in line for key in named)]


def common_problems(cfg: DictConfig) -> list[str]:
    """Trainer, optimizer, loggers and dataset: the groups pretrain and finetune share."""
    return (
        trainer_problems(cfg.trainer, distributed.world_size())
        + optimizer_problems(cfg.optimizer)
        + logger_problems("trainer.loggers", list(cfg.trainer.loggers))
        + dataset_problems(cfg.dataset)
        + tokenizer_problems("dataset.tokenizer", cfg.dataset.get("tokenizer"))
    )


def component(cfg: DictConfig, group: str, registry: Any) -> tuple[Any, list[str]]:
    """The spec of the group's component (None if the name is unknown) and the problems of typing the group with
    the spec's schema; the typed group replaces the composed one in ``cfg``."""
    try:
        spec = registry.get(cfg[group].get("name"), key=f"{group}.name")
    except ConfigError as exc:
        return None, exc.problems
    typed, problems = typed_group(cfg[group], group, spec.schema)
    if typed is not None:
        cfg[group] = typed
    return spec, problems


def typed_group(node: DictConfig, group: str, schema: type) -> tuple[DictConfig | None, list[str]]:
    """``node`` merged into ``schema``: unknown keys, wrong types and values nobody set are problems."""
    declared = {f.name for f in dataclasses.fields(schema)}
    problems = [unknown_key(f"{group}.{k!s}", declared, f"{group}.") for k in node if k not in declared]
    if problems:
        return None, problems
    try:
        typed = OmegaConf.merge(OmegaConf.structured(schema), node)
    except OmegaConfBaseException as exc:
        value = f"={exc.value!r}" if getattr(exc, "value", None) is not None else ""
        return None, [
            f"{group}.{exc.key!s}{value}: {str(exc.msg).splitlines()[0]} (conf/{group}/{node.name}.yaml "
            "shows the values it takes)."
        ]
    missing = sorted(OmegaConf.missing_keys(typed))
    if missing:
        return None, [
            f"{group}.{k} has no value: set it in conf/{group}/{node.name}.yaml or with {group}.{k}=..."
            for k in missing
        ]
    return cast(DictConfig, typed), []


def objective_problems(cfg: DictConfig, spec: ObjectiveSpec) -> list[str]:
    """What the objective's facts ask of the model and the data, then its own rules."""
    m, name, fmt = cfg.model, spec.name, cfg.dataset.format
    holds = dataset_holds(fmt)
    problems: list[str] = []
    if spec.direction == "unidirectional" and m.bidirectional:
        problems.append(
            f"objective={name} ({spec.title}) cannot use a bidirectional encoder: the backward direction "
            "would see the tokens it must predict. Set model.bidirectional=false, or use a masked objective."
        )
    if spec.direction == "bidirectional" and not m.bidirectional:
        problems.append(
            f"objective={name} ({spec.title}) needs a bidirectional encoder to see both sides of each "
            "masked token; set model.bidirectional=true."
        )
    if spec.input == "numeric":
        if holds not in NUMERIC_HOLDS:
            problems.append(
                f"objective={name} needs a numeric time-series dataset, but dataset.format={fmt!r}; use "
                "dataset=etth1 (or another format: timeseries dataset)."
            )
        if m.input != "numeric":
            problems.append(
                f"objective={name} reads numeric values, but model.input={str(m.input)!r}; set model.input=numeric."
            )
    else:
        if m.input != "tokens":
            problems.append(f"objective={name} reads tokens, but model.input={str(m.input)!r}; set model.input=tokens.")
        if holds in NUMERIC_HOLDS:
            numeric = " or ".join(f"objective={n}" for n in OBJECTIVES.names() if OBJECTIVES.get(n).input == "numeric")
            problems.append(
                f"objective={name} reads text, but dataset.format={fmt!r} is numeric; use {numeric}, or a text dataset."
            )
    problems += _pairs_problems(spec, fmt, holds)
    return problems + spec.rules(cfg)


def _pairs_problems(spec: ObjectiveSpec, fmt: str, holds: str | None) -> list[str]:
    """Source/target pairs feed the objectives of data kind ``pairs``, and only them."""
    if (spec.data_kind == "pairs") == (holds == "pairs"):
        return []
    readers = [n for n in OBJECTIVES.names() if OBJECTIVES.get(n).data_kind == "pairs"]
    if spec.data_kind == "pairs":
        return [
            f"objective={spec.name} needs source/target pairs, but dataset.format={fmt!r}; use "
            "dataset=reversal (format: synthetic_pairs) or dataset=pairs with a TSV file."
        ]
    return [
        f"dataset.format={fmt!r} holds source/target pairs, which only "
        f"{' or '.join(f'objective={n}' for n in readers)} reads; set objective={readers[0]} or choose a text dataset."
    ]
