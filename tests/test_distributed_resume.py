"""Exact resume under torchrun (issue 15, must-show 3): 2 processes stopped by a real SIGTERM and resumed with 2
processes end bit-identical to an uninterrupted 2-process run (every metrics line, summary.json, the weights), for
an LM with a carried BPTT state and for fine-tuning; a resume with another number of processes goes on and says
what it cannot keep.

Each rank's carried state, log window and random stream are its own (state.py): the stops are chosen mid-epoch
and mid log window, with dropout on (the ranks' random streams matter), and the fine-tuning data leave rank 1 a
zero-weight padding example in each epoch's last batch (the ranks' streams drift apart).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seqtune.training import checkpoint
from tests.conftest import TINY, run_cli
from tests.test_resume import HELPER, assert_same_run

pytestmark = pytest.mark.slow  # six torchrun launches: about 2 minutes on 2 shared cores

LM = [*TINY, "trainer.max_epochs=1", "model.dropout=0.3"]  # 49 steps, train/* every 5
FT = ["transfer=gradual", "dataset.train_limit=9", "trainer.batch_size=4", "trainer.max_epochs=3",
      "trainer.log_interval=2", "trainer.device=cpu", "trainer.progress=log", "head.dropout=0.3",
      "trainer.eval_batch_size=16"]  # 3 steps per epoch (4 + 4 + 1 examples); gradual: 4 epochs, 12 steps


def torchrun(args: list[str], cwd: Path, signal_at: int | None = None) -> subprocess.CompletedProcess:
    """2 processes (``--standalone``: a free port); ``signal_at``: every rank sends itself SIGTERM in that step
    (tests/signal_at_step.py), as torchrun passes on a scheduler's SIGTERM to each of its processes."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    program = ["-m", "seqtune"]
    if signal_at is not None:
        env.update(SIGNAL_AT_STEP=str(signal_at), SIGNAL="SIGTERM", SIGNAL_ON="step")
        program = [str(HELPER)]
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           *program, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def stop_and_resume(command: str, args: list[str], cwd: Path, step: int) -> Path:
    part = cwd / f"{command}-part"
    res = torchrun([command, *args, f"hydra.run.dir={part}"], cwd, signal_at=step)
    assert res.returncode != 0 and f"Resume with:\n  seqtune {command} resume={part}" in res.stderr, res.stderr
    stopped = checkpoint.load(part / "checkpoints" / "last.pt")
    assert stopped["step"] == step and stopped["loop"]["rnn_layout"] == [2, 1]
    assert len(stopped["loop"]["windows"]) == 2 and len(stopped["loop"]["rank_rngs"]) == 1
    assert stopped["loop"]["windows"][0]["window_count"] > 0  # rank 0's half-filled log window (rank 1's: below)
    shutil.copytree(part, cwd / f"{command}-part-copy")  # for a resume with another number of processes
    res = torchrun([command, f"resume={part}"], cwd)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "does not fit" not in res.stdout + res.stderr and "[resume] the checkpoint was written by" not in res.stdout
    return part


@pytest.fixture(scope="module")
def lm_full(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("ddp-lm")
    res = torchrun(["pretrain", *LM, f"hydra.run.dir={cwd / 'full'}"], cwd)
    assert res.returncode == 0, res.stdout + res.stderr
    return cwd / "full"


def test_lm_with_carried_state_resumes_bit_identical_under_torchrun(lm_full, tmp_path):
    part = stop_and_resume("pretrain", LM, tmp_path, step=23)  # mid-epoch, 3 steps into a log window
    assert_same_run(lm_full, part)

    # The same stopped run resumed in one process: it goes on, and says what it could not keep.
    copy = tmp_path / "pretrain-part-copy"
    saved = checkpoint.load(copy / "checkpoints" / "last.pt")
    assert sum(x is not None for x in saved["loop"]["rnn_states"]) == 2  # one carried state per rank
    assert [w["window_count"] > 0 for w in saved["loop"]["windows"]] == [True, True]  # and one log window each
    res = run_cli(["pretrain", f"resume={copy}"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert ("[resume] the checkpoint was written by 2 process(es) x 1 micro-batch(es) "
            "(trainer.accumulate_grad_batches), this run has 1 x 1: the carried BPTT state") in res.stdout
    assert "resume with 2 process(es) and trainer.accumulate_grad_batches=1" in res.stdout


def test_finetune_resumes_bit_identical_under_torchrun(lm_full, tmp_path):
    args = [*FT, f"transfer.checkpoint={lm_full}"]
    full = tmp_path / "full"
    res = torchrun(["finetune", *args, f"hydra.run.dir={full}"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    part = stop_and_resume("finetune", args, tmp_path, step=5)  # epoch 2, one step into a log window
    assert_same_run(full, part)
    windows = checkpoint.load(tmp_path / "finetune-part-copy" / "checkpoints" / "last.pt")["loop"]["windows"]
    # The shuffled epoch 2 put its 1-example batch at step 5: rank 1 held only the zero-weight copy, so its
    # window was empty and rank 0's was not (before, every rank went on from rank 0's window: counted twice)
    assert [w["window_count"] for w in windows] == [1, 0]
