"""A SIGTERM in the middle of an evaluation pass (issue 15, item 4): a periodic validation, the final validation,
the test evaluation.  The pass stops between two batches (nothing of it is recorded), the run exits 143 with the
resume hint and no summary.json, and ``resume=<run>`` evaluates again: the finished run equals an uninterrupted
one, line for line and bit for bit.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqtune.training import checkpoint
from tests.conftest import TINY, read_jsonl
from tests.test_resume import FT, assert_same_run, cli, cli_ok

# 49 steps, validations at steps 20 and 40 (the periodic ones) and 49 (the final one); each pass 10+ batches
LM = [*TINY, "trainer.max_epochs=1", "trainer.eval_interval=20", "model.dropout=0.3"]


@pytest.fixture(scope="module")
def lm_full(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("eval-signal") / "full"
    cli_ok(["pretrain", *LM, f"hydra.run.dir={run_dir}"])
    return run_dir


def stop_in_evaluation(command: str, args: list[str], part: Path, step: int, on: str, monkeypatch, capsys) -> str:
    code, out, err = cli([command, *args, f"hydra.run.dir={part}"], monkeypatch, capsys, (step, "SIGTERM", on))
    assert code == 143, err
    assert f"Resume with:\n  seqtune {command} resume={part}\n" in err
    assert not (part / "summary.json").exists()
    return err


@pytest.mark.parametrize("step", [20, 49], ids=["periodic", "final"])
def test_sigterm_in_a_validation_stops_it_and_resume_validates_again(lm_full, step, tmp_path, monkeypatch, capsys):
    part = tmp_path / "part"
    err = stop_in_evaluation("pretrain", LM, part, step, "eval", monkeypatch, capsys)
    assert f"stopped after step {step}" in err
    assert checkpoint.load(part / "checkpoints" / "last.pt")["step"] == step
    lines = read_jsonl(part / "metrics.jsonl")
    assert lines[-1]["step"] == step and not any("val/loss" in r for r in lines if r["step"] == step)  # abandoned
    code, out, err = cli(["pretrain", f"resume={part}"], monkeypatch, capsys)
    assert code == 0, err
    assert_same_run(lm_full, part)  # the validation of that step came back, in its place


def test_sigterm_in_the_test_evaluation_stops_it_and_resume_tests_again(lm_full, tmp_path, monkeypatch, capsys):
    part = tmp_path / "part"
    err = stop_in_evaluation("pretrain", LM, part, 0, "test", monkeypatch, capsys)
    assert "stopped after step 49" in err
    code, out, err = cli(["pretrain", f"resume={part}"], monkeypatch, capsys)
    assert code == 0, err
    assert_same_run(lm_full, part)


@pytest.fixture(scope="module")
def ft_full(tiny_pretrain_run, tmp_path_factory) -> tuple[Path, list[str]]:
    args = [*FT, "trainer.max_epochs=1", f"transfer.checkpoint={tiny_pretrain_run}"]  # test and valid: 3 batches
    full = tmp_path_factory.mktemp("eval-signal-ft") / "full"
    cli_ok(["finetune", *args, f"hydra.run.dir={full}"])
    return full, args


@pytest.mark.parametrize("batch", [0, 3], ids=["test-pass", "validation-predictions"])
def test_sigterm_in_the_finetuning_test_passes(ft_full, batch, tmp_path, monkeypatch, capsys):
    """Fine-tuning's test pass keeps its predictions (one encoder pass, inference.evaluate_and_predict); then the
    validation split is predicted for the collapse check (inference.predict_examples)."""
    full, args = ft_full
    part = tmp_path / "part"
    stop_in_evaluation("finetune", args, part, batch, "test", monkeypatch, capsys)
    code, out, err = cli(["finetune", f"resume={part}"], monkeypatch, capsys)
    assert code == 0, err
    assert_same_run(full, part)
    assert json.loads((part / "summary.json").read_text())["val/predicted_classes"] >= 1
