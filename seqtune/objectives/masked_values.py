"""Masked-value pretraining for numeric series (tsai's MVP, the TST/TSBERT idea; ``data_kind = "series"``).

Random spans of time steps (about ``mask_rate`` of the steps, spans of ``span_length`` on average) are set to
0 (the train mean after z-scoring) in the look-back window ``x (L, batch, features)``; the encoder (best
bidirectional, ``model.input=numeric``) reads the masked window and a linear head reconstructs every feature
at every step.  Loss (MSE) and metrics count the masked steps only.  ``channel_independent`` masks and
reconstructs each column as its own series.  On labelled series (``dataset=ucr``, read unlabelled) a batch is a
``LabelledBatch`` of z-scored series cut into segments: whole segments are masked (PatchTST-style) and their
values rebuilt; padding is never masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import MISSING
from torch import nn

from seqtune.data.batching import LabelledBatch
from seqtune.data.records import dataset_holds
from seqtune.models.encoder import Encoder, State
from seqtune.objectives.base import StepOutput
from seqtune.objectives.forecast import error_sums, summarize_errors
from seqtune.objectives.spec import ObjectiveSpec, register_objective


def span_mask(
    length: int,
    batch: int,
    mask_rate: float,
    span_length: int,
    device: torch.device,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(length, batch) bool: spans of ``span_length`` steps start at rate mask_rate / span_length.

    The masked share is about ``1 - (1 - mask_rate / span_length) ** span_length`` (0.34 for 0.4 and 5).
    """
    starts = torch.rand(length, batch, generator=generator).to(device) < mask_rate / span_length  # (L, batch)
    mask = starts.clone()
    for k in range(1, span_length):
        mask[k:] |= starts[:-k]
    return mask


class MaskedValues(nn.Module):
    name = "masked_values"
    feature_std: torch.Tensor  # a buffer (not saved: it comes from the data's facts)

    def __init__(
        self,
        encoder: Encoder,
        num_features: int,
        mask_rate: float,
        span_length: int,
        channel_independent: bool,
        feature_std: list[float],
    ):
        super().__init__()
        self.mask_rate, self.span_length, self.channel_independent = mask_rate, span_length, channel_independent
        self.head = nn.Linear(encoder.output_size, 1 if channel_independent else num_features)
        self.register_buffer("feature_std", torch.tensor(feature_std, dtype=torch.float32), persistent=False)

    def forward(self, encoder: Encoder, batch: Any, state: State | None) -> StepOutput:
        """``batch``: a forecast window (x, y), or a ``LabelledBatch`` of padded series (labels unused, padding
        never masked nor scored)."""
        lengths = batch.lengths if isinstance(batch, LabelledBatch) else None
        x = batch.tokens if lengths is not None else batch[0]  # (L, batch, features); a window's horizon unused
        length, b, features = x.shape
        std = self.feature_std
        if self.channel_independent:
            x = x.reshape(length, -1, 1)  # (L, batch * features, 1)
            std = std.repeat(b).unsqueeze(-1)  # (batch * features, 1): series b*C + c has column c's std
        mask = span_mask(length, x.size(1), self.mask_rate, self.span_length, x.device)  # (L, series)
        if lengths is not None:
            mask &= torch.arange(length, device=x.device).unsqueeze(1) < lengths.unsqueeze(0)  # real steps only
        out, _ = encoder(x.masked_fill(mask.unsqueeze(-1), 0.0), None, lengths)  # (L, series, output)
        err = (self.head(out) - x) * mask.unsqueeze(-1)  # (L, series, f); zero on unmasked steps
        count = mask.sum() * x.size(-1)
        loss = err.pow(2).sum() / count.clamp(min=1)
        sums = error_sums(err, std)
        sums["masked"] = count
        return StepOutput(loss, None, sums, x.numel())

    def summarize(self, means: dict[str, float]) -> dict[str, float]:
        means = dict(means)
        masked = max(means.pop("masked"), 1e-12)
        out = summarize_errors({k: v / masked for k, v in means.items()})
        out["mask_share"] = masked
        return out


def build_masked_values(encoder: Encoder, cfg, tokenizer, info: dict | None = None) -> MaskedValues:
    if info is None:
        raise ValueError("objective=masked_values is built from the data's facts (num_features, column stds)")
    o = cfg.objective
    columns = info["num_columns"]
    std = info["timeseries"]["normalizer"]["std"] if info["timeseries"]["normalizer"] else [1.0] * columns
    return MaskedValues(encoder, columns, o.mask_rate, o.span_length, o.channel_independent, std)


@dataclass
class MaskedValuesObjectiveConfig:
    name: str = MISSING
    mask_rate: float = MISSING  # share of time steps masked (tsai MVP default 0.4)
    span_length: int = MISSING  # mean length of a masked span, in time steps
    channel_independent: bool = MISSING  # true: mask and reconstruct each column as its own series


def masked_values_rules(cfg) -> list[str]:
    o = cfg.objective
    if o.channel_independent and dataset_holds(cfg.dataset.get("format")) == "labelled_series":
        return [
            "objective.channel_independent=true reads each column as its own series, but a labelled series "
            "(dataset=ucr) is one series whose steps are segments; set objective.channel_independent=false."
        ]
    if not 0.0 < o.mask_rate < 1.0 or o.span_length < 1:
        return [
            f"objective.mask_rate={o.mask_rate} must be between 0 and 1 (exclusive) and "
            f"objective.span_length={o.span_length} >= 1."
        ]
    return []


SPEC = register_objective(
    ObjectiveSpec(
        name="masked_values",
        title="masked-value modelling",
        schema=MaskedValuesObjectiveConfig,
        build=build_masked_values,
        data_kind="series",
        input="numeric",
        multitask=True,
        rules=masked_values_rules,
    )
)
