"""1-nearest-neighbour baselines on UCR sets, on the archive's own train/test split: Euclidean and DTW.

    python scripts/ucr_dtw_baseline.py GunPoint ECGFiveDays --json out.json   # sets under $SEQTUNE_DATA_DIR/ucr

Each test series gets the label of its nearest training series; test accuracy is printed per set.  DTW uses the
full warping window (no constraint) and squared-difference local costs, the archive's "DTW (w=100)" column:
with the archive's z-normalised series this reproduces its ``DataSummary.csv`` error rates.  The DTW kernel is
dtaidistance's C implementation (``pip install -e ".[dtw]"``; numpy only, no torch) when it is installed, else a
pure-numpy one (the same distances, slower; fine for these small sets).  The series are read by seqtune's own
reader (``seqtune.data.series_labels.read_series_file``), so the baseline sees exactly the files the runs see.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from seqtune.data.series_labels import read_series_file


def dtw_numpy(a: np.ndarray, b: np.ndarray) -> float:
    """sqrt of the smallest sum of squared differences along a warping path (no window)."""
    cost = (a[:, None] - b[None, :]) ** 2  # (n, m)
    acc = np.full((len(a) + 1, len(b) + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, len(a) + 1):
        row, prev = acc[i], acc[i - 1]
        for j in range(1, len(b) + 1):
            row[j] = cost[i - 1, j - 1] + min(prev[j], prev[j - 1], row[j - 1])
    return float(np.sqrt(acc[-1, -1]))


def dtw_distances(test: list[np.ndarray], train: list[np.ndarray]) -> tuple[np.ndarray, str]:
    """(len(test), len(train)) DTW distances, and which kernel computed them."""
    try:
        from dtaidistance import dtw
    except ImportError:
        return np.array([[dtw_numpy(a, b) for b in train] for a in test]), "numpy"
    out = np.empty((len(test), len(train)))
    for i, a in enumerate(test):
        for j, b in enumerate(train):
            out[i, j] = dtw.distance_fast(a.astype(np.double), b.astype(np.double), use_pruning=False)
    return out, "dtaidistance"


def euclidean_distances(test: list[np.ndarray], train: list[np.ndarray]) -> np.ndarray:
    return np.array([[np.sqrt(((a - b) ** 2).sum()) if len(a) == len(b) else np.inf for b in train] for a in test])


def one_nn_accuracy(dist: np.ndarray, train_labels: list[str], test_labels: list[str]) -> float:
    predicted = [train_labels[j] for j in dist.argmin(axis=1)]
    return float(np.mean([p == t for p, t in zip(predicted, test_labels)]))


def baseline(root: Path, name: str) -> dict[str, object]:
    train, train_labels = read_series_file(root / name / f"{name}_TRAIN.tsv", variable_length=True)
    test, test_labels = read_series_file(root / name / f"{name}_TEST.tsv", variable_length=True)
    start = time.process_time()
    dtw_dist, kernel = dtw_distances(test, train)
    return {
        "set": name,
        "train": len(train),
        "test": len(test),
        "1nn_euclidean_acc": one_nn_accuracy(euclidean_distances(test, train), train_labels, test_labels),
        "1nn_dtw_acc": one_nn_accuracy(dtw_dist, train_labels, test_labels),
        "dtw_kernel": kernel,
        "cpu_seconds": round(time.process_time() - start, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", help="UCR set names (folders under <data dir>/ucr)")
    parser.add_argument("--data-dir", default=os.environ.get("SEQTUNE_DATA_DIR", "."), help="holds ucr/<set>/")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args(argv)
    root = Path(args.data_dir) / "ucr"
    results = [baseline(root, name) for name in args.sets]
    print(f"{'set':<18} {'train':>5} {'test':>5} {'1-NN ED':>8} {'1-NN DTW':>9}  kernel")
    for r in results:
        print(
            f"{r['set']:<18} {r['train']:>5} {r['test']:>5} {r['1nn_euclidean_acc']:>8.4f} "
            f"{r['1nn_dtw_acc']:>9.4f}  {r['dtw_kernel']} ({r['cpu_seconds']} s CPU)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
