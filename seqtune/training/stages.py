"""Fine-tuning in stages: which layer groups train in each stage, for how many epochs, at what peak lr.

ULMFiT's gradual unfreezing as fastai runs it: the head alone first, then one more RNN layer from the top per
stage, then everything; each stage is a learning-rate cycle of its own (the schedule restarts), its peak
scaled by the stage's ``lr_scale``.  Stage boundaries fall on epoch boundaries, so which groups train is a
function of the epoch and a resumed run restores it::

    stages = gradual_stages(num_groups=4, stage_epochs=2, final_epochs=4, lr_scales=[1.0, 0.5, 0.1])
    stage_at(stages, epoch=3)            # Stage(first_epoch=3, epochs=2, frozen=1, lr_scale=0.5)
    factor = staged_factor(lambda step, total: stlr(step, total), stages, steps_per_epoch=10)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence


@dataclass(frozen=True)
class Stage:
    first_epoch: int  # 1-based
    epochs: int
    frozen: int  # bottom layer groups frozen (the head is the top group)
    lr_scale: float  # this stage's peak lr as a share of optimizer.lr


def gradual_frozen(num_groups: int) -> list[int]:
    """Frozen bottom groups per stage for groups [embedding, rnn.l0 .. rnn.l{L-1}, head]: the head alone, then
    one more RNN layer from the top, and finally everything (the bottom layer and the embedding together, as
    fastai's ``unfreeze`` after ``freeze_to(-3)``)."""
    layers = num_groups - 2
    return [num_groups - 1] + [num_groups - 1 - s for s in range(1, layers)] + [0]


def gradual_stages(num_groups: int, stage_epochs: int, final_epochs: int, lr_scales: Sequence[float]) -> list[Stage]:
    frozen = gradual_frozen(num_groups)
    stages, epoch = [], 1
    for i, f in enumerate(frozen):
        epochs = final_epochs if i == len(frozen) - 1 else stage_epochs
        scale = lr_scales[min(i, len(lr_scales) - 1)] if lr_scales else 1.0
        stages.append(Stage(epoch, epochs, f, scale))
        epoch += epochs
    return stages


def single_stage(epochs: int, frozen: int) -> list[Stage]:
    return [Stage(1, epochs, frozen, 1.0)]


def total_epochs(stages: Sequence[Stage]) -> int:
    return sum(s.epochs for s in stages)


def stage_at(stages: Sequence[Stage], epoch: int) -> Stage:
    """The stage an epoch (1-based) belongs to (the last one beyond the plan)."""
    for stage in stages:
        if epoch < stage.first_epoch + stage.epochs:
            return stage
    return stages[-1]


def staged_factor(base: Callable[[int, int], float], stages: Sequence[Stage],
                  steps_per_epoch: int) -> Callable[[int], float]:
    """lr multiplier at a global step: ``base(step within the stage, stage length)`` times the stage's scale."""
    def factor(step: int) -> float:
        stage = stage_at(stages, step // max(1, steps_per_epoch) + 1)
        start = (stage.first_epoch - 1) * steps_per_epoch
        return stage.lr_scale * base(step - start, stage.epochs * steps_per_epoch)
    return factor
