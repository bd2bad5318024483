"""Fine-tuning plans in stages (seqtune/training/stages.py): which groups train when, and the lr per step."""

from __future__ import annotations

import math

import pytest

from seqtune.training.optim import slanted_triangular_factor
from seqtune.training.stages import (
    Stage,
    auto_stage_epochs,
    gradual_frozen,
    gradual_stages,
    stage_at,
    staged_factor,
    total_epochs,
)


def test_gradual_frozen_unfreezes_the_head_then_one_layer_per_stage_then_everything():
    # groups: embedding, rnn.l0, rnn.l1, rnn.l2, head -> head; +l2; +l1; all (fastai's freeze_to(-2), (-3), unfreeze)
    assert gradual_frozen(5) == [4, 3, 2, 0]
    assert gradual_frozen(4) == [3, 2, 0]  # two layers: head; +l1; all
    assert gradual_frozen(3) == [2, 0]  # one layer: head; all


def test_gradual_stages_are_short_first_stages_then_a_full_length_last_one():
    stages = gradual_stages(4, epochs=8, stage_epochs=2)
    assert stages == [Stage(1, 2, 3), Stage(3, 2, 2), Stage(5, 8, 0)]
    assert total_epochs(stages) == 12
    assert [stage_at(stages, e).frozen for e in range(1, 15)] == [3, 3, 2, 2] + [0] * 10  # the last stage goes on
    assert gradual_stages(4, epochs=24, stage_epochs=0) == [Stage(1, 3, 3), Stage(4, 3, 2), Stage(7, 24, 0)]
    assert [auto_stage_epochs(e) for e in (1, 4, 8, 12, 24, 50)] == [1, 1, 1, 2, 3, 6]


def test_staged_factor_restarts_the_schedule_in_every_stage():
    stages = gradual_stages(4, epochs=2, stage_epochs=1)
    spe = 10  # steps per epoch: stages cover steps [0, 10), [10, 20), [20, 40)

    def stlr(step: int, total: int) -> float:
        return slanted_triangular_factor(step, total_steps=total, cut_frac=0.1, ratio=32.0)

    factor = staged_factor(stlr, stages, spe)
    for step in range(40):
        start, length = (0, 10) if step < 10 else (10, 10) if step < 20 else (20, 20)
        assert factor(step) == pytest.approx(stlr(step - start, length))
    # every stage starts at the bottom of its own cycle (lr / ratio) and peaks at its cut: step 0 + 1, 10 + 1, 20 + 2
    assert [factor(s) for s in (0, 10, 20)] == pytest.approx([1 / 32] * 3)
    assert [factor(s) for s in (1, 11, 22)] == pytest.approx([1.0] * 3)
    assert factor(39) < factor(30) < factor(22)  # the long decay of the last stage
    assert all(math.isfinite(factor(s)) for s in range(60))  # past the plan: the last stage's schedule ends low
