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
    checkpoint.save(path, {"model": {"w": torch.zeros(1)}, "step": step, "best_step": best_step, "best_value": 1.0})


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


# ------------------------------------------------------------------------------------------ disk full, the cache
@pytest.mark.parametrize(
    "failure",
    [
        OSError(28, "No space left on device"),
        RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed"),
    ],
)
def test_disk_full_during_a_checkpoint_write_is_a_clear_error_and_the_previous_file_survives(
    tmp_path, monkeypatch, failure
):
    path = tmp_path / "checkpoints" / "last.pt"
    checkpoint.save(path, {"model": {"w": torch.ones(2)}, "step": 1})
    before = path.read_bytes()

    def full(obj, fh):
        fh.write(b"partial")
        raise failure

    monkeypatch.setattr(checkpoint.torch, "save", full)
    with pytest.raises(CheckpointError) as exc:
        checkpoint.save(path, {"model": {"w": torch.zeros(2)}, "step": 2})
    assert f"cannot write the checkpoint {path}" in str(exc.value) and "MiB free there" in str(exc.value)
    assert "the previous last.pt is intact" in str(exc.value) and exc.value.exit_code == 2
    assert path.read_bytes() == before and sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]


def test_token_cache_is_keyed_by_content_and_cleans_temporaries(tmp_path, monkeypatch):
    from seqtune.data.cache import TextSource, encode_cached
    from seqtune.data.tokenizers import TokenizerSettings, fit_tokenizer

    cache = tmp_path / "cache"
    monkeypatch.setenv("SEQTUNE_CACHE_DIR", str(cache))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c .\n" * 50, encoding="utf-8")
    tok = fit_tokenizer(TokenizerSettings(kind="word"), ["a b c d .\n"])
    first = encode_cached(TextSource(corpus, "utf-8"), tok).clone()
    st = corpus.stat()
    corpus.write_text("d b c .\n" * 50, encoding="utf-8")  # same size; `cp -p` keeps the mtime too
    os.utime(corpus, ns=(st.st_atime_ns, st.st_mtime_ns))
    stale = cache / ".ids-0.int64.tmp-999999999"  # a killed process's half-written entry
    stale.write_bytes(b"x")
    second = encode_cached(TextSource(corpus, "utf-8"), tok)
    assert not torch.equal(first, second) and int(second[0]) == tok.encode("d")[0]
    assert not stale.exists()


def test_a_cache_folder_that_cannot_be_created_says_how_to_move_it(tmp_path, monkeypatch):
    from seqtune.data.cache import TextSource, encode_cached
    from seqtune.data.tokenizers import TokenizerSettings, fit_tokenizer
    from seqtune.errors import DataError

    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("SEQTUNE_CACHE_DIR", str(tmp_path / "file" / "cache"))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c .\n" * 5, encoding="utf-8")
    tok = fit_tokenizer(TokenizerSettings(kind="word"), ["a b c .\n"])
    with pytest.raises(DataError, match="cannot create the token cache folder .* Set SEQTUNE_CACHE_DIR to a writable"):
        encode_cached(TextSource(corpus, "utf-8"), tok)
    assert encode_cached(TextSource(corpus, "utf-8"), tok, use_cache=False).numel() == 25  # token_cache=false works


# ------------------------------------------------------------------------------------------ signals at the end
def test_sigterm_during_the_final_validation_stops_and_resume_finishes(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    # last.pt of step 98 is written by the final (end-of-epoch) validation: the signal comes inside it
    code, _, err = cli(
        ["pretrain", *TINY, f"hydra.run.dir={run}"], monkeypatch, capsys, signal_at=(98, "SIGTERM", "save")
    )
    assert code == 143, err
    assert f"Resume with:\n  seqtune pretrain resume={run}" in err and not (run / "summary.json").exists()
    code, _, err = cli(["pretrain", f"resume={run}"], monkeypatch, capsys)
    assert code == 0, err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 98 and "test/loss" in summary
    assert [r["step"] for r in read_jsonl(run / "metrics.jsonl") if "val/loss" in r] == [49, 98]  # not validated twice


def test_sigterm_during_the_test_evaluation_stops_and_resume_finishes(tmp_path, monkeypatch, capsys):
    from seqtune.training import run as run_module

    original = run_module.evaluate

    def evaluate_with_a_signal(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return original(*args, **kwargs)

    run = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(run_module, "evaluate", evaluate_with_a_signal)
        code, _, err = cli(["pretrain", *TINY, f"hydra.run.dir={run}"], monkeypatch, capsys)
    assert code == 143, err
    assert "stopped after step 98" in err and f"Resume with:\n  seqtune pretrain resume={run}" in err
    assert not (run / "summary.json").exists()
    code, out, err = cli(["pretrain", f"resume={run}"], monkeypatch, capsys)
    assert code == 0, err
    assert json.loads((run / "summary.json").read_text())["steps"] == 98


# ------------------------------------------------------------------------------------------ the data resumed on
SMALL = ["debug=smoke", "dataset=text", "dataset.train=corpus.txt", "trainer.max_steps=30", "trainer.log_interval=5"]


def _stopped_run(tmp_path: Path, monkeypatch, capsys) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    words = "the a cook singer dog cat sees likes bread song park red small big".split()
    lines = [" ".join(words[(i * 7 + j) % len(words)] for j in range(6)) + " ." for i in range(300)]
    (proj / "corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.chdir(proj)
    code, _, err = cli(
        ["pretrain", *SMALL, "hydra.run.dir=run"], monkeypatch, capsys, signal_at=(10, "SIGTERM", "step")
    )
    assert code == 143, err
    return proj


def test_resume_on_changed_data_is_an_error_naming_the_file_unless_accepted(tmp_path, monkeypatch, capsys):
    proj = _stopped_run(tmp_path, monkeypatch, capsys)
    corpus = proj / "corpus.txt"
    st = corpus.stat()
    text = corpus.read_text(encoding="utf-8")
    corpus.write_text(text.replace("cook", "cake"), encoding="utf-8")  # same size, same mtime: content only
    os.utime(corpus, ns=(st.st_atime_ns, st.st_mtime_ns))
    before = snapshot(proj / "run")
    code, _, err = cli(["pretrain", "resume=run"], monkeypatch, capsys)
    assert code == 2 and f"dataset.train: {corpus} has changed" in err and "Traceback" not in err
    assert "trainer.resume_on_changed_data=true" in err
    kept = ("metrics.jsonl", "checkpoints/last.pt")  # nothing truncated or replaced
    assert {k: snapshot(proj / "run")[k] for k in kept} == {k: before[k] for k in kept}
    code, _, err = cli(["pretrain", "resume=run", "trainer.resume_on_changed_data=true"], monkeypatch, capsys)
    assert code == 0, err


def test_resume_from_another_directory_keeps_relative_data_paths(tmp_path, monkeypatch, capsys):
    proj = _stopped_run(tmp_path, monkeypatch, capsys)
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    code, out, err = cli(["pretrain", "resume=../proj/run"], monkeypatch, capsys)
    assert code == 0, err
    assert f"resume: working in {proj}, where the run was launched" in out
    assert json.loads((proj / "run" / "summary.json").read_text())["steps"] == 30
