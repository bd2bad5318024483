"""Pretraining objectives; importing this package registers them in ``OBJECTIVES``.

Each registered builder has the signature ``(encoder, cfg, tokenizer, info=None) -> nn.Module``: it reads
what it needs from the composed config, and ``info`` holds plain facts of the data (e.g. a series' number of
columns and target std, see ``seqtune/data/pretraining.py``; saved in checkpoints under ``"data"``).

``DATA_KINDS`` says which data path each objective reads (``load_pretrain_data``): objectives differ in their
data, and this table is the one place that says how.
"""
from __future__ import annotations

from torch import nn

from seqtune.objectives import autoencoder, bilm, clm, denoising, forecast, masked_values, mlm, seq2seq  # noqa: F401
from seqtune.registry import OBJECTIVES

DATA_KINDS: dict[str, str] = {
    "clm": "stream",  # LMStream, hidden state carried across windows
    "mlm": "windows",  # the same bptt windows, each read whole by a bidirectional encoder
    "bilm": "windows",
    "autoencoder": "sentences",  # one line = one sequence, length-bucketed
    "denoising": "sentences",
    "seq2seq": "pairs",  # source/target pairs (TSV or generated)
    "forecast": "series",  # numeric look-back/horizon windows
    "masked_values": "series",
}


def data_kind(name: str) -> str:
    OBJECTIVES.get(name, key="objective.name")  # an unknown name fails with the list of valid ones
    return DATA_KINDS[name]


def build_objective(cfg, encoder, tokenizer, info: dict | None = None) -> nn.Module:
    return OBJECTIVES.get(cfg.objective.name, key="objective.name")(encoder, cfg, tokenizer, info)
