"""The output stack every head shares: dropout -> [linear -> ReLU -> dropout] -> linear to the labels."""
from __future__ import annotations

from torch import nn


def output_layers(features: int, num_labels: int, hidden_size: int, dropout: float) -> nn.Sequential:
    """``hidden_size`` 0: one linear map from the features to the labels (after dropout)."""
    layers: list[nn.Module] = [nn.Dropout(dropout)]
    if hidden_size > 0:
        layers += [nn.Linear(features, hidden_size), nn.ReLU(), nn.Dropout(dropout)]
        features = hidden_size
    layers.append(nn.Linear(features, num_labels))
    return nn.Sequential(*layers)
