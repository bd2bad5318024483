"""head=classifier on labelled numeric series (dataset=ucr): it learns a class set by a known feature, every
transfer strategy runs on numeric input after masked_values / series_autoencoder pretraining, evaluate and predict
read the run's series, and the mismatches a user can type are named errors (exit 2)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli
from tests.data._helpers import SERIES_SCRATCH_GRU


def _rows(rng: np.random.Generator, n: int) -> list[str]:
    """Class 1: a slow sine; class 2: a fast one (the known feature), random phase, noise."""
    t = np.linspace(0, 2 * np.pi, 32)
    rows = []
    for i in range(n):
        label = 1 + i % 2
        x = np.sin((1 if label == 1 else 4) * t + rng.uniform(0, 2 * np.pi)) + 0.2 * rng.normal(size=t.size)
        rows.append(f"{label}\t" + "\t".join(f"{v:.5f}" for v in x))
    return rows


@pytest.fixture(scope="module")
def series_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("series")
    rng = np.random.default_rng(0)
    (root / "w_TRAIN.tsv").write_text("\n".join(_rows(rng, 80)) + "\n")
    (root / "w_TEST.tsv").write_text("\n".join(_rows(rng, 60)) + "\n")
    return root


def _data(root: Path) -> list[str]:
    return ["dataset=ucr", "dataset.set=null", f"dataset.folder={root}", "dataset.train=w_TRAIN.tsv",
            "dataset.test=w_TEST.tsv", "dataset.segment_length=4"]


def test_classifier_learns_the_frequency_and_evaluate_predict_agree(series_dir, tmp_path):
    run = tmp_path / "run"
    res = run_cli(["finetune", *_data(series_dir), *SERIES_SCRATCH_GRU, f"hydra.run.dir={run}"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test/acc"] >= 0.9, summary  # chance is 0.5
    assert json.loads((run / "data.json").read_text())["segment_length"] == 4
    ev = run_cli(["evaluate", f"checkpoint={run}", "split=test"], tmp_path)
    assert ev.returncode == 0, ev.stdout + ev.stderr
    assert json.loads(ev.stdout[ev.stdout.index("{"):])["acc"] == pytest.approx(summary["test/acc"])
    lines = [r.split("\t", 1)[1] for r in (series_dir / "w_TEST.tsv").read_text().splitlines()[:10]]
    (tmp_path / "in.tsv").write_text("\n".join(lines) + "\n")
    pr = run_cli(["predict", f"checkpoint={run}", f"input={tmp_path / 'in.tsv'}", "output=-"], tmp_path)
    assert pr.returncode == 0, pr.stdout + pr.stderr
    records = [json.loads(x) for x in pr.stdout.splitlines() if x.startswith("{")]
    gold = [r.split("\t", 1)[0] for r in (series_dir / "w_TEST.tsv").read_text().splitlines()[:10]]
    assert [r["line"] for r in records] == list(range(1, 11))
    assert sum(r["label"] == g for r, g in zip(records, gold)) >= 8


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["masked_values", "series_autoencoder"])
def test_every_strategy_runs_on_numeric_input(series_dir, tmp_path, objective):
    pre = tmp_path / "pre"
    res = run_cli(["pretrain", *_data(series_dir), "debug=smoke", f"objective={objective}", "model=gru",
                   "model.bidirectional=true", f"hydra.run.dir={pre}"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    for strategy in ("scratch", "full", "frozen", "partial", "gradual", "multitask"):
        run = tmp_path / strategy
        res = run_cli(["finetune", *_data(series_dir), "debug=smoke", f"transfer={strategy}",
                       f"transfer.checkpoint={pre}", f"hydra.run.dir={run}"], tmp_path)
        assert res.returncode == 0, strategy + res.stdout + res.stderr
        summary = json.loads((run / "summary.json").read_text())
        assert 0.0 <= summary["test/acc"] <= 1.0 and summary["transfer"] == strategy


def test_segment_length_must_match_the_checkpoint(series_dir, tmp_path):
    pre = tmp_path / "pre"
    res = run_cli(["pretrain", *_data(series_dir), "debug=smoke", "objective=masked_values", f"hydra.run.dir={pre}"],
                  tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    res = run_cli(["finetune", *_data(series_dir), "dataset.segment_length=2", "debug=smoke", "transfer=full",
                   f"transfer.checkpoint={pre}", f"hydra.run.dir={tmp_path / 'ft'}"], tmp_path)
    assert res.returncode == 2
    assert "dataset.segment_length=2 feeds the encoder 2 values per step, but the checkpoint's encoder reads " \
           "model.input='numeric' with model.num_features=4" in res.stderr
    # a numeric checkpoint on a text table (numbers in a text column are still text): named, not a dtype crash
    table = tmp_path / "t.csv"
    table.write_text("text,label\n" + "\n".join(f'"{i} {i + 1} {i + 2}",{i % 2}' for i in range(40)) + "\n")
    res = run_cli(["finetune", "dataset=table", f"dataset.train={table}", "debug=smoke", "transfer=full",
                   f"transfer.checkpoint={pre}", f"hydra.run.dir={tmp_path / 'ft2'}"], tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "the encoder reads numeric values (model.input=numeric, from the checkpoint), but dataset 'table'" \
           in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize(
    "command, args, message",
    [
        ("finetune", ["head=regressor"], "head=regressor forecasts values, but dataset.format='ucr' holds one label "
                                         "per series; use head=classifier."),
        ("pretrain", ["objective=forecast"], "objective=forecast reads look-back/horizon windows of one long series"),
        ("pretrain", ["objective=masked_values", "objective.channel_independent=true"],
         "set objective.channel_independent=false"),
        ("pretrain", ["objective=clm"], "objective=clm reads text, but dataset.format='ucr' is numeric"),
    ],
    ids=["regressor", "forecast", "channel-independent", "text-objective"],
)
def test_mismatched_components_are_named(series_dir, tmp_path, command, args, message):
    res = run_cli([command, *_data(series_dir), "debug=smoke", *args, f"hydra.run.dir={tmp_path / 'r'}"], tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr
