"""Tiny generated data and a few-step trainer for the objective tests."""
from __future__ import annotations

from typing import Any, Callable

import torch

from seqtune.data.tokenizers import EOS_ID, SPECIAL_TOKENS
from seqtune.models.encoder import Encoder
from seqtune.objectives.base import TaskModel

N_SPECIAL = len(SPECIAL_TOKENS)


def counting_tokens(time: int, batch: int, vocab: int, generator: torch.Generator) -> torch.Tensor:
    """(time, batch): each column counts up from a random start (mod the non-special ids), so a token is
    predictable from its neighbours."""
    start = torch.randint(0, vocab - N_SPECIAL, (1, batch), generator=generator)
    return (start + torch.arange(time).unsqueeze(1)) % (vocab - N_SPECIAL) + N_SPECIAL


def sentence_batch(batch: int, vocab: int, generator: torch.Generator, min_len: int = 3, max_len: int = 7):
    """A LabelledBatch of counting sentences of random length, each ending with <eos>, PAD-padded."""
    from seqtune.data.batching import collate
    from seqtune.data.records import Example

    examples = []
    for _ in range(batch):
        n = int(torch.randint(min_len, max_len + 1, (1,), generator=generator))
        seq = counting_tokens(n, 1, vocab, generator)[:, 0].tolist()
        examples.append(Example(seq + [EOS_ID], 0))
    return collate(examples)


def train_losses(model: TaskModel, make_batch: Callable[[], Any], steps: int, lr: float = 0.01) -> list[float]:
    """Adam for ``steps`` steps on fresh batches; the loss of every step."""
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        out = model(make_batch())
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
    return losses


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def tiny_encoder(vocab: int = 20, bidirectional: bool = False, cell: str = "gru", **kw) -> Encoder:
    torch.manual_seed(0)
    return Encoder(cell, vocab, 16, 24, 1, bidirectional=bidirectional, **kw)  # type: ignore[arg-type]
