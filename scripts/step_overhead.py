#!/usr/bin/env python3
"""Where seqtune's causal-LM training step spends CPU time that a plain loop does not (issue 17, "find the 5%").

    OMP_NUM_THREADS=1 python scripts/step_overhead.py                     # word shape, 5 rounds, ratio table
    OMP_NUM_THREADS=1 python scripts/step_overhead.py --config char --steps 200
    OMP_NUM_THREADS=1 python scripts/step_overhead.py --profile 25        # + cProfile of every side, top 25

One process, one thread: each round runs the plain reference loop (``scripts/bench.py``'s, tuned: seqtune's malloc
thresholds and fused optimizer kernels) and seqtune's real ``training.loop.train`` (encoder, CausalLM, LMStream,
optimizer and schedule as ``seqtune pretrain`` builds them, log window, checkpointer) for the same number of steps
on the same token ids from the same initial weights, alternating.  Time is the thread's CPU time
(``time.thread_time``), so other work on the machine slows both sides alike instead of adding its own time;
seqtune's validation and checkpoint writes are measured apart and left out (the reference does neither).  The
table gives per-step CPU milliseconds (median over rounds, min-max) and seqtune/reference; the load average is
printed beside it.  ``--variant`` adds seqtune runs with one setting changed (``fused_loss=false``, ...).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn

from seqtune.config.schema import ScheduleConfig
from seqtune.data.batching import LMStream
from seqtune.loggers.metrics import Display
from seqtune.models.encoder import Encoder
from seqtune.objectives.base import TaskModel
from seqtune.objectives.clm import CausalLM
from seqtune.training import loop as loop_module
from seqtune.training.loop import LoopSettings, train
from seqtune.training.optim import build_optimizer, build_schedule
from seqtune.training.runtime import tune_malloc

CONFIGS: dict[str, dict[str, Any]] = {  # scripts/bench.py's shapes
    "word": dict(vocab=10000, emsize=200, nhid=200, nlayers=2, bptt=35, batch=20, optim="sgd", lr=20.0, clip=0.25),
    "char": dict(vocab=65, emsize=64, nhid=256, nlayers=1, bptt=128, batch=64, optim="adam", lr=0.002, clip=0.25),
}
LOG_INTERVAL = 50  # trainer.log_interval's default


def token_ids(vocab: int, n: int, seed: int = 0) -> torch.Tensor:
    """n ids drawn from a Zipf-like distribution (ranked like a real vocabulary), (n,) int64."""
    g = torch.Generator().manual_seed(seed)
    weights = 1.0 / torch.arange(1, vocab + 1, dtype=torch.float64)
    return torch.multinomial(weights, n, replacement=True, generator=g)


def seqtune_parts(cfg: dict[str, Any], fused_loss: bool, seed: int) -> tuple[TaskModel, Any, Any]:
    torch.manual_seed(seed)
    enc = Encoder("lstm", cfg["vocab"], cfg["emsize"], cfg["nhid"], cfg["nlayers"], dropout=0.0, init_range=0.1)
    model = TaskModel(enc, CausalLM(enc, tie_weights=False, fused_loss=fused_loss))
    opt_cfg = OmegaConf.create(
        dict(name=cfg["optim"], lr=cfg["lr"], weight_decay=0.0, momentum=0.0, betas=[0.9, 0.999], eps=1e-8)
    )
    optimizer = build_optimizer(opt_cfg, model.parameters())
    sched = OmegaConf.structured(ScheduleConfig(name="constant"))
    return model, optimizer, build_schedule(sched, optimizer, 10**9, 10**9)


def run_seqtune(cfg: dict[str, Any], ids: torch.Tensor, steps: int, fused_loss: bool, seed: int) -> dict[str, float]:
    """seqtune's loop for ``steps`` steps; CPU seconds of the whole call and of its validation/checkpoint part."""
    model, optimizer, scheduler = seqtune_parts(cfg, fused_loss, seed)
    cpu = torch.device("cpu")
    train_data = LMStream(ids, cfg["batch"], cfg["bptt"], cpu)
    valid = LMStream(ids[: cfg["batch"] * (cfg["bptt"] + 2)], cfg["batch"], cfg["bptt"], cpu)
    settings = LoopSettings(
        max_epochs=1, max_steps=steps, eval_interval=0, log_interval=LOG_INTERVAL, clip_grad_norm=cfg["clip"],
        precision="fp32", device=cpu, limit_eval_batches=1,
    )
    apart = [0.0]
    real_call = loop_module.Validation.__call__

    def timed_validation(self: Any, st: Any) -> None:
        t0 = time.thread_time()
        real_call(self, st)
        apart[0] += time.thread_time() - t0

    loop_module.Validation.__call__ = timed_validation  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as run_dir:
            t0 = time.thread_time()
            st = train(model, optimizer, scheduler, train_data, valid, settings, Path(run_dir), {}, Display("quiet", steps, ""))
            total = time.thread_time() - t0
    finally:
        loop_module.Validation.__call__ = real_call  # type: ignore[method-assign]
    assert st.step == steps, st.step
    return {"cpu_s": total - apart[0], "apart_s": apart[0]}


def run_reference(cfg: dict[str, Any], ids: torch.Tensor, steps: int, seed: int) -> dict[str, float]:
    """scripts/bench.py's reference loop (tuned: fused optimizer) from the same initial weights."""
    torch.manual_seed(seed)
    enc = Encoder("lstm", cfg["vocab"], cfg["emsize"], cfg["nhid"], cfg["nlayers"], dropout=0.0, init_range=0.1)
    dec = CausalLM(enc, tie_weights=False).decoder  # same draws as seqtune's model

    class LM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(cfg["vocab"], cfg["emsize"])
            self.rnn = nn.LSTM(cfg["emsize"], cfg["nhid"], cfg["nlayers"])
            self.dec = nn.Linear(cfg["nhid"], cfg["vocab"])

        def forward(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
            out, state = self.rnn(self.emb(x), state)
            return self.dec(out), state

    model = LM()
    with torch.no_grad():
        model.emb.weight.copy_(enc.embedding.weight)
        model.rnn.load_state_dict(enc.rnn.state_dict())
        model.dec.load_state_dict(dec.state_dict())
    opt = (
        torch.optim.Adam(model.parameters(), lr=cfg["lr"], fused=True)
        if cfg["optim"] == "adam"
        else torch.optim.SGD(model.parameters(), lr=cfg["lr"], fused=True)
    )
    b, bptt = cfg["batch"], cfg["bptt"]
    n = ids.numel() // b
    cols = ids[: n * b].view(b, n).t().contiguous()  # (time, batch)
    zeros = torch.zeros(cfg["nlayers"], b, cfg["nhid"])
    state: Any = (zeros, zeros.clone())
    pos = 0
    t0 = time.thread_time()
    for _ in range(steps):
        if pos + bptt + 1 > cols.size(0):
            pos, state = 0, (zeros, zeros.clone())
        x, y = cols[pos : pos + bptt], cols[pos + 1 : pos + 1 + bptt]
        pos += bptt
        state = tuple(s.detach() for s in state)
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.float().view(-1, cfg["vocab"]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
        opt.step()
        loss.item()
    return {"cpu_s": time.thread_time() - t0, "apart_s": 0.0}


def profile_side(run: Any, top: int) -> str:
    """cProfile of one run, timed in thread CPU time (not wall time: other processes' load is not counted)."""
    prof = cProfile.Profile(time.thread_time)
    prof.enable()
    run()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", choices=sorted(CONFIGS), default="word")
    p.add_argument("--steps", type=int, default=150, help="steps per run (one epoch at most)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--variant", action="append", default=[], choices=["fused_loss=false", "fused_loss=true"],
                   help="an extra seqtune run per round with this setting")
    p.add_argument("--profile", type=int, default=0, help="print cProfile's top N functions of one run per side")
    args = p.parse_args()
    tune_malloc()  # both sides: --ref-tuned's malloc thresholds
    cfg = CONFIGS[args.config]
    ids = token_ids(cfg["vocab"], (args.steps + 2) * cfg["bptt"] * cfg["batch"] + 1)
    default_fused = True  # objective.fused_loss's default (conf/objective/clm.yaml)
    sides: dict[str, Any] = {
        "reference": lambda s: run_reference(cfg, ids, args.steps, s),
        "seqtune": lambda s: run_seqtune(cfg, ids, args.steps, default_fused, s),
    }
    for v in args.variant:
        sides[f"seqtune {v}"] = lambda s, v=v: run_seqtune(cfg, ids, args.steps, v.endswith("true"), s)
    print(f"# {args.config}: {args.steps} steps x {args.rounds} rounds, threads {torch.get_num_threads()}, "
          f"torch {torch.__version__}, load {os.getloadavg()[0]:.2f}", flush=True)
    for side in sides.values():  # warm-up (allocator, kernels), not counted
        side(0)
    ms: dict[str, list[float]] = {k: [] for k in sides}
    for r in range(args.rounds):
        for name, side in sides.items():
            ms[name].append(1000 * side(r)["cpu_s"] / args.steps)
        print(f"round {r + 1}: " + "  ".join(f"{k} {v[-1]:.2f}" for k, v in ms.items())
              + f"  (load {os.getloadavg()[0]:.2f})", flush=True)
    ref = statistics.median(ms["reference"])
    print(f"\n{'side':<28}{'CPU ms/step':>12}{'min-max':>16}{'vs reference':>14}")
    for name, values in ms.items():
        med = statistics.median(values)
        print(f"{name:<28}{med:>12.3f}{min(values):>8.2f}-{max(values):<7.2f}{med / ref:>14.3f}")
    paired = [s / r for s, r in zip(ms["seqtune"], ms["reference"])]
    print(f"seqtune/reference per round: {', '.join(f'{x:.3f}' for x in paired)}; "
          f"median {statistics.median(paired):.3f}; load at the end {os.getloadavg()[0]:.2f}")
    if args.profile:
        for name, side in sides.items():
            print(f"\n## cProfile (thread CPU time) of {name}, {args.steps} steps")
            print(profile_side(lambda side=side: side(0), args.profile))


if __name__ == "__main__":
    sys.exit(main())
