"""`seqtune pretrain` end to end through the real CLI: the run-directory contract, learning, and the CLI surface."""

from __future__ import annotations

import json
import math

import torch

from tests.conftest import TINY, read_jsonl, run_cli

EXPECTED_FILES = {
    ".hydra/config.yaml",
    ".hydra/hydra.yaml",
    ".hydra/overrides.yaml",
    "pretrain.log",
    "config.yaml",
    "metrics.jsonl",
    "summary.json",
    "tokenizer.json",
    "checkpoints/best.pt",
    "checkpoints/last.pt",
    "environment.json",
    ".lock",  # .lock: the run directory's lock (training/rundir.py), held while a process runs
}


def test_run_directory_has_exactly_the_contract_files(tiny_pretrain_run):
    files = {str(p.relative_to(tiny_pretrain_run)) for p in tiny_pretrain_run.rglob("*") if p.is_file()}
    assert files == EXPECTED_FILES


def test_environment_records_versions_and_command(tiny_pretrain_run):
    env = json.loads((tiny_pretrain_run / "environment.json").read_text())
    assert env["versions"]["torch"] == torch.__version__ and env["versions"]["seqtune"]
    assert "pretrain" in " ".join(env["command"]) and "git" in env


def test_metrics_lines_and_falling_finite_loss(tiny_pretrain_run):
    records = read_jsonl(tiny_pretrain_run / "metrics.jsonl")
    train = [r for r in records if "train/loss" in r]
    val = [r for r in records if "val/loss" in r]
    assert len(train) >= 6 and len(val) == 2  # one validation per epoch, 2 epochs
    assert all({"step", "epoch"} <= r.keys() for r in records)
    assert [r["step"] for r in train] == sorted(r["step"] for r in train)
    losses = [r["train/loss"] for r in train]
    assert all(math.isfinite(x) for x in losses)
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2 - 0.3, losses
    assert val[-1]["val/loss"] < val[0]["val/loss"]
    assert all(abs(r["val/ppl"] - math.exp(r["val/loss"])) < 1e-6 * r["val/ppl"] for r in val)


def test_summary_reports_final_metrics(tiny_pretrain_run):
    summary = json.loads((tiny_pretrain_run / "summary.json").read_text())
    for key in (
        "val/loss",
        "val/ppl",
        "test/loss",
        "test/ppl",
        "val/unigram_ppl",
        "train/tokens_per_s",
        "params",
        "train/seconds",
        "steps",
    ):
        assert key in summary, key
    assert summary["train/tokens_per_s"] > 0 and summary["params"] > 1000
    tokenizer = json.loads((tiny_pretrain_run / "tokenizer.json").read_text())
    assert 2 < summary["test/ppl"] < len(tokenizer["itos"])
    assert "test/bpc" not in summary  # word-level data


def test_checkpoint_contract(tiny_pretrain_run):
    ckpt = torch.load(tiny_pretrain_run / "checkpoints" / "last.pt", weights_only=True)
    for key in (
        "model",
        "optimizer",
        "scheduler",
        "step",
        "epoch",
        "rng",
        "config",
        "tokenizer",
        "objective",
        "seqtune_version",
        "metrics",
    ):
        assert key in ckpt, key
    assert ckpt["objective"] == "clm" and ckpt["config"]["model"]["hidden_size"] == 32
    assert ckpt["step"] == json.loads((tiny_pretrain_run / "summary.json").read_text())["steps"]
    assert not list((tiny_pretrain_run / "checkpoints").glob(".*tmp*"))


def test_char_level_text_files_report_bits_per_character(tmp_path):
    text = "".join(f"the {w} sat on the mat and the {w} ran.\n" for w in ["cat", "dog", "rat", "bat"] * 60)
    (tmp_path / "corpus.txt").write_text(text)
    res = run_cli(
        [
            "pretrain",
            "dataset=text",
            "dataset.train=corpus.txt",
            "dataset.tokenizer.kind=char",
            "model.embedding_size=16",
            "model.hidden_size=32",
            "model.num_layers=1",
            "trainer.max_epochs=2",
            "trainer.batch_size=4",
            "trainer.bptt=16",
            "trainer.eval_batch_size=2",
            "trainer.device=cpu",
            "trainer.progress=quiet",
            f"hydra.run.dir={tmp_path}/run",
        ],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert abs(summary["test/bpc"] - summary["test/loss"] / math.log(2)) < 1e-9
    assert summary["test/bpc"] < math.log2(40)  # better than uniform over the ~25 symbols + specials


def test_missing_data_file_is_a_clear_error(tmp_path):
    res = run_cli(
        ["pretrain", "dataset=ptb", "debug=smoke", f"hydra.run.dir={tmp_path}/run"],
        tmp_path,
        env={"SEQTUNE_DATA_DIR": str(tmp_path / "nowhere")},
    )
    assert res.returncode == 2
    # No network here: the download fails and the message says which file to put where.
    assert f"Put the file at {tmp_path / 'nowhere' / 'ptb' / 'ptb.train.txt'}" in res.stderr
    assert "SEQTUNE_DATA_DIR" in res.stderr and "Traceback" not in res.stderr


def test_top_level_help_lists_commands(tmp_path):
    res = run_cli(["--help"], tmp_path)
    assert res.returncode == 0 and "pretrain" in res.stdout and "usage: seqtune <command>" in res.stdout
    bad = run_cli(["pretrian"], tmp_path)
    assert bad.returncode == 2 and "unknown command 'pretrian'" in bad.stderr


def test_hydra_flags_pass_through(tmp_path):
    res = run_cli(["pretrain", "--help"], tmp_path)
    assert res.returncode == 0 and "seqtune pretrain" in res.stdout and "gru, lstm*, rnn" in res.stdout
    res = run_cli(["pretrain", "--cfg", "job", "model=gru", "+trainer_note=x"], tmp_path)
    assert res.returncode != 0 or "name: gru" in res.stdout
    res = run_cli(["pretrain", "--cfg", "job", "model=gru", "trainer.seed=7"], tmp_path)
    assert res.returncode == 0 and "name: gru" in res.stdout and "seed: 7" in res.stdout
    assert not (tmp_path / "outputs").exists()  # --cfg prints, never runs
