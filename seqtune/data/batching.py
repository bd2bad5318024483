"""Batching: contiguous LM streams with truncated BPTT, and length-bucketed batches of labelled examples.

Language modelling (:class:`LMStream`):

The token stream is cut into ``batch_size`` contiguous columns (shape ``(time, batch)``); training walks the
columns in windows of ``bptt`` steps and carries the hidden state from one window to the next, detached::

    stream = LMStream(ids, batch_size=20, bptt=35, device=device)
    for x, y in stream:          # x, y: (bptt, batch) int64, y is x shifted by one step
        ...

    ids  a b c d e f g h i j k l       batch_size=2 ->  columns  a g
                                                              b h
                                                              c i   windows of bptt rows
                                                              ...

The columns are a strided *view* of the flat id tensor (no transposed copy on the CPU), so a memory-mapped
corpus larger than RAM streams page by page; only the window being used is read.

Labelled examples (:class:`BucketBatches`): examples are grouped by length so a batch pads little; batches
are time-major ``(time, batch)`` and padded with ``PAD_ID``, with the true ``lengths`` so a classifier reads
the last valid state by index (``hidden[lengths - 1, arange(batch)]``) rather than packing sequences
(PackedSequence is many times slower, pytorch issue 149194)::

    batches = BucketBatches(data.train, batch_size=32, shuffle=True, seed=0, device=device)
    batches.set_epoch(epoch)                  # a new, reproducible order per epoch
    for b in batches.iter_from(0):            # LabelledBatch: tokens (T, B), lengths (B,), labels
        ...
    batches.padded_fraction()                 # share of padding among the tokens of one epoch
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch

from seqtune.data.chars import char_batch
from seqtune.data.tokenizers import PAD_ID

IGNORE_INDEX = -100  # tagging labels on padding: skipped by cross_entropy's default ignore_index


def to_columns(ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    """(n,) -> (n // batch_size, batch_size); the ragged tail is dropped."""
    steps = ids.numel() // batch_size
    return ids[: steps * batch_size].view(batch_size, steps).t().contiguous()


class LMStream:
    """Truncated-BPTT windows over a token stream, held on the target device once (no per-step copies).

    ``stateful`` tells the loop to carry the recurrent state from one window to the next.
    """

    stateful = True

    def __init__(self, ids: torch.Tensor, batch_size: int, bptt: int, device: torch.device):
        if ids.numel() < 2 * batch_size:
            raise ValueError(f"{ids.numel()} tokens are too few for batch size {batch_size}")
        steps = ids.numel() // batch_size
        cols = ids[: steps * batch_size].view(batch_size, steps).t()  # (time, batch) strided view, no copy
        if device.type == "cuda":  # the whole stream goes to the GPU once, contiguous
            cols = cols.contiguous().pin_memory().to(device, non_blocking=True)
        self.columns = cols  # (time, batch)
        self.bptt = bptt
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-(self.columns.size(0) - 1) // self.bptt)

    def set_epoch(self, epoch: int) -> None:
        """A stream is read in the same order every epoch (the loop calls this on every kind of batches)."""

    @property
    def num_tokens(self) -> int:
        """Target tokens per pass (what perplexity averages over)."""
        return (self.columns.size(0) - 1) * self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.iter_from(0)

    def iter_from(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Windows from index ``start`` on (so a resumed epoch continues where it stopped)."""
        last = self.columns.size(0) - 1
        for s in range(start * self.bptt, last, self.bptt):
            n = min(self.bptt, last - s)
            yield self.columns[s : s + n], self.columns[s + 1 : s + 1 + n]


# ------------------------------------------------------------------------------------ labelled batches
@dataclass
class LabelledBatch:
    tokens: torch.Tensor  # (time, batch) int64, padded with PAD_ID; a series: (time, batch, width) float, 0-padded
    lengths: torch.Tensor  # (batch,) int64, >= 1
    labels: torch.Tensor  # (batch,) int64 classes, or (time, batch) int64 tags with IGNORE_INDEX on padding
    chars: torch.Tensor | None = None  # (time, batch, word_chars) int64: the words' characters (data/chars.py), or None

    @property
    def padded_fraction(self) -> float:
        """Share of the (time x batch) positions that are padding."""
        return 1.0 - float(self.lengths.sum()) / self.tokens.numel()


def padded_fraction(batches: Iterable[LabelledBatch]) -> float:
    """Padding share over many batches: padded positions / all positions."""
    real = total = 0
    for b in batches:
        real += int(b.lengths.sum())
        total += b.tokens.numel()
    return 1.0 - real / max(total, 1)


def collate_series(examples: Sequence, device: torch.device | None = None) -> LabelledBatch:
    """Examples whose ``tokens`` are float steps (steps, width) -> tokens (time, batch, width) padded with 0."""
    lengths = torch.tensor([len(e.tokens) for e in examples], dtype=torch.long)
    values = torch.nn.utils.rnn.pad_sequence([e.tokens for e in examples])  # (time, batch, width)
    labels = torch.tensor([e.label for e in examples], dtype=torch.long)
    if device is not None and device.type != "cpu":
        values, lengths, labels = (t.to(device, non_blocking=True) for t in (values, lengths, labels))
    return LabelledBatch(values, lengths, labels)


def collate(examples: Sequence, device: torch.device | None = None) -> LabelledBatch:
    """Pad a list of Examples (``.tokens`` ids, ``.label`` int or list of ints) into a time-major batch; float
    steps of a labelled series go through :func:`collate_series`."""
    if isinstance(examples[0].tokens, torch.Tensor):
        return collate_series(examples, device)
    lengths = torch.tensor([len(e.tokens) for e in examples], dtype=torch.long)
    time = int(lengths.max())
    tokens = torch.full((len(examples), time), PAD_ID, dtype=torch.long)
    tagging = isinstance(examples[0].label, list)
    labels = (
        torch.full((len(examples), time), IGNORE_INDEX, dtype=torch.long)
        if tagging
        else torch.tensor([e.label for e in examples], dtype=torch.long)
    )
    for i, e in enumerate(examples):
        tokens[i, : len(e.tokens)] = torch.tensor(e.tokens, dtype=torch.long)
        if tagging:
            labels[i, : len(e.label)] = torch.tensor(e.label, dtype=torch.long)
    tokens = tokens.t().contiguous()  # (time, batch)
    if tagging:
        labels = labels.t().contiguous()
    words: list[list[str]] = [e.words for e in examples if getattr(e, "words", None) is not None]
    chars = char_batch(words, time) if len(words) == len(examples) else None  # (time, batch, word_chars)
    if device is not None and device.type != "cpu":
        return LabelledBatch(
            tokens.to(device, non_blocking=True),
            lengths.to(device, non_blocking=True),
            labels.to(device, non_blocking=True),
            chars.to(device, non_blocking=True) if chars is not None else None,
        )
    return LabelledBatch(tokens, lengths, labels, chars)


class BucketBatches:
    """Batches of labelled examples grouped by length; implements the loop's ``Batches`` protocol.

    With ``bucket``: each epoch the examples are shuffled (if ``shuffle``), cut into pools of 50 batches,
    each pool sorted by length and cut into batches, and the batch order shuffled again; so batches hold
    examples of similar length while their order stays random.  Without ``shuffle`` (evaluation) the
    examples are sorted by length once.  The order depends only on ``seed`` and the epoch (``set_epoch``),
    so ``iter_from(k)`` after a resume yields exactly the batches that were left.
    """

    stateful = False
    POOL_BATCHES = 50

    def __init__(
        self, examples: Sequence, batch_size: int, shuffle: bool, seed: int, device: torch.device, bucket: bool = True
    ):
        if not examples:
            raise ValueError("no examples to batch")
        self.examples = list(examples)
        self.batch_size, self.shuffle, self.seed, self.bucket = batch_size, shuffle, seed, bucket
        self.device = device
        self.epoch = 0
        self._lengths = [len(e.tokens) for e in self.examples]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.examples) // self.batch_size)

    def batch_indices(self) -> list[list[int]]:
        """The example indices of every batch of the current epoch, in order."""
        n, bs, lengths = len(self.examples), self.batch_size, self._lengths
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        order = list(range(n))
        if self.shuffle:
            rng.shuffle(order)
        if not self.bucket:
            return [order[i : i + bs] for i in range(0, n, bs)]
        if not self.shuffle:
            order.sort(key=lambda i: lengths[i])
            return [order[i : i + bs] for i in range(0, n, bs)]
        pool = bs * self.POOL_BATCHES
        batches: list[list[int]] = []
        for p in range(0, n, pool):
            chunk = sorted(order[p : p + pool], key=lambda i: lengths[i])
            batches += [chunk[i : i + bs] for i in range(0, len(chunk), bs)]
        rng.shuffle(batches)
        return batches

    def padded_fraction(self) -> float:
        """Padding share of one epoch of batches, from the lengths alone (no tensors built)."""
        real = total = 0
        for idx in self.batch_indices():
            ls = [self._lengths[i] for i in idx]
            real += sum(ls)
            total += max(ls) * len(ls)
        return 1.0 - real / total

    def iter_from(self, start: int = 0) -> Iterator[LabelledBatch]:
        for idx in self.batch_indices()[start:]:
            yield collate([self.examples[i] for i in idx], self.device)

    def __iter__(self) -> Iterator[LabelledBatch]:
        return self.iter_from(0)
