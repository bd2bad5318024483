"""`seqtune finetune`, `evaluate`, `predict`, `generate` and `pretrain init_from=` through the real CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from seqtune.commands import finetune
from seqtune.data.splits import finish_splits
from seqtune.errors import CheckpointError
from seqtune.registry import DATASETS
from tests.conftest import TINY, compose_config, read_jsonl, run_cli
from tests.finetune.conftest import FT_TINY

EXPECTED_FILES = {
    ".hydra/config.yaml",
    ".hydra/hydra.yaml",
    ".hydra/overrides.yaml",
    "finetune.log",
    "config.yaml",
    "metrics.jsonl",
    "summary.json",
    "tokenizer.json",
    "labels.json",
    "test_predictions.jsonl",
    ".lock",  # the run directory's lock (training/rundir.py)
    "checkpoints/best.pt",
    "checkpoints/last.pt",
    "environment.json",
}


def test_finetune_writes_the_contract_files_and_learns(finetuned_run, pretrained_run):
    run_dir, stdout = finetuned_run
    assert {str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file()} == EXPECTED_FILES
    assert f"newest pretrain run under" in stdout and str(pretrained_run) in stdout
    assert "loaded from checkpoint (9 tensors): encoder.embedding.weight" in stdout
    assert (
        "initialised fresh (7 tensors): objective.layers.0.weight, objective.layers.0.bias, "
        "objective.layers.0.running_mean, objective.layers.0.running_var, objective.layers.0.num_batches_tracked, "
        "objective.layers.2.weight, objective.layers.2.bias"
    ) in stdout  # batch norm on the pooled features, then the linear layer
    records = read_jsonl(run_dir / "metrics.jsonl")
    losses = [r["train/loss"] for r in records if "train/loss" in r]
    assert len(losses) >= 4 and all(math.isfinite(x) for x in losses)
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2, losses
    val = [r for r in records if "val/acc" in r]
    assert len(val) == 6 and all(0 <= r["val/acc"] <= 1 and 0 <= r["val/f1"] <= 1 for r in val)
    summary = json.loads((run_dir / "summary.json").read_text())
    labels = json.loads((run_dir / "labels.json").read_text())
    assert labels == ["food", "music", "space", "sports"]
    assert 0.0 <= summary["test/acc"] <= 1.0 and 0.0 <= summary["test/f1"] <= 1.0
    cm = summary["test/confusion"]
    assert len(cm) == 4 and sum(map(sum, cm)) == 40
    assert summary["test/acc"] == sum(cm[i][i] for i in range(4)) / 40
    # gradual unfreezing on 2 layers, max_epochs=4: the head 1 epoch, + layer 2 1 epoch, everything 4 epochs
    counts = [summary["trainable_params_by_epoch"][str(e)] for e in range(1, 7)]
    assert counts[0] < counts[1] < counts[2] == counts[5] == summary["params"], counts
    assert "(head 1 epoch, rnn.l1+head 1 epoch, all 4 epochs)" in stdout
    ckpt = torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)
    assert ckpt["labels"] == labels and ckpt["head"] == "classifier" and ckpt["config"]["model"]["num_layers"] == 2
    assert ckpt["config"]["transfer"]["checkpoint"] == str(pretrained_run / "checkpoints" / "best.pt")
    # 40 validation examples are too few to pick a checkpoint by: best.pt is the newest weights
    assert "best.pt is the newest weights (40 validation examples" in stdout
    assert summary["val/acc"] == val[-1]["val/acc"] and summary["best_step"] == summary["steps"]
    assert summary["val/predicted_classes"] >= 1 and summary["data/unk_share/train"] == 0.0


def test_evaluate_and_predict_reproduce_the_final_test_evaluation(finetuned_run, output_root, tmp_path):
    run_dir, _ = finetuned_run
    summary = json.loads((run_dir / "summary.json").read_text())
    res = run_cli(["evaluate", f"checkpoint={run_dir}", "split=test", f"output={tmp_path / 'm.json'}"], tmp_path)
    assert res.returncode == 0, res.stderr
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics == json.loads(res.stdout)
    for key in ("acc", "f1", "confusion"):
        assert metrics[key] == summary[f"test/{key}"], key
    assert abs(metrics["loss"] - summary["test/loss"]) < 1e-6
    assert not (tmp_path / "outputs").exists()  # evaluate writes no run directory

    # predict on the raw test texts: the same labels as the run's own test predictions
    cfg = compose_config("finetune", FT_TINY)
    raw = DATASETS.get("synthetic_topics")(cfg.dataset)
    texts = finish_splits(raw, cfg.dataset)[3].inputs
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    res = run_cli(["predict", f"output_root={output_root}", "input=in.txt", "output=out.jsonl"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"newest finetune run under" in res.stderr  # latest = the fine-tuning run
    predicted = read_jsonl(tmp_path / "out.jsonl")
    expected = read_jsonl(run_dir / "test_predictions.jsonl")
    assert [p["label"] for p in predicted] == [e["label"] for e in expected]
    assert [p["text"] for p in predicted] == texts
    for p, e in zip(predicted, expected):
        assert all(abs(p["probs"][k] - e["probs"][k]) < 1e-4 for k in e["probs"])
        assert abs(sum(p["probs"].values()) - 1) < 1e-4


def test_no_checkpoint_and_mismatched_checkpoint_are_named_errors(pretrained_run, tmp_path):
    res = run_cli(["finetune", *FT_TINY, f"output_root={tmp_path / 'empty'}", f"hydra.run.dir={tmp_path}/a"], tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "transfer.checkpoint=latest but there is no pretrain run" in res.stderr
    assert "seqtune pretrain" in res.stderr  # says how to make one
    advice = "transfer=scratch transfer.checkpoint=null +model=lstm"  # or how to do without (not "transfer=scratch" alone)
    assert advice in res.stderr
    assert compose_config("finetune", [*FT_TINY, *advice.split()]).transfer.checkpoint is None
    cfg = compose_config("finetune", [*FT_TINY, f"transfer.checkpoint={pretrained_run}", "+model.hidden_size=40"])
    with pytest.raises(CheckpointError) as err:  # in-process: the same code path as the CLI, without a process
        finetune.run(cfg, tmp_path / "b")
    assert "encoder.rnn.weight_ih_l0: checkpoint (128, 24), model (160, 24)" in str(err.value)


def test_tagger_on_a_bidirectional_encoder_from_scratch(tmp_path):
    words = [
        ("John", "B-PER"),
        ("Smith", "I-PER"),
        ("visited", "O"),
        ("Paris", "B-LOC"),
        ("and", "O"),
        ("Berlin", "B-LOC"),
        ("with", "O"),
        ("Acme", "B-ORG"),
        ("Corp", "I-ORG"),
        (".", "O"),
    ]
    lines = []
    for i in range(60):
        sentence = words[i % 4 :] + words[: i % 4]
        lines += [f"{w} {t}" for w, t in sentence] + [""]
    for split in ("train", "valid", "test"):
        (tmp_path / f"{split}.txt").write_text("\n".join(lines) + "\n")
    cfg = compose_config(
        "finetune",
        [
            "dataset=conll",
            f"dataset.train={tmp_path / 'train.txt'}",
            f"dataset.valid={tmp_path / 'valid.txt'}",
            f"dataset.test={tmp_path / 'test.txt'}",
            "head=tagger",
            "transfer=scratch",
            "transfer.checkpoint=null",
            "+model=lstm",
            "model.bidirectional=true",
            "model.hidden_size=16",
            "model.embedding_size=8",
            "model.num_layers=1",
            "optimizer=adamw",
            "optimizer.lr=0.05",
            "optimizer.schedule.warmup_steps=0",
            "trainer.max_epochs=8",
            "trainer.patience=1",
            "trainer.monitor=f1",
            "trainer.batch_size=8",
            "trainer.device=cpu",
            "trainer.progress=quiet",
        ],
    )
    finetune.run(cfg, tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["test/f1"] > 0.9 and 0 <= summary["test/precision"] <= 1 and 0 <= summary["test/recall"] <= 1
    assert summary["stopped_early"] and summary["steps"] < 8 * 8  # patience 1: stops once val/f1 stops rising
    assert summary["val/f1"] == summary["test/f1"]  # same file, so validation of best.pt equals its test
    assert "val/f1" in read_jsonl(tmp_path / "run" / "metrics.jsonl")[-1]


def test_generate_and_continued_pretraining(pretrained_run, tmp_path):
    res = run_cli(
        ["generate", f"checkpoint={pretrained_run}", "prompt=the cook", "length=8", "temperature=0", "num_samples=2"],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    first, second = res.stdout.split("--- sample 2 ---\n")
    first = first.removeprefix("--- sample 1 ---\n")
    assert first == second and first.startswith("the cook") and len(first.split()) >= 4  # greedy: deterministic
    shrink = [o for o in TINY if not o.startswith("dataset.")]
    res = run_cli(
        [
            "pretrain",
            *shrink,
            "dataset=synthetic_topics",
            "dataset.train_docs=100",
            "dataset.valid_docs=20",
            "dataset.test_docs=20",
            f"init_from={pretrained_run}",
            "trainer.max_epochs=1",
            f"hydra.run.dir={tmp_path}/stage2",
        ],
        tmp_path,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "architecture and tokenizer from it" in res.stdout and "initialised fresh (0 tensors)" in res.stdout
    stage2 = torch.load(tmp_path / "stage2" / "checkpoints" / "best.pt", weights_only=True)
    first = torch.load(pretrained_run / "checkpoints" / "best.pt", weights_only=True)
    assert stage2["tokenizer"] == first["tokenizer"] and stage2["config"]["model"]["num_layers"] == 2


def test_evaluate_sweep_records_each_job_and_prints_the_table(finetuned_run, tmp_path):
    run_dir, _ = finetuned_run
    summary = json.loads((run_dir / "summary.json").read_text())
    sweep = tmp_path / "sweep"
    res = run_cli(
        ["evaluate", "-m", f"checkpoint={run_dir},{tmp_path / 'missing'}", "split=test", f"hydra.sweep.dir={sweep}"],
        tmp_path,
    )
    assert res.returncode == 1, res.stdout + res.stderr  # one job failed: the sweep says so
    ok, failed = sweep / "0", sweep / "1"
    assert json.loads((ok / "summary.json").read_text())["loss"] == pytest.approx(summary["test/loss"], abs=1e-6)
    assert (failed / "error.txt").exists() and not (failed / "summary.json").exists()
    assert "sweep" in res.stdout and "ok" in res.stdout and "failed" in res.stdout
    assert f"{summary['test/loss']:.4g}" in res.stdout


def test_plain_model_overrides_set_options_the_checkpoint_config_does_not_list(pretrained_run, tmp_path):
    """finetune's model node is an open dict of overrides on the checkpoint's architecture: model.word_dropout=...
    (an option newer than the checkpoint) and model.dropout=... work without Hydra's '+' prefix."""
    from seqtune.config.advice import model_overrides_upserted

    run_dir = tmp_path / "ft"
    args = [*FT_TINY, "transfer=full", f"transfer.checkpoint={pretrained_run}", "trainer.max_steps=2"]
    res = run_cli(["finetune", *args, "model.word_dropout=0.1", "model.dropout=0.3", f"hydra.run.dir={run_dir}"],
                  tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    model = OmegaConf.load(run_dir / "config.yaml").model
    assert (model.word_dropout, model.dropout) == (0.1, 0.3)
    assert model_overrides_upserted("finetune", ["model.dropout=1", "+model.x=2", "model=lstm", "trainer.seed=1"]) == [
        "++model.dropout=1", "+model.x=2", "model=lstm", "trainer.seed=1"]
    assert model_overrides_upserted("pretrain", ["model.dropout=1"]) == ["model.dropout=1"]  # a typed group there
