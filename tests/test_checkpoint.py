"""Checkpoints round-trip (same eval loss after reload) and bad files fail with CheckpointError."""
from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from seqtune.training import checkpoint
from seqtune.data.batching import LMStream
from seqtune.data.text import load_lm_corpus
from seqtune.data.tokenizers import tokenizer_from_dict
from seqtune.errors import CheckpointError
from seqtune.training.loop import evaluate
from seqtune.objectives import build_model


def test_checkpoint_round_trip_gives_the_same_eval_loss(tiny_pretrain_run):
    ckpt = checkpoint.load(tiny_pretrain_run / "checkpoints" / "best.pt")
    cfg = OmegaConf.create(ckpt["config"])
    tok = tokenizer_from_dict(ckpt["tokenizer"])
    model = build_model(cfg, tok)
    model.load_state_dict(ckpt["model"])
    corpus = load_lm_corpus(cfg.dataset)
    assert corpus.tokenizer.to_dict() == ckpt["tokenizer"]  # deterministic data + tokenizer
    valid = LMStream(corpus.valid, cfg.trainer.eval_batch_size, cfg.trainer.bptt, torch.device("cpu"))
    metrics = evaluate(model, valid, torch.device("cpu"), "fp32")
    assert metrics["loss"] == pytest.approx(ckpt["metrics"]["loss"], abs=1e-5)


def test_atomic_save_keeps_previous_file_on_failure(tmp_path):
    path = tmp_path / "last.pt"
    checkpoint.save(path, {"model": {"w": torch.ones(2)}, "step": 1})
    with pytest.raises(Exception):
        checkpoint.save(path, {"model": {"w": torch.ones(2)}, "bad": lambda: 0})  # a lambda cannot be pickled
    assert checkpoint.load(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "best.pt"
    checkpoint.save(path, {"model": {"w": torch.ones(1000)}, "step": 3})
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="truncated, corrupted or not a seqtune checkpoint"):
        checkpoint.load(path)


def test_checkpoint_from_newer_seqtune_is_refused(tmp_path):
    path = tmp_path / "x.pt"
    checkpoint.save(path, {"model": {}})
    data = torch.load(path, weights_only=True)
    data["seqtune_version"] = "99.0.0"
    torch.save(data, path)
    with pytest.raises(CheckpointError, match="newer than this seqtune"):
        checkpoint.load(path)


def test_pickled_objects_are_never_loaded(tmp_path):
    path = tmp_path / "evil.pt"

    class Payload:
        def __reduce__(self):
            return (print, ("this must not run",))

    torch.save({"model": {}, "seqtune_version": "0.1.0", "x": Payload()}, path)
    with pytest.raises(CheckpointError):
        checkpoint.load(path)
