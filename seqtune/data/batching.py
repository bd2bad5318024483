"""Batching for language modelling: contiguous streams with truncated back-propagation through time.

The token stream is cut into ``batch_size`` contiguous columns (shape ``(time, batch)``); training walks the
columns in windows of ``bptt`` steps and carries the hidden state from one window to the next, detached::

    stream = LMStream(ids, batch_size=20, bptt=35, device=device)
    for x, y in stream:          # x, y: (bptt, batch) int64, y is x shifted by one step
        ...

    ids  a b c d e f g h i j k l       batch_size=2 ->  columns  a g
                                                              b h
                                                              c i   windows of bptt rows
                                                              ...
"""
from __future__ import annotations

from typing import Iterator

import torch


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
        cols = to_columns(ids, batch_size)
        if device.type == "cuda":
            cols = cols.pin_memory().to(device, non_blocking=True)
        self.columns = cols  # (time, batch)
        self.bptt = bptt
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-(self.columns.size(0) - 1) // self.bptt)

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
