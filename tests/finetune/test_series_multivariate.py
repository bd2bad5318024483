"""head=classifier on multivariate labelled series (dataset=ucr reading ``.ts`` files): it learns a class carried by
the second channel alone, evaluate and predict read the run's files, pretraining (masked_values,
series_autoencoder) runs on them and its checkpoint fine-tunes, and a checkpoint of other channels is refused."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli
from tests.data._helpers import SERIES_SCRATCH_GRU


def _cases(rng: np.random.Generator, n: int) -> list[str]:
    """Two channels, 32 values each.  Channel 1: a sine of a random frequency (1 or 4), whatever the class; channel
    2: a slow sine for class 'slow', a fast one for 'fast' (the only feature that tells them apart)."""
    t = np.linspace(0, 2 * np.pi, 32)
    rows = []
    for i in range(n):
        label = ("slow", "fast")[i % 2]
        decoy = np.sin(rng.choice([1, 4]) * t + rng.uniform(0, 2 * np.pi)) + 0.2 * rng.normal(size=t.size)
        signal = np.sin((1 if label == "slow" else 4) * t + rng.uniform(0, 2 * np.pi)) + 0.2 * rng.normal(size=t.size)
        rows.append(":".join(",".join(f"{v:.5f}" for v in x) for x in (decoy, signal)) + f":{label}")
    return rows


HEADER = ["#Generated: the class is the second channel's frequency", "@problemName Two", "@timeStamps false",
          "@missing false", "@univariate false", "@dimensions 2", "@equalLength true", "@seriesLength 32",
          "@classLabel true slow fast", "@data"]


@pytest.fixture(scope="module")
def ts_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ts")
    rng = np.random.default_rng(0)
    (root / "Two").mkdir()
    (root / "Two" / "Two_TRAIN.ts").write_text("\n".join([*HEADER, *_cases(rng, 80)]) + "\n")
    (root / "Two" / "Two_TEST.ts").write_text("\n".join([*HEADER, *_cases(rng, 60)]) + "\n")
    return root


def _data(root: Path) -> list[str]:  # dataset.set finds Two/Two_{TRAIN,TEST}.ts (there is no .tsv)
    return ["dataset=ucr", "dataset.set=Two", f"dataset.folder={root}", "dataset.segment_length=4"]


def test_classifier_learns_the_second_channel_and_evaluate_predict_agree(ts_dir, tmp_path):
    run = tmp_path / "run"
    res = run_cli(["finetune", *_data(ts_dir), *SERIES_SCRATCH_GRU, f"hydra.run.dir={run}"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test/acc"] >= 0.9, summary  # chance is 0.5; the first channel alone tells nothing
    data = json.loads((run / "data.json").read_text())
    assert data["channels"] == 2 and data["segment_length"] == 4
    assert "80 training series of 2 channels of length 32" in res.stdout + res.stderr
    ev = run_cli(["evaluate", f"checkpoint={run}", "split=test"], tmp_path)
    assert ev.returncode == 0, ev.stdout + ev.stderr
    assert json.loads(ev.stdout[ev.stdout.index("{"):])["acc"] == pytest.approx(summary["test/acc"])
    test_file = ts_dir / "Two" / "Two_TEST.ts"  # the .ts file itself: header skipped, labels ignored
    pr = run_cli(["predict", f"checkpoint={run}", f"input={test_file}", "output=-"], tmp_path)
    assert pr.returncode == 0, pr.stdout + pr.stderr
    records = [json.loads(x) for x in pr.stdout.splitlines() if x.startswith("{")]
    gold = [line.rsplit(":", 1)[1] for line in test_file.read_text().splitlines()[len(HEADER):]]
    assert [r["line"] for r in records] == list(range(len(HEADER) + 1, len(HEADER) + 61))
    assert np.mean([r["label"] == g for r, g in zip(records, gold)]) == pytest.approx(summary["test/acc"])
    values_only = tmp_path / "in.txt"
    values_only.write_text("0.1 0.2 0.3\n")
    bad = run_cli(["predict", f"checkpoint={run}", f"input={values_only}", "output=-"], tmp_path)
    assert bad.returncode == 2 and "this model reads 2 dimension(s) per case" in bad.stderr, bad.stderr


@pytest.mark.parametrize("objective", ["masked_values", "series_autoencoder"])
def test_pretraining_on_multivariate_series_fine_tunes(ts_dir, tmp_path, objective):
    pre = tmp_path / "pre"
    res = run_cli(["pretrain", *_data(ts_dir), "debug=smoke", f"objective={objective}", "model=gru",
                   f"hydra.run.dir={pre}"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    summary = json.loads((pre / "summary.json").read_text())
    assert np.isfinite(summary["val/loss"]) and summary["steps"] == 6
    assert json.loads((pre / "data.json").read_text())["num_features"] == 8  # 4 values x 2 channels
    run = tmp_path / "ft"
    res = run_cli(["finetune", *_data(ts_dir), "debug=smoke", "transfer=full", f"transfer.checkpoint={pre}",
                   f"hydra.run.dir={run}"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "numeric input, 8 values per step" in res.stdout + res.stderr  # 4 values x 2 channels
    summary = json.loads((run / "summary.json").read_text())
    assert 0.0 <= summary["test/acc"] <= 1.0 and summary["transfer"] == "full"
    if objective == "series_autoencoder":  # a checkpoint of other channels: named, exit 2
        uni = tmp_path / "uni.tsv"
        uni.write_text("\n".join(f"{i % 2}\t" + "\t".join(["0.5"] * 16) for i in range(20)) + "\n")
        res = run_cli(["finetune", "dataset=ucr", "dataset.set=null", "dataset.folder=null", f"dataset.train={uni}",
                       f"dataset.test={uni}", "dataset.segment_length=4", "debug=smoke", "transfer=full",
                       f"transfer.checkpoint={pre}", f"hydra.run.dir={tmp_path / 'ft2'}"], tmp_path)
        assert res.returncode == 2, res.stdout + res.stderr
        assert "dataset.segment_length=4 feeds the encoder 4 values per step, but the checkpoint's encoder reads " \
               "model.input='numeric' with model.num_features=8; pretrain on series with the same channels" \
               in res.stderr
