#!/usr/bin/env python3
"""Tokenisation + token-cache speed in MB/s of text (rows of scripts/bench.py): seqtune against plain code.

The text is WikiText-2's train split (``$SEQTUNE_DATA_DIR/wikitext-2/train.txt``, 10.8 MB; a generated stand-in of
the same size when it is absent).  Each measurement is a fresh process with an empty cache, timed from after the
imports to the id file on disk:

* seqtune: ``cached_tokenizer`` + ``encode_cached`` (what ``seqtune pretrain`` runs on a file split: fit the
  tokenizer on the file read in chunks, encode chunk by chunk into the cache's id file, count the ids);
* reference, word and char: the plain Python a user would write (read the file, ``Counter`` of
  ``line.split()`` / characters, vocabulary by frequency, ids with ``<eos>`` per line into a NumPy array,
  ``tofile``);
* reference, BPE: the ``tokenizers`` library on its own (``Tokenizer.train`` on the file, reading it in Rust,
  then ``encode_batch_fast`` of the lines, ``<eos>`` per line, ``tofile``), with seqtune's settings
  (Metaspace pre-tokenizer, 8,000 pieces, seqtune's special tokens).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchlib import Row, spawn

KINDS = ("word", "char", "bpe")
BPE_VOCAB = 8000
SPECIALS = ["<pad>", "<unk>", "<bos>", "<eos>", "<mask>", "<cls>"]


def source_text(tmp: Path) -> Path:
    data = Path(os.environ.get("SEQTUNE_DATA_DIR", "")) / "wikitext-2" / "train.txt"
    if os.environ.get("SEQTUNE_DATA_DIR") and data.exists():
        return data
    rng = random.Random(0)
    words = [f"w{i}" for i in range(30000)]
    weights = [1.0 / (i + 1) for i in range(len(words))]
    out = tmp / "wt2-standin.txt"
    with open(out, "w", encoding="utf-8") as fh:
        while fh.tell() < 10_800_000:
            fh.write(" " + " ".join(rng.choices(words, weights, k=rng.randint(5, 200))) + " \n")
    return out


def child_seqtune(path: Path, kind: str, work: Path) -> float:
    os.environ["SEQTUNE_CACHE_DIR"] = str(work / "cache")
    from seqtune.data.cache import TextSource, cached_tokenizer, encode_cached
    from seqtune.data.tokenizers import TokenizerSettings

    t0 = time.perf_counter()
    source = TextSource(path)
    tok = cached_tokenizer(TokenizerSettings(kind=kind, vocab_size=BPE_VOCAB), source)
    ids = encode_cached(source, tok)
    assert ids.numel() > 0
    return time.perf_counter() - t0


def child_reference(path: Path, kind: str, work: Path) -> float:
    import numpy as np

    t0 = time.perf_counter()
    if kind == "bpe":
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.train([str(path)], trainers.BpeTrainer(vocab_size=BPE_VOCAB, special_tokens=SPECIALS, show_progress=False))
        eos = tok.token_to_id("<eos>")
        ids: list[int] = []
        lines = path.read_text(encoding="utf-8").splitlines()
        for enc in tok.encode_batch_fast(lines, add_special_tokens=False):
            ids += enc.ids
            ids.append(eos)
    else:
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        counts = Counter(text) if kind == "char" else Counter(w for line in lines for w in line.split())
        itos = SPECIALS + sorted(counts, key=lambda t: (-counts[t], t))
        stoi = {t: i for i, t in enumerate(itos)}
        if kind == "char":
            ids = [stoi[c] for c in text]
        else:
            eos = stoi["<eos>"]
            ids = [i for line in lines for i in (*(stoi[w] for w in line.split()), eos)]
    np.asarray(ids, dtype="<i8").tofile(work / "ids.bin")
    return time.perf_counter() - t0


def run_side(side: str, path: Path, kind: str, env: dict[str, str]) -> tuple[float, float]:
    """MB/s of one fresh process, and its peak RSS."""
    with tempfile.TemporaryDirectory(prefix="seqtune-bench-data-") as work:
        m = spawn([sys.executable, __file__, f"_{side}", str(path), kind, work], env)
    seconds = json.loads(m.stdout.strip().splitlines()[-1])["seconds"]
    return path.stat().st_size / 1e6 / seconds, m.rss_mb


def data_rows(tmp: Path, rounds: int, env: dict[str, str]) -> list[Row]:
    path = source_text(tmp)
    rows = []
    for kind in KINDS:
        row = Row(f"tokenize+cache {kind} ({path.stat().st_size / 1e6:.1f} MB)",
                  "tokenizers lib" if kind == "bpe" else "plain Python", "seqtune", "MB/s")
        for r in range(rounds):
            for side, values, rss in (("reference", row.a, row.a_rss), ("seqtune", row.b, row.b_rss)):
                rate, mb = run_side(side, path, kind, env)
                values.append(rate), rss.append(mb)
            print(f"  data {kind} round {r + 1}: reference {row.a[-1]:.2f}  seqtune {row.b[-1]:.2f} MB/s", flush=True)
        rows.append(row)
    return rows


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] in ("_seqtune", "_reference"):
        fn = child_seqtune if sys.argv[1] == "_seqtune" else child_reference
        print(json.dumps({"seconds": fn(Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))}))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    env = {**os.environ}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    from benchlib import table

    with tempfile.TemporaryDirectory() as tmp:
        print("\n".join(table(data_rows(Path(tmp), a.rounds, env))))


if __name__ == "__main__":
    main()
