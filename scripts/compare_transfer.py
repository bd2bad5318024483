"""Pretrained vs scratch, made measurable: every transfer strategy at several label budgets and seeds.

Runs ``seqtune finetune`` once per (strategy, budget, seed) through the real CLI, each in its own run
directory under ``--out`` (a finished run, one with summary.json, is skipped, so an interrupted sweep resumes),
then writes

    <out>/results.csv   one row per run: strategy, budget, seed, the metric, best epoch, seconds, run dir
    <out>/table.md      mean ± std (sample std over seeds) of the metric per strategy and budget
    <out>/plot.png      the metric against the budget, one line per strategy, std as error bars (needs matplotlib)

Examples::

    # the built-in task from the newest pretraining run: 4 strategies x 3 budgets x 3 seeds
    python scripts/compare_transfer.py --budgets 40,200 --epochs 30 --batch-size 8 --out outputs/compare_topics
    # TREC-6 from a WikiText-2 + TREC pretrained encoder (test error is 1 - test/acc)
    python scripts/compare_transfer.py --dataset trec --checkpoint outputs/.../stage2_pretrain \\
        --budgets 100,500,all --seeds 1,2,3 --epochs 6 --min-steps 300 --out outputs/compare_trec

Arguments after ``--`` are passed to every run (Hydra overrides).  A budget is ``dataset.train_limit``
(a stratified subset fixed by ``dataset.split_seed``, so every strategy and seed sees the same examples);
the seed is ``trainer.seed`` (initialisation of fresh tensors, dropout and batch order).  A finished run is
recognised by its directory name only: use a new ``--out`` when changing anything else.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def run_one(out: Path, strategy: str, budget: str, seed: int, args: argparse.Namespace) -> dict:
    run_dir = out / "runs" / f"{strategy}_{budget}_seed{seed}"
    summary_path = run_dir / "summary.json"
    if not summary_path.exists():
        overrides = [f"transfer={strategy}", f"dataset={args.dataset}", f"transfer.checkpoint={args.checkpoint}",
                     f"trainer.seed={seed}", "trainer.progress=quiet", f"hydra.run.dir={run_dir}"]
        if budget != "all":
            overrides.append(f"dataset.train_limit={budget}")
        overrides += [f"trainer.batch_size={args.batch_size}", f"trainer.max_epochs={epochs_for(budget, args)}"]
        cmd = [sys.executable, "-m", "seqtune", "finetune", *overrides, *args.overrides]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
        if res.returncode != 0:
            sys.exit(f"failed: {' '.join(cmd)}\n{res.stderr[-3000:]}")
        print(f"{strategy:>8} budget {budget:>5} seed {seed}: {time.perf_counter() - t0:.0f}s", flush=True)
    summary = json.loads(summary_path.read_text())
    return {"strategy": strategy, "budget": budget, "seed": seed, "metric": summary[args.metric],
            "best_epoch": summary.get("best_epoch"), "train_examples": summary.get("train/examples"),
            "seconds": summary.get("train/seconds"), "run_dir": str(run_dir)}


def epochs_for(budget: str, args: argparse.Namespace) -> int:
    """--epochs, raised for a small budget so that a run takes at least --min-steps optimizer steps."""
    if budget == "all" or args.min_steps <= 0:
        return args.epochs
    steps_per_epoch = math.ceil(int(budget) / args.batch_size)
    return max(args.epochs, math.ceil(args.min_steps / steps_per_epoch))


def mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {std:.4f}"


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="synthetic_topics", help="a dataset option (conf/dataset/)")
    p.add_argument("--checkpoint", default="latest", help="pretrained .pt, run directory, or latest")
    p.add_argument("--strategies", default="scratch,frozen,full,gradual")
    p.add_argument("--budgets", default="40,200,all", help="training examples (dataset.train_limit), or all")
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--epochs", type=int, default=6, help="trainer.max_epochs of every run")
    p.add_argument("--batch-size", type=int, default=32, help="trainer.batch_size of every run")
    p.add_argument("--min-steps", type=int, default=0,
                   help="small budgets train for more epochs, at least this many steps (0: --epochs for all)")
    p.add_argument("--metric", default="test/acc", help="summary.json key to compare (tagging: test/f1)")
    p.add_argument("--out", type=Path, default=Path("outputs/compare_transfer"))
    args = p.parse_args(argv)
    args.overrides = extra
    strategies, budgets = args.strategies.split(","), args.budgets.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)

    rows = [run_one(args.out, s, b, seed, args) for b in budgets for s in strategies for seed in seeds]
    with open(args.out / "results.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    def values(s: str, b: str) -> list[float]:
        return [r["metric"] for r in rows if r["strategy"] == s and r["budget"] == b]

    sizes = {b: next(r["train_examples"] for r in rows if r["budget"] == b) for b in budgets}
    lines = [f"{args.metric} on {args.dataset}, mean ± std over seeds {args.seeds} (checkpoint: {args.checkpoint})", "",
             "| strategy | " + " | ".join(f"{b} ({sizes[b]} examples)" for b in budgets) + " |",
             "|---|" + "---|" * len(budgets)]
    lines += [f"| {s} | " + " | ".join(mean_std(values(s, b)) for b in budgets) + " |" for s in strategies]
    table = "\n".join(lines) + "\n"
    (args.out / "table.md").write_text(table, encoding="utf-8")
    print(table)

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [sizes[b] for b in budgets]
    for s in strategies:
        means = [statistics.mean(values(s, b)) for b in budgets]
        stds = [statistics.stdev(values(s, b)) if len(seeds) > 1 else 0.0 for b in budgets]
        ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=s)
    ax.set_xscale("log")
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.minorticks_off()
    ax.set_xlabel("labelled training examples")
    ax.set_ylabel(args.metric)
    ax.set_title(f"{args.dataset}: transfer strategies")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "plot.png", dpi=120)
    print(f"plot: {args.out / 'plot.png'}")


if __name__ == "__main__":
    main()
