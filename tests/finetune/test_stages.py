"""Gradual unfreezing in stages (seqtune/training/stages.py): which groups train when, and the lr per step."""
from __future__ import annotations

import math

import pytest

from seqtune.training.optim import slanted_triangular_factor
from seqtune.training.stages import Stage, gradual_frozen, gradual_stages, stage_at, staged_factor, total_epochs


def test_gradual_frozen_unfreezes_the_head_then_one_layer_per_stage_then_everything():
    # groups: embedding, rnn.l0, rnn.l1, rnn.l2, head -> head; +l2; +l1; all (fastai's freeze_to(-2), (-3), unfreeze)
    assert gradual_frozen(5) == [4, 3, 2, 0]
    assert gradual_frozen(4) == [3, 2, 0]  # two layers: head; +l1; all
    assert gradual_frozen(3) == [2, 0]  # one layer: head; all


def test_gradual_stages_lay_out_epochs_and_lr_scales():
    stages = gradual_stages(4, stage_epochs=2, final_epochs=4, lr_scales=[1.0, 0.5])
    assert stages == [Stage(1, 2, 3, 1.0), Stage(3, 2, 2, 0.5), Stage(5, 4, 0, 0.5)]  # the last scale repeats
    assert total_epochs(stages) == 8
    assert [stage_at(stages, e).frozen for e in range(1, 10)] == [3, 3, 2, 2, 0, 0, 0, 0, 0]


def test_staged_factor_restarts_the_schedule_in_every_stage_scaled_by_its_lr():
    stages = gradual_stages(4, stage_epochs=1, final_epochs=2, lr_scales=[1.0, 0.5, 0.25])
    spe = 10  # steps per epoch: stages cover steps [0, 10), [10, 20), [20, 40)

    def stlr(step: int, total: int) -> float:
        return slanted_triangular_factor(step, total_steps=total, cut_frac=0.1, ratio=32.0)

    factor = staged_factor(stlr, stages, spe)
    for step in range(40):
        start, length, scale = (0, 10, 1.0) if step < 10 else (10, 10, 0.5) if step < 20 else (20, 20, 0.25)
        assert factor(step) == pytest.approx(scale * stlr(step - start, length))
    # every stage starts at the bottom of its own cycle (lr / ratio) and peaks at its cut
    assert [factor(s) for s in (0, 10, 20)] == pytest.approx([1 / 32, 0.5 / 32, 0.25 / 32])
    assert factor(1) == pytest.approx(1.0) and factor(22) == pytest.approx(0.25)
    assert all(math.isfinite(factor(s)) for s in range(60))  # past the plan: the last stage's schedule ends low
