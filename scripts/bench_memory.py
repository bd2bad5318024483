#!/usr/bin/env python3
"""Peak memory of ``seqtune pretrain`` as the corpus grows: 1x, 10x and 100x WikiText-2 and a newline-free corpus.

    SEQTUNE_DATA_DIR=/path/to/data python scripts/bench_memory.py            # all four corpora
    python scripts/bench_memory.py --scales 1 10 --no-newline-mb 0           # a quicker subset

Each corpus is WikiText-2's train split repeated (repeated text is fine: the point is the size), with the
original valid and test files; the newline-free corpus is WikiText-2 train with every line break replaced by a
space, repeated to ``--no-newline-mb`` MB (one 200 MB line).  Every run is the real ``seqtune pretrain`` with the
same model and the same number of steps, in its own process with an empty token cache (so fitting the tokenizer
and building the cache are inside the measurement).  A sampler reads ``/proc/<pid>/status`` every 50 ms:
``peak RSS`` is the kernel's own high-water mark (``ru_maxrss`` of the finished child); ``anon`` is the largest
anonymous resident memory seen (heap, tensors, Python objects), ``file`` the largest file-backed resident
memory seen (shared libraries, and pages of the memory-mapped token file that training has read: clean pages
that the kernel can drop at any time and re-read from disk).

Also used by ``scripts/bench.py`` for its memory rows (``memory_rows``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# The model and steps of every memory run: WikiText-2's word LM at the word-bench shape, few steps, short evaluation.
MODEL = ["model.embedding_size=200", "model.hidden_size=200", "model.num_layers=2", "model.dropout=0.0",
         "trainer.batch_size=20", "trainer.bptt=35", "trainer.max_steps=100", "trainer.log_interval=50",
         "trainer.limit_eval_batches=50", "trainer.eval_interval=0", "trainer.progress=log", "trainer.device=cpu"]


def grow(source: Path, target: Path, copies: int = 1, size_bytes: int = 0, newlines: bool = True) -> int:
    """``copies`` of ``source`` (or as many as reach ``size_bytes``) into ``target``; line breaks -> spaces
    unless ``newlines``.  Returns the size written."""
    data = source.read_bytes()
    if not newlines:
        data = data.replace(b"\r\n", b" ").replace(b"\n", b" ")
    written, n = 0, 0
    with open(target, "wb") as out:
        while n < copies or written < size_bytes:
            out.write(data)
            written, n = written + len(data), n + 1
    return written


def make_corpus(source_dir: Path, folder: Path, copies: int = 1, size_mb: float = 0.0, newlines: bool = True) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    size = grow(source_dir / "train.txt", folder / "train.txt", copies, int(size_mb * 1e6), newlines)
    for split in ("valid", "test"):
        shutil.copyfile(source_dir / f"{split}.txt", folder / f"{split}.txt")
    return size


class Sampler(threading.Thread):
    """Largest RssAnon / RssFile of a process, read from /proc every ``period`` seconds."""

    def __init__(self, pid: int, period: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.anon_kb = self.file_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                with open(f"/proc/{self.pid}/status", encoding="ascii") as fh:
                    fields = dict(line.split(":", 1) for line in fh if ":" in line)
            except (FileNotFoundError, ProcessLookupError):
                return
            self.anon_kb = max(self.anon_kb, int(fields.get("RssAnon", "0 kB").split()[0]))
            self.file_kb = max(self.file_kb, int(fields.get("RssFile", "0 kB").split()[0]))
            time.sleep(self.period)


def measure(cmd: list[str], env: dict[str, str]) -> dict:
    """Run ``cmd``; its wall time, peak RSS (kernel high-water mark) and the sampled anon/file peaks, in MB."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        sampler = Sampler(proc.pid)
        sampler.start()
        _, status, rusage = os.wait4(proc.pid, 0)
        sampler.done.set()
        if os.waitstatus_to_exitcode(status) != 0:
            log.seek(0)
            sys.stderr.write(log.read()[-3000:])
            raise SystemExit(f"memory run failed: {' '.join(cmd)}")
    return {"wall_s": time.perf_counter() - t0, "peak_rss_mb": rusage.ru_maxrss / 1024,
            "anon_mb": sampler.anon_kb / 1024, "file_mb": sampler.file_kb / 1024}


def pretrain_peak(folder: Path, work: Path, extra: list[str] = ()) -> dict:
    """One ``seqtune pretrain`` on the corpus in ``folder`` with an empty token cache."""
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "SEQTUNE_CACHE_DIR": str(cache), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "seqtune", "pretrain", "dataset=text", f"dataset.folder={folder}",
           "dataset.train=train.txt", "dataset.valid=valid.txt", "dataset.test=test.txt", *MODEL, *extra,
           f"hydra.run.dir={work / 'run'}"]
    try:
        return measure(cmd, env)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(work / "run", ignore_errors=True)


def memory_rows(source_dir: Path, work: Path, scales: list[int], no_newline_mb: float) -> list[dict]:
    """Peak memory of pretraining on each corpus; generated corpora are deleted as soon as they are measured."""
    rows = []
    corpora = [(f"WikiText-2 x{s}", dict(copies=s)) for s in scales]
    if no_newline_mb > 0:
        corpora.append((f"{no_newline_mb:g} MB, no newline", dict(size_mb=no_newline_mb, newlines=False)))
    for label, how in corpora:
        folder = work / "corpus"
        size = make_corpus(source_dir, folder, **how)
        res = pretrain_peak(folder, work)
        shutil.rmtree(folder, ignore_errors=True)
        rows.append({"corpus": label, "train_mb": size / 1e6, **res})
        print(f"  memory {label}: train {size / 1e6:,.0f} MB, peak RSS {res['peak_rss_mb']:,.0f} MB "
              f"(anon {res['anon_mb']:,.0f}, file {res['file_mb']:,.0f}), {res['wall_s']:.0f} s", flush=True)
    return rows


def format_rows(rows: list[dict]) -> list[str]:
    base = rows[0]["peak_rss_mb"] if rows else 1.0
    lines = [f"{'corpus':<24} {'train MB':>9} {'peak RSS MB':>11} {'vs 1st':>6} {'anon MB':>8} {'file MB':>8} {'wall s':>7}"]
    for r in rows:
        lines.append(f"{r['corpus']:<24} {r['train_mb']:>9,.0f} {r['peak_rss_mb']:>11,.0f} {r['peak_rss_mb'] / base:>6.2f} "
                     f"{r['anon_mb']:>8,.0f} {r['file_mb']:>8,.0f} {r['wall_s']:>7.0f}")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scales", type=int, nargs="*", default=[1, 10, 100], help="copies of WikiText-2 train")
    p.add_argument("--no-newline-mb", type=float, default=200, help="size of the newline-free corpus (0: skip)")
    p.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    from seqtune.data.download import data_dir

    source = data_dir() / "wikitext-2"
    with tempfile.TemporaryDirectory(prefix="seqtune-mem-", dir=args.workdir) as tmp:
        print(f"# bench_memory: load {os.getloadavg()[0]:.2f}", flush=True)
        rows = memory_rows(source, Path(tmp), args.scales, args.no_newline_mb)
    print("\n".join(format_rows(rows)))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
