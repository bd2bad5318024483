"""Sweeps that lose nothing: a failing job is recorded and the others go on; the end prints a table.

In ``-m`` (multirun) mode the CLI catches a job's exception, writes ``error.txt`` into that job's directory and
returns the worst value for the sweeper's direction (see :func:`worst_value`) instead of ending the sweep.  The
:class:`SweepSummary` callback (configured under ``hydra.callbacks`` in the root configs) reads every job
directory when the sweep ends and prints one row per job: its overrides, status, and the config's
``optimized_metric`` — or the first line of its error.  A sweep with failed jobs exits with status 1.
"""

from __future__ import annotations

import json
import math
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.markup import escape
from rich.table import Table


def record_failure(run_dir: Path, exc: BaseException) -> None:
    """Keep a failed job's reason beside its outputs (first line: the message a person needs)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    message = str(exc).strip() or type(exc).__name__
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    (run_dir / "error.txt").write_text(f"{message}\n\n{detail}", encoding="utf-8")


def worst_value(sweeper_cfg: Any) -> float:
    """+inf when the sweeper minimises, -inf when it maximises, NaN for sweepers without a direction."""
    direction = sweeper_cfg.get("direction") if hasattr(sweeper_cfg, "get") else None
    if isinstance(direction, str):
        return math.inf if direction == "minimize" else -math.inf
    return math.nan


@dataclass
class JobRow:
    job: str
    overrides: str
    status: str  # ok | failed | incomplete
    value: float | None
    error: str


def collect(sweep_dir: Path, metric: str) -> list[JobRow]:
    """One row per job directory under the sweep directory, in job order."""
    rows = []
    job_dirs = [p for p in sweep_dir.iterdir() if p.is_dir() and (p / ".hydra" / "overrides.yaml").exists()]
    job_dirs.sort(key=lambda p: (len(p.name), p.name))
    per_job = [list(OmegaConf.load(job / ".hydra" / "overrides.yaml")) for job in job_dirs]
    # Show what differs between jobs; what they all share says nothing about the difference in results.
    shared = set.intersection(*map(set, per_job)) if len(per_job) > 1 else set()
    for job, job_overrides in zip(job_dirs, per_job):
        overrides = " ".join(o for o in job_overrides if o not in shared)
        summary_path, error_path = job / "summary.json", job / "error.txt"
        if error_path.exists():
            first = error_path.read_text(encoding="utf-8").splitlines()[0] if error_path.stat().st_size else "failed"
            rows.append(JobRow(job.name, overrides, "failed", None, first))
        elif summary_path.exists():
            value = json.loads(summary_path.read_text(encoding="utf-8")).get(metric)
            rows.append(JobRow(job.name, overrides, "ok", value, ""))
        else:
            rows.append(JobRow(job.name, overrides, "incomplete", None, "no summary.json (interrupted?)"))
    return rows


class SweepSummary(Callback):
    """Hydra callback: the end-of-sweep table (``metric``: the column shown when the config has no optimized_metric)."""

    def __init__(self, metric: str = "val/loss") -> None:
        self.metric = metric

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        metric = str(config.get("optimized_metric", self.metric))
        rows = collect(sweep_dir, metric)
        table = Table(title=escape(f"sweep {sweep_dir} ({len(rows)} jobs)"))
        for col in ("job", "overrides", "status", metric):
            table.add_column(col, justify="right" if col == metric else "left")
        for r in rows:
            numeric = isinstance(r.value, (int, float)) and not isinstance(r.value, bool)
            value = f"{r.value:.4g}" if numeric and r.value is not None and math.isfinite(r.value) else "-"
            status = {"ok": "[green]ok[/]", "failed": "[red]failed[/]"}.get(r.status, f"[yellow]{r.status}[/]")
            table.add_row(escape(r.job), escape(r.overrides), status, escape(value if r.status == "ok" else r.error))
        Console(highlight=False).print(table)
        failed = sum(r.status != "ok" for r in rows)
        if failed:
            print(
                f"{failed} of {len(rows)} jobs did not finish; their reasons are in <job dir>/error.txt.",
                file=sys.stderr,
            )
            sys.exit(1)
