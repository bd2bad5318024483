"""Sequence to sequence: source/target pairs, encoder-decoder with teacher forcing, greedy decoding at evaluation.

Batches are :class:`~seqtune.data.pairs.PairBatch` (``data_kind = "pairs"``: a TSV of pairs, or the generated
reverse/sort/copy tasks of ``format: synthetic_pairs``).  The decoder (``decoder.py``) starts from the
encoder's summary of the source.  Metrics: loss, teacher-forced token accuracy and, at evaluation, greedy token
accuracy and exact match (the whole target, up to its <eos>, decoded right).
"""

from __future__ import annotations

from torch import nn

from seqtune.data.pairs import PairBatch
from seqtune.models.encoder import Encoder, State
from seqtune.objectives.base import StepOutput
from seqtune.objectives.decoder import (
    DecoderObjectiveConfig,
    build_decoder,
    decoder_rules,
    reconstruction_step,
    summarize_reconstruction,
)
from seqtune.objectives.spec import ObjectiveSpec, register_objective


class Seq2Seq(nn.Module):
    name = "seq2seq"

    def __init__(self, encoder: Encoder, decoder_embedding_size: int, decoder_layers: int):
        super().__init__()
        self.decoder = build_decoder(encoder, encoder.cell, decoder_embedding_size, decoder_layers)

    def forward(self, encoder: Encoder, batch: PairBatch, state: State | None) -> StepOutput:
        loss, sums, n = reconstruction_step(
            encoder, self.decoder, batch.source, batch.source_lengths, batch.target, greedy=not self.training
        )
        return StepOutput(loss, None, sums, n)

    def summarize(self, means: dict[str, float]) -> dict[str, float]:
        return summarize_reconstruction(means)


def build_seq2seq(encoder: Encoder, cfg, tokenizer, info: dict | None = None) -> Seq2Seq:
    o = cfg.objective
    return Seq2Seq(encoder, o.decoder_embedding_size, o.decoder_layers)


SPEC = register_objective(
    ObjectiveSpec(
        name="seq2seq",
        title="sequence to sequence",
        schema=DecoderObjectiveConfig,
        build=build_seq2seq,
        data_kind="pairs",
        multitask=False,
        rules=decoder_rules,
    )
)
