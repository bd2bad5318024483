#!/usr/bin/env python
"""Tokenisation throughput and the token cache's memory on a corpus grown 10x.

Two measurements:

* ``--throughput``: tokens/s of each tokenizer (default word and bpe) encoding a text file held in memory
  (WikiText-2 train by default), after fitting on it.
* the cache benchmark (default): the source file is repeated into corpora of ``--sizes-mb`` (default 100 and
  1000 MB); each is tokenised through seqtune's token cache (fit the tokenizer chunk by chunk, encode chunk
  by chunk into the memory-mapped id file, walk LMStream windows over it) in a fresh child process that
  reports its wall time and peak RSS; then a second child loads the same corpus again and should hit the cache.
  Flat memory means the peak RSS of the 10x corpus stays close to that of the 1x corpus.

Examples::

    SEQTUNE_DATA_DIR=~/data python scripts/bench_tokenize.py --throughput
    python scripts/bench_tokenize.py --source train.txt --sizes-mb 100 1000 --workdir /tmp/bench --json out.json

The generated corpora and caches are deleted at the end unless ``--keep`` is given.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def default_source() -> Path:
    from seqtune.data.download import data_dir

    return data_dir() / "wikitext-2" / "train.txt"


def grow(source: Path, target: Path, size_bytes: int) -> int:
    """Write copies of ``source`` into ``target`` until it holds at least ``size_bytes``; returns its size."""
    data = source.read_bytes()
    if not data.endswith(b"\n"):
        data += b"\n"
    written = 0
    with open(target, "wb") as out:
        while written < size_bytes:
            out.write(data)
            written += len(data)
    return written


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(corpus: Path, kind: str, vocab_size: int) -> dict:
    """One load of ``corpus`` through the token cache, as pretraining does it; runs in a fresh process."""
    t0 = time.perf_counter()
    import torch

    from seqtune.data.batching import LMStream
    from seqtune.data.cache import cached_tokenizer, encode_cached
    from seqtune.data.records import TextSource
    from seqtune.data.tokenizers import TokenizerSettings

    rss_after_import = peak_rss_mb()
    source = TextSource(corpus)
    t1 = time.perf_counter()
    tok = cached_tokenizer(TokenizerSettings(kind=kind, vocab_size=vocab_size), source)
    t2 = time.perf_counter()
    ids = encode_cached(source, tok)
    t3 = time.perf_counter()
    stream = LMStream(ids, batch_size=32, bptt=35, device=torch.device("cpu"))
    checksum = 0
    for k, (x, _y) in enumerate(stream.iter_from(0)):  # touch the first and the last windows
        if k < 200 or k > len(stream) - 200:
            checksum += int(x[0, 0])
    t4 = time.perf_counter()
    return {"tokens": ids.numel(), "vocab_size": tok.vocab_size, "fit_s": t2 - t1, "encode_s": t3 - t2,
            "stream_s": t4 - t3, "total_s": t4 - t0, "rss_after_import_mb": rss_after_import,
            "peak_rss_mb": peak_rss_mb(), "checksum": checksum}


def run_child(corpus: Path, kind: str, vocab_size: int, cache: Path) -> dict:
    env = {**os.environ, "SEQTUNE_CACHE_DIR": str(cache)}
    cmd = [sys.executable, __file__, "--child", str(corpus), "--tokenizers", kind, "--vocab-size", str(vocab_size)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def throughput(source: Path, kinds: list[str], vocab_size: int) -> list[dict]:
    from seqtune.data.formats import read_text
    from seqtune.data.tokenizers import TokenizerSettings, fit_tokenizer

    text = read_text(source)
    rows = []
    for kind in kinds:
        t0 = time.perf_counter()
        tok = fit_tokenizer(TokenizerSettings(kind=kind, vocab_size=vocab_size), [text])
        t1 = time.perf_counter()
        ids = tok.encode(text)
        t2 = time.perf_counter()
        rows.append({"tokenizer": kind, "vocab_size": tok.vocab_size, "tokens": len(ids), "fit_s": t1 - t0,
                     "encode_s": t2 - t1, "tokens_per_s": len(ids) / (t2 - t1),
                     "mb_per_s": len(text.encode()) / 1e6 / (t2 - t1)})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", type=Path, default=None, help="text file to measure / repeat (default: "
                   "$SEQTUNE_DATA_DIR/wikitext-2/train.txt)")
    p.add_argument("--throughput", action="store_true", help="measure in-memory tokens/s instead of the cache")
    p.add_argument("--tokenizers", nargs="+", default=None, help="kinds to run (default: word bpe for "
                   "--throughput, word for the cache benchmark)")
    p.add_argument("--vocab-size", type=int, default=8000, help="bpe/wordpiece/unigram vocabulary size")
    p.add_argument("--sizes-mb", type=float, nargs="+", default=[100, 1000], help="corpus sizes to generate")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/seqtune-bench-tokenize"),
                   help="where corpora and the cache go (needs about 3x the largest size free)")
    p.add_argument("--keep", action="store_true", help="keep the generated corpora and caches")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child is not None:
        print(json.dumps(child(args.child, args.tokenizers[0], args.vocab_size)))
        return
    source = args.source or default_source()
    if args.throughput:
        rows = throughput(source, args.tokenizers or ["word", "bpe"], args.vocab_size)
        print(f"source {source} ({source.stat().st_size / 1e6:.1f} MB)")
        print(f"{'tokenizer':<10} {'vocab':>7} {'tokens':>11} {'fit s':>7} {'encode s':>9} {'tokens/s':>12} {'MB/s':>7}")
        for r in rows:
            print(f"{r['tokenizer']:<10} {r['vocab_size']:>7,} {r['tokens']:>11,} {r['fit_s']:>7.2f} "
                  f"{r['encode_s']:>9.2f} {r['tokens_per_s']:>12,.0f} {r['mb_per_s']:>7.2f}")
    else:
        args.workdir.mkdir(parents=True, exist_ok=True)
        rows = []
        try:
            for kind in args.tokenizers or ["word"]:
                for mb in args.sizes_mb:
                    corpus = args.workdir / f"corpus-{mb:g}mb.txt"
                    size = grow(source, corpus, int(mb * 1e6))
                    cache = args.workdir / f"cache-{kind}-{mb:g}mb"
                    shutil.rmtree(cache, ignore_errors=True)
                    first = run_child(corpus, kind, args.vocab_size, cache)
                    second = run_child(corpus, kind, args.vocab_size, cache)
                    rows.append({"tokenizer": kind, "corpus_mb": size / 1e6, "first": first, "second": second,
                                 "tokens_per_s": first["tokens"] / (first["fit_s"] + first["encode_s"])})
                    if not args.keep:
                        corpus.unlink()
                        shutil.rmtree(cache, ignore_errors=True)
        finally:
            if not args.keep:
                shutil.rmtree(args.workdir, ignore_errors=True)
        print(f"{'tokenizer':<9} {'corpus MB':>9} {'tokens':>13} {'fit s':>7} {'encode s':>9} {'tokens/s':>11} "
              f"{'peak RSS MB':>11} {'2nd run s':>9} {'2nd RSS MB':>10} {'import RSS MB':>13}")
        for r in rows:
            f, s = r["first"], r["second"]
            print(f"{r['tokenizer']:<9} {r['corpus_mb']:>9,.0f} {f['tokens']:>13,} {f['fit_s']:>7.1f} "
                  f"{f['encode_s']:>9.1f} {r['tokens_per_s']:>11,.0f} {f['peak_rss_mb']:>11,.0f} "
                  f"{s['total_s']:>9.2f} {s['peak_rss_mb']:>10,.0f} {f['rss_after_import_mb']:>13,.0f}")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
