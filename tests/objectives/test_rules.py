"""Cross-field rules of the objectives: every problem reported together, each naming key, value and fix."""
from __future__ import annotations

import pytest

from seqtune.training.validation import validate_pretrain as validate
from seqtune.errors import ConfigError
from tests.conftest import compose_config


def problems(overrides: list[str]) -> str:
    with pytest.raises(ConfigError) as err:
        validate(compose_config("pretrain", ["debug=smoke", *overrides]))
    return str(err.value)


def test_mlm_on_a_unidirectional_encoder_says_to_set_bidirectional():
    msg = problems(["objective=mlm"])
    assert "objective=mlm" in msg and "model.bidirectional=true" in msg


def test_forecast_on_text_names_dataset_and_input_together():
    msg = problems(["objective=forecast"])
    assert "dataset.format='synthetic'" in msg and "dataset=etth1" in msg
    assert "model.input='tokens'" in msg and "model.input=numeric" in msg


def test_text_objective_on_series_and_pairs_without_seq2seq():
    assert "dataset.format='timeseries' is numeric" in problems(["dataset=etth1"])
    assert "only objective=seq2seq" in problems(["dataset=reversal"])
    assert "objective=seq2seq needs source/target pairs" in problems(["objective=seq2seq"])


def test_rates_and_heads_are_checked():
    msg = problems(["objective=mlm", "model.bidirectional=true", "objective.mask_rate=0",
                    "objective.mask_token_rate=0.9", "objective.random_token_rate=0.2", "model.weight_drop=1.5"])
    assert "objective.mask_rate=0" in msg and "sum to at most 1" in msg and "model.weight_drop=1.5" in msg
    msg = problems(["objective=forecast", "dataset=etth1", "model.input=numeric", "objective.head=autoregressive",
                    "objective.channel_independent=false"])
    assert "dataset.target_column='OT'" in msg and "dataset.target_column=null" in msg
    msg = problems(["objective=forecast", "dataset=etth1", "model.input=numeric", "objective.head=autoregressive",
                    "model.bidirectional=true"])
    assert "objective.head=autoregressive" in msg and "model.bidirectional=false" in msg
    msg = problems(["objective=forecast", "dataset=etth1", "model.input=numeric", "objective.segment_length=7"])
    assert "objective.segment_length=7" in msg and "divide dataset.lookback (96)" in msg
    assert "objective.delete_rate=1.0" in problems(["objective=denoising", "objective.delete_rate=1.0"])


def test_valid_combinations_pass():
    for overrides in (["objective=mlm", "model.bidirectional=true"], ["objective=autoencoder"],
                      ["objective=denoising", "model.bidirectional=true"], ["objective=seq2seq", "dataset=reversal"],
                      ["objective=forecast", "dataset=etth1", "model.input=numeric"],
                      ["objective=masked_values", "dataset=etth1", "model.input=numeric", "model.bidirectional=true"]):
        validate(compose_config("pretrain", ["debug=smoke", *overrides]))
