"""The range of every config value, checked on the composed config before a command does anything else.

Typing (the schemas of ``config/schema.py`` and of each component) rejects a value of the wrong type; this module
rejects a value of the right type that no command can use: NaN or infinity, a negative size, a zero batch, an
empty name, an integer that overflows what torch takes, ``null`` where a column must be named.  It is driven by
the config itself: :func:`value_problems` walks every leaf of a command's config, and each leaf gets

* the rule of the first pattern of :data:`RULES` that matches its full key (``fnmatch``), or
* the default of its kind: a number is finite, >= 0 and at most :data:`HUGE`; a string is not empty.

So a new schema field is checked from the day it exists; tests/test_config_values.py feeds every leaf key of every
command non-finite, negative, zero, empty, wrong-type and huge values and asserts a one-paragraph error or a value
inside the rule.  No torch here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

HUGE = 2**31 - 1  # the largest count torch indexes with a 32-bit integer: a bound for every unbounded count
SEED_MAX = 2**32 - 1  # numpy's seeds


@dataclass(frozen=True)
class Range:
    """A number's range: ``lo <= v <= hi`` (``lo_open``/``hi_open``: strict), or one of ``also`` (a sentinel such
    as -1 for "no limit"); ``null``: None allowed; ``meaning``: what the value is, shown in the message."""

    lo: float | None = 0
    hi: float | None = HUGE
    lo_open: bool = False
    hi_open: bool = False
    also: tuple[float, ...] = ()
    null: bool = False
    meaning: str = ""

    def admits(self, v: float) -> bool:
        if v in self.also:
            return True
        if not math.isfinite(v):
            return False
        if self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo)):
            return False
        return self.hi is None or not (v > self.hi or (self.hi_open and v == self.hi))

    def describe(self) -> str:
        lo = "" if self.lo is None else f"{'>' if self.lo_open else '>='} {_num(self.lo)}"
        hi = "" if self.hi is None else f"{'<' if self.hi_open else '<='} {_num(self.hi)}"
        text = f"{lo} and {hi}" if lo and hi else lo or hi or "finite"
        if self.lo is not None and self.hi is not None and self.lo == 0 and self.hi == 1:
            text = f"in {'(' if self.lo_open else '['}0, 1{')' if self.hi_open else ']'}"
        if self.also:
            text += ", or " + " or ".join(_num(a) for a in self.also)
        return text + (f" ({self.meaning})" if self.meaning else "")


@dataclass(frozen=True)
class Column:
    """A column named by its header (a string) or its 0-based index; ``many``: a non-empty list of them."""

    many: bool = False
    null: bool = False


@dataclass(frozen=True)
class Mapping:
    """A non-empty {name: value} mapping of strings (``null``: None allowed)."""

    null: bool = False


@dataclass(frozen=True)
class Text:
    """A string; ``empty``: the empty string is allowed."""

    empty: bool = False


Rule = Range | Column | Mapping | Text

POSITIVE = Range(lo=1)
FRACTION = Range(lo=0, hi=1, lo_open=True, hi_open=True)
PROBABILITY = Range(lo=0, hi=1, hi_open=True, meaning="a probability; 0 switches it off")
RATE = Range(lo=0, hi=1)
SEED = Range(lo=0, hi=SEED_MAX)
SIZE = Range(lo=1, hi=65536, meaning="a layer width")

# First match wins; the full key is matched (``*`` spans dots).  Keys not listed get the default of their kind.
RULES: tuple[tuple[str, Rule], ...] = (
    # ---- trainer
    ("trainer.max_epochs", Range(lo=1, also=(-1,), meaning="-1 in finetune: planned from the data")),
    ("trainer.max_steps", Range(lo=1, also=(-1,), meaning="-1: no step limit")),
    ("trainer.limit_eval_batches", Range(lo=1, also=(-1,), meaning="-1: the whole split")),
    ("trainer.seed", SEED),
    ("trainer.batch_size", POSITIVE),
    ("trainer.bptt", POSITIVE),
    ("trainer.eval_batch_size", POSITIVE),
    ("trainer.log_interval", POSITIVE),
    ("trainer.keep_checkpoints", POSITIVE),
    ("trainer.accumulate_grad_batches", POSITIVE),
    ("trainer.min_steps", POSITIVE),
    # ---- optimizer
    ("optimizer.lr", Range(lo=0, hi=1000, lo_open=True, meaning="the peak learning rate")),
    ("optimizer.weight_decay", Range(lo=0, hi=1000)),
    ("optimizer.momentum", Range(lo=0, hi=1, hi_open=True)),
    ("optimizer.betas", Range(lo=0, hi=1, hi_open=True, meaning="two numbers, e.g. [0.9,0.999]")),
    ("optimizer.eps", Range(lo=0, hi=1, lo_open=True)),
    ("optimizer.clip_grad_norm", Range(lo=0, hi=None, meaning="0: off")),
    ("optimizer.schedule.cut_frac", FRACTION),
    ("optimizer.schedule.ratio", Range(lo=1, hi=None, meaning="the peak lr over the lowest")),
    ("optimizer.schedule.min_lr_ratio", RATE),
    ("optimizer.schedule.gamma", Range(lo=0, hi=1, lo_open=True)),
    ("optimizer.schedule.decay_start_epoch", POSITIVE),
    # ---- model
    ("model.embedding_size", SIZE),
    ("model.hidden_size", SIZE),
    ("model.num_layers", Range(lo=1, hi=100)),
    ("model.num_features", Range(lo=0, hi=65536, meaning="0: from the data")),
    ("model.*dropout", PROBABILITY),
    ("model.weight_drop", PROBABILITY),
    ("model.init_range", Range(lo=0, hi=10, meaning="0: PyTorch's default initialisation")),
    # ---- transfer
    ("transfer.lr_factor", Range(lo=1, hi=1000, meaning="1: one lr for every layer; ULMFiT: 2.6")),
    ("transfer.aux_weight", Range(lo=0, hi=None)),
    ("transfer.checkpoint", Text()),
    # ---- components
    ("head.hidden_size", Range(lo=0, hi=65536, meaning="0: no hidden layer")),
    ("head.dropout", PROBABILITY),
    ("head.horizon", Range(lo=1, null=True)),
    ("head.segment_length", Range(lo=1, null=True)),
    ("objective.*_rate", RATE),
    ("objective.decoder_embedding_size", Range(lo=0, hi=65536, meaning="0: the encoder's embedding size")),
    ("objective.decoder_layers", Range(lo=1, hi=100)),
    ("objective.max_length", POSITIVE),
    ("objective.span_length", POSITIVE),
    ("objective.segment_length", POSITIVE),
    ("objective.shuffle_distance", Range(lo=0, hi=None)),
    # ---- dataset
    ("dataset.*seed", SEED),
    ("dataset.*_fraction", FRACTION),
    ("dataset.tokenizer.max_vocab", Range(lo=5, null=True, meaning="null: no limit; the special tokens count")),
    ("dataset.tokenizer.min_freq", POSITIVE),
    ("dataset.tokenizer.vocab_size", Range(lo=5, hi=10_000_000)),
    ("dataset.train_limit", Range(lo=1, null=True, meaning="null: no limit")),
    ("dataset.labels_per_class", Range(lo=1, null=True, meaning="null: no limit")),
    ("dataset.label_budget", Range(lo=2, null=True, meaning="null: every labelled example")),
    ("dataset.cv_folds", Range(lo=2, hi=1_000_000, null=True, meaning="null: valid_fraction carves validation")),
    ("dataset.cv_fold", Range(lo=0, hi=999_999, meaning="0-based, below dataset.cv_folds")),
    ("dataset.max_length", Range(lo=1, null=True, meaning="null: no limit")),
    ("dataset.tag_column", Range(lo=-1000, hi=1000, meaning="0-based; -1: the last column")),
    ("dataset.token_column", Range(lo=0, hi=1000)),
    ("dataset.*_sentences", Range(lo=1, hi=10_000_000)),
    ("dataset.*_docs", Range(lo=1, hi=10_000_000)),
    ("dataset.*_pairs", Range(lo=1, hi=10_000_000)),
    ("dataset.max_sentences", Range(lo=1, hi=1000)),
    ("dataset.num_symbols", Range(lo=1, hi=100_000)),
    ("dataset.min_length", Range(lo=1, hi=100_000)),
    ("dataset.augment_copies", Range(lo=0, hi=10_000, meaning="0: none")),
    ("dataset.segment_length", Range(lo=1, hi=100_000)),
    ("dataset.lookback", POSITIVE),
    ("dataset.horizon", POSITIVE),
    ("dataset.label_column", Column()),
    ("dataset.text_columns", Column(many=True)),
    ("dataset.source_column", Column()),
    ("dataset.target_column", Column(null=True)),
    ("dataset.label_names", Mapping(null=True)),
    ("dataset.classes", Mapping(null=True)),  # null: dataset=class_folders, the sub-folders of dataset.train
    ("dataset.test_classes", Mapping(null=True)),
    ("dataset.join_with", Text(empty=True)),
    # ---- evaluate / predict / generate
    ("batch_size", Range(lo=1, null=True, meaning="null: the run's trainer.eval_batch_size")),
    ("length", Range(lo=1, hi=1_000_000, meaning="tokens to generate")),
    ("num_samples", Range(lo=1, hi=10_000)),
    ("temperature", Range(lo=0, hi=1e6, meaning="0: greedy")),
    ("top_k", Range(lo=0, meaning="0: off; generate: sample from the whole vocabulary, explain: no table")),
    ("seed", SEED),
    ("prompt", Text(empty=True)),
)

_DEFAULT_NUMBER = Range()
_DEFAULT_TEXT = Text()


@lru_cache(maxsize=4096)
def rule_of(key: str) -> Rule | None:
    """The rule of a full key (None: the default of its kind)."""
    return next((rule for pattern, rule in RULES if fnmatchcase(key, pattern)), None)


def leaves(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(full key, value) of every leaf; a list and an untyped mapping are one leaf each (their rule checks them)."""
    for key in node.keys():
        full = f"{prefix}{key!s}"
        if full == "hydra":
            continue
        child = node._get_node(key)
        if OmegaConf.is_dict(child) and not isinstance(rule_of(full), Mapping) and not OmegaConf.is_missing(node, key):
            yield from leaves(node[key], f"{full}.")
        else:
            yield full, None if OmegaConf.is_missing(node, key) else _plain(node[key])


def _plain(value: Any) -> Any:
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True, enum_to_str=True)
    return value


def value_problems(cfg: DictConfig, skip: tuple[str, ...] = ()) -> list[str]:
    """One line per leaf of ``cfg`` whose value its rule rejects (keys under a ``skip`` prefix left out: a group
    that is typed later, by its component's schema)."""
    problems: list[str] = []
    for key, value in leaves(cfg):
        if any(key == s or key.startswith(s + ".") for s in skip):
            continue
        problem = leaf_problem(key, value, cfg)
        if problem:
            problems.append(problem)
    return problems


def leaf_problem(key: str, value: Any, cfg: Any = None) -> str | None:
    """Why ``key=value`` cannot be used (None when it can)."""
    rule = rule_of(key)
    if isinstance(value, bool) or value is None and rule is None:
        return None  # booleans are typed; a null the schema allows (Optional) means "none" or "not set"
    if rule is None and isinstance(value, list):  # each element by the default of its kind
        return next((p for i, v in enumerate(value) if (p := leaf_problem(f"{key}[{i}]", v, cfg))), None)
    if rule is None:
        rule = _DEFAULT_TEXT if isinstance(value, str) else _DEFAULT_NUMBER
    if isinstance(rule, Range):
        return _range_problem(key, value, rule)
    if isinstance(rule, Column):
        return _column_problem(key, value, rule)
    if isinstance(rule, Mapping):
        return _mapping_problem(key, value, rule)
    if value == "" and not rule.empty and not _unused(key, cfg):
        return f"{key} is empty; give it a value (`seqtune ls` lists the options of a group)."
    return None


def _unused(key: str, cfg: Any) -> bool:
    """dataset.train of the class_files format is unused (its classes are the training files)."""
    return key == "dataset.train" and cfg is not None and OmegaConf.select(cfg, "dataset.format") == "class_files"


def _range_problem(key: str, value: Any, rule: Range) -> str | None:
    if value is None:
        return None if rule.null else f"{key}=null: it needs a number {rule.describe()}."
    values = value if isinstance(value, list) else [value]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return f"{key}={_show(value)} is not a number; it must be {rule.describe()}."
        if not rule.admits(v):
            kind = "not a finite number" if isinstance(v, float) and not math.isfinite(v) else "out of range"
            return f"{key}={_show(value)} is {kind}; it must be {rule.describe()}."
    if key == "optimizer.betas" and len(values) != 2:
        return f"{key}={_show(value)} must hold two numbers in [0, 1), e.g. optimizer.betas=[0.9,0.999]."
    return None


def _column_problem(key: str, value: Any, rule: Column) -> str | None:
    if value is None:
        return None if rule.null else f"{key}=null: name the column (its header) or give its 0-based index."
    values = value if rule.many and isinstance(value, list) else [value]  # many: one column needs no brackets
    if rule.many and isinstance(value, list) and not value:
        return f"{key}={_show(value)} must name at least one column, e.g. {key}=text or {key}=[1,2]."
    for v in values:
        ok = (isinstance(v, str) and v != "") or (isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1000)
        if not ok:
            return (
                f"{key}={_show(value)}: a column is its header (a non-empty string) or its 0-based index "
                "(an integer >= 0)."
            )
    return None


def _mapping_problem(key: str, value: Any, rule: Mapping) -> str | None:
    if value is None:
        return None if rule.null else f"{key}=null: give a mapping, e.g. {key}='{{pos: pos.txt, neg: neg.txt}}'."
    if not isinstance(value, dict) or not value:
        return f"{key}={_show(value)} must be a non-empty mapping, e.g. {key}='{{a: x, b: y}}'."
    for k, v in value.items():
        if not isinstance(v, (str, int)) or isinstance(v, bool) or str(v) == "" or str(k) == "":
            return f"{key}.{k}={_show(v)}: every entry maps a non-empty name to a non-empty string."
    return None


def _num(v: float) -> str:
    return f"{v:,}" if isinstance(v, int) or float(v).is_integer() and abs(v) >= 10_000 else f"{v:g}"


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."
