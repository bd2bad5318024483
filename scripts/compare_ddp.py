"""Data-parallel check: the same pretraining run in one process and in N torchrun processes (CPU, gloo).

Both runs use the same global batch (``trainer.batch_size`` is the global batch; N processes each take 1/N
of the LM columns), dropout 0 and ``log_interval=1``, so the per-step training losses must agree up to float
rounding.  The same for fine-tuning (gradual unfreezing) from the N-process pretraining checkpoint, which loads in
one process as well; then the N-process fine-tuning checkpoint is evaluated in one process with
``seqtune evaluate``, which must reproduce the run's own test metrics.

    python scripts/compare_ddp.py --nproc 2 --steps 50 --out outputs/compare_ddp
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path


def run(cmd: list[str], env: dict[str, str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)


def losses(run_dir: Path) -> dict[int, float]:
    out = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "train/loss" in rec:
            out[rec["step"]] = rec["train/loss"]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--out", default="outputs/compare_ddp")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides for both runs")
    args = p.parse_args()
    out = Path(args.out)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = [f"trainer.max_steps={args.steps}", "trainer.log_interval=1", "trainer.eval_interval=25",
              "trainer.batch_size=32", "trainer.bptt=35", "trainer.limit_eval_batches=20", "trainer.device=cpu",
              "trainer.progress=log", "model.dropout=0", "model.embedding_size=64", "model.hidden_size=64",
              *args.overrides]
    one, many = out / "single", out / f"ddp{args.nproc}"
    run([sys.executable, "-m", "seqtune", "pretrain", *common, f"hydra.run.dir={one}"], env)
    run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}", "-m", "seqtune",
         "pretrain", *common, f"hydra.run.dir={many}"], env)
    a, b = losses(one), losses(many)
    assert a.keys() == b.keys(), (sorted(a), sorted(b))
    diffs = [abs(a[s] - b[s]) for s in sorted(a)]
    print(f"steps compared: {len(diffs)}; max |loss_1proc - loss_{args.nproc}proc| = {max(diffs):.3g} "
          f"(step 1: {a[min(a)]:.6f} vs {b[min(b)]:.6f}; step {max(a)}: {a[max(a)]:.6f} vs {b[max(b)]:.6f})")
    # Fine-tuning (ULMFiT's gradual unfreezing: frozen groups under DDP) from the N-process checkpoint, both ways.
    ft = [f"transfer.checkpoint={many}", f"trainer.max_steps={args.steps}", "trainer.log_interval=1",
          "trainer.device=cpu", "trainer.progress=log", "head.dropout=0", "trainer.max_epochs=5",
          "dataset.train_limit=320"]  # 10 steps per epoch: gradual unfreezing reaches the embedding
    ft_one, ft_many = out / "finetune_single", out / f"finetune_ddp{args.nproc}"
    run([sys.executable, "-m", "seqtune", "finetune", *ft, f"hydra.run.dir={ft_one}"], env)
    run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}", "-m", "seqtune",
         "finetune", *ft, f"hydra.run.dir={ft_many}"], env)
    a, b = losses(ft_one), losses(ft_many)
    assert a.keys() == b.keys(), (sorted(a), sorted(b))
    diffs = [abs(a[s] - b[s]) for s in sorted(a)]
    print(f"finetune steps compared: {len(diffs)}; max |loss_1proc - loss_{args.nproc}proc| = {max(diffs):.3g}")
    summary = json.loads((ft_many / "summary.json").read_text())
    proc = subprocess.run([sys.executable, "-m", "seqtune", "evaluate", f"checkpoint={ft_many}", "split=test"],
                          check=True, env=env, capture_output=True, text=True)
    evaluated = json.loads(proc.stdout[proc.stdout.index("{"):])
    for key in ("loss", "acc", "f1"):
        print(f"test/{key}: {args.nproc}-process run summary {summary[f'test/{key}']:.6f}, "
              f"seqtune evaluate in 1 process {evaluated[key]:.6f}, "
              f"1-process run {json.loads((ft_one / 'summary.json').read_text())[f'test/{key}']:.6f}")

if __name__ == "__main__":
    main()
