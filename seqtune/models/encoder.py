"""The encoder every task shares: token embedding -> RNN stack (rnn | lstm | gru).

Pretraining puts an objective on top of it, fine-tuning a head; the encoder's weights are what transfers.
Tensors are time-major, as cuDNN and the classic word-LM expect::

    enc = MODELS.get("lstm")(vocab_size=10000, embedding_size=200, hidden_size=200, num_layers=2, ...)
    out, state = enc(tokens, state)   # tokens (time, batch) -> out (time, batch, enc.output_size)
"""
from __future__ import annotations

from typing import Literal, Union

import torch
from torch import nn

from seqtune.data.tokenizers import PAD_ID
from seqtune.registry import MODELS

State = Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]  # h, or (h, c) for an LSTM; (layers*dirs, batch, hidden)
CellKind = Literal["rnn", "lstm", "gru"]
_RNN_CLASSES: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class Encoder(nn.Module):
    def __init__(
        self,
        cell: CellKind,
        vocab_size: int,
        embedding_size: int,
        hidden_size: int,
        num_layers: int,
        dropout: float = 0.0,
        bidirectional: bool = False,
        init_range: float = 0.1,
    ):
        super().__init__()
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.num_directions = 2 if bidirectional else 1
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=PAD_ID)
        self.rnn = _RNN_CLASSES[cell](
            embedding_size, hidden_size, num_layers,
            dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional,
        )
        self.dropout = nn.Dropout(dropout)
        if init_range > 0:
            for p in self.parameters():
                nn.init.uniform_(p, -init_range, init_range)
            with torch.no_grad():
                self.embedding.weight[PAD_ID].zero_()

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.num_directions

    @property
    def vocab_size(self) -> int:
        return self.embedding.num_embeddings

    def init_state(self, batch_size: int, device: torch.device) -> State:
        h = torch.zeros(self.num_layers * self.num_directions, batch_size, self.hidden_size, device=device)
        return (h, torch.zeros_like(h)) if self.cell == "lstm" else h

    def forward(self, tokens: torch.Tensor, state: State | None = None,
                lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        """``lengths`` (batch,) of a padded batch: a bidirectional encoder then reads each sequence backwards from
        its own last token, not from the padding, so an example's output does not depend on its batch."""
        emb = self.dropout(self.embedding(tokens))  # (time, batch, embedding)
        if lengths is not None and self.num_directions == 2:
            packed = nn.utils.rnn.pack_padded_sequence(emb, lengths.cpu(), enforce_sorted=False)
            out, state = self.rnn(packed, state)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=tokens.size(0))  # (time, batch, 2 * hidden)
        else:  # a causal encoder's outputs before the padding never see it
            out, state = self.rnn(emb, state)  # (time, batch, hidden * directions)
        return self.dropout(out), state


def detach_state(state: State | None) -> State | None:
    """Cut the graph at a BPTT window boundary while keeping the values."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)  # type: ignore[return-value]
    return state.detach()


def _builder(cell: CellKind):
    def build(vocab_size: int, embedding_size: int, hidden_size: int, num_layers: int, dropout: float,
              bidirectional: bool, init_range: float) -> Encoder:
        return Encoder(cell, vocab_size, embedding_size, hidden_size, num_layers, dropout, bidirectional, init_range)

    build.__doc__ = f"Embedding -> {cell.upper()} stack."
    return build


for _cell in ("rnn", "lstm", "gru"):
    MODELS.register(_cell)(_builder(_cell))  # type: ignore[arg-type]


def build_encoder(model_cfg, vocab_size: int) -> Encoder:
    """Read the ``model`` config and call the registered builder with plain values."""
    m = model_cfg
    return MODELS.get(m.name, key="model.name")(
        vocab_size=vocab_size, embedding_size=m.embedding_size, hidden_size=m.hidden_size,
        num_layers=m.num_layers, dropout=m.dropout, bidirectional=m.bidirectional, init_range=m.init_range,
    )
