#!/usr/bin/env python
"""How fast the CLI answers: the median wall time of 5 runs of each command, and whether torch was imported.

    python scripts/time_cli.py                          # this checkout's seqtune
    python scripts/time_cli.py --compare ../main/.venv/bin/python   # and another checkout's, in the same run

Each command runs as ``<python> -m seqtune ...`` in a scratch folder (nothing is trained: --help, ls, --cfg job,
completion).  The machine's load average is printed beside the figures, since a shared machine's load moves them.
Targets (issue 14): ``--help`` and ``ls`` under 0.5 s, ``pretrain --help`` under 1.0 s on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = [
    ["--help"],
    ["ls"],
    ["pretrain", "--help"],
    ["finetune", "--help"],
    ["pretrain", "--cfg", "job"],
    ["__complete", "seqtune pretrain mod"],
]
PROBE = "import runpy, sys; sys.argv = ['seqtune', *sys.argv[1:]]; " \
        "exec(\"try:\\n  runpy.run_module('seqtune', run_name='__main__')\\nexcept SystemExit: pass\"); " \
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)"


def time_command(python: str, args: list[str], repeats: int, cwd: str) -> tuple[float, list[float], bool]:
    times, torch_loaded = [], False
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = subprocess.run([python, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        torch_loaded = "NO-TORCH" not in res.stderr
    return statistics.median(times), times, torch_loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compare", default=None, help="another interpreter with seqtune installed (e.g. main's)")
    a = parser.parse_args()
    pythons = {"this": sys.executable, **({"compare": a.compare} if a.compare else {})}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}  ({os.cpu_count()} CPUs)")
    header = f"{'command':<34}" + "".join(f"{name + ' median':>16}{'torch':>7}" for name in pythons)
    print(header)
    with tempfile.TemporaryDirectory() as cwd:
        for args in COMMANDS:
            cells = []
            for python in pythons.values():
                median, _, torch_loaded = time_command(python, args, a.repeats, cwd)
                cells.append(f"{median:>14.2f} s{'yes' if torch_loaded else 'no':>7}")
            print(f"{' '.join(args)[:33]:<34}" + "".join(cells))
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
