#!/usr/bin/env python
"""Load named datasets as seqtune does and print their sizes, checksum status and batch padding.

For each dataset config (``conf/dataset/<name>.yaml``): the split sizes (tokens for language-model corpora,
examples for labelled data, rows for time series), the label count, whether every catalogued file of its folder
matched its sha256 (files are verified on every load; this also re-checks the folder's SHA256SUMS when it has
one), and for labelled data the padded fraction of tokens in one training epoch with and without length
bucketing.

Example::

    SEQTUNE_DATA_DIR=~/data python scripts/data_summary.py ptb trec conll2003 etth1 \\
        "ag_news dataset.train=test.csv dataset.test=null"
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from hydra import compose, initialize_config_module

from seqtune.config.schema import register_configs
from seqtune.data.batching import BucketBatches
from seqtune.data.catalog import CATALOG, resolve_folder
from seqtune.data.download import sha256_file, verify_folder
from seqtune.data.labelled import load_labelled
from seqtune.data.text import load_lm_corpus
from seqtune.data.timeseries import load_timeseries

DEFAULT = ["ptb", "ptb_char", "wikitext2", "tinyshakespeare", "trec", "trec50", "conll2003", "etth1", "ettm1",
           "synthetic_topics", "ag_news dataset.train=test.csv dataset.test=null"]


def checksums(ds) -> str:
    folder = resolve_folder(ds.get("folder"))
    if folder is None or not folder.is_dir():
        return "-"
    known = {f.name: f.sha256 for f in CATALOG.get(folder.name, []) if f.sha256}
    present = {n: h for n, h in known.items() if (folder / n).is_file()}
    ok = sum(sha256_file(folder / n) == h for n, h in present.items())
    text = f"catalog {ok}/{len(present)} ok"
    if (folder / "SHA256SUMS").is_file():
        sums = verify_folder(folder)
        text += f", SHA256SUMS {sum(sums.values())}/{len(sums)} ok"
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("datasets", nargs="*", default=DEFAULT,
                   help='dataset names, each optionally with overrides in one quoted string ("name key=value")')
    p.add_argument("--batch-size", type=int, default=32, help="batch size for the padding measurement")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    args = p.parse_args()
    register_configs()
    device = torch.device("cpu")
    with initialize_config_module("seqtune.conf", version_base="1.3"):
        for spec in args.datasets:
            name, *overrides = spec.split()
            ds = compose("pretrain", overrides=[f"dataset={name}", *overrides]).dataset
            t0 = time.perf_counter()
            row: dict = {"dataset": spec}
            if ds.format in ("text", "synthetic"):
                c = load_lm_corpus(ds)
                row.update(kind="lm tokens", train=c.train.numel(), valid=c.valid.numel(), test=c.test.numel(),
                           vocab=c.tokenizer.vocab_size)
            elif ds.format == "timeseries":
                d = load_timeseries(ds)
                # valid/test carry `lookback` rows of history from the previous split; targets are the rest.
                row.update(kind="rows (targets)", train=d.train.shape[0], valid=d.valid.shape[0] - d.lookback,
                           test=d.test.shape[0] - d.lookback, features=len(d.columns))
            else:
                d = load_labelled(ds)
                row.update(kind=f"{d.task} examples", train=len(d.train), valid=len(d.valid), test=len(d.test),
                           labels=len(d.labels), vocab=d.tokenizer.vocab_size)
                for bucket in (False, True):
                    b = BucketBatches(d.train, args.batch_size, shuffle=True, seed=0, device=device, bucket=bucket)
                    row[f"padded_{'bucketed' if bucket else 'random'}"] = round(b.padded_fraction(), 4)
            row["seconds"] = round(time.perf_counter() - t0, 2)
            row["checksums"] = checksums(ds)
            if args.json:
                print(json.dumps(row))
            else:
                print("  ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
