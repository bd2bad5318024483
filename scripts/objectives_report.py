#!/usr/bin/env python
"""The must-show figures of the self-supervised objectives, from finished run directories.

Run the experiments (each a few minutes on one CPU core), then point this script at their run directories::

    export SEQTUNE_DATA_DIR=/path/to/data
    for e in mlm_ptb autoencoder_trec denoising_trec forecast_etth1 seq2seq_reversal; do
        seqtune pretrain experiment=$e hydra.run.dir=runs/$e
    done
    python scripts/objectives_report.py runs/*

It prints one markdown row per run with the figures the objective is judged by (mlm: masked-token accuracy vs
the unigram baseline; autoencoder/denoising/seq2seq: greedy reconstruction accuracy and exact match;
forecast: MSE/MAE on the normalised and the original scale, next to published ETTh1 references).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

REFERENCES = "ETTh1 H=96 MSE references: SegRNN 0.368 (L=96); PatchTST 0.370, DLinear 0.375 (L=336)"
FIGURES = {
    "clm": ["test/ppl", "val/unigram_ppl"],
    "mlm": ["test/acc", "test/ppl", "val/unigram_acc"],
    "autoencoder": ["test/greedy_acc", "test/exact_match", "test/acc"],
    "denoising": ["test/greedy_acc", "test/exact_match", "test/acc"],
    "seq2seq": ["test/exact_match", "test/greedy_acc"],
    "forecast": ["test/mse", "test/mae", "test/mse_raw", "test/mae_raw"],
    "masked_values": ["test/mse", "test/mae"],
}


def row(run_dir: Path) -> str:
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    name = cfg["objective"]["name"]
    figures = ", ".join(f"{k} {summary[k]:.4f}" for k in FIGURES.get(name, ["test/loss"]) if k in summary)
    return (f"| {run_dir.name} | {name} | {cfg['dataset']['name']} | {summary['steps']:.0f} | "
            f"{summary['train/seconds']:.0f} | {figures} |")


def main(argv: list[str]) -> int:
    runs = [Path(a) for a in argv if (Path(a) / "summary.json").is_file()]
    if not runs:
        print("usage: objectives_report.py RUN_DIR [RUN_DIR ...]  (directories holding summary.json)")
        return 2
    print("| run | objective | dataset | steps | train s | test figures |\n|---|---|---|---|---|---|")
    for r in runs:
        print(row(r))
    if any("forecast" in (r / "config.yaml").read_text() for r in runs):
        print(f"\n{REFERENCES}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
