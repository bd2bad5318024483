"""Multirun: a failing job does not lose the others, and the sweep ends with a table naming the failure."""
from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli


def test_sweep_with_a_failing_job_completes_the_others(tmp_path):
    res = run_cli(["pretrain", "-m", "debug=smoke", "trainer.progress=quiet", "model.hidden_size=8,-3,12",
                   f"hydra.sweep.dir={tmp_path}/sweep"], tmp_path)
    assert res.returncode == 1, res.stderr  # the sweep reports that not every job finished
    jobs = {p.name: p for p in (tmp_path / "sweep").iterdir() if p.is_dir()}
    assert set(jobs) == {"0", "1", "2"}
    for ok in ("0", "2"):
        summary = json.loads((jobs[ok] / "summary.json").read_text())
        assert summary["val/loss"] > 0 and (jobs[ok] / "checkpoints" / "best.pt").exists()
    error = (jobs["1"] / "error.txt").read_text().splitlines()[0]
    assert error.startswith("model.hidden_size=-3 is out of range")
    assert not (jobs["1"] / "summary.json").exists()
    table = res.stdout
    assert "3 jobs" in table and "failed" in table and "model.hidden_size=-3" in table
    assert table.count(" ok ") == 2 and "debug=smoke" not in table.split("jobs)")[1]  # shared overrides hidden
    assert "1 of 3 jobs did not finish" in res.stderr


def test_optuna_study_records_failed_trials_and_goes_on(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the 'sweep' extra is not installed")
    config_dir = tmp_path / "myconf" / "hparams_search"
    config_dir.mkdir(parents=True)
    (config_dir / "half_failing.yaml").write_text(
        "# @package _global_\ndefaults:\n  - optuna\nhydra:\n  sweeper:\n    params:\n"
        "      model.hidden_size: choice(12, -1)\n")
    res = run_cli(["pretrain", "--config-dir", str(tmp_path / "myconf"), "hparams_search=half_failing", "debug=smoke",
                   "trainer.progress=quiet", "hydra.sweeper.n_trials=4", f"hydra.sweep.dir={tmp_path}/study"], tmp_path)
    jobs = sorted(p for p in (tmp_path / "study").iterdir() if p.is_dir())
    assert len(jobs) == 4, res.stdout + res.stderr  # the study ran every trial
    failed = [j for j in jobs if (j / "error.txt").exists()]
    ok = [j for j in jobs if (j / "summary.json").exists()]
    assert failed and ok and len(failed) + len(ok) == 4
    assert (tmp_path / "study" / "optimization_results.yaml").exists()  # Optuna finished and reported its best
    assert "Best value" in res.stdout + res.stderr and res.returncode == 1


def test_runs_started_together_get_distinct_directories(tmp_path):
    import os
    import subprocess
    import sys

    # Both runs ask for the same directory name, as two runs started in the same second do by default.
    args = [sys.executable, "-m", "seqtune", "pretrain", "debug=smoke", "trainer.progress=quiet",
            "hydra.run.dir=${seqtune.unique:runs/same}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    dirs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert dirs == ["same", "same-2"]
    for d in dirs:
        summary = json.loads((tmp_path / "runs" / d / "summary.json").read_text())
        assert summary["steps"] == 6
        assert len(list((tmp_path / "runs" / d).glob("*.log"))) == 1
