"""Exact resume, interruption and the NaN guard.

The must-show: a run stopped by a real SIGTERM half-way and resumed ends with the same metrics (every metrics.jsonl
line, summary.json) and bit-identical weights as an uninterrupted run: for pretraining (clm, a stateful BPTT
stream with dropout, so the RNG matters) and for fine-tuning with gradual unfreezing (crossing unfreezing
boundaries after the resume).
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from seqtune.training import checkpoint
from seqtune.commands import pretrain
from seqtune.errors import CheckpointError, ConfigError, SeqtuneError, TrainingError
from seqtune.objectives.base import TaskModel
from seqtune.training.resume import prepare_argv
from seqtune.cli import main
from tests.conftest import TINY, compose_config, read_jsonl, run_cli
from tests.signal_at_step import Killed, hooks

HELPER = Path(__file__).with_name("signal_at_step.py")
LM = [*TINY, "model.dropout=0.3"]  # 98 steps, 49 per epoch; dropout: the resumed RNG must be the same
FT = ["dataset.train_docs=160", "dataset.valid_docs=40", "dataset.test_docs=40", "trainer.batch_size=8",
      "trainer.eval_batch_size=16", "trainer.log_interval=5", "trainer.device=cpu", "trainer.progress=log",
      "trainer.max_epochs=4"]  # 20 steps per epoch; gradual on a 1-layer encoder: the head alone in epoch 1, then
# everything for 4 epochs (training/stages.py): 5 epochs, 100 steps


def run_with_signal(args: list[str], cwd: Path, step: int, signal: str = "SIGTERM", on: str = "step"):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SIGNAL_AT_STEP": str(step), "SIGNAL": signal, "SIGNAL_ON": on}
    return subprocess.run([sys.executable, str(HELPER), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def cli(args: list[str], monkeypatch, capsys, signal_at: tuple | None = None) -> tuple[int, str, str]:
    """The CLI in this process (a subprocess costs seconds of imports); ``signal_at``: (step, signal, on)."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # main() hands argv to Hydra through sys.argv
    with monkeypatch.context() as m:
        for target, name, fn in hooks(*signal_at) if signal_at else []:
            m.setattr(target, name, fn)
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def comparable(run_dir: Path) -> tuple[list[dict], dict]:
    """metrics.jsonl and summary.json without the wall-clock figures."""
    lines = [{k: v for k, v in r.items() if k != "train/tokens_per_s"} for r in read_jsonl(run_dir / "metrics.jsonl")]
    summary = {k: v for k, v in json.loads((run_dir / "summary.json").read_text()).items()
               if k not in ("train/tokens_per_s", "train/seconds")}
    return lines, summary


def assert_same_run(a: Path, b: Path) -> None:
    lines_a, summary_a = comparable(a)
    lines_b, summary_b = comparable(b)
    assert lines_a == lines_b  # every train/val line, bit for bit
    assert summary_a == summary_b
    wa = checkpoint.load(a / "checkpoints" / "last.pt")["model"]
    wb = checkpoint.load(b / "checkpoints" / "last.pt")["model"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def cli_ok(args: list[str]) -> None:
    """The CLI in this process, for module fixtures (no monkeypatch there)."""
    argv = list(sys.argv)
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code
    finally:
        sys.argv = argv


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory) -> Path:
    """An uninterrupted tiny LM run: the reference, and the pretrained encoder of the fine-tuning tests."""
    run_dir = tmp_path_factory.mktemp("lm") / "full"
    cli_ok(["pretrain", *LM, f"hydra.run.dir={run_dir}"])
    return run_dir


def test_pretrain_sigterm_then_resume_equals_uninterrupted(lm_run, tmp_path, monkeypatch, capsys):
    part = tmp_path / "part"
    # A real process and a real SIGTERM. Step 44 of 98: mid-epoch (a carried BPTT state) and mid log window.
    res = run_with_signal(["pretrain", *LM, f"hydra.run.dir={part}"], tmp_path, step=44)
    assert res.returncode == 143, res.stderr
    assert f"Resume with:\n  seqtune pretrain resume={part}\n" in res.stderr
    assert not (part / "summary.json").exists()
    stopped = checkpoint.load(part / "checkpoints" / "last.pt")
    assert (stopped["step"], stopped["batch_in_epoch"]) == (44, 44) and stopped["loop"]["rnn_states"][0] is not None

    code, out, err = cli(["pretrain", f"resume={part}"], monkeypatch, capsys)
    assert code == 0, err
    assert f"resuming {part} from {part}/checkpoints/last.pt (step 44, epoch 1, batch 44" in out
    assert_same_run(lm_run, part)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part"]  # no new run directory: the same one went on
    assert (part / ".hydra" / "resume-1" / "overrides.yaml").is_file() and (part / ".hydra" / "overrides.yaml").is_file()
    log = (part / "pretrain.log").read_text()
    assert log.count("run dir") == 2  # the log was appended to, not replaced


@pytest.fixture(scope="module")
def ft_run(lm_run, tmp_path_factory) -> tuple[Path, list[str]]:
    run_dir = tmp_path_factory.mktemp("ft") / "full"
    args = [*FT, f"transfer.checkpoint={lm_run}"]
    cli_ok(["finetune", *args, f"hydra.run.dir={run_dir}"])
    return run_dir, args


def test_finetune_gradual_resume_crosses_unfreezing_boundaries(ft_run, tmp_path, monkeypatch, capsys):
    full, args = ft_run
    part = tmp_path / "part"
    code, out, err = cli(["finetune", *args, f"hydra.run.dir={part}"], monkeypatch, capsys, (10, "SIGTERM", "step"))
    assert code == 143 and f"seqtune finetune resume={part}" in err  # stopped in epoch 1 (the head alone) of 5
    code, out, err = cli(["finetune", f"resume={part}"], monkeypatch, capsys)
    assert code == 0, err
    assert "epoch 1: training head" in out and "epoch 2: training embedding, rnn.l0, head" in out
    assert_same_run(full, part)
    summary = json.loads((part / "summary.json").read_text())
    assert summary["trainable_params_by_epoch"] == json.loads((full / "summary.json").read_text())["trainable_params_by_epoch"]


def test_kill_after_end_of_epoch_checkpoint_resumes_without_a_second_validation(ft_run, tmp_path, monkeypatch, capsys):
    full, args = ft_run
    part = tmp_path / "part"
    with pytest.raises(Killed):  # gone right after the end-of-epoch-1 last.pt, like kill -9 (scripts/kill_loop.py: real ones)
        cli(["finetune", *args, f"hydra.run.dir={part}"], monkeypatch, capsys, (20, "KILL9", "save"))
    code, out, err = cli(["finetune", f"resume={part}"], monkeypatch, capsys)
    assert code == 0, err
    assert "[eval] step 20 " not in out and "[eval] step 40 " in out
    val_steps = [r["step"] for r in read_jsonl(part / "metrics.jsonl") if "val/loss" in r]
    assert val_steps == [20, 40, 60, 80, 100]
    assert_same_run(full, part)


def test_sigint_exits_130_and_a_second_sigint_aborts(tmp_path, monkeypatch, capsys):
    args = ["pretrain", *TINY, "trainer.max_steps=30"]
    res = run_with_signal([*args, f"hydra.run.dir={tmp_path}/a"], tmp_path, step=10, signal="SIGINT")
    assert res.returncode == 130, res.stderr
    assert "SIGINT received: stopped after step 10" in res.stderr
    assert f"seqtune pretrain resume={tmp_path}/a" in res.stderr and "Traceback" not in res.stderr
    assert checkpoint.load(tmp_path / "a" / "checkpoints" / "last.pt")["step"] == 10

    code, out, err = cli([*args, f"hydra.run.dir={tmp_path}/b"], monkeypatch, capsys, (10, "SIGINT2", "step"))
    assert code == 130 and "aborted" in err and "Traceback" not in err
    assert not (tmp_path / "b" / "checkpoints" / "last.pt").exists()  # aborted before writing anything


# ------------------------------------------------------------------------------------------ in-process runs
def lm_config(tmp_path: Path, *extra: str):
    return compose_config("pretrain", [*TINY, "trainer.progress=quiet", f"output_root={tmp_path}", *extra])


def test_checkpoint_every_keeps_the_newest_files(tmp_path):
    run_dir = tmp_path / "run"
    pretrain.run(lm_config(tmp_path, "trainer.max_steps=20", "trainer.checkpoint_every=3", "trainer.keep_checkpoints=2"),
                 run_dir)
    ckpts = run_dir / "checkpoints"
    assert sorted(p.name for p in ckpts.glob("step-*.pt")) == ["step-15.pt", "step-18.pt"]
    assert checkpoint.load(ckpts / "step-18.pt")["step"] == 18 and checkpoint.load(ckpts / "last.pt")["step"] == 20
    assert not list(ckpts.glob(".*tmp*"))


def _nan_at(monkeypatch, calls: set[int]) -> None:
    """Make the training loss NaN at the given training forward calls (1-based)."""
    forward, seen = TaskModel.forward, {"n": 0}

    def patched(self, batch, state=None):
        out = forward(self, batch, state)
        if self.training:
            seen["n"] += 1
            if seen["n"] in calls:
                out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(TaskModel, "forward", patched)


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    _nan_at(monkeypatch, {13})
    with pytest.raises(TrainingError) as err:
        pretrain.run(lm_config(tmp_path, "trainer.checkpoint_every=5"), run_dir)
    msg = str(err.value)
    assert "non-finite training loss (nan) at step 13 (epoch 1)" in msg
    assert f"{run_dir / 'checkpoints' / 'last.pt'} (step 10)" in msg and "trainer.skip_nonfinite=true" in msg
    last = checkpoint.load(run_dir / "checkpoints" / "last.pt")
    assert last["step"] == 10 and all(torch.isfinite(t).all() for t in last["model"].values())
    assert not (run_dir / "summary.json").exists()


def test_skip_nonfinite_skips_and_counts(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    _nan_at(monkeypatch, {3, 7})
    summary = pretrain.run(lm_config(tmp_path, "trainer.skip_nonfinite=true", "trainer.max_steps=20"), run_dir)
    assert summary["train/skipped_batches"] == 2 and summary["steps"] == 20
    assert json.loads((run_dir / "summary.json").read_text())["train/skipped_batches"] == 2
    train = [r for r in read_jsonl(run_dir / "metrics.jsonl") if "train/loss" in r]
    assert [r["train/skipped_batches"] for r in train] == [1, 2, 2, 2]
    assert all(math.isfinite(r["train/loss"]) for r in train) and math.isfinite(summary["val/loss"])


# ------------------------------------------------------------------------------------------ choosing the run
def fake_run(root: Path, name: str, overrides: list[str], mtime: float, finished: bool = False) -> Path:
    """A run directory as Hydra leaves it when a run starts (what resume=auto reads), without training."""
    run = root / "2026-01-01" / name
    (run / ".hydra").mkdir(parents=True)
    OmegaConf.save(compose_config("pretrain", overrides), run / ".hydra" / "config.yaml")
    OmegaConf.save(OmegaConf.create(overrides), run / ".hydra" / "overrides.yaml")
    OmegaConf.save(OmegaConf.create({"hydra": {"job": {"name": "pretrain"}}}), run / ".hydra" / "hydra.yaml")
    if finished:
        (run / "summary.json").write_text("{}")
    os.utime(run / ".hydra" / "config.yaml", (mtime, mtime))
    return run


def test_resume_auto_picks_the_newest_unfinished_run_of_the_same_config(tmp_path):
    mine = ["model.hidden_size=16", f"output_root={tmp_path}"]
    fake_run(tmp_path, "a_pretrain", mine, 1000)
    newest_unfinished = fake_run(tmp_path, "b_pretrain", mine, 2000)
    fake_run(tmp_path, "c_pretrain", mine, 3000, finished=True)
    fake_run(tmp_path, "d_pretrain", ["model.hidden_size=32", f"output_root={tmp_path}"], 4000)
    argv = prepare_argv("pretrain", [*mine, "resume=auto", "trainer.max_steps=50"])
    assert f"hydra.run.dir={newest_unfinished}" in argv and f"resume={newest_unfinished}" in argv
    assert "trainer.max_steps=50" in argv and "hydra.output_subdir=.hydra/resume-1" in argv
    with pytest.raises(CheckpointError, match="no unfinished pretrain run with this config"):
        prepare_argv("pretrain", ["model.hidden_size=64", f"output_root={tmp_path}", "resume=auto"])


def test_resume_refuses_conflicting_overrides_and_finished_runs(tmp_path):
    run = fake_run(tmp_path, "a_pretrain", ["model.hidden_size=16"], 1000)
    with pytest.raises(ConfigError) as err:
        prepare_argv("pretrain", [f"resume={run}", "model.hidden_size=32", "optimizer=sgd", "trainer.max_epochs=9"])
    msg = str(err.value)
    assert "model.hidden_size=32 (the run has 16)" in msg and "optimizer.name=sgd (the run has adamw)" in msg
    assert "trainer.max_epochs" not in msg.split("Only")[0]  # extending the run is allowed
    argv = prepare_argv("pretrain", [f"resume={run}", "model.hidden_size=16", "trainer.max_epochs=9"])
    assert argv[:2] == ["model.hidden_size=16", "trainer.max_epochs=9"]
    (run / "summary.json").write_text("{}")
    with pytest.raises(SeqtuneError, match="has finished .* nothing to resume"):
        prepare_argv("pretrain", [f"resume={run}"])


def test_the_newest_readable_checkpoint_is_chosen(tmp_path):
    from seqtune.training.resume import open_checkpoint

    run_dir = tmp_path / "run"
    pretrain.run(lm_config(tmp_path, "trainer.max_steps=12", "trainer.checkpoint_every=4", "trainer.log_interval=2"),
                 run_dir)
    (run_dir / "summary.json").unlink()  # as if killed before the end
    ckpts = run_dir / "checkpoints"
    (ckpts / "last.pt").write_bytes(b"torn")  # cannot happen with atomic saves; the step file still serves
    (ckpts / ".last.pt.tmp-999999999").write_bytes(b"left by a killed process")
    ckpt, note = open_checkpoint(str(run_dir), run_dir)
    assert ckpt["step"] == 12 and f"skipped {ckpts / 'last.pt'}" in note and "removed 1 unfinished temporary" in note
    assert not (ckpts / ".last.pt.tmp-999999999").exists()

    checkpoint.replace_with(ckpts / "step-8.pt", ckpts / "last.pt")  # killed between step-12.pt and refreshing last.pt
    ckpt, note = open_checkpoint(str(run_dir), run_dir)
    assert ckpt["step"] == 12 and f"from {ckpts / 'step-12.pt'}" in note

    ckpt, note = open_checkpoint(str(ckpts / "step-8.pt"), run_dir)  # an older one on purpose
    assert ckpt["step"] == 8 and not (ckpts / "step-12.pt").exists()  # the abandoned later file is not "newest" again
    assert max(r["step"] for r in read_jsonl(run_dir / "metrics.jsonl")) == 8 and "lines after it dropped" in note
