"""The finetune root and its groups compose, validate and build; cross-field problems are reported together."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqtune.training.validation import validate_finetune
from seqtune.data.records import SeriesFacts
from seqtune.errors import ConfigError
from seqtune.heads import build_head
from seqtune.models.encoder import Encoder
from seqtune.training.transfer import TRANSFERS  # importing transfer registers the strategies
from tests.conftest import compose_config

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.parametrize("group", ["head", "transfer"])
def test_every_option_composes_validates_and_builds(group):
    for option in sorted(p.stem for p in (CONF / group).glob("*.yaml")):
        extra = {"tagger": ["dataset=conll2003"], "regressor": ["dataset=etth1"]}.get(option, [])
        cfg = compose_config("finetune", [f"{group}={option}", *extra])
        validate_finetune(cfg)
        if group == "head":
            series = SeriesFacts(
                horizon=3,
                lookback=4,
                target_index=None,
                targets=["a", "b"],
                target_std=[1.0, 2.0],
                num_columns=2,
                timeseries={},
            )  # what finetune gives a regressor
            head = build_head(cfg.head, Encoder("lstm", 20, 4, 6, 1), ["a", "b"], series)
            assert head.name == option
        else:
            assert TRANSFERS.get(cfg.transfer.name) is not None


def test_defaults_are_the_ulmfit_recipe_on_the_builtin_task():
    cfg = compose_config("finetune")
    assert (cfg.head.name, cfg.head.pooling, cfg.transfer.name, cfg.dataset.name) == (
        "classifier",
        "concat",
        "gradual",
        "synthetic_topics",
    )
    assert cfg.transfer.lr_factor == 1.0 and cfg.transfer.stage_epochs == 0 and cfg.transfer.checkpoint == "latest"
    assert cfg.optimizer.schedule.name == "slanted_triangular" and list(cfg.optimizer.betas) == [0.7, 0.99]
    assert cfg.optimizer.lr == 0.001 and cfg.head.norm == "batch" and cfg.trainer.max_epochs == -1
    assert (cfg.trainer.monitor, cfg.trainer.patience, cfg.trainer.min_steps) == ("auto", 3, 150)


def test_finetune_problems_are_reported_together():
    cfg = compose_config(
        "finetune",
        [
            "head=tagger",
            "transfer.lr_factor=0.5",
            "head.dropout=1.5",
            "transfer.checkpoint=null",
            "trainer.patience=-1",
        ],
    )
    with pytest.raises(ConfigError) as err:
        validate_finetune(cfg)
    joined = "\n".join(err.value.problems)
    assert len(err.value.problems) == 6, joined
    for text in (
        "head=tagger needs token labels",
        "transfer.lr_factor=0.5",
        "head.dropout=1.5",
        "transfer=gradual loads pretrained weights, but transfer.checkpoint=null",
        "+model=lstm",
        "trainer.patience=-1",
    ):
        assert text in joined, text
