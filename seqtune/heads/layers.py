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


def output_layers(
    features: int, num_labels: int, hidden_size: int, dropout: float, batch_norm: bool = False
) -> nn.Sequential:
    """``hidden_size`` 0: one linear map from the features to the labels (after dropout).

    ``batch_norm``: standardise the features (and the hidden layer) with BatchNorm1d first, as fastai's
    ULMFiT classifier does."""
    layers: list[nn.Module] = ([BatchNorm(features)] if batch_norm else []) + [nn.Dropout(dropout)]
    if hidden_size > 0:
        layers += (
            [nn.Linear(features, hidden_size), nn.ReLU()]
            + ([BatchNorm(hidden_size)] if batch_norm else [])
            + [nn.Dropout(dropout)]
        )
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
