"""The output stack every head shares: dropout -> [linear -> ReLU -> dropout] -> linear to the labels."""
from __future__ import annotations

from torch import nn


def output_layers(features: int, num_labels: int, hidden_size: int, dropout: float,
                  batch_norm: bool = False) -> nn.Sequential:
    """``hidden_size`` 0: one linear map from the features to the labels (after dropout).

    ``batch_norm``: standardise the features (and the hidden layer) with BatchNorm1d first, as fastai's
    ULMFiT classifier does."""
    layers: list[nn.Module] = ([nn.BatchNorm1d(features)] if batch_norm else []) + [nn.Dropout(dropout)]
    if hidden_size > 0:
        layers += [nn.Linear(features, hidden_size), nn.ReLU()] + ([nn.BatchNorm1d(hidden_size)] if batch_norm else []) + [nn.Dropout(dropout)]
        features = hidden_size
    layers.append(nn.Linear(features, num_labels))
    return nn.Sequential(*layers)
