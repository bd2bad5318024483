"""Data-parallel training and gradient accumulation: the shards, the equivalences, and torchrun end to end (CPU, gloo)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from seqtune.training import checkpoint, distributed
from seqtune.data.batching import BucketBatches, LMStream
from seqtune.data.records import Example
from seqtune.training.validation import validate_pretrain as validate
from seqtune.errors import ConfigError
from tests.conftest import TINY, compose_config, read_jsonl, run_cli
from tests.test_pretrain import EXPECTED_FILES

# A few steps, every step logged, no dropout: runs that see the same global batches must log the same losses.
EXACT = [*TINY, "trainer.max_steps=6", "trainer.log_interval=1", "model.dropout=0"]


def torchrun(args: list[str], cwd: Path, nproc: int = 2) -> subprocess.CompletedProcess:
    """``torchrun --standalone`` (a free port, so parallel test sessions do not collide) of ``-m seqtune``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                           "-m", "seqtune", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def train_losses(run_dir: Path) -> dict[int, float]:
    return {r["step"]: r["train/loss"] for r in read_jsonl(run_dir / "metrics.jsonl") if "train/loss" in r}


def assert_same_losses(a: dict[int, float], b: dict[int, float], tol: float = 1e-5) -> None:
    assert a.keys() == b.keys() and len(a) > 0
    worst = max(abs(a[s] - b[s]) for s in a)
    assert worst < tol, (worst, a, b)


# ---------------------------------------------------------------------------------------------- shards
@pytest.mark.parametrize("size", range(0, 14))
@pytest.mark.parametrize("parts", [1, 2, 3, 5])
def test_shard_bounds_are_contiguous_disjoint_and_cover(size, parts):
    bounds = [distributed.shard_bounds(size, parts, i) for i in range(parts)]
    assert bounds[0][0] == 0 and bounds[-1][1] == size
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert max(b - a for a, b in bounds) - min(b - a for a, b in bounds) <= 1


def test_lm_stream_shards_are_disjoint_column_blocks_that_cover_the_batch():
    stream = LMStream(torch.arange(1000), batch_size=10, bptt=7, device=torch.device("cpu"))
    world, accumulate = 2, 2
    for x, y in stream.iter_from(0):
        pieces = [part for r in range(world) for part, counts in distributed.micro_batches((x, y), accumulate, r, world)]
        assert torch.equal(torch.cat([p[0] for p in pieces], dim=1), x)  # in order: no column lost or repeated
        assert torch.equal(torch.cat([p[1] for p in pieces], dim=1), y)
    # rank 1's second micro-batch (slice 3 of 4: columns 8, 9) is the same block in every window: its state carries
    first = [distributed.micro_batches(b, accumulate, 1, world)[1][0][0][0] for b in stream.iter_from(0)]
    assert all(torch.equal(f, stream.columns[i * 7, 8:10]) for i, f in enumerate(first))


@pytest.mark.parametrize("world,accumulate", [(2, 1), (2, 3), (3, 2)])
def test_every_example_is_seen_exactly_once_per_epoch_across_ranks(world, accumulate):
    examples = [Example([5] * (1 + i % 7), i) for i in range(23)]  # label = example index
    for epoch in (1, 2):
        seen: list[int] = []
        padding = 0
        for r in range(world):  # every rank builds its own batches from the same seed
            batches = BucketBatches(examples, batch_size=7, shuffle=True, seed=3, device=torch.device("cpu"))
            batches.set_epoch(epoch)
            for batch in batches.iter_from(0):
                for part, counts in distributed.micro_batches(batch, accumulate, r, world):
                    if counts:
                        seen += part.labels.tolist()
                    else:
                        padding += 1
                        assert part.labels.numel() == 1  # a zero-weight copy keeps the rank in the all-reduce
        assert sorted(seen) == list(range(23))
        assert padding == max(0, world * accumulate - 2)  # only the last batch (23 = 3 x 7 + 2) is short


def test_submitit_jobs_reuse_the_directory_their_launcher_claimed(tmp_path, monkeypatch):
    """A submitit job resolves the sweep directory again, in a new process: it must get the launcher's."""
    from seqtune import cli

    base = str(tmp_path / "sweep")
    monkeypatch.setenv("SEQTUNE_RUN_DIRS", "{}")  # restored after the test
    monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)
    monkeypatch.setattr(cli._ClaimedDirs, "by_base", {})
    assert cli.unique_dir(base) == base  # the launching process claims it ...
    monkeypatch.setattr(cli._ClaimedDirs, "by_base", {})  # ... a job process starts with nothing claimed
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "local")
    assert cli.unique_dir(base) == base  # not base-2: the directory exists, but it is this sweep's
    monkeypatch.setattr(cli._ClaimedDirs, "by_base", {})
    monkeypatch.delenv("SUBMITIT_EXECUTOR")
    assert cli.unique_dir(base) == base + "-2"  # an unrelated run still gets a directory of its own


# ----------------------------------------------------------------------------------------- accumulation
def test_accumulated_micro_batches_equal_one_batch(tmp_path):
    """k micro-batches of b columns == one batch of k*b columns (3 uneven slices of 8: 3, 3, 2)."""
    runs = {}
    for k in (1, 3):
        runs[k] = tmp_path / f"k{k}"
        res = run_cli(["pretrain", *EXACT, f"trainer.accumulate_grad_batches={k}", f"hydra.run.dir={runs[k]}"], tmp_path)
        assert res.returncode == 0, res.stdout + res.stderr
    assert_same_losses(train_losses(runs[1]), train_losses(runs[3]))
    assert "global batch 8 = 1 process(es) x 3 micro-batch(es)" in (runs[3] / "pretrain.log").read_text()
    a = checkpoint.load(runs[1] / "checkpoints" / "last.pt")["model"]
    b = checkpoint.load(runs[3] / "checkpoints" / "last.pt")["model"]
    assert all(torch.allclose(a[n], b[n], atol=1e-5) for n in a)
    assert json.loads((runs[3] / "summary.json").read_text())["steps"] == 6  # optimizer steps, not micro-batches


def test_accumulation_larger_than_the_batch_is_a_config_error():
    cfg = compose_config("pretrain", ["trainer.batch_size=2", "trainer.accumulate_grad_batches=4"])
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert "trainer.batch_size=2 is the global batch" in str(err.value)
    assert "trainer.accumulate_grad_batches=4" in str(err.value)
    with pytest.raises(ConfigError, match="trainer.accumulate_grad_batches=0 is out of range"):
        validate(compose_config("pretrain", ["trainer.accumulate_grad_batches=0"]))


# ------------------------------------------------------------------------------------------- torchrun
def test_torchrun_two_processes_match_one_and_only_rank_0_writes(tmp_path):
    out = tmp_path / "out"
    res = torchrun(["pretrain", *EXACT, f"output_root={out}"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    run_dirs = [p for p in out.glob("*/*") if p.is_dir()]
    assert len(run_dirs) == 1, run_dirs  # rank 1 got rank 0's directory name (no "-2" twin)
    run_dir = run_dirs[0]
    assert {str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file()} == EXPECTED_FILES
    assert res.stdout.count("run dir ") == 1 and res.stdout.count("step 6/6") == 1  # rank 1 prints nothing
    assert "global batch 8 = 2 process(es) x 1 micro-batch(es) of about 4" in res.stdout
    log = (run_dir / "pretrain.log").read_text()
    assert log.count("step 6/6") == 1 and log.count("run dir ") == 1
    assert [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl") if "train/loss" in r] == [1, 2, 3, 4, 5, 6]

    single = tmp_path / "single"
    res1 = run_cli(["pretrain", *EXACT, f"hydra.run.dir={single}"], tmp_path)
    assert res1.returncode == 0, res1.stdout + res1.stderr
    assert_same_losses(train_losses(single), train_losses(run_dir))
    s1, s2 = (json.loads((d / "summary.json").read_text()) for d in (single, run_dir))
    assert abs(s1["test/loss"] - s2["test/loss"]) < 1e-5 and s2["steps"] == 6

    # the checkpoint holds the unwrapped module: it loads and evaluates in one process, to the run's numbers
    from seqtune.data.pretraining import load_pretrain_data
    from seqtune.data.tokenizers import tokenizer_from_dict
    from seqtune.training.loop import evaluate
    from seqtune.objectives import build_model

    ckpt = checkpoint.load(run_dir / "checkpoints" / "best.pt")
    assert not any(k.startswith("module.") for k in ckpt["model"])
    cfg = OmegaConf.create(ckpt["config"])
    tok = tokenizer_from_dict(ckpt["tokenizer"])
    model = build_model(cfg, tok)
    model.load_state_dict(ckpt["model"])  # strict
    data = load_pretrain_data(cfg, "stream", torch.device("cpu"), tok)
    test = evaluate(model, data.test, torch.device("cpu"), "fp32", cfg.trainer.limit_eval_batches)
    assert abs(test["loss"] - s2["test/loss"]) < 1e-5


@pytest.mark.slow  # about 40 s on 2 shared cores
def test_torchrun_finetune_with_frozen_groups_and_an_uneven_last_batch(tmp_path, tiny_pretrain_run):
    """Gradual unfreezing under DDP, 9 examples in batches of 4 (the last has 1: rank 1 pads with a zero-weight
    copy); the losses match one process and ``seqtune evaluate`` in one process reproduces the test metrics."""
    args = ["finetune", f"transfer.checkpoint={tiny_pretrain_run}", "transfer=gradual", "dataset.train_limit=9",
            "trainer.batch_size=4", "trainer.max_epochs=3", "trainer.log_interval=1", "trainer.device=cpu",
            "trainer.progress=log", "head.dropout=0", "+model.dropout=0", "trainer.eval_batch_size=16",
            "head.norm=layer"]  # batch norm normalises over each process's share of the batch (README, Scale out)
    one, two = tmp_path / "one", tmp_path / "two"
    res = torchrun([*args, f"hydra.run.dir={two}"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    res1 = run_cli([*args, f"hydra.run.dir={one}"], tmp_path)
    assert res1.returncode == 0, res1.stdout + res1.stderr
    losses = train_losses(two)
    assert len(losses) == 12  # 3 steps per epoch (4 + 4 + 1 examples); gradual: the head alone 1 epoch, then 3
    assert_same_losses(train_losses(one), losses)
    summary = json.loads((two / "summary.json").read_text())
    assert summary["trainable_params_by_epoch"] == json.loads((one / "summary.json").read_text())["trainable_params_by_epoch"]
    ev = run_cli(["evaluate", f"checkpoint={two}", "split=test"], tmp_path)
    assert ev.returncode == 0, ev.stderr
    metrics = json.loads(ev.stdout[ev.stdout.index("{"):])
    assert abs(metrics["loss"] - summary["test/loss"]) < 1e-5 and metrics["acc"] == summary["test/acc"]


@pytest.mark.slow
def test_submitit_local_sweep_gives_each_job_its_directory_and_the_table(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    res = run_cli(["pretrain", "-m", "hydra/launcher=submitit_local", "debug=smoke", "model=lstm,gru"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    sweeps = list((tmp_path / "multirun").glob("*/*"))
    assert len(sweeps) == 1, sweeps  # the jobs wrote into the launcher's sweep directory, not into twins of it
    for job in ("0", "1"):
        assert (sweeps[0] / job / "summary.json").exists() and (sweeps[0] / job / ".hydra" / "overrides.yaml").exists()
    rows = [line for line in res.stdout.splitlines() if "model=" in line and "│" in line]  # the end-of-sweep table
    assert len(rows) == 2 and all(" ok " in r for r in rows), res.stdout
