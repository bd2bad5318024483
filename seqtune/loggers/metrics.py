"""Run outputs a person and a script can read: ``metrics.jsonl``, ``summary.json``, and the live display.

``MetricsLogger`` appends one JSON object per logged step or evaluation (``step``, ``epoch`` and keys such
as ``train/loss``, ``val/ppl``), flushed line by line so a crashed run keeps everything logged so far.
``Display`` shows a rich progress bar on a terminal and plain log lines elsewhere (CI logs, files).
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


def _clean(value: object) -> object:
    """JSON has no NaN/Inf: write them as null rather than produce an unreadable file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsLogger:
    """``enabled=False`` (ranks other than 0 in data-parallel runs): opens nothing, writes nothing."""

    def __init__(self, run_dir: Path, enabled: bool = True):
        self.path = run_dir / "metrics.jsonl"
        self._fh = open(self.path, "a", encoding="utf-8") if enabled else None

    def log(self, record: dict[str, object]) -> None:
        if self._fh is None:
            return
        self._fh.write(json.dumps({k: _clean(v) for k, v in record.items()}) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({k: _clean(v) for k, v in data.items()}, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def format_metrics(metrics: dict[str, float], keys: list[str] | None = None) -> str:
    parts = []
    for k in keys or list(metrics):
        if k in metrics and metrics[k] is not None:
            v = metrics[k]
            parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
    return "  ".join(parts)


DisplayMode = Literal["auto", "bar", "log", "quiet"]
_log = logging.getLogger("seqtune")  # Hydra's job logging sends it to <run dir>/<command>.log only


class Display:
    """Progress for humans: a rich bar on a terminal, a log line per interval otherwise, nothing when quiet."""

    def __init__(self, mode: DisplayMode, total_steps: int, title: str):
        if mode == "auto":
            mode = "bar" if sys.stdout.isatty() else "log"
        self.mode = mode
        self.console = Console(stderr=False, highlight=False)
        self.total = total_steps
        self._progress: Progress | None = None
        if mode == "bar":
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}", markup=False),  # "[eval] ..." is text, not markup
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._task = self._progress.add_task(escape(title), total=total_steps, info="")
            self._progress.start()
        self._t0 = time.perf_counter()

    def update(self, step: int, info: str) -> None:
        line = f"step {step}/{self.total}  {info}"
        _log.info(line)
        if self._progress is not None:
            self._progress.update(self._task, completed=step, info=info)
        elif self.mode == "log":
            print(line, flush=True)

    def message(self, text: str) -> None:
        _log.info(text)
        if self.mode == "quiet":
            return
        if self._progress is not None:
            self._progress.console.print(text, markup=False)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def summary_table(summary: dict[str, object], title: str) -> Table:
    table = Table(title=escape(title), show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in summary.items():
        table.add_row(escape(k), escape(f"{v:.4f}" if isinstance(v, float) else str(v)))
    return table
