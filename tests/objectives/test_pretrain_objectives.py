"""`pretrain` end to end with every objective (shrunk): run files, metrics, and the checkpoint contract."""
from __future__ import annotations

import json

import pytest

from seqtune.training import checkpoint
from seqtune.data.tokenizers import tokenizer_from_dict
from seqtune.commands.pretrain import run
from seqtune.objectives import build_model
from omegaconf import OmegaConf
from tests.conftest import compose_config

SMALL_TEXT = ["dataset.train_sentences=300", "dataset.valid_sentences=40", "dataset.test_sentences=40"]
CASES = {
    "mlm": ["objective=mlm", "model.bidirectional=true", *SMALL_TEXT],
    "autoencoder": ["objective=autoencoder", *SMALL_TEXT],
    "denoising": ["objective=denoising", "model.weight_drop=0.2", "model.locked_dropout=0.2", "model.num_layers=2",
                  *SMALL_TEXT],
    "seq2seq": ["objective=seq2seq", "dataset=reversal", "dataset.train_pairs=200", "dataset.valid_pairs=20",
                "dataset.test_pairs=20"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_pretrain_runs_each_token_objective(name, tmp_path):
    cfg = compose_config("pretrain", ["debug=smoke", "trainer.max_steps=4", *CASES[name]])
    summary = run(cfg, tmp_path)
    for f in ("config.yaml", "tokenizer.json", "metrics.jsonl", "summary.json", "checkpoints/best.pt", "checkpoints/last.pt"):
        assert (tmp_path / f).is_file(), f
    assert summary["steps"] == 4 and summary["test/loss"] > 0
    ckpt = checkpoint.load(tmp_path / "checkpoints" / "best.pt")
    assert ckpt["objective"] == name
    # the checkpoint rebuilds the same model; the encoder's keys are encoder.* as for clm
    model = build_model(OmegaConf.create(ckpt["config"]), tokenizer_from_dict(ckpt["tokenizer"]), ckpt["data"])
    model.load_state_dict(ckpt["model"])
    assert {k for k in ckpt["model"] if k.startswith("encoder.")} == set(f"encoder.{k}" for k in model.encoder.state_dict())
    if name in ("autoencoder", "denoising", "seq2seq"):
        assert {"test/greedy_acc", "test/exact_match"} <= set(summary)
    if name == "mlm":
        assert 0 <= summary["test/acc"] <= 1 and "val/unigram_acc" in summary


@pytest.mark.parametrize("objective", ["forecast", "masked_values"])
def test_pretrain_on_a_series_saves_the_normaliser(objective, tmp_path):
    import numpy as np

    rows = 600
    t = np.arange(rows)
    csv = tmp_path / "series.csv"
    lines = ["date,a,b,OT"] + [f"2020-01-01 {i},{np.sin(i / 5):.4f},{np.cos(i / 7):.4f},{10 + np.sin(i / 9):.4f}"
                                for i in t]
    csv.write_text("\n".join(lines) + "\n")
    cfg = compose_config("pretrain", ["debug=smoke", "trainer.max_steps=4", f"objective={objective}",
                                      "dataset=timeseries", f"dataset.file={csv}", "dataset.lookback=24",
                                      "dataset.horizon=8", "model.input=numeric"])
    run_dir = tmp_path / "run"
    summary = run(cfg, run_dir)
    assert {"test/mse", "test/mae", "test/mse_raw", "test/mae_raw"} <= set(summary)
    ckpt = checkpoint.load(run_dir / "checkpoints" / "best.pt")
    norm = ckpt["data"]["timeseries"]["normalizer"]
    assert len(norm["mean"]) == 3 and ckpt["tokenizer"] is None
    train_rows = int(rows * 0.7)
    assert abs(norm["mean"][2] - float(np.mean(10 + np.sin(t[:train_rows] / 9)))) < 1e-3  # train rows only
    saved = OmegaConf.create(ckpt["config"])
    assert saved.model.input == "numeric" and saved.model.num_features == ckpt["data"]["num_features"]
    model = build_model(saved, None, ckpt["data"])
    model.load_state_dict(ckpt["model"])
    assert json.loads((run_dir / "data.json").read_text())["num_columns"] == 3
