"""Pretraining objectives.  Importing this package imports every module in it, and each module registers its
spec in ``OBJECTIVES`` (``spec.py``: what it reads, what it needs of the encoder and the data, its options'
schema, its rules); so a new objective is one module here plus one YAML file in ``conf/objective/``.

Each spec's ``build(encoder, cfg, tokenizer, info=None) -> nn.Module`` reads what it needs from the composed
config; ``info`` holds plain facts of the data (a series' number of columns and target std, see
``seqtune/data/pretraining.py``; saved in checkpoints under ``"data"``).
"""

from __future__ import annotations

import importlib
import pkgutil

from torch import nn

from seqtune.models.encoder import build_encoder
from seqtune.objectives.base import TaskModel
from seqtune.objectives.spec import DataKind, ObjectiveSpec
from seqtune.registry import OBJECTIVES

for _module in pkgutil.iter_modules(__path__):  # each objective module registers its spec
    importlib.import_module(f"{__name__}.{_module.name}")


def objective_spec(name: str) -> ObjectiveSpec:
    return OBJECTIVES.get(name, key="objective.name")  # an unknown name fails with the list of valid ones


def data_kind(name: str) -> DataKind:
    return objective_spec(name).data_kind


def build_objective(cfg, encoder, tokenizer, info: dict | None = None) -> nn.Module:
    return objective_spec(cfg.objective.name).build(encoder, cfg, tokenizer, info)


def build_model(cfg, tokenizer, info: dict | None = None) -> TaskModel:
    """Encoder + objective as the config describes them (also rebuilds a model from a checkpoint's config,
    tokenizer and ``data`` entry; numeric-input models have no tokenizer)."""
    vocab = getattr(tokenizer, "itos", None)
    encoder = build_encoder(cfg.model, tokenizer.vocab_size if tokenizer is not None else 0, vocab)
    return TaskModel(encoder, build_objective(cfg, encoder, tokenizer, info))
