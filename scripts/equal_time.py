#!/usr/bin/env python3
"""Compare seqtune set-ups after the same training wall time: validation perplexity and tokens/s.

    python scripts/equal_time.py --budget 900 \\
        --variant full="objective.softmax=full" --variant adaptive="objective.softmax=adaptive" \\
        -- experiment=wikitext2_lm dataset.tokenizer.max_vocab=null dataset.tokenizer.lowercase=false

Each variant is the real ``seqtune pretrain`` in its own process with the common overrides (after ``--``) plus
its own.  The variants run side by side (``--parallel``, the default: the same machine load hits both at the
same moments; each process gets ``--threads`` threads) or one after the other.  The driver follows each run's
``metrics.jsonl`` (``trainer.log_interval`` is set to ``--log-interval``) to know its training time so far
(validation excluded, as the loop counts it) and sends SIGINT when the budget is spent: the loop finishes its
step, writes ``checkpoints/last.pt`` and exits.  That checkpoint is then scored on the *whole* validation split
(the dataset's own ``valid`` file; ``trainer.eval_batch_size`` columns) by seqtune's own evaluation, so every
variant is judged on the same tokens at the same training time.  The table gives, per variant: optimizer steps,
training seconds (from the checkpoint), training tokens/s, validation loss and perplexity.

Validation inside the runs happens only at epoch ends (``trainer.eval_interval=0``); it is outside the budget.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    name: str
    run_dir: Path
    proc: subprocess.Popen
    log: Path
    stopped: bool = False


def train_seconds(run_dir: Path) -> float:
    """Training time so far, from the logged windows: each window's tokens over its tokens/s (validation excluded).

    A window's tokens are its steps x batch_size x bptt (the run's config.yaml); an epoch's last, shorter window
    is counted as full, which errs by under one step's time per epoch.
    """
    path, cfg_path = run_dir / "metrics.jsonl", run_dir / "config.yaml"
    if not path.exists() or not cfg_path.exists():
        return 0.0
    from omegaconf import OmegaConf

    t = OmegaConf.load(cfg_path).trainer
    per_step = t.batch_size * t.bptt
    total, last_step = 0.0, 0
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # a line being written
            continue
        if "train/tokens_per_s" in rec:
            total += (rec["step"] - last_step) * per_step / max(rec["train/tokens_per_s"], 1e-9)
            last_step = rec["step"]
    return total


def start(name: str, overrides: list[str], out: Path, env: dict[str, str]) -> Run:
    run_dir = out / name
    log = out / f"{name}.log"
    cmd = [sys.executable, "-m", "seqtune", "pretrain", *overrides, f"hydra.run.dir={run_dir}"]
    print(f"$ {' '.join(cmd)}", flush=True)
    fh = open(log, "w")
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    return Run(name, run_dir, proc, log)


def watch(runs: list[Run], budget: float, poll: float = 1.0) -> None:
    """Send SIGINT to each run once its training time reaches ``budget`` seconds; wait for all to exit."""
    while any(r.proc.poll() is None for r in runs):
        for r in runs:
            if r.stopped or r.proc.poll() is not None:
                continue
            spent = train_seconds(r.run_dir)
            if spent == 0.0:
                continue
            # time trained since the last progress line counts too (training, unless a validation is running)
            left = budget - spent - (time.time() - (r.run_dir / "metrics.jsonl").stat().st_mtime)
            if left <= poll:
                time.sleep(max(left, 0.0))
                r.proc.send_signal(signal.SIGINT)
                r.stopped = True
        time.sleep(poll)
    for r in runs:
        if r.proc.returncode not in (0, 130):
            sys.exit(f"{r.name} failed with exit status {r.proc.returncode}; see {r.log}")


def score(run_dir: Path) -> dict[str, float]:
    """Validation loss/perplexity of ``last.pt`` on the whole valid split, with seqtune's own evaluation."""
    import torch
    from omegaconf import OmegaConf

    from seqtune.data.pretraining import load_pretrain_data
    from seqtune.data.tokenizers import tokenizer_from_dict
    from seqtune.objectives import data_kind
    from seqtune.training import checkpoint
    from seqtune.training.inference import rebuild_pretrained
    from seqtune.training.loop import evaluate

    path = run_dir / "checkpoints" / "last.pt"
    ckpt = checkpoint.load(path)
    cfg = OmegaConf.create(ckpt["config"])
    tok = tokenizer_from_dict(ckpt["tokenizer"])
    model = rebuild_pretrained(ckpt, path)
    device = torch.device("cpu")
    data = load_pretrain_data(cfg, data_kind(cfg.objective.name), device, tok)
    metrics = evaluate(model.eval(), data.valid, device, "fp32")
    loop = ckpt.get("loop", {})
    seconds = loop.get("train_seconds", math.nan)
    return {"steps": ckpt["step"], "train_s": seconds, "tok_per_s": loop.get("train_tokens", 0) / seconds,
            "val_loss": metrics["loss"], "val_ppl": metrics["ppl"], "epoch": ckpt["epoch"]}


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=900, help="training seconds per variant")
    p.add_argument("--variant", action="append", required=True, metavar="NAME=OVERRIDES",
                   help="a name and its space-separated Hydra overrides (repeat)")
    p.add_argument("--sequential", action="store_true", help="one variant after the other instead of side by side")
    p.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS per process")
    p.add_argument("--log-interval", type=int, default=10, help="steps between the progress lines the driver reads")
    p.add_argument("--out", default="outputs/equal_time", help="run directories and logs go here")
    p.add_argument("overrides", nargs="*", help="Hydra overrides common to every variant (after --)")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    common = ["trainer.device=cpu", "trainer.progress=log", "trainer.eval_interval=0", "trainer.max_epochs=1000",
              f"trainer.log_interval={args.log_interval}", *args.overrides]
    variants = [v.split("=", 1) for v in args.variant]
    print(f"# equal_time: budget {args.budget:.0f} s of training per variant, {args.threads} thread(s) per process, "
          f"{'sequential' if args.sequential else 'side by side'}; load {load_average()}", flush=True)
    runs: list[Run] = []
    for name, extra in variants:
        runs.append(start(name, [*common, *extra.split()], out, env))
        if args.sequential:
            watch(runs[-1:], args.budget)
    watch(runs, args.budget)
    print(f"# training done; load {load_average()}", flush=True)
    rows = [(r.name, score(r.run_dir)) for r in runs]
    print(f"{'variant':<12} {'steps':>7} {'epoch':>5} {'train s':>8} {'tok/s':>8} {'val loss':>9} {'val ppl':>9}")
    for name, s in rows:
        print(f"{name:<12} {s['steps']:>7,} {s['epoch']:>5} {s['train_s']:>8.0f} {s['tok_per_s']:>8,.0f} "
              f"{s['val_loss']:>9.4f} {s['val_ppl']:>9.2f}")
    (out / "results.json").write_text(json.dumps(dict(rows), indent=2) + "\n")
    print(f"# load at end {load_average()}; results in {out / 'results.json'}")


if __name__ == "__main__":
    main()
