#!/usr/bin/env python3
"""seqtune's own code on every path a user waits for, each side by side with a minimal hand-written reference.

    python scripts/bench.py                                   # the whole table: every row below, CPU
    python scripts/bench.py --configs word,char --rounds 3 -- trainer.precision=fp32   # extra LM overrides
    python scripts/bench.py --ref-tuned                       # references get seqtune's malloc + fused optimizer
    python scripts/bench.py --device cuda --precision bf16    # LM and fine-tuning rows on the GPU

Every measurement is its own process, as a user's plain script would run; the sides alternate within each round
(reference, seqtune, reference, ...) so that noise from other work on the machine hits both alike; the table
gives medians over ``--rounds`` (each LM/fine-tuning run is itself the median of its timed intervals after
``--warmup-intervals``), seqtune/reference (B/A), seqtune's spread over rounds and each side's peak RSS.
One invocation prints the header (machine, load), progress lines, the table, the memory table and the load at
the end.  ``--configs`` picks sections: word, char, finetune, inference, data, memory (default: all).

* word, char -- causal-LM training, tokens/s: the real ``seqtune pretrain`` (encoder, objective, LMStream,
  optimizer, schedule, loop, logging every 50 steps; its ``train/tokens_per_s`` windows) on a generated corpus,
  against the loop below (embedding -> nn.LSTM -> linear, contiguous BPTT columns, detached state, SGD/Adam,
  global-norm clipping, ``loss.item()`` per step).
* finetune -- ``seqtune finetune`` (TREC-shaped data, BucketBatches, the encoder, the classifier head, the
  transfer strategy's parameter groups, the loop), examples/s, against a plain padded and a plain bucketed loop
  (``scripts/bench_finetune.py``).
* inference -- ``seqtune predict`` on 10,000 lines and ``seqtune evaluate`` on a 10,000-line split against a plain
  ``torch.inference_mode`` loop, lines/s with and without start-up (``scripts/bench_finetune.py``).
* data -- tokenisation + token cache in MB/s for word, char and BPE on WikiText-2 train, against plain Python
  (word, char) and the ``tokenizers`` library on its own (BPE) (``scripts/bench_data.py``).
* memory -- peak RSS of ``seqtune pretrain`` on 1x, 10x, 100x WikiText-2 and a 200 MB newline-free corpus
  (``scripts/bench_memory.py``; needs ``$SEQTUNE_DATA_DIR/wikitext-2``, skipped without it).

``--ref-tuned`` gives the references what seqtune does by default that any script could copy (raised glibc
malloc thresholds, fused optimizer kernels, and ``--precision`` for the LM), to isolate seqtune's own overhead.
The finetune, inference, data and memory rows run on the CPU unless ``--device`` says otherwise (inference,
data and memory: always the CPU).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchlib import Row, spawn, table

# The benchmarked model shapes (issue 7).  lr/clip do not affect speed; they match the reference figures.
CONFIGS: dict[str, dict] = {
    "word": dict(vocab=10000, emsize=200, nhid=200, nlayers=2, bptt=35, batch=20, optim="sgd", lr=20.0, clip=0.25),
    "char": dict(vocab=65, emsize=64, nhid=256, nlayers=1, bptt=128, batch=64, optim="adam", lr=0.002, clip=0.25),
}
NUM_SPECIALS = 6  # seqtune's special tokens (pad, unk, bos, eos, mask, cls) come first in every vocabulary
DEFAULT_LOG_INTERVAL = 50  # seqtune's trainer.log_interval default; the reference times intervals of as many steps


# ------------------------------------------------------------------------------------------------ data
def write_corpus(folder: Path, kind: str, vocab: int, train_tokens: int, seed: int = 0) -> None:
    """Random text whose seqtune vocabulary is exactly ``vocab`` (specials included)."""
    rng = random.Random(seed)
    n_sym = vocab - NUM_SPECIALS
    if kind == "word":
        words = [f"w{i}" for i in range(n_sym)]  # <eos> is one of the specials
        per_line = 35
        def split(n: int) -> str:
            toks = rng.choices(words, k=n)
            toks[:n_sym] = words if n >= n_sym else toks[:n_sym]  # every word occurs in train
            return "\n".join(" ".join(toks[i : i + per_line]) for i in range(0, n, per_line)) + "\n"
    else:
        alphabet = [chr(c) for c in range(0x21, 0x21 + n_sym - 1)]  # + '\n' = n_sym characters
        per_line = 100
        def split(n: int) -> str:
            chars = rng.choices(alphabet, k=n)
            chars[: len(alphabet)] = alphabet
            return "\n".join("".join(chars[i : i + per_line]) for i in range(0, n, per_line)) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.txt").write_text(split(train_tokens), encoding="utf-8")
    for name in ("valid", "test"):  # small: evaluation is not what is measured
        (folder / f"{name}.txt").write_text(split(20000), encoding="utf-8")


# ------------------------------------------------------------------------------------------- reference
def child_reference(args: argparse.Namespace) -> None:
    """A plain script: the loop a user would write by hand.  Prints one JSON line."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    if args.mallopt:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
        libc.mallopt(-2, 256 << 20)  # M_TOP_PAD
    torch.manual_seed(1234)
    device = torch.device(args.device)
    text = Path(args.data, "train.txt").read_text(encoding="utf-8")
    toks = [t for line in text.splitlines() for t in (*line.split(), "<eos>")] if args.kind == "word" else list(text)
    stoi = {t: i for i, t in enumerate(sorted(set(toks)))}
    ids = torch.tensor([stoi[t] for t in toks], dtype=torch.long)
    ntoken = max(len(stoi), args.vocab)
    steps = ids.numel() // args.batch
    cols = ids[: steps * args.batch].view(args.batch, steps).t().contiguous().to(device)  # (time, batch)

    class LM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(ntoken, args.emsize)
            self.rnn = nn.LSTM(args.emsize, args.nhid, args.nlayers)
            self.dec = nn.Linear(args.nhid, ntoken)
            for p in self.parameters():
                nn.init.uniform_(p, -0.1, 0.1)

        def forward(self, x, state):
            out, state = self.rnn(self.emb(x), state)
            return self.dec(out), state

    model = LM().to(device)
    fused = True if args.mallopt else None  # --ref-tuned: the fused optimizer kernels seqtune uses too
    opt = (torch.optim.Adam(model.parameters(), lr=args.lr, fused=fused) if args.optim == "adam"
           else torch.optim.SGD(model.parameters(), lr=args.lr, fused=fused))
    zeros = torch.zeros(args.nlayers, args.batch, args.nhid, device=device)
    state = (zeros, zeros.clone())
    pos = 0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step() -> None:
        nonlocal state, pos
        if pos + args.bptt + 1 > cols.size(0):
            pos, state = 0, (zeros, zeros.clone())
        x, y = cols[pos : pos + args.bptt], cols[pos + 1 : pos + 1 + args.bptt]
        pos += args.bptt
        state = tuple(s.detach() for s in state)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            logits, state = model(x, state)
            loss = F.cross_entropy(logits.float().view(-1, ntoken), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        loss.item()

    rates = []
    for _ in range(args.warmup_intervals + args.intervals):
        t0 = time.perf_counter()
        for _ in range(args.interval_steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(args.interval_steps * args.bptt * args.batch / (time.perf_counter() - t0))
    out = {"rates": rates[args.warmup_intervals :]}
    if device.type == "cuda":
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(out))


# ----------------------------------------------------------------------------------------------- driver
def seqtune_run(name: str, cfg: dict, data: Path, run_dir: Path, args: argparse.Namespace,
                env: dict[str, str]) -> tuple[float, float, float | None]:
    """One ``seqtune pretrain``: median tokens/s of its timed windows, peak RSS, peak GPU MB (CUDA)."""
    steps = (args.warmup_intervals + args.intervals) * args.log_interval
    overrides = [
        "dataset=text", f"dataset.folder={data}", "dataset.train=train.txt", "dataset.valid=valid.txt",
        "dataset.test=test.txt", f"dataset.tokenizer.kind={name}",
        f"model.embedding_size={cfg['emsize']}", f"model.hidden_size={cfg['nhid']}",
        f"model.num_layers={cfg['nlayers']}", "model.dropout=0.0", "model.init_range=0.1",
        f"optimizer={'sgd' if cfg['optim'] == 'sgd' else 'adamw'}", f"optimizer.name={cfg['optim']}",
        f"optimizer.lr={cfg['lr']}", "optimizer.weight_decay=0.0", f"optimizer.clip_grad_norm={cfg['clip']}",
        "optimizer.schedule.name=constant", "optimizer.schedule.warmup_steps=0",
        f"trainer.batch_size={cfg['batch']}", f"trainer.bptt={cfg['bptt']}", "trainer.max_epochs=1",
        f"trainer.max_steps={steps}", f"trainer.device={args.device}", "trainer.progress=quiet",
        f"hydra.run.dir={run_dir}",
    ]
    if args.precision:
        overrides.append(f"trainer.precision={args.precision}")
    if args.log_interval != DEFAULT_LOG_INTERVAL:
        overrides.append(f"trainer.log_interval={args.log_interval}")
    m = spawn([sys.executable, "-m", "seqtune", "pretrain", *overrides, *args.overrides], env)
    rates = [r["train/tokens_per_s"] for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
             if "train/tokens_per_s" in r]
    summary = json.loads((run_dir / "summary.json").read_text())
    return statistics.median(rates[args.warmup_intervals :]), m.rss_mb, summary.get("train/peak_gpu_mem_mb")


def reference_run(name: str, cfg: dict, data: Path, args: argparse.Namespace,
                  env: dict[str, str]) -> tuple[float, float, float | None]:
    tuned = args.ref_tuned
    cmd = [sys.executable, __file__, "_reference", "--kind", name, "--data", str(data), "--device", args.device,
           "--precision", (args.precision or "fp32") if tuned else "fp32",
           "--interval-steps", str(args.log_interval), "--intervals", str(args.intervals),
           "--warmup-intervals", str(args.warmup_intervals),
           *[f"--{k}={v}" for k, v in cfg.items()], *(["--mallopt"] if tuned else [])]
    m = spawn(cmd, env)
    r = json.loads(m.stdout.strip().splitlines()[-1])
    return statistics.median(r["rates"]), m.rss_mb, r.get("peak_gpu_mb")


def lm_rows(names: list[str], tmp: Path, args: argparse.Namespace, env: dict[str, str]) -> list[Row]:
    rows = []
    for name in names:
        cfg = CONFIGS[name]
        data = tmp / name
        steps = (args.warmup_intervals + args.intervals) * args.log_interval
        write_corpus(data, name, cfg["vocab"], int(1.2 * steps * cfg["bptt"] * cfg["batch"]) + 50000)
        row = Row(f"{name} LM", "reference" + (" (tuned)" if args.ref_tuned else ""), "seqtune", "tok/s")
        for r in range(args.rounds):
            for side, values, rss, gpu in (("ref", row.a, row.a_rss, row.a_gpu), ("seq", row.b, row.b_rss, row.b_gpu)):
                rate, mb, gpu_mb = (reference_run(name, cfg, data, args, env) if side == "ref" else
                                    seqtune_run(name, cfg, data, tmp / f"run-{name}-{r}", args, env))
                values.append(rate), rss.append(mb)
                if gpu_mb is not None:
                    gpu.append(gpu_mb)
            print(f"  {name} round {r + 1}: reference {row.a[-1]:,.0f}  seqtune {row.b[-1]:,.0f} tok/s", flush=True)
        rows.append(row)
    return rows


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            name = next((l.split(":", 1)[1].strip() for l in fh if l.startswith("model name")), "")
    except OSError:
        name = ""
    return name or platform.processor() or platform.machine()


SECTIONS = ("word", "char", "finetune", "inference", "data", "memory")


def child_main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode_cmd")
    for k, v in CONFIGS["word"].items():
        p.add_argument(f"--{k}", type=type(v))
    p.add_argument("--kind"), p.add_argument("--data")
    p.add_argument("--device", default="cpu"), p.add_argument("--precision", default="fp32")
    p.add_argument("--interval-steps", type=int), p.add_argument("--intervals", type=int)
    p.add_argument("--warmup-intervals", type=int), p.add_argument("--mallopt", action="store_true")
    child_reference(p.parse_args())


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default=",".join(SECTIONS), help=f"comma list of: {', '.join(SECTIONS)}")
    p.add_argument("--device", default="cpu", help="cpu | cuda (LM and fine-tuning rows, both sides)")
    p.add_argument("--precision", default=None, choices=["fp32", "bf16"],
                   help="seqtune LM: trainer.precision (default: seqtune's own default)")
    p.add_argument("--ref-tuned", action="store_true",
                   help="give the references raised glibc malloc thresholds, fused optimizers and --precision")
    p.add_argument("--rounds", type=int, default=3, help="alternating (reference, seqtune) rounds per row")
    p.add_argument("--intervals", type=int, default=5, help="timed intervals per training run after warm-up")
    p.add_argument("--warmup-intervals", type=int, default=1)
    p.add_argument("--log-interval", type=int, default=DEFAULT_LOG_INTERVAL,
                   help="LM steps per timed interval (seqtune: trainer.log_interval; its default unless changed)")
    p.add_argument("--ft-interval", type=int, default=20, help="fine-tuning steps per timed interval")
    p.add_argument("--memory-scales", default="1,10,100", help="copies of WikiText-2 for the memory rows")
    p.add_argument("--no-newline-mb", type=float, default=200, help="size of the newline-free corpus (0: skip)")
    p.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for every child (0: leave as is)")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides for the seqtune LM runs (after --)")
    args = p.parse_args()
    args.ft_overrides = []
    unknown = set(args.configs.split(",")) - set(SECTIONS)
    if unknown:
        p.error(f"unknown --configs {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    return args


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_reference":
        child_main()
        return
    args = parse_args()
    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")

    import torch  # only for the machine description

    threads = args.threads or torch.get_num_threads()
    machine = f"torch {torch.__version__}, {os.cpu_count()} CPUs ({cpu_model()}), {threads} threads per process"
    if args.device.startswith("cuda"):
        machine += f", GPU {torch.cuda.get_device_name()}"
    sections = args.configs.split(",")
    print(f"# seqtune bench: {machine}; load {os.getloadavg()[0]:.2f}; device {args.device}; "
          f"seqtune precision {args.precision or 'default'}; references {'tuned' if args.ref_tuned else 'plain'}; "
          f"{args.rounds} rounds; LM {args.intervals} intervals of {args.log_interval} steps (+{args.warmup_intervals} "
          f"warm-up); sections {','.join(sections)}" + (f"; overrides {' '.join(args.overrides)}" if args.overrides else ""),
          flush=True)
    rows: list[Row] = []
    memory: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="seqtune-bench-") as tmp:
        tmpdir = Path(tmp)
        rows += lm_rows([n for n in ("word", "char") if n in sections], tmpdir, args, env)
        if "finetune" in sections or "inference" in sections:
            import bench_finetune

            fixture = bench_finetune.setup(tmpdir, env)
            if "finetune" in sections:
                rows += bench_finetune.finetune_rows(fixture, tmpdir, args, env)
            if "inference" in sections:
                rows += bench_finetune.inference_rows(fixture, tmpdir, args, env)
        if "data" in sections:
            import bench_data

            rows += bench_data.data_rows(tmpdir, args.rounds, env)
        if "memory" in sections:
            memory = memory_section(tmpdir, args)
    if rows:
        print("\n".join(table(rows)))
    if memory:
        import bench_memory

        print("\n".join(bench_memory.format_rows(memory)))
    print(f"# load at end {os.getloadavg()[0]:.2f}")


def memory_section(tmp: Path, args: argparse.Namespace) -> list[dict]:
    import bench_memory
    from seqtune.data.download import data_dir

    source = data_dir() / "wikitext-2"
    if not (source / "train.txt").exists():
        print(f"  memory: skipped ({source / 'train.txt'} not found; set SEQTUNE_DATA_DIR)", flush=True)
        return []
    scales = [int(x) for x in args.memory_scales.split(",") if x]
    return bench_memory.memory_rows(source, tmp, scales, args.no_newline_mb)


if __name__ == "__main__":
    main()
