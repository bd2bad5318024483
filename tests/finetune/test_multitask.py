"""transfer=multitask: lambda follows its schedule, the pretraining objective is rebuilt with the checkpoint's
weights, both losses are logged, every parameter trains, and evaluate reads the head alone back."""
from __future__ import annotations

import json
import math

import pytest
import torch
from omegaconf import OmegaConf

from seqtune.commands import evaluate, finetune
from seqtune.data.tokenizers import tokenizer_from_dict
from seqtune.errors import ConfigError
from seqtune.heads.classifier import Classifier
from seqtune.models.encoder import build_encoder
from seqtune.heads.multitask import aux_weight, build_multitask
from seqtune.objectives.clm import clm_loss
from tests.conftest import compose_config, read_jsonl
from tests.finetune.conftest import FT_TINY


def test_aux_weight_schedules_follow_their_formulas():
    assert [aux_weight("constant", 0.3, s, 10) for s in (0, 5, 10, 20)] == [0.3, 0.3, 0.3, 0.3]
    for step in range(0, 13):
        expected = 0.5 * max(0.0, 1.0 - step / 10)
        assert aux_weight("linear_decay", 0.5, step, 10) == pytest.approx(expected, abs=1e-15)
    assert aux_weight("linear_decay", 0.5, 0, 10) == 0.5 and aux_weight("linear_decay", 0.5, 10, 10) == 0.0


def test_the_pretraining_objective_is_rebuilt_with_the_checkpoint_weights(pretrained_run):
    ckpt = torch.load(pretrained_run / "checkpoints" / "best.pt", weights_only=True)
    tokenizer = tokenizer_from_dict(ckpt["tokenizer"])
    encoder = build_encoder(OmegaConf.create(ckpt["config"]["model"]), tokenizer.vocab_size)
    head = Classifier(encoder.output_size, ["x", "y"], False, "last")
    wrapped, line = build_multitask(ckpt, "pre.pt", encoder, tokenizer, head, 0.5, "linear_decay", 10, None)
    assert torch.equal(wrapped.aux.decoder.weight, ckpt["model"]["objective.decoder.weight"])
    assert torch.equal(wrapped.aux.decoder.bias, ckpt["model"]["objective.decoder.bias"])
    assert "pretraining objective clm rebuilt from the checkpoint, 2 tensors loaded" in line
    # the clm loss on a padded batch scores real next tokens only: padding a batch does not change it
    encoder.load_state_dict({k[len("encoder."):]: v for k, v in ckpt["model"].items() if k.startswith("encoder.")})
    encoder.eval()
    tokens = torch.tensor([[7, 8], [9, 10], [11, 12]])  # (time, batch)
    padded = torch.cat([tokens, torch.zeros(2, 2, dtype=torch.long)])  # PAD_ID = 0
    assert clm_loss(wrapped.aux, encoder, tokens).item() == pytest.approx(
        clm_loss(wrapped.aux, encoder, padded).item(), rel=1e-6)
    # a checkpoint whose objective cannot read the task's inputs is a named error
    with pytest.raises(ConfigError, match="objective='forecast', which cannot read text"):
        build_multitask({**ckpt, "objective": "forecast"}, "pre.pt", encoder, tokenizer, head, 0.5, "constant", 10, None)


def test_multitask_finetune_logs_both_losses_trains_everything_and_evaluates(pretrained_run, tmp_path):
    run_dir = tmp_path / "run"
    cfg = compose_config("finetune", [*FT_TINY, "transfer=multitask", f"transfer.checkpoint={pretrained_run}",
                                      "transfer.aux_weight=0.4", "transfer.aux_schedule=linear_decay",
                                      "trainer.max_epochs=2", "trainer.progress=quiet"])
    summary = finetune.run(cfg, run_dir)
    records = read_jsonl(run_dir / "metrics.jsonl")
    train = [r for r in records if "train/aux_loss" in r]
    assert len(train) >= 4
    assert all(math.isfinite(r["train/aux_loss"]) and 0 < r["train/aux_loss"] < 10 for r in train)
    assert all(r["train/task_loss"] == r["train/loss"] for r in train)
    weights = [r["train/aux_weight"] for r in train]
    assert weights == sorted(weights, reverse=True) and weights[0] < 0.4 and weights[-1] >= 0
    assert "val/aux_loss" in records[-1] and "val/f1" in records[-1]

    # trainable parameters: the pretrained encoder and decoder (all of the checkpoint) plus the classifier
    ckpt = torch.load(pretrained_run / "checkpoints" / "best.pt", weights_only=True)
    pretrained = sum(v.numel() for v in ckpt["model"].values())
    best = torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)
    classifier = sum(  # parameters, not batch-norm statistics
        v.numel()
        for k, v in best["model"].items()
        if k.startswith("objective.head.") and "running_" not in k and "num_batches" not in k
    )
    assert summary["params"] == pretrained + classifier
    assert summary["trainable_params_by_epoch"] == {1: summary["params"], 2: summary["params"]}
    assert best["model"]["objective._extra_state"]["step"] == summary["best_step"]
    assert not torch.equal(best["model"]["objective.aux.decoder.weight"], ckpt["model"]["objective.decoder.weight"])

    # evaluate rebuilds encoder + classifier from the multitask checkpoint and reproduces the test scores
    ev = compose_config("evaluate", [f"checkpoint={run_dir}", "split=test"])
    metrics = evaluate.run(ev)
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert metrics["acc"] == on_disk["test/acc"] and metrics["f1"] == on_disk["test/f1"]
