"""BucketBatches: the Batches protocol, determinism per epoch and seed, padding, time-major layout."""
from __future__ import annotations

import random

import torch

from seqtune.data.batching import IGNORE_INDEX, BucketBatches, padded_fraction
from seqtune.data.records import Example
from seqtune.data.tokenizers import PAD_ID

CPU = torch.device("cpu")


def examples(n: int = 500, tagging: bool = False) -> list[Example]:
    rng = random.Random(0)
    out = []
    for i in range(n):
        length = rng.choice([rng.randint(3, 8), rng.randint(20, 60)])
        tokens = [6 + (i + t) % 50 for t in range(length)]
        out.append(Example(tokens, [t % 3 for t in range(length)] if tagging else i % 4))
    return out


def test_every_example_once_per_epoch_and_resume_is_exact() -> None:
    data = examples()
    b = BucketBatches(data, batch_size=16, shuffle=True, seed=7, device=CPU)
    assert b.stateful is False and len(b) == 32
    b.set_epoch(1)
    batches = list(b.iter_from(0))
    assert len(batches) == len(b)
    seen = sorted(int(x) for batch in batches for x in batch.labels)
    assert len(seen) == len(data)
    assert sum(int(batch.lengths.sum()) for batch in batches) == sum(len(e.tokens) for e in data)
    resumed = list(b.iter_from(10))
    assert all(torch.equal(x.tokens, y.tokens) for x, y in zip(resumed, batches[10:]))
    again = BucketBatches(data, batch_size=16, shuffle=True, seed=7, device=CPU)
    again.set_epoch(1)
    assert again.batch_indices() == b.batch_indices()
    again.set_epoch(2)
    assert again.batch_indices() != b.batch_indices()


def test_time_major_padding_and_lengths() -> None:
    b = BucketBatches(examples(40), batch_size=8, shuffle=False, seed=0, device=CPU)
    for batch in b:
        time, size = batch.tokens.shape
        assert batch.tokens.dtype == torch.int64 and batch.lengths.shape == (size,) and batch.labels.shape == (size,)
        assert int(batch.lengths.max()) == time
        for j in range(size):
            n = int(batch.lengths[j])
            assert (batch.tokens[n:, j] == PAD_ID).all() and (batch.tokens[:n, j] != PAD_ID).all()


def test_tagging_labels_are_ignored_on_padding() -> None:
    b = BucketBatches(examples(30, tagging=True), batch_size=8, shuffle=True, seed=1, device=CPU, bucket=False)
    batch = next(iter(b))
    assert batch.labels.shape == batch.tokens.shape
    pad = batch.tokens == PAD_ID
    assert (batch.labels[pad] == IGNORE_INDEX).all() and (batch.labels[~pad] >= 0).all()


def test_bucketing_cuts_padding() -> None:
    data = examples()
    bucketed = BucketBatches(data, batch_size=16, shuffle=True, seed=0, device=CPU, bucket=True)
    plain = BucketBatches(data, batch_size=16, shuffle=True, seed=0, device=CPU, bucket=False)
    assert bucketed.padded_fraction() < 0.1 < 0.4 < plain.padded_fraction()
    assert abs(padded_fraction(plain) - plain.padded_fraction()) < 1e-9
    assert abs(next(iter(plain)).padded_fraction - padded_fraction([next(iter(plain))])) < 1e-9
