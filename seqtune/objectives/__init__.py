"""Pretraining objectives; importing this package registers them in ``OBJECTIVES``.

Each registered builder has the signature ``(encoder, cfg, tokenizer) -> nn.Module``: it reads what it
needs from the composed config and constructs its module from plain values.
"""
from __future__ import annotations

from torch import nn

from seqtune.objectives import clm  # noqa: F401  (registers clm)
from seqtune.registry import OBJECTIVES


def build_objective(cfg, encoder, tokenizer) -> nn.Module:
    return OBJECTIVES.get(cfg.objective.name, key="objective.name")(encoder, cfg, tokenizer)
