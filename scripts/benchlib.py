"""Shared by the benchmark scripts: run a child process and measure it; one row of the comparison table."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field


@dataclass
class Measured:
    stdout: str
    wall_s: float
    cpu_s: float  # user + system time of the child
    rss_mb: float  # the child's peak resident set (kernel high-water mark)


def spawn(cmd: list[str], env: dict[str, str]) -> Measured:
    """Run ``cmd`` to completion in its own process; exit with its stderr if it fails."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as fout, tempfile.TemporaryFile("w+") as ferr:
        proc = subprocess.Popen(cmd, stdout=fout, stderr=ferr, env=env, text=True)
        _, status, rusage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        fout.seek(0), ferr.seek(0)
        out, err = fout.read(), ferr.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.stderr.write(err[-4000:])
        raise SystemExit(f"benchmark child failed ({code}): {' '.join(cmd)}")
    return Measured(out, wall, rusage.ru_utime + rusage.ru_stime, rusage.ru_maxrss / 1024)  # Linux: KB


@dataclass
class Row:
    """One line of the table: side A (a reference) against side B (seqtune), one value per round."""

    label: str
    a_name: str
    b_name: str
    unit: str
    a: list[float] = field(default_factory=list)
    b: list[float] = field(default_factory=list)
    a_rss: list[float] = field(default_factory=list)
    b_rss: list[float] = field(default_factory=list)
    a_gpu: list[float] = field(default_factory=list)
    b_gpu: list[float] = field(default_factory=list)

    def cells(self, gpu: bool) -> list[str]:
        a, b = [x for x in self.a if x == x], [x for x in self.b if x == x]  # NaN: a failed difference, dropped
        if not a or not b:
            return [self.label, self.a_name, "n/a", self.b_name, "n/a", self.unit, "n/a", "-", _mb(self.a_rss),
                    _mb(self.b_rss)] + (["-", "-"] if gpu else [])
        ra, rb = statistics.median(a), statistics.median(b)
        spread = max(b) / min(b) - 1 if min(b) > 0 else float("nan")
        out = [self.label, self.a_name, _num(ra), self.b_name, _num(rb), self.unit, f"{rb / ra:.2f}",
               f"{spread:.0%}", _mb(self.a_rss), _mb(self.b_rss)]
        return out + ([_mb(self.a_gpu), _mb(self.b_gpu)] if gpu else [])


HEAD = ["row", "A", "A", "B", "B", "unit", "B/A", "B spread", "A RSS MB", "B RSS MB"]


def _num(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.2f}"


def _mb(values: list[float]) -> str:
    return f"{max(values):,.0f}" if values else "-"


def table(rows: list[Row]) -> list[str]:
    """The rows as aligned text: medians over rounds, B/A of the medians, B's spread (max/min - 1)."""
    gpu = any(r.a_gpu or r.b_gpu for r in rows)
    head = HEAD + (["A GPU MB", "B GPU MB"] if gpu else [])
    lines = [head, *(r.cells(gpu) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))) for line in lines]
