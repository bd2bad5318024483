"""objective=rtd (replaced-token detection): corruption, metrics, rules, and a pretraining run whose loss falls."""

from __future__ import annotations

import json

import torch

from seqtune.data.tokenizers import PAD_ID, SPECIAL_TOKENS
from seqtune.objectives.rtd import replace_tokens
from tests.conftest import TINY, read_jsonl, run_cli


def test_replacements_skip_padding_and_change_the_token():
    torch.manual_seed(0)
    tokens = torch.randint(len(SPECIAL_TOKENS), 40, (50, 8))
    tokens[-10:] = PAD_ID
    inputs, replaced = replace_tokens(tokens, vocab_size=40, rate=0.3)
    assert not replaced[-10:].any() and torch.equal(inputs[-10:], tokens[-10:])
    assert (inputs[replaced] != tokens[replaced]).all() and torch.equal(inputs[~replaced], tokens[~replaced])
    assert 0.2 < replaced[:-10].float().mean() < 0.4


def test_rtd_pretrains_and_its_rules_name_the_key(tmp_path):
    run_dir = tmp_path / "run"
    res = run_cli(
        ["pretrain", "objective=rtd", "model.bidirectional=true", *TINY, f"hydra.run.dir={run_dir}"], tmp_path
    )
    assert res.returncode == 0, res.stdout + res.stderr
    losses = [r["train/loss"] for r in read_jsonl(run_dir / "metrics.jsonl") if "train/loss" in r]
    assert losses[-1] < losses[0]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert 0.5 < summary["test/acc"] <= 1.0 and 0.0 <= summary["test/f1"] <= 1.0
    bad = run_cli(
        ["pretrain", "objective=rtd", "objective.replace_rate=1.5", "debug=smoke", f"hydra.run.dir={tmp_path}/bad"],
        tmp_path,
    )
    assert bad.returncode == 2 and "objective.replace_rate=1.5 is out of range; it must be in [0, 1]" in bad.stderr
