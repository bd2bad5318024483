"""Numeric sequence autoencoder (``objective=series_autoencoder``): the encoder reads a series, a decoder GRU
rebuilds every step from the encoder's summary alone (Dai & Le's SA-LSTM for values; ``data_kind = "series"``).

The decoder is not teacher-forced: its input at every step is the summary (the forward state at the last real
step, the backward one at step 0), so the whole series must pass through that vector -- the vector a
classifier's ``last`` pooling reads.  ``mask_rate`` > 0 also hides spans of the encoder's input (a denoising
autoencoder; the same spans as ``masked_values``).  Batches: a ``LabelledBatch`` of padded series
(``dataset=ucr`` read unlabelled; padding never scored) or a forecast window ``(x, y)`` (x rebuilt).  Loss: mse
over the real values on the z-scored scale; metrics mse and mae.  The encoder transfers; the decoder stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import MISSING
from torch import nn

from seqtune.data.batching import LabelledBatch
from seqtune.models.encoder import Encoder, State
from seqtune.objectives.base import StepOutput
from seqtune.objectives.masked_values import span_mask
from seqtune.objectives.spec import ObjectiveSpec, register_objective


class SeriesAutoencoder(nn.Module):
    name = "series_autoencoder"

    def __init__(self, encoder: Encoder, width: int, decoder_layers: int, mask_rate: float, span_length: int):
        super().__init__()
        size = encoder.output_size
        self.decoder = nn.GRU(size, size, decoder_layers)
        self.out = nn.Linear(size, width)
        self.mask_rate, self.span_length = mask_rate, span_length

    def reconstruct(self, encoder: Encoder, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """x (T, batch, width) -> its reconstruction (T, batch, width) from the summary of the (masked) input."""
        if self.training and self.mask_rate > 0:
            mask = span_mask(x.size(0), x.size(1), self.mask_rate, self.span_length, x.device)  # (T, batch)
            x = x.masked_fill(mask.unsqueeze(-1), 0.0)
        out, _ = encoder(x, None, lengths)  # (T, batch, output)
        summary = encoder.summary(out, lengths)  # (batch, output)
        decoded, _ = self.decoder(summary.unsqueeze(0).expand(x.size(0), -1, -1).contiguous())  # (T, batch, output)
        return self.out(decoded)

    def forward(self, encoder: Encoder, batch: Any, state: State | None) -> StepOutput:
        lengths = batch.lengths if isinstance(batch, LabelledBatch) else None
        x = batch.tokens if lengths is not None else batch[0]  # (T, batch, width)
        real = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        if lengths is not None:
            real = torch.arange(x.size(0), device=x.device).unsqueeze(1) < lengths.unsqueeze(0)  # (T, batch)
        err = (self.reconstruct(encoder, x, lengths) - x) * real.unsqueeze(-1)  # zero on padding
        count = real.sum() * x.size(-1)
        loss = err.pow(2).sum() / count
        sums = {"se": err.detach().pow(2).sum(), "ae": err.detach().abs().sum(), "values": count}
        return StepOutput(loss, None, sums, int(x.size(1)))

    def summarize(self, means: dict[str, float]) -> dict[str, float]:
        values = max(means["values"], 1e-12)
        mse = means["se"] / values
        return {"loss": mse, "mse": mse, "mae": means["ae"] / values}


def build_series_autoencoder(encoder: Encoder, cfg, tokenizer, info: dict | None = None) -> SeriesAutoencoder:
    if info is None:
        raise ValueError("objective=series_autoencoder is built from the data's facts (num_features)")
    o = cfg.objective
    return SeriesAutoencoder(encoder, info["num_features"], o.decoder_layers, o.mask_rate, o.span_length)


@dataclass
class SeriesAutoencoderObjectiveConfig:
    name: str = MISSING
    decoder_layers: int = MISSING  # GRU layers of the decoder (hidden size = the encoder's output size)
    mask_rate: float = MISSING  # share of the input's steps hidden (spans); 0: a plain autoencoder
    span_length: int = MISSING  # mean hidden span, in steps


def series_autoencoder_rules(cfg) -> list[str]:
    o = cfg.objective
    problems = []
    if not 0.0 <= o.mask_rate < 1.0:
        problems.append(f"objective.mask_rate={o.mask_rate} must be in [0, 1) (0: nothing hidden).")
    if o.span_length < 1 or o.decoder_layers < 1:
        problems.append(
            f"objective.span_length={o.span_length} and objective.decoder_layers={o.decoder_layers} must be >= 1."
        )
    return problems


SPEC = register_objective(
    ObjectiveSpec(
        name="series_autoencoder",
        title="numeric sequence autoencoder",
        schema=SeriesAutoencoderObjectiveConfig,
        build=build_series_autoencoder,
        data_kind="series",
        input="numeric",
        multitask=True,
        rules=series_autoencoder_rules,
    )
)
