"""The output stack every head shares: dropout -> [linear -> ReLU -> dropout] -> linear to the labels."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqtune.config.rules import positive


class BatchNorm(nn.BatchNorm1d):
    """BatchNorm1d that also takes a training batch of one example (the last batch of an epoch can be that
    small): it is normalised with the running statistics, which it leaves as they are."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.size(0) == 1:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return super().forward(x)


def _norm(kind: str, width: int) -> list[nn.Module]:
    if kind == "batch":
        return [BatchNorm(width)]
    return [nn.LayerNorm(width)] if kind == "layer" else []


def output_layers(
    features: int, num_labels: int, hidden_size: int, dropout: float, norm: str = "none"
) -> nn.Sequential:
    """``hidden_size`` 0: one linear map from the features to the labels (after dropout).

    ``norm``: standardise the features (and the hidden layer) first: ``batch`` (BatchNorm1d, fastai's ULMFiT
    classifier), ``layer`` (LayerNorm: per example, so no batch statistics) or ``none``."""
    layers: list[nn.Module] = [*_norm(norm, features), nn.Dropout(dropout)]
    if hidden_size > 0:
        layers += [nn.Linear(features, hidden_size), nn.ReLU(), *_norm(norm, hidden_size), nn.Dropout(dropout)]
        features = hidden_size
    layers.append(nn.Linear(features, num_labels))
    return nn.Sequential(*layers)


def output_rules(h) -> list[str]:
    """The output stack's options (every head has them): head.hidden_size and head.dropout."""
    problems: list[str] = []
    if not 0.0 <= h.dropout < 1.0:
        problems.append(f"head.dropout={h.dropout} must be in [0, 1).")
    positive(problems, "head.hidden_size", h.hidden_size, allow_zero=True)
    return problems
