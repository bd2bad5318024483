"""Issue 15: one timeline per run, a locked run directory, signals at every phase, checkpoints read by schema.

Each test runs the real command (in this process where the exit status is not the point, in a subprocess where a
second process or a real signal is) and checks the files: what is on disk afterwards, and what was left alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seqtune.errors import CheckpointError
from seqtune.training import checkpoint
from seqtune.training.resume import one_timeline
from seqtune.training.rundir import RunDir
from tests.conftest import TINY, read_jsonl
from tests.test_resume import HELPER, cli

LM = [*TINY, "trainer.eval_interval=10", "trainer.checkpoint_every=10", "trainer.keep_checkpoints=5"]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``: (size, mtime in ns)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


# ------------------------------------------------------------------------------------------ one timeline
def test_resume_from_an_older_step_abandons_the_later_history(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    code, _, err = cli(
        ["pretrain", *LM, f"hydra.run.dir={run}"], monkeypatch, capsys, signal_at=(33, "SIGTERM", "step")
    )
    assert code == 143, err
    ckpts = run / "checkpoints"
    assert checkpoint.load(ckpts / "best.pt")["step"] == 30 and checkpoint.load(ckpts / "last.pt")["step"] == 33

    code, out, err = cli(["pretrain", f"resume={ckpts / 'step-20.pt'}", "trainer.max_steps=20"], monkeypatch, capsys)
    assert code == 0, err
    assert "abandoned step checkpoint(s) 30 deleted" in out and "best.pt (step 30, abandoned) replaced" in out
    summary = json.loads((run / "summary.json").read_text())
    best = checkpoint.load(ckpts / "best.pt")
    assert summary["best_step"] == best["step"] <= 20 and checkpoint.load(ckpts / "last.pt")["step"] == 20
    assert not (ckpts / "step-30.pt").exists()
    vals = {r["step"]: r for r in read_jsonl(run / "metrics.jsonl") if "val/loss" in r}
    assert max(vals) == 20 and summary["val/loss"] == vals[best["step"]]["val/loss"]  # the weights of this history


def _fake(path: Path, step: int, best_step: int) -> None:
    checkpoint.save(path, {"model": {"w": torch.zeros(1)}, "step": step, "best_step": best_step})


def test_a_lost_best_checkpoint_of_the_older_history_is_refused_with_nothing_changed(tmp_path):
    run = RunDir(tmp_path)
    _fake(run.best, 30, 30)
    _fake(run.last, 33, 30)
    _fake(run.step_file(20), 20, 10)  # its best (step 10) is no longer on disk
    _fake(run.step_file(30), 30, 30)
    before = snapshot(tmp_path)
    with pytest.raises(CheckpointError, match=r"best checkpoint of step 20's history \(step 10\) is no longer on disk"):
        one_timeline(run, checkpoint.load(run.step_file(20)), run.step_file(20), "x", "cpu")
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------------------------------ the lock
def _stopped(pid: int) -> bool:
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state in ("T", "t")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads a process's state from /proc")
def test_two_concurrent_resumes_one_is_refused_and_the_run_is_unchanged(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    code, _, err = cli(
        ["pretrain", *LM, f"hydra.run.dir={run}"], monkeypatch, capsys, signal_at=(12, "SIGTERM", "step")
    )
    assert code == 143, err
    # The first resume stops itself (SIGSTOP) in its step 15, holding the run: a job that is running.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SIGNAL_AT_STEP": "15", "SIGNAL": "SIGSTOP", "SIGNAL_ON": "step"}
    first = subprocess.Popen(
        [sys.executable, str(HELPER), "pretrain", f"resume={run}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 600
        while not _stopped(first.pid):
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.2)
        before = snapshot(run)
        code, out, err = cli(["pretrain", f"resume={run}"], monkeypatch, capsys)
        assert code == 2
        assert f"the run directory {run} is in use by pid {first.pid} on " in err and "Traceback" not in err
        assert snapshot(run) == before  # nothing written, truncated or deleted
        code, _, err = cli(["pretrain", "resume=auto", *LM, f"output_root={tmp_path}"], monkeypatch, capsys)
        assert code == 2 and f"in use by pid {first.pid}" in err  # a re-queued job with resume=auto: refused too
    finally:
        first.send_signal(signal.SIGCONT)
        _, ferr = first.communicate(timeout=600)
    assert first.returncode == 0, ferr
    assert json.loads((run / "summary.json").read_text())["steps"] == 98


def test_the_lock_goes_with_the_process(tmp_path):
    """kill -9 of the holder releases it (the OS closes the descriptor): the next process takes it."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from seqtune.training.rundir import RunDir; "
            f"RunDir(__import__('pathlib').Path({str(tmp_path)!r})).lock(); "
            "print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    probe = [
        sys.executable,
        "-c",
        f"from seqtune.training.rundir import RunDir; RunDir(__import__('pathlib').Path({str(tmp_path)!r})).lock()",
    ]
    refused = subprocess.run(probe, capture_output=True, text=True)
    assert refused.returncode == 1 and f"in use by pid {holder.pid}" in refused.stderr
    holder.kill()
    holder.wait()
    assert subprocess.run(probe, capture_output=True, text=True).returncode == 0
