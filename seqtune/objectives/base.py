"""What every objective (and head) returns from a step, and the model that pairs it with an encoder.

An objective is a small ``nn.Module`` whose ``forward(encoder, batch, state)`` returns a :class:`StepOutput`:
the mean loss to back-propagate, the recurrent state to carry (or None), and *summed* metrics as device
tensors with the count they sum over.  The loop adds sums up on the device and reads them only at log
intervals, so a step never waits for the GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from seqtune.models.encoder import Encoder, State


@dataclass
class StepOutput:
    loss: torch.Tensor  # scalar, mean over `count`
    state: State | None  # recurrent state to carry into the next window (None if the task does not carry)
    sums: dict[str, torch.Tensor]  # metric name -> summed value (device tensor); divide by count
    count: int  # tokens or examples the sums run over


class Objective(Protocol):
    name: str

    def __call__(self, encoder: Encoder, batch: Any, state: State | None) -> StepOutput: ...


class TaskModel(nn.Module):
    """Encoder + objective (pretraining) or encoder + head (fine-tuning): the module the loop trains."""

    encoder: Encoder
    objective: Any  # an objective or a head: a module with forward/summarize (and predict for heads)

    def __init__(self, encoder: Encoder, objective: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.objective = objective

    def forward(self, batch: Any, state: State | None = None) -> StepOutput:
        return self.objective(self.encoder, batch, state)
