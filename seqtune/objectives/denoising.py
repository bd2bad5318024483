"""Denoising sequence autoencoder: corrupt the input sentence, reconstruct the original.

Corruptions (rates in ``objective.*``), applied on the device to each batch in this order:
token masking (``mask_rate`` of the tokens become ``<mask>``), deletion (``delete_rate`` of the tokens are
removed and the sequence closes up), and span shuffling (the sentence is cut into spans of ``span_length``
tokens and each span moves at most ``shuffle_distance`` spans: Lample et al.'s local shuffle on spans).
The encoder reads the corrupted sentence; the shared decoder (``decoder.py``) rebuilds the clean one,
teacher-forced.  Same metrics and data as ``autoencoder``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from omegaconf import MISSING
from torch import nn

from seqtune.data.batching import LabelledBatch
from seqtune.data.tokenizers import MASK_ID, PAD_ID
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

_LAST = 1e9  # sort key that puts padding and deleted tokens after every real one


def corrupt(
    tokens: torch.Tensor,
    lengths: torch.Tensor,
    mask_rate: float,
    delete_rate: float,
    span_length: int,
    shuffle_distance: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """tokens (time, batch) PAD-padded, lengths (batch,) -> corrupted (time, batch) and new lengths (batch,)."""
    time = tokens.size(0)
    positions = torch.arange(time, device=tokens.device).unsqueeze(1)  # (time, 1)
    real = positions < lengths.unsqueeze(0)  # (time, batch)
    out = torch.where(
        real & (torch.rand(tokens.shape, device=tokens.device) < mask_rate), torch.full_like(tokens, MASK_ID), tokens
    )
    keep = real & (torch.rand(tokens.shape, device=tokens.device) >= delete_rate)
    keep[0] |= real[0] & ~keep.any(0)  # never delete a whole sentence: keep its first token
    # One stable sort does both deletion and shuffling: kept tokens sort by (span index + noise), the rest last.
    span = (positions // span_length).float().expand_as(tokens)
    noise = torch.zeros_like(span)
    if shuffle_distance > 0:  # one draw per span, so a span moves as a block
        span_noise = torch.rand(time // span_length + 1, tokens.size(1), device=tokens.device) * (shuffle_distance + 1)
        noise = span_noise[
            (positions // span_length).expand_as(tokens), torch.arange(tokens.size(1), device=tokens.device)
        ]
    key = torch.where(keep, span + noise + positions.float() * 1e-4, torch.full_like(span, _LAST))
    order = torch.sort(key, dim=0, stable=True).indices  # (time, batch)
    new_lengths = keep.sum(0)
    out = out.gather(0, order)
    out = torch.where(positions < new_lengths.unsqueeze(0), out, torch.full_like(out, PAD_ID))
    width = int(new_lengths.max())
    return out[:width], new_lengths


class DenoisingAutoencoder(nn.Module):
    name = "denoising"

    def __init__(
        self,
        encoder: Encoder,
        decoder_embedding_size: int,
        decoder_layers: int,
        mask_rate: float,
        delete_rate: float,
        span_length: int,
        shuffle_distance: float,
    ):
        super().__init__()
        self.mask_rate, self.delete_rate = mask_rate, delete_rate
        self.span_length, self.shuffle_distance = span_length, shuffle_distance
        self.decoder = build_decoder(encoder, encoder.cell, decoder_embedding_size, decoder_layers)

    def forward(self, encoder: Encoder, batch: LabelledBatch, state: State | None) -> StepOutput:
        noisy, noisy_lengths = corrupt(
            batch.tokens, batch.lengths, self.mask_rate, self.delete_rate, self.span_length, self.shuffle_distance
        )
        loss, sums, n = reconstruction_step(
            encoder, self.decoder, noisy, noisy_lengths, batch.tokens, greedy=not self.training
        )
        return StepOutput(loss, None, sums, n)

    def summarize(self, means: dict[str, float]) -> dict[str, float]:
        return summarize_reconstruction(means)


def build_denoising(encoder: Encoder, cfg, tokenizer, info: dict | None = None) -> DenoisingAutoencoder:
    o = cfg.objective
    return DenoisingAutoencoder(
        encoder,
        o.decoder_embedding_size,
        o.decoder_layers,
        o.mask_rate,
        o.delete_rate,
        o.span_length,
        o.shuffle_distance,
    )


@dataclass
class DenoisingObjectiveConfig(DecoderObjectiveConfig):
    mask_rate: float = MISSING  # share of input tokens replaced by <mask>
    delete_rate: float = MISSING  # share of input tokens deleted
    span_length: int = MISSING  # tokens per span for span shuffling
    shuffle_distance: float = MISSING  # a span moves at most this many spans away (0: no shuffling)


def denoising_rules(cfg) -> list[str]:
    o, problems = cfg.objective, []
    for key in ("mask_rate", "delete_rate"):
        if not 0.0 <= o[key] < 1.0:
            problems.append(f"objective.{key}={o[key]} must be in [0, 1).")
    if o.span_length < 1 or o.shuffle_distance < 0:
        problems.append(
            f"objective.span_length={o.span_length} must be >= 1 and objective.shuffle_distance="
            f"{o.shuffle_distance} >= 0."
        )
    return problems + decoder_rules(cfg)


SPEC = register_objective(
    ObjectiveSpec(
        name="denoising",
        title="denoising autoencoder",
        schema=DenoisingObjectiveConfig,
        build=build_denoising,
        data_kind="sentences",
        multitask=True,
        rules=denoising_rules,
    )
)
