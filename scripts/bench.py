#!/usr/bin/env python3
"""Training throughput of seqtune against a minimal hand-written PyTorch loop on the same model and data.

    python scripts/bench.py                                   # word LM + char LM + classifier, CPU, defaults
    python scripts/bench.py --configs word --rounds 3 -- trainer.precision=fp32   # extra seqtune overrides
    python scripts/bench.py --device cuda --precision bf16    # both sides on the GPU with bf16 autocast

Every measurement is its own process, as a user's plain script would run, and the two sides alternate
(ref, seqtune, ref, seqtune, ...) so that noise from other work on the machine hits both alike.

* seqtune side: the real ``seqtune pretrain`` command (its encoder, causal-LM objective, LMStream, optimizer,
  schedule and loop, logging at the default interval) on a generated corpus of the right vocabulary, with
  ``trainer.max_steps``.  Tokens/s are the ``train/tokens_per_s`` values the loop writes to metrics.jsonl
  every log interval; the first ``--warmup-intervals`` are dropped and the median of the rest is reported.
  Tokenizer fitting, data loading, validation and test evaluation are outside those intervals.
* reference side: the loop below (embedding -> nn.LSTM -> linear, contiguous BPTT columns, detached state,
  SGD/Adam, global-norm clipping, ``loss.item()`` per step), timed over intervals of the same number of steps.
* classifier: bucketed vs naively padded batches of variable-length sequences, both in this file (time-major
  padded batches, the last valid state picked by index).  TODO: switch the bucketed side to seqtune's
  ``BucketBatches`` (branch ``data``) once it lands.

Reported per config: tokens/s of both sides (median over rounds of per-run medians), their ratio, peak RSS of
each process, and peak GPU memory on CUDA.  ``--ref-tuned`` gives the reference the same precision as
``--precision`` plus raised glibc malloc thresholds, for an apples-to-apples check of seqtune's own overhead.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
    opt = (torch.optim.Adam(model.parameters(), lr=args.lr) if args.optim == "adam"
           else torch.optim.SGD(model.parameters(), lr=args.lr))
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


# ------------------------------------------------------------------------------------------ classifier
def child_classifier(args: argparse.Namespace) -> None:
    """Variable-length classification: ``bucketed`` (length-sorted batches) vs ``naive`` (random batches)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(0)
    rng = random.Random(0)
    device = torch.device(args.device)
    vocab, n_classes, batch = 10000, 4, 32
    # Long-tailed lengths (5..400, median ~60), like sentences and short documents.
    lengths = [min(400, max(5, int(rng.lognormvariate(4.1, 0.7)))) for _ in range(8192)]
    seqs = [torch.randint(NUM_SPECIALS, vocab, (n,)) for n in lengths]
    labels = torch.randint(n_classes, (len(seqs),))
    order = list(range(len(seqs)))
    rng.shuffle(order)
    if args.mode == "bucketed":  # sort within pools of 50 batches, then shuffle the batch order
        pool = 50 * batch
        order = [i for s in range(0, len(order), pool) for i in sorted(order[s : s + pool], key=lengths.__getitem__)]
    batches = [order[i : i + batch] for i in range(0, len(order) - batch + 1, batch)]
    rng.shuffle(batches)

    def collate(idx: list[int]):
        lens = torch.tensor([lengths[i] for i in idx])
        x = torch.zeros(int(lens.max()), len(idx), dtype=torch.long)  # (time, batch), 0 = pad
        for j, i in enumerate(idx):
            x[: lengths[i], j] = seqs[i]
        return x, lens, labels[idx]

    prepared = [collate(b) for b in batches]
    if device.type == "cuda":
        prepared = [tuple(t.pin_memory() for t in b) for b in prepared]

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(vocab, 128, padding_idx=0)
            self.rnn = nn.LSTM(128, 256, 1)
            self.out = nn.Linear(256, n_classes)

        def forward(self, x, lens):
            h, _ = self.rnn(self.emb(x))  # (time, batch, hidden)
            last = h[lens - 1, torch.arange(x.size(1), device=x.device)]  # last valid state of each sequence
            return self.out(last)

    model = Classifier().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    k = 0

    def step() -> int:
        nonlocal k
        x, lens, y = (t.to(device, non_blocking=True) for t in prepared[k % len(prepared)])
        k += 1
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            loss = F.cross_entropy(model(x, lens).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return int(lens.sum())

    rates = []
    for _ in range(args.warmup_intervals + args.intervals):
        t0, n = time.perf_counter(), 0
        for _ in range(args.interval_steps):
            n += step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(n / (time.perf_counter() - t0))
    pad = sum(int(b[0].numel()) for b in prepared) / sum(int(b[1].sum()) for b in prepared)
    out = {"rates": rates[args.warmup_intervals :], "padded_per_real_token": pad}
    if device.type == "cuda":
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(out))


# ----------------------------------------------------------------------------------------------- driver
def spawn(cmd: list[str], env: dict[str, str]) -> tuple[str, float]:
    """Run ``cmd`` to completion; stdout and the child's own peak RSS (MB)."""
    with tempfile.TemporaryFile("w+") as fout, tempfile.TemporaryFile("w+") as ferr:
        proc = subprocess.Popen(cmd, stdout=fout, stderr=ferr, env=env, text=True)
        _, status, rusage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        fout.seek(0), ferr.seek(0)
        out, err = fout.read(), ferr.read()
    if proc.returncode != 0:
        sys.stderr.write(err[-4000:])
        raise SystemExit(f"benchmark child failed ({proc.returncode}): {' '.join(cmd)}")
    return out, rusage.ru_maxrss / 1024  # Linux reports KB


def seqtune_run(name: str, cfg: dict, data: Path, run_dir: Path, args: argparse.Namespace,
                env: dict[str, str]) -> dict:
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
    _, rss = spawn([sys.executable, "-m", "seqtune", "pretrain", *overrides, *args.overrides], env)
    rates = [r["train/tokens_per_s"] for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
             if "train/tokens_per_s" in r]
    summary = json.loads((run_dir / "summary.json").read_text())
    res = {"rate": statistics.median(rates[args.warmup_intervals :]), "rss_mb": rss}
    if "train/peak_gpu_mem_mb" in summary:
        res["peak_gpu_mb"] = summary["train/peak_gpu_mem_mb"]
    return res


def reference_run(name: str, cfg: dict, data: Path, args: argparse.Namespace, env: dict[str, str]) -> dict:
    tuned = args.ref_tuned
    cmd = [sys.executable, __file__, "_reference", "--kind", name, "--data", str(data), "--device", args.device,
           "--precision", (args.precision or "fp32") if tuned else "fp32",
           "--interval-steps", str(args.log_interval), "--intervals", str(args.intervals),
           "--warmup-intervals", str(args.warmup_intervals),
           *[f"--{k}={v}" for k, v in cfg.items()], *(["--mallopt"] if tuned else [])]
    out, rss = spawn(cmd, env)
    r = json.loads(out.strip().splitlines()[-1])
    return {"rate": statistics.median(r["rates"]), "rss_mb": rss, **({"peak_gpu_mb": r["peak_gpu_mb"]} if "peak_gpu_mb" in r else {})}


def classifier_run(mode: str, args: argparse.Namespace, env: dict[str, str]) -> dict:
    cmd = [sys.executable, __file__, "_classifier", "--mode", mode, "--device", args.device,
           "--precision", args.precision or "fp32", "--interval-steps", "20", "--intervals", str(args.intervals),
           "--warmup-intervals", str(args.warmup_intervals)]
    out, rss = spawn(cmd, env)
    r = json.loads(out.strip().splitlines()[-1])
    return {"rate": statistics.median(r["rates"]), "rss_mb": rss, "pad": r["padded_per_real_token"],
            **({"peak_gpu_mb": r["peak_gpu_mb"]} if "peak_gpu_mb" in r else {})}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            name = next((l.split(":", 1)[1].strip() for l in fh if l.startswith("model name")), "")
    except OSError:
        name = ""
    return name or platform.processor() or platform.machine()


def fmt_row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("_reference", "_classifier"):
        p = argparse.ArgumentParser()
        p.add_argument("mode_cmd")
        for k, v in CONFIGS["word"].items():
            p.add_argument(f"--{k}", type=type(v))
        p.add_argument("--kind"), p.add_argument("--data"), p.add_argument("--mode")
        p.add_argument("--device", default="cpu"), p.add_argument("--precision", default="fp32")
        p.add_argument("--interval-steps", type=int), p.add_argument("--intervals", type=int)
        p.add_argument("--warmup-intervals", type=int), p.add_argument("--mallopt", action="store_true")
        a = p.parse_args()
        (child_reference if a.mode_cmd == "_reference" else child_classifier)(a)
        return

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default="word,char,classifier", help="comma list of: word, char, classifier")
    p.add_argument("--device", default="cpu", help="cpu | cuda (both sides)")
    p.add_argument("--precision", default=None, choices=["fp32", "bf16"],
                   help="seqtune: trainer.precision (default: seqtune's own default); classifier: both sides")
    p.add_argument("--ref-tuned", action="store_true",
                   help="give the reference --precision and raised glibc malloc thresholds too")
    p.add_argument("--rounds", type=int, default=3, help="alternating (reference, seqtune) pairs per config")
    p.add_argument("--intervals", type=int, default=5, help="timed intervals per run after warm-up")
    p.add_argument("--warmup-intervals", type=int, default=1)
    p.add_argument("--log-interval", type=int, default=DEFAULT_LOG_INTERVAL,
                   help="steps per timed interval (seqtune: trainer.log_interval; its default unless changed)")
    p.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for every child (0: leave as is)")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides for the seqtune side (after --)")
    args = p.parse_args()
    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")

    import torch  # only for the machine description

    threads = args.threads or torch.get_num_threads()
    machine = f"torch {torch.__version__}, {os.cpu_count()} CPUs ({cpu_model()}), {threads} threads per process"
    if args.device.startswith("cuda"):
        machine += f", GPU {torch.cuda.get_device_name()}"
    print(f"# seqtune bench: {machine}; load {os.getloadavg()[0]:.2f}; device {args.device}; "
          f"seqtune precision {args.precision or 'default'}; reference {'tuned' if args.ref_tuned else 'plain fp32'}; "
          f"{args.rounds} rounds x {args.intervals} intervals of {args.log_interval} steps (+{args.warmup_intervals} warm-up)"
          + (f"; overrides {' '.join(args.overrides)}" if args.overrides else ""), flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="seqtune-bench-") as tmp:
        tmpdir = Path(tmp)
        for name in args.configs.split(","):
            if name == "classifier":
                res: dict[str, list[dict]] = {"naive": [], "bucketed": []}
                for _ in range(args.rounds):
                    for mode in ("naive", "bucketed"):
                        res[mode].append(classifier_run(mode, args, env))
                a, b = res["naive"], res["bucketed"]
                label = f"classifier (pad {a[0]['pad']:.2f} vs {b[0]['pad']:.2f} slots/token)"
                rows.append((label, "naive pad", "bucketed", a, b))
                continue
            cfg = CONFIGS[name]
            data = tmpdir / name
            steps = (args.warmup_intervals + args.intervals) * args.log_interval
            write_corpus(data, name, cfg["vocab"], int(1.2 * steps * cfg["bptt"] * cfg["batch"]) + 50000)
            ref, seq = [], []
            for r in range(args.rounds):
                ref.append(reference_run(name, cfg, data, args, env))
                seq.append(seqtune_run(name, cfg, data, tmpdir / f"run-{name}-{r}", args, env))
                print(f"  {name} round {r + 1}: reference {ref[-1]['rate']:,.0f}  seqtune {seq[-1]['rate']:,.0f} tok/s",
                      flush=True)
            rows.append((f"{name} LM", "reference", "seqtune", ref, seq))

    gpu = any("peak_gpu_mb" in r for row in rows for r in row[3] + row[4])
    head = ["config", "A", "A tok/s", "B", "B tok/s", "B/A", "A RSS MB", "B RSS MB"] + (["A GPU MB", "B GPU MB"] if gpu else [])
    table = []
    for label, an, bn, a, b in rows:
        ra, rb = statistics.median(x["rate"] for x in a), statistics.median(x["rate"] for x in b)
        line = [label, an, f"{ra:,.0f}", bn, f"{rb:,.0f}", f"{rb / ra:.2f}",
                f"{max(x['rss_mb'] for x in a):,.0f}", f"{max(x['rss_mb'] for x in b):,.0f}"]
        if gpu:
            line += [f"{max(x.get('peak_gpu_mb', math.nan) for x in a):,.0f}", f"{max(x.get('peak_gpu_mb', math.nan) for x in b):,.0f}"]
        table.append(line)
    widths = [max(len(r[i]) for r in [head, *table]) for i in range(len(head))]
    print(fmt_row(head, widths))
    for line in table:
        print(fmt_row(line, widths))
    print(f"# load at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
