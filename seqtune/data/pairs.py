"""Source/target sequence pairs for ``objective=seq2seq``: a table file, or a generated task.

Two formats (the DATASETS registry), both returning :class:`RawPairs` (strings as read or generated):

* ``pairs``: CSV / TSV / JSON Lines with a source and a target column (``formats.read_table``); missing
  valid/test splits are carved from train with a fixed seed.
* ``synthetic_pairs``: sequences of symbols ``s0 .. s{n-1}`` and their reversal (``task: reverse``), sorted
  order (``sort``) or copy (``copy``); deterministic per seed, distinct seeds per split, so tests and
  benchmarks need no files.

``load_pairs(ds, max_length)`` fits one tokenizer on the training sources and targets together, encodes both
sides (each target ends with ``<eos>``) and truncates them to ``max_length`` tokens; :class:`PairBatches`
batches them by source length (``BucketBatches``' order), time-major and padded::

    data = load_pairs(cfg.dataset, max_length=64)
    for b in PairBatches(data.train, 32, shuffle=True, seed=0, device=device).iter_from(0):
        b.source, b.source_lengths, b.target, b.target_lengths   # (S, B), (B,), (T, B), (B,)
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from seqtune.data.batching import BucketBatches
from seqtune.data.catalog import dataset_file
from seqtune.data.formats import read_table
from seqtune.data.records import Pair, RawPairs, dataset_format
from seqtune.data.tokenizers import EOS_ID, PAD_ID, UNK_ID, Tokenizer, fit_tokenizer, settings_from_config
from seqtune.errors import DataError
from seqtune.registry import DATASETS


@dataclass
class PairData:
    train: list[Pair]
    valid: list[Pair]
    test: list[Pair]
    tokenizer: Tokenizer
    notes: list[str]


@dataclass
class PairBatch:
    source: torch.Tensor  # (S, batch) int64, PAD_ID-padded
    source_lengths: torch.Tensor  # (batch,)
    target: torch.Tensor  # (T, batch) int64, PAD_ID-padded
    target_lengths: torch.Tensor  # (batch,)


def _pad(seqs: Sequence[list[int]], device: torch.device | None) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    out = torch.full((len(seqs), int(lengths.max())), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    out = out.t().contiguous()  # (time, batch)
    if device is not None and device.type != "cpu":
        return out.to(device, non_blocking=True), lengths.to(device, non_blocking=True)
    return out, lengths


def collate_pairs(pairs: Sequence[Pair], device: torch.device | None = None) -> PairBatch:
    source, source_lengths = _pad([p.tokens for p in pairs], device)
    target, target_lengths = _pad([p.target for p in pairs], device)
    return PairBatch(source, source_lengths, target, target_lengths)


class PairBatches(BucketBatches):
    """BucketBatches' length-bucketed order (by source length), collated into :class:`PairBatch`."""

    def iter_from(self, start: int = 0) -> Iterator[PairBatch]:  # type: ignore[override]
        for idx in self.batch_indices()[start:]:
            yield collate_pairs([self.examples[i] for i in idx], self.device)


# -------------------------------------------------------------------------------------------- formats
def generate_pairs(
    task: str, n: int, num_symbols: int, min_length: int, max_length: int, seed: int
) -> list[tuple[str, str]]:
    """``n`` pairs of space-separated symbol sequences and their reversal / sorted order / copy."""
    if task not in ("reverse", "sort", "copy"):
        raise DataError(f"dataset.task={task!r} is not one of reverse, sort, copy.")
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        seq = [rng.randrange(num_symbols) for _ in range(rng.randint(min_length, max_length))]
        tgt = seq[::-1] if task == "reverse" else sorted(seq) if task == "sort" else seq
        out.append((" ".join(f"s{i}" for i in seq), " ".join(f"s{i}" for i in tgt)))
    return out


@dataset_format("synthetic_pairs", holds="pairs")
def synthetic_pairs(ds) -> RawPairs:
    if not 1 <= ds.min_length <= ds.max_length:
        raise DataError(
            f"dataset.min_length={ds.min_length} and dataset.max_length={ds.max_length} need "
            "1 <= min_length <= max_length."
        )

    def make(n: int, k: int) -> list[tuple[str, str]]:
        return generate_pairs(ds.task, n, ds.num_symbols, ds.min_length, ds.max_length, ds.seed * 3 + k)

    return RawPairs(
        make(ds.train_pairs, 0),
        make(ds.valid_pairs, 1),
        make(ds.test_pairs, 2),
        [
            f"generated {ds.task} task: {ds.num_symbols} symbols, lengths {ds.min_length}..{ds.max_length}, "
            f"seed {ds.seed}"
        ],
    )


@dataset_format("pairs", holds="pairs")
def table_pairs(ds) -> RawPairs:
    def read(name: str) -> list[tuple[str, str]]:
        path = dataset_file(ds, ds[name], f"dataset.{name}")
        sources, targets = read_table(
            path,
            text_columns=[ds.source_column],
            label_column=ds.target_column,
            delimiter=ds.delimiter,
            has_header=ds.has_header,
            encoding=ds.encoding,
        )
        return list(zip(sources, targets or []))

    train = read("train")
    notes: list[str] = []
    splits: dict[str, list[tuple[str, str]]] = {}
    rng = random.Random(ds.split_seed)
    order = list(range(len(train)))
    rng.shuffle(order)
    carved: set[int] = set()
    for name, frac in (("valid", ds.valid_fraction), ("test", ds.test_fraction)):
        if ds[name] is not None:
            splits[name] = read(name)
            continue
        take = [i for i in order if i not in carved][: max(1, round(frac * len(train)))]
        carved.update(take)
        splits[name] = [train[i] for i in take]
        notes.append(f"{name} split carved from train: {len(take):,} pairs ({frac:.0%}, split_seed {ds.split_seed})")
    train = [p for i, p in enumerate(train) if i not in carved]
    if not train:
        raise DataError(f"no training pairs left in {ds.train}; give dataset.valid/test files or more data.")
    return RawPairs(train, splits["valid"], splits["test"], notes)


def load_pairs(ds, max_length: int, tokenizer: Tokenizer | None = None) -> PairData:
    """Read the pairs, fit the tokenizer on the train split (both sides) unless given, encode and truncate."""
    raw = DATASETS.get(ds.format, key="dataset.format")(ds)
    if not isinstance(raw, RawPairs):
        raise DataError(
            f"dataset.format={ds.format!r} ({ds.name}) holds no source/target pairs; seq2seq needs "
            "format: pairs or synthetic_pairs."
        )
    tok = tokenizer or fit_tokenizer(
        settings_from_config(ds.tokenizer), ["\n".join(s + "\n" + t for s, t in raw.train)]
    )
    truncated = 0

    def encode(text: str, eos: bool) -> list[int]:
        nonlocal truncated
        ids = [i for i in tok.encode(" ".join(text.splitlines())) if i != EOS_ID] or [UNK_ID]
        ids = ids + [EOS_ID] if eos else ids
        if len(ids) > max_length:
            truncated += 1
            ids = ids[:max_length]
        return ids

    def split(pairs: list[tuple[str, str]]) -> list[Pair]:
        return [Pair(encode(s, eos=False), encode(t, eos=True)) for s, t in pairs]

    data = PairData(split(raw.train), split(raw.valid), split(raw.test), tok, list(raw.notes))
    if truncated:
        data.notes.append(f"{truncated:,} sources/targets truncated to objective.max_length={max_length} tokens")
    return data
