#!/usr/bin/env python3
"""Pick a UCR set's pretraining recipe by cross-validation over its training series: the test file is never read.

    SEQTUNE_DATA_DIR=/path/to/data python scripts/ucr_cv.py --set ECGFiveDays --folds 5 --seeds 1 2 --jobs 2

For every fold k of ``--folds`` stratified folds of the training file (``dataset.cv_folds``/``cv_fold``):
each pretraining pool is pretrained on the training series *less fold k* (``scripts/ucr_experiments.sh``'s pools:
``aug`` the set's own series + 50 augmented copies; ``others`` the set's series + every other set's files;
``masked`` masked_values on that pool), then every candidate (scratch, and each pool x strategy) is fine-tuned on
the other folds and scored on fold k (``val/acc`` of the kept weights: with 4-5 validation series
``trainer.monitor=auto`` keeps the newest, so the fold does not pick a checkpoint).  The recipe with the highest
mean fold accuracy (mean over seeds; ties: the lower mean validation loss) is the choice; its test accuracy is
then the matching row of ``ucr_experiments.sh`` (pretrained on every training series, 3 seeds).

Only ``val/*`` entries of the runs' summaries are read here (the runs also score the test file, as every
fine-tuning run does; this script never looks at those figures).  Finished runs are kept: a stopped script goes
on where it stopped.  Writes ``<out>/cv.md`` and ``<out>/cv.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SETS = ["GunPoint", "ItalyPowerDemand", "Coffee", "ECGFiveDays"]  # ucr_experiments.sh's: the "others" pool
POOLS = {  # name: pretraining overrides (after experiment=ucr_autoencoder)
    "aug": ["dataset.augment_copies=50"],
    "others": [],  # + dataset.unlabelled_series, filled in by pools()
    "masked": ["objective=masked_values", "objective.span_length=2", "objective.mask_rate=0.3"],
}
STRATEGIES = {
    "aug": ["frozen", "full"],
    "others": ["frozen", "full", "gradual", "multitask"],
    "masked": ["frozen", "full", "gradual"],
}


def pools(name: str, sets: list[str]) -> dict[str, list[str]]:
    files = ",".join(f"{s}/{s}_{part}.tsv" for s in sets if s != name for part in ("TRAIN", "TEST"))
    out = {k: list(v) for k, v in POOLS.items()}
    for k in ("others", "masked"):
        out[k].append(f"dataset.unlabelled_series=[{files}]")
    return out


def run(cmd: list[str], run_dir: Path) -> None:
    if (run_dir / "summary.json").exists():
        return
    if run_dir.exists():  # a run this script started and did not finish: start it again
        shutil.rmtree(run_dir)
    log = run_dir.with_suffix(".log")
    with open(log, "w") as f:
        rc = subprocess.call(cmd + [f"hydra.run.dir={run_dir}"], stdout=f, stderr=subprocess.STDOUT)
    if rc != 0:
        sys.exit(f"failed ({rc}): {' '.join(cmd)}; see {log}")


def fold_jobs(a, k: int) -> tuple[list, list]:
    """(pretraining jobs, fine-tuning jobs) of fold k: (command, run dir)."""
    common = [
        f"dataset.set={a.set}",
        f"dataset.segment_length={a.segment}",
        f"dataset.cv_folds={a.folds}",
        f"dataset.cv_fold={k}",
        "trainer.progress=log",
        *a.overrides,
    ]
    seqtune = [sys.executable, "-m", "seqtune"]
    pre = [
        (seqtune + ["pretrain", "experiment=ucr_autoencoder", *common, *over], a.out / f"pre_{pool}_{k}")
        for pool, over in pools(a.set, a.sets).items()
    ]
    fine = []
    for seed in a.seeds:
        for pool, strategies in [("aug", ["scratch"]), *STRATEGIES.items()]:
            for strategy in strategies:
                name = "scratch" if strategy == "scratch" else f"{pool}_{strategy}"
                cmd = seqtune + [
                    "finetune",
                    "experiment=ucr_classifier",
                    *common,
                    f"transfer={strategy}",
                    f"transfer.checkpoint={a.out / f'pre_{pool}_{k}'}",
                    f"trainer.seed={seed}",
                ]
                fine.append((cmd, a.out / f"{name}_fold{k}_seed{seed}"))
    return pre, fine


def table(a) -> tuple[list[dict], str]:
    rows = []
    names = ["scratch"] + [f"{p}_{s}" for p, ss in STRATEGIES.items() for s in ss]
    for name in names:
        per_seed, losses = [], []
        for seed in a.seeds:
            runs = [
                json.loads((a.out / f"{name}_fold{k}_seed{seed}" / "summary.json").read_text()) for k in range(a.folds)
            ]
            per_seed.append(statistics.mean(r["val/acc"] for r in runs))  # only val/*: never test/*
            losses.append(statistics.mean(r["val/loss"] for r in runs))
        rows.append({"recipe": name, "cv_acc": per_seed, "cv_loss": statistics.mean(losses)})
    rows.sort(key=lambda r: (-statistics.mean(r["cv_acc"]), r["cv_loss"]))
    lines = [
        f"| recipe | CV accuracy ({a.folds} folds, mean over seeds {a.seeds}) | per seed | CV loss |",
        "|---|---:|---|---:|",
    ]
    for r in rows:
        sd = statistics.stdev(r["cv_acc"]) if len(r["cv_acc"]) > 1 else 0.0
        lines.append(
            f"| {r['recipe']} | {statistics.mean(r['cv_acc']):.3f} ± {sd:.3f} | "
            f"{' / '.join(f'{x:.3f}' for x in r['cv_acc'])} | {r['cv_loss']:.3f} |"
        )
    return rows, "\n".join(lines) + f"\n\nchosen: **{rows[0]['recipe']}**\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--set", default="ECGFiveDays")
    p.add_argument("--segment", type=int, default=8, help="dataset.segment_length (2 for ItalyPowerDemand)")
    p.add_argument("--sets", nargs="+", default=SETS, help="the sets whose files form the 'others' pool")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    p.add_argument("--jobs", type=int, default=1, help="runs at once (one thread each)")
    p.add_argument("--out", type=Path, default=Path("outputs/ucr_cv"))
    p.add_argument("overrides", nargs="*", help="Hydra overrides for every run (after --), e.g. debug=smoke")
    a = p.parse_args()
    a.out = a.out.resolve() / a.set
    a.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    jobs = [fold_jobs(a, k) for k in range(a.folds)]
    with ThreadPoolExecutor(a.jobs) as pool:
        list(pool.map(lambda job: run(*job), [j for pre, _ in jobs for j in pre]))
        list(pool.map(lambda job: run(*job), [j for _, fine in jobs for j in fine]))
    rows, md = table(a)
    (a.out / "cv.md").write_text(md)
    (a.out / "cv.json").write_text(json.dumps(rows, indent=1))
    print(md)


if __name__ == "__main__":
    main()
