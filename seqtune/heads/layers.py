"""The output stack every head shares: dropout -> [linear -> ReLU -> dropout] -> linear to the labels."""

from __future__ import annotations

from torch import nn

from seqtune.config.rules import positive


def output_layers(features: int, num_labels: int, hidden_size: int, dropout: float) -> nn.Sequential:
    """``hidden_size`` 0: one linear map from the features to the labels (after dropout)."""
    layers: list[nn.Module] = [nn.Dropout(dropout)]
    if hidden_size > 0:
        layers += [nn.Linear(features, hidden_size), nn.ReLU(), nn.Dropout(dropout)]
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
