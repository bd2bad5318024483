"""Sequence autoencoder (Dai & Le 2015, SA-LSTM): the encoder reads a sentence, a decoder RNN rebuilds it.

The decoder starts from the encoder's summary of the sentence (no attention, so everything must pass through
that vector) and is teacher-forced during training.  Metrics: reconstruction loss and token accuracy
(teacher-forced), and at evaluation greedy-decoding token accuracy and exact match.  Batches are sentence
``LabelledBatch``es (one line = one sequence, label unused; ``data_kind = "sentences"``).  The encoder is what
transfers; the decoder stays behind.
"""

from __future__ import annotations

from torch import nn

from seqtune.data.batching import LabelledBatch
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


class SequenceAutoencoder(nn.Module):
    name = "autoencoder"

    def __init__(self, encoder: Encoder, decoder_embedding_size: int, decoder_layers: int):
        super().__init__()
        self.decoder = build_decoder(encoder, encoder.cell, decoder_embedding_size, decoder_layers)

    def forward(self, encoder: Encoder, batch: LabelledBatch, state: State | None) -> StepOutput:
        loss, sums, n = reconstruction_step(
            encoder, self.decoder, batch.tokens, batch.lengths, batch.tokens, greedy=not self.training
        )
        return StepOutput(loss, None, sums, n)

    def summarize(self, means: dict[str, float]) -> dict[str, float]:
        return summarize_reconstruction(means)


def build_autoencoder(encoder: Encoder, cfg, tokenizer, info: dict | None = None) -> SequenceAutoencoder:
    o = cfg.objective
    return SequenceAutoencoder(encoder, o.decoder_embedding_size, o.decoder_layers)


SPEC = register_objective(
    ObjectiveSpec(
        name="autoencoder",
        title="sequence autoencoder",
        schema=DecoderObjectiveConfig,
        build=build_autoencoder,
        data_kind="sentences",
        multitask=True,
        rules=decoder_rules,
    )
)
