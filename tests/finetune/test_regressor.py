"""head=regressor on a tiny generated series: learns, writes mse/mae, `seqtune evaluate` reproduces the test
metrics; reads a forecast or masked_values encoder's window layout from its checkpoint; every transfer strategy
runs; a text dataset is a named error."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from seqtune.commands import finetune, pretrain
from seqtune.errors import ConfigError
from tests.conftest import compose_config, read_jsonl, run_cli

SMALL = ["trainer.batch_size=16", "trainer.eval_batch_size=32", "trainer.log_interval=5", "trainer.device=cpu",
         "trainer.progress=quiet"]
TINY_MODEL = ["model.embedding_size=8", "model.hidden_size=16", "model.num_layers=1"]


@pytest.fixture(scope="module")
def series_csv(tmp_path_factory) -> Path:
    """Three noisy sines of different periods and scales, 480 rows."""
    t = torch.arange(480, dtype=torch.float64).unsqueeze(1)
    values = torch.cat([torch.sin(2 * math.pi * t / 12), 3 * torch.sin(2 * math.pi * t / 20) + 5,
                        torch.cos(2 * math.pi * t / 8)], dim=1)
    values += 0.05 * torch.randn(values.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    path = tmp_path_factory.mktemp("series") / "sines.csv"
    path.write_text("a,b,c\n" + "".join(",".join(f"{v:.5f}" for v in row) + "\n" for row in values.tolist()))
    return path


def series_args(csv: Path) -> list[str]:
    return ["dataset=timeseries", f"dataset.file={csv}", "dataset.timestamp_column=null", "dataset.lookback=24",
            "dataset.horizon=4"]


def pretrain_series(csv: Path, run_dir: Path, objective: str, extra: list[str]) -> Path:
    cfg = compose_config("pretrain", [*series_args(csv), f"objective={objective}", "model=gru", "model.input=numeric",
                                      *TINY_MODEL, "trainer.max_epochs=1", "trainer.max_steps=6", *SMALL, *extra])
    pretrain.run(cfg, run_dir)
    return run_dir


def test_regressor_from_scratch_learns_and_evaluate_reproduces_it(series_csv, tmp_path):
    run_dir = tmp_path / "run"
    cfg = compose_config("finetune", [*series_args(series_csv), "head=regressor", "head.horizon=6",
                                      "transfer=scratch", "transfer.checkpoint=null", "+model=gru",
                                      "model.input=numeric", *TINY_MODEL, "optimizer=adamw", "optimizer.lr=0.02",
                                      "optimizer.schedule.warmup_steps=0", "trainer.max_epochs=4", *SMALL])
    summary = finetune.run(cfg, run_dir)
    losses = [r["train/loss"] for r in read_jsonl(run_dir / "metrics.jsonl") if "train/loss" in r]
    assert len(losses) >= 8 and all(math.isfinite(x) for x in losses)
    assert sum(losses[-3:]) / 3 < 0.5 * sum(losses[:3]) / 3, losses
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert on_disk["test/mse"] == summary["test/mse"] == on_disk["test/loss"]
    # better than the train mean (mse 1 on z-scored data) after 80 steps
    assert 0 < on_disk["test/mse"] < 0.9 and 0 < on_disk["test/mae"] < 1
    # mse_raw is the error in the columns' own units: column stds scale it (b has std ~2.1, a and c ~0.7)
    assert on_disk["test/mse_raw"] > on_disk["test/mse"]
    assert on_disk["val/mse"] == min(r["val/mse"] for r in read_jsonl(run_dir / "metrics.jsonl") if "val/mse" in r)
    assert json.loads((run_dir / "labels.json").read_text()) == ["a", "b", "c"]
    facts = json.loads((run_dir / "data.json").read_text())
    assert facts["horizon"] == 6 and facts["channel_independent"] and facts["segment_length"] == 1
    ckpt = torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)
    assert ckpt["model"]["objective.layers.1.weight"].shape == (6, 16)  # H=6 values per (channel) series
    assert not (run_dir / "tokenizer.json").exists()

    res = run_cli(["evaluate", f"checkpoint={run_dir}", "split=test"], tmp_path)
    assert res.returncode == 0, res.stderr
    metrics = json.loads(res.stdout)
    for key in ("mse", "mae", "mse_raw", "mae_raw"):
        assert metrics[key] == pytest.approx(on_disk[f"test/{key}"], rel=1e-9, abs=1e-12), key
    res = run_cli(["predict", f"checkpoint={run_dir}"], tmp_path)
    assert res.returncode == 2 and "seqtune evaluate" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("strategy", ["full", "frozen", "partial", "gradual", "multitask"])
def test_every_strategy_from_a_forecast_checkpoint(series_csv, tmp_path_factory, strategy):
    root = tmp_path_factory.getbasetemp() / "forecast_pretrain"
    if not (root / "checkpoints" / "best.pt").exists():  # one pretraining for the parametrized cases
        pretrain_series(series_csv, root, "forecast", ["objective.segment_length=2"])
    run_dir = tmp_path_factory.mktemp(strategy) / "run"
    cfg = compose_config("finetune", [*series_args(series_csv), "head=regressor", "head.horizon=8",
                                      f"transfer={strategy}", f"transfer.checkpoint={root}", "trainer.max_epochs=2",
                                      "trainer.max_steps=30", *SMALL])
    summary = finetune.run(cfg, run_dir)
    assert math.isfinite(summary["test/mse"]) and summary["steps"] == 30
    facts = json.loads((run_dir / "data.json").read_text())
    assert facts["segment_length"] == 2 and facts["channel_independent"]  # the forecaster's layout
    trainable = summary["trainable_params_by_epoch"]
    best = torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)["model"]
    head = sum(v.numel() for k, v in best.items() if k.startswith("objective.") and k != "objective._extra_state")
    if strategy == "frozen":
        assert trainable[1] == trainable[2] == head == 16 * 8 + 8
    if strategy == "gradual":
        assert trainable[1] == head < trainable[2]
    if strategy == "multitask":  # the regressor's head and the forecaster's own head (2 steps -> 4 outputs) train
        assert head == (16 * 8 + 8) + (16 * 4 + 4) and trainable[1] == summary["params"]
        metrics = read_jsonl(run_dir / "metrics.jsonl")
        aux = [r["train/aux_loss"] for r in metrics if "train/aux_loss" in r]
        assert aux and all(math.isfinite(x) and x > 0 for x in aux)


def test_masked_values_checkpoint_gives_its_multivariate_layout(series_csv, tmp_path):
    ckpt = pretrain_series(series_csv, tmp_path / "mv", "masked_values", ["model.bidirectional=true"])
    cfg = compose_config("finetune", [*series_args(series_csv), "head=regressor", "transfer=full",
                                      f"transfer.checkpoint={ckpt}", "trainer.max_steps=5", *SMALL])
    summary = finetune.run(cfg, tmp_path / "run")
    facts = json.loads((tmp_path / "run" / "data.json").read_text())
    assert not facts["channel_independent"] and facts["subtract_last"] and math.isfinite(summary["test/mse"])
    best = torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)["model"]
    assert best["objective.layers.1.weight"].shape == (4 * 3, 32)  # H=4 steps x 3 columns from both directions
    # a layout the encoder cannot read is a named error
    cfg = compose_config("finetune", [*series_args(series_csv), "head=regressor", "head.channel_independent=true",
                                      "transfer=full", f"transfer.checkpoint={ckpt}", *SMALL])
    with pytest.raises(ConfigError, match=r"feeds the encoder 1 values per step .* model.num_features=3"):
        finetune.run(cfg, tmp_path / "bad")


def test_regressor_on_text_and_classifier_on_a_series_are_named_errors(series_csv, tmp_path):
    cfg = compose_config("finetune", ["head=regressor", "transfer=scratch", "transfer.checkpoint=null", "+model=gru"])
    with pytest.raises(ConfigError, match="head=regressor forecasts numeric values, but dataset.format='synthetic_topics'"):
        finetune.run(cfg, tmp_path / "a")
    cfg = compose_config("finetune", [*series_args(series_csv), "head=classifier", "transfer=scratch",
                                      "transfer.checkpoint=null", "+model=gru"])
    with pytest.raises(ConfigError, match="use head=regressor"):
        finetune.run(cfg, tmp_path / "b")
