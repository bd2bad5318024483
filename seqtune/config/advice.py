"""Advice for the first mistakes a user makes on the command line; light (no torch), run before Hydra or before a
run directory exists.

* :func:`missing_problems`: every ``???`` value nobody set becomes "dataset.train is required: ..." with an
  example for the chosen dataset format, instead of OmegaConf's ``MissingMandatoryValue`` deep inside a reader.
* :func:`override_typos`: ``trainer.max_epoch=3`` gets "did you mean trainer.max_epochs?" before Hydra can answer
  "To append to your config use +trainer.max_epoch=3" (advice that only leads to the next error).
* :func:`model_overrides_upserted`: ``seqtune finetune model.word_dropout=0.05`` sets the key although the
  checkpoint's architecture overrides (``model: {}``) do not list it yet.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from typing import Any

from omegaconf import DictConfig, OmegaConf

from seqtune.config import schema

# dataset format -> key -> an example value (what a user types; the format's YAML comment has the full recipe)
_EXAMPLES: dict[str, dict[str, str]] = {
    "text": {"train": "corpus.txt"},
    "table": {"train": "train.csv"},
    "conll": {"train": "train.conll"},
    "pairs": {"train": "pairs.tsv"},
    "timeseries": {"file": "series.csv"},
    "class_files": {"classes": "'{pos: pos.txt, neg: neg.txt}'", "train": "reviews/"},
}
_MEANING: dict[str, str] = {
    "train": "the training file",
    "file": "the CSV file of the series",
    "classes": "one file per class, {label: file}",
    "folder_train": "a folder with one sub-folder per class",
}


def missing_problems(cfg: DictConfig) -> list[str]:
    """One line per ``???`` value of the composed config, naming the full key and an example."""
    fmt = str(OmegaConf.select(cfg, "dataset.format", default="") or "")
    shown = str(OmegaConf.select(cfg, "dataset.name", default="") or fmt)
    problems = []
    for key in sorted(OmegaConf.missing_keys(cfg)):
        leaf = key.rsplit(".", 1)[-1]
        example = _EXAMPLES.get(fmt, {}).get(leaf, "<value>") if key.startswith("dataset.") else "<value>"
        name = "folder_train" if fmt == "class_files" and leaf == "train" else leaf
        meaning = f" ({_MEANING[name]})" if key.startswith("dataset.") and name in _MEANING else ""
        where = f" of dataset={shown}" if key.startswith("dataset.") and shown else ""
        problems.append(
            f"{key} is required{where}{meaning}: add {key}={example} to the command "
            "(`seqtune ls dataset` lists every dataset option's keys)."
        )
    return problems


# ------------------------------------------------------------------------------------------------- typos
_ROOTS: dict[str, type] = {
    "pretrain": schema.PretrainConfig,
    "finetune": schema.FinetuneConfig,
    "evaluate": schema.EvaluateConfig,
    "predict": schema.PredictConfig,
    "generate": schema.GenerateConfig,
}


def _dataset_keys() -> set[str]:
    return {f.name for s in schema.DATASET_SCHEMAS.values() for f in dataclasses.fields(s)}


def _field_type(owner: type, name: str) -> Any:
    hints = typing.get_type_hints(owner)
    return hints.get(name)


def override_typos(command: str, overrides: list[str]) -> list[str]:
    """Plain ``key=value`` overrides (no ``+``/``~``) whose key no schema of ``command`` declares.

    Only keys under typed nodes are judged (trainer, optimizer, transfer, the root, and dataset against the union of
    every format's keys); the untyped groups (objective, head) are typed later by their component's spec.
    """
    root = _ROOTS.get(command)
    if root is None:
        return []
    problems = []
    for arg in overrides:
        if "=" not in arg or arg[0] in "+~" or arg.startswith(("hydra.", "hydra/", "-")):
            continue
        key = arg.split("=", 1)[0]
        problem = _key_problem(root, key.split("."))
        if problem:
            problems.append(problem)
    return problems


def model_overrides_upserted(command: str, overrides: list[str]) -> list[str]:
    """finetune's ``model`` node holds overrides on the checkpoint's architecture, an open dict that an experiment
    may fill in part: a plain ``model.<option>=v`` of a model option becomes Hydra's add-or-replace
    ``++model.<option>=v``, so it works whether or not the composed config has the key already (Hydra would
    answer "Could not override ... use +model.<option>" otherwise)."""
    if command != "finetune":
        return overrides
    options = {f.name for f in dataclasses.fields(schema.ModelConfig)}
    out = []
    for arg in overrides:
        key = arg.split("=", 1)[0] if "=" in arg else ""
        parts = key.split(".")
        upsert = len(parts) == 2 and parts[0] == "model" and parts[1] in options
        out.append(f"++{arg}" if upsert else arg)
    return out


def _key_problem(root: type, parts: list[str]) -> str | None:
    owner: Any = root
    for depth, part in enumerate(parts):
        prefix = ".".join(parts[:depth])
        prefix = f"{prefix}." if prefix else ""
        if prefix == "dataset.":
            declared = _dataset_keys()
            return None if part in declared else _advice(prefix + part, declared, prefix)
        if not (isinstance(owner, type) and dataclasses.is_dataclass(owner)):
            return None  # untyped (Any, a dict, a list): the component's schema judges it later
        declared = {f.name for f in dataclasses.fields(owner)}
        if part not in declared:
            if depth == 0 and len(parts) == 1:
                return None  # a root key Hydra may read as a group choice (model=lstm): Hydra judges it
            return _advice(prefix + part, declared, prefix)
        owner = _field_type(owner, part)
    return None


def _advice(full: str, declared: set[str], prefix: str) -> str:
    close = difflib.get_close_matches(full[len(prefix) :], sorted(declared), n=1)
    hint = f"Did you mean {prefix}{close[0]}?" if close else f"Valid keys: {', '.join(sorted(declared))}."
    return f"unknown config key {full}. {hint} (No schema declares it, so +{full}=... would not work either.)"
