"""Fine-tuning plans: which layer groups train in which epochs, as stages of whole epochs.

A transfer strategy (``transfer.py``) turns the run's epochs into a plan.  Most strategies have one stage; ULMFiT's
gradual unfreezing as fastai runs it has several: the head alone first (the encoder frozen), then one more RNN
layer from the top per stage, then everything.  Each stage is a learning-rate cycle of its own (the schedule
restarts, :func:`staged_factor`).  Stage boundaries fall on epoch boundaries, so which groups train is a function
of the epoch and a resumed run restores it::

    plan = gradual_stages(num_groups=4, epochs=8, stage_epochs=1)   # head 1 epoch, +rnn.l1 1 epoch, all 8 epochs
    stage_at(plan, epoch=2)                                          # Stage(first_epoch=2, epochs=1, frozen=2)
    factor = staged_factor(lambda step, total: stlr(step, total), plan, steps_per_epoch=10)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    first_epoch: int  # 1-based
    epochs: int
    frozen: int  # bottom layer groups frozen (the head is the top group)


def gradual_frozen(num_groups: int) -> list[int]:
    """Frozen bottom groups per stage for groups [embedding, rnn.l0 .. rnn.l{L-1}, head]: the head alone, then
    one more RNN layer from the top, and finally everything (the bottom layer and the embedding together, as
    fastai's ``unfreeze`` after ``freeze_to(-3)``)."""
    layers = num_groups - 2
    return [num_groups - 1] + [num_groups - 1 - s for s in range(1, layers)] + [0]


def auto_stage_epochs(epochs: int) -> int:
    """Epochs of each stage before the last: an eighth of the last stage's, at least one."""
    return max(1, round(epochs / 8))


def gradual_stages(num_groups: int, epochs: int, stage_epochs: int) -> list[Stage]:
    """The head alone and each partial unfreezing for ``stage_epochs`` epochs (0: :func:`auto_stage_epochs`), then
    everything for ``epochs`` epochs: the last stage is as long as a full fine-tuning run, the earlier ones warm
    the new head and the top layers up first."""
    short = stage_epochs if stage_epochs > 0 else auto_stage_epochs(epochs)
    frozen = gradual_frozen(num_groups)
    stages, first = [], 1
    for i, f in enumerate(frozen):
        length = epochs if i == len(frozen) - 1 else short
        stages.append(Stage(first, length, f))
        first += length
    return stages


def single_stage(epochs: int, frozen: int) -> list[Stage]:
    return [Stage(1, epochs, frozen)]


def total_epochs(stages: Sequence[Stage]) -> int:
    return sum(s.epochs for s in stages)


def stage_at(stages: Sequence[Stage], epoch: int) -> Stage:
    """The stage an epoch (1-based) belongs to (the last one beyond the plan)."""
    for stage in stages:
        if epoch < stage.first_epoch + stage.epochs:
            return stage
    return stages[-1]


def staged_factor(
    base: Callable[[int, int], float], stages: Sequence[Stage], steps_per_epoch: int
) -> Callable[[int], float]:
    """lr multiplier at a global step: ``base(step within its stage, the stage's steps)``; every stage is one
    whole cycle of the schedule."""

    def factor(step: int) -> float:
        stage = stage_at(stages, step // max(1, steps_per_epoch) + 1)
        start = (stage.first_epoch - 1) * steps_per_epoch
        return base(step - start, stage.epochs * steps_per_epoch)

    return factor
