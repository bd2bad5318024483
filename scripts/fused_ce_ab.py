#!/usr/bin/env python3
"""The word LM's output layer alone (700 rows x 200 hidden -> 10k vocabulary), forward + backward, in thread CPU
time: the textbook ops, seqtune's fused loss as it is now, and the fused loss of an earlier revision.

    OMP_NUM_THREADS=1 python scripts/fused_ce_ab.py --before d54d87c --rounds 7 --reps 5

Rounds interleave the sides; a quality guard first prints each fused side's largest gradient difference from
the textbook ops.  Used for docs/performance.md ("where the 5% went").
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from seqtune.objectives import fused_ce
from seqtune.training.runtime import tune_malloc


def module_at(rev: str) -> object:
    """objectives/fused_ce.py as it was at git revision ``rev``."""
    root = Path(__file__).resolve().parents[1]
    text = subprocess.run(["git", "show", f"{rev}:seqtune/objectives/fused_ce.py"], cwd=root, check=True,
                          capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "fused_ce_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("fused_ce_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", default="", help="git revision of the earlier fused loss (default: none)")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args()
    tune_malloc()
    torch.manual_seed(0)
    n, hidden, vocab = 700, 200, 10000
    h = torch.randn(n, hidden, requires_grad=True)
    w = (torch.randn(vocab, hidden) * 0.1).requires_grad_()
    b = torch.zeros(vocab, requires_grad=True)
    y = torch.randint(vocab, (n,))
    sides = {"textbook": lambda: F.cross_entropy(F.linear(h, w, b), y)}
    if args.before:
        old = module_at(args.before)
        sides[f"fused {args.before}"] = lambda: old.linear_cross_entropy(h, w, b, y)  # type: ignore[attr-defined]
    sides["fused now"] = lambda: fused_ce.linear_cross_entropy(h, w, b, y)
    grads = {}
    for name, f in sides.items():
        h.grad = w.grad = b.grad = None
        f().backward()
        grads[name] = [t.grad.clone() for t in (h, w, b)]  # type: ignore[union-attr]
    for name in list(sides)[1:]:
        diff = max(float((a - c).abs().max()) for a, c in zip(grads[name], grads["textbook"]))
        print(f"{name}: max |grad - textbook grad| {diff:.2g}")
    print(f"threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.2f}", flush=True)
    ms: dict[str, list[float]] = {k: [] for k in sides}
    for r in range(args.rounds):
        for name, f in sides.items():
            t0 = time.thread_time()
            for _ in range(args.reps):
                h.grad = w.grad = b.grad = None
                f().backward()
            ms[name].append((time.thread_time() - t0) / args.reps * 1000)
        print(f"round {r + 1}: " + "  ".join(f"{k} {v[-1]:.2f}" for k, v in ms.items())
              + f"  (load {os.getloadavg()[0]:.2f})", flush=True)
    base = statistics.median(ms["textbook"])
    for name, v in ms.items():
        med = statistics.median(v)
        print(f"{name:<22} median {med:7.2f} ms  ({min(v):.2f}-{max(v):.2f})  {med / base:.3f} x textbook")
    if args.before:
        ratio = [a / c for a, c in zip(ms["fused now"], ms[f"fused {args.before}"])]
        print(f"now/before per round: {' '.join(f'{x:.3f}' for x in ratio)} (median {statistics.median(ratio):.3f})")
    print(f"load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
