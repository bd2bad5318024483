"""Multirun: a failing job does not lose the others, and the sweep ends with a table naming the failure."""
from __future__ import annotations

import json

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
    assert error.startswith("model.hidden_size=-3 must be > 0")
    assert not (jobs["1"] / "summary.json").exists()
    table = res.stdout
    assert "3 jobs" in table and "failed" in table and "model.hidden_size=-3" in table
    assert table.count(" ok ") == 2 and "debug=smoke" not in table.split("jobs)")[1]  # shared overrides hidden
    assert "1 of 3 jobs did not finish" in res.stderr
