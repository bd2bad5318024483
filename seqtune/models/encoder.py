"""The encoder every task shares: token embedding (or a linear projection of numeric values) -> RNN stack.

Pretraining puts an objective on top of it, fine-tuning a head; the encoder's weights are what transfers.
Tensors are time-major, as cuDNN and the classic word-LM expect::

    enc = MODELS.get("lstm")(vocab_size=10000, embedding_size=200, hidden_size=200, num_layers=2, ...)
    out, state = enc(tokens, state)   # tokens (time, batch) -> out (time, batch, enc.output_size)
    enc = MODELS.get("gru")(..., input="numeric", num_features=7)
    out, state = enc(values, state)   # values (time, batch, 7) float -> out (time, batch, enc.output_size)

Regularisers (``seqtune/models/regularizers.py``) are off by default, and then the stack is one fused
``nn.LSTM``/``nn.GRU`` call as before. ``weight_drop`` swaps DropConnect-ed hidden-to-hidden weights in with
``torch.func.functional_call`` (parameters are never re-assigned); ``locked_dropout`` runs the stack layer by
layer (the same parameters, through one-layer functional calls) to put a time-constant mask between layers.

Character-aware words (``char_features="cnn"``, ``seqtune/models/chars.py``): each word's characters go through a
character CNN whose features are concatenated with the word embedding.  ``forward(..., chars=)`` takes them from
the batch (tagging data spells every word, ``<unk>`` or not); without them the encoder spells each word id by its
vocabulary string (``vocab``, given at construction), so every objective works unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, cast

import torch
from torch import nn
from torch.func import functional_call

from seqtune.data.chars import CHAR_PAD, vocabulary_chars
from seqtune.data.tokenizers import PAD_ID
from seqtune.models.chars import CharCNN
from seqtune.models.regularizers import (
    FIRST_WORD_ID,
    dropped_hh_weights,
    embedding_dropout,
    locked_dropout,
    word_dropout,
)
from seqtune.registry import MODELS

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]  # h, or (h, c) for an LSTM; (layers*dirs, batch, hidden)
CellKind = str  # a key of RNN_CLASSES
InputKind = Literal["tokens", "numeric"]
CharFeatures = Literal["none", "cnn"]
# The cells of every recurrent stack (the encoder's and the decoder objectives'): a new cell is one entry here.
RNN_CLASSES: dict[str, Callable[..., nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class Encoder(nn.Module):
    char_table: torch.Tensor  # (vocab, MAX_WORD_CHARS) the vocabulary's spelling (char_features only)

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
        input: InputKind = "tokens",
        num_features: int = 0,
        embedding_dropout: float = 0.0,
        locked_dropout: float = 0.0,
        weight_drop: float = 0.0,
        char_features: CharFeatures = "none",
        char_embedding_size: int = 30,
        char_filters: int = 50,
        vocab: Sequence[str] | None = None,
        word_dropout: float = 0.0,
    ):
        super().__init__()
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.num_directions = 2 if bidirectional else 1
        self.input_kind = input
        self.embedding_dropout, self.locked_dropout, self.weight_drop = embedding_dropout, locked_dropout, weight_drop
        self.word_dropout = word_dropout
        if input == "tokens":
            self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=PAD_ID)
        else:
            if num_features < 1:
                raise ValueError(f"a numeric-input encoder needs num_features >= 1, got {num_features}")
            self.input_projection = nn.Linear(num_features, embedding_size)  # replaces the token embedding
        self.chars: CharCNN | None = None
        if char_features != "none":
            if input != "tokens" or vocab is None or len(vocab) != vocab_size:
                raise ValueError("character features need token input and the vocabulary's strings (vocab)")
            self.chars = CharCNN(char_embedding_size, char_filters)
            self.register_buffer("char_table", vocabulary_chars(vocab), persistent=False)  # (vocab, chars)
        self.input_size = embedding_size + (self.chars.output_size if self.chars is not None else 0)
        rnn_class = RNN_CLASSES[cell]
        self.rnn = rnn_class(
            self.input_size,
            hidden_size,
            num_layers,
            dropout=dropout if num_layers > 1 and locked_dropout == 0 else 0.0,
            bidirectional=bidirectional,
        )
        self.dropout = nn.Dropout(dropout)
        if init_range > 0:
            for p in self.parameters():
                nn.init.uniform_(p, -init_range, init_range)
            if input == "tokens":
                with torch.no_grad():
                    self.embedding.weight[PAD_ID].zero_()
                    if self.chars is not None:
                        self.chars.embedding.weight[CHAR_PAD].zero_()
        # One-layer shells on the meta device (no memory, not submodules, so not in the state dict): with
        # locked dropout, layer k runs as a functional call of shell k with the stack's own layer-k weights.
        self._layer_shells: tuple[nn.RNNBase, ...] = ()
        if locked_dropout > 0:
            self._layer_shells = tuple(
                rnn_class(
                    self.input_size if k == 0 else self.output_size,
                    hidden_size,
                    1,
                    bidirectional=bidirectional,
                    device="meta",
                )
                for k in range(num_layers)
            )

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.num_directions

    @property
    def vocab_size(self) -> int:
        return self.embedding.num_embeddings if self.input_kind == "tokens" else 0

    def init_state(self, batch_size: int, device: torch.device) -> State:
        h = torch.zeros(self.num_layers * self.num_directions, batch_size, self.hidden_size, device=device)
        return (h, torch.zeros_like(h)) if self.cell == "lstm" else h

    def input_parameters(self) -> list[nn.Parameter]:
        """What sits below the RNN (the "embedding" layer group): embedding or input projection, character CNN."""
        bottom = self.embedding if self.input_kind == "tokens" else self.input_projection
        return list(bottom.parameters()) + (list(self.chars.parameters()) if self.chars is not None else [])

    def embed(self, inputs: torch.Tensor, chars: torch.Tensor | None = None) -> torch.Tensor:
        """tokens (time, batch) int or values (time, batch, features) float -> (time, batch, input_size);
        ``chars`` (time, batch, word_chars): the words' spelling (default: the vocabulary's, by word id)."""
        if self.input_kind == "numeric":
            return self.input_projection(inputs)
        ids = word_dropout(inputs, self.word_dropout, self.training, FIRST_WORD_ID)  # the spelling keeps the word
        words = embedding_dropout(self.embedding, ids, self.embedding_dropout, self.training)
        if self.chars is None:
            return words
        spelled = self.chars(chars if chars is not None else self.char_table[inputs])  # (time, batch, filters)
        return torch.cat([words, spelled], dim=-1)

    def forward(
        self,
        inputs: torch.Tensor,
        state: State | None = None,
        lengths: torch.Tensor | None = None,
        output_dropout: bool = True,
        chars: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        """``lengths`` (batch,) of a padded batch: a bidirectional encoder then reads each sequence backwards from
        its own last token, not from the padding, so an example's output does not depend on its batch.

        ``output_dropout=False`` leaves the top layer's outputs undropped: a head that pools over time (max, mean)
        must see the same features in training as in evaluation (it drops out the pooled features itself).
        ``chars`` (time, batch, word_chars): the words' characters, for ``char_features`` (else unused)."""
        emb = self.dropout(self.embed(inputs, chars))  # (time, batch, input_size)
        weights: dict[str, torch.Tensor] = {}
        if self.training and self.weight_drop > 0:
            weights = dropped_hh_weights(self.rnn, self.weight_drop)
        if emb.device.type == "cpu" and torch.is_autocast_enabled("cpu") and not _cpu_rnn_autocast_ok(self.rnn):
            # oneDNN has no reduced-precision RNN kernel on CPUs without AVX-512 (bf16 autocast would raise):
            # the recurrence runs in float32 there, the decoder and loss still in bf16.
            with torch.autocast("cpu", enabled=False):
                out, state = self.rnn(emb.float(), _to_float(state))
        elif lengths is not None and self.num_directions == 2 and not self._layer_shells:
            packed = nn.utils.rnn.pack_padded_sequence(emb, lengths.cpu(), enforce_sorted=False)
            out, state = functional_call(self.rnn, weights, (packed, state)) if weights else self.rnn(packed, state)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=inputs.size(0))  # (time, batch, 2 * hidden)
        elif self._layer_shells:
            out, state = self._layer_by_layer(emb, state, weights)
        elif weights:
            out, state = functional_call(self.rnn, weights, (emb, state))
        else:  # a causal encoder's outputs before the padding never see it
            out, state = self.rnn(emb, state)  # (time, batch, hidden * directions)
        return (self.dropout(out) if output_dropout else out), state

    def _layer_by_layer(
        self, x: torch.Tensor, state: State | None, dropped: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, State]:
        """The stack one layer at a time with a locked-dropout mask between layers (same parameters)."""
        d = self.num_directions
        h_out, c_out = [], []
        for k, shell in enumerate(self._layer_shells):
            if k > 0:
                x = locked_dropout(x, self.locked_dropout, self.training)
            params = {}
            for suffix in ("", "_reverse")[:d]:
                for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    name = f"{kind}_l{k}{suffix}"
                    params[f"{kind}_l0{suffix}"] = dropped.get(name, getattr(self.rnn, name))
            layer_state = None
            if state is not None:
                layer_state = (
                    tuple(s[k * d : (k + 1) * d] for s in state)
                    if isinstance(state, tuple)
                    else state[k * d : (k + 1) * d]
                )
            x, s = functional_call(shell, params, (x, layer_state))  # (time, batch, hidden * directions)
            if isinstance(s, tuple):
                h_out.append(s[0])
                c_out.append(s[1])
            else:
                h_out.append(s)
        h = torch.cat(h_out)  # (layers * directions, batch, hidden)
        return x, ((h, torch.cat(c_out)) if c_out else h)

    def summary(self, out: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """One vector per sequence: the forward direction at its last real step, the backward one at step 0.

        out (time, batch, output_size), lengths (batch,) or None (all full) -> (batch, output_size).
        Reading by index keeps padded batches in one fused RNN call (no PackedSequence).
        """
        batch = torch.arange(out.size(1), device=out.device)
        last = (lengths - 1) if lengths is not None else torch.full_like(batch, out.size(0) - 1)
        forward = out[last, batch, : self.hidden_size]  # (batch, hidden)
        if self.num_directions == 1:
            return forward
        return torch.cat([forward, out[0, :, self.hidden_size :]], dim=-1)  # (batch, 2 * hidden)


_CPU_RNN_AUTOCAST: bool | None = None  # whether this CPU runs an RNN under bf16 autocast; probed once


def _cpu_rnn_autocast_ok(rnn: nn.RNNBase) -> bool:
    """Probe once, on a tiny copy of the layer, whether oneDNN accepts the RNN under CPU autocast."""
    global _CPU_RNN_AUTOCAST
    if _CPU_RNN_AUTOCAST is None:
        probe = cast(Callable[..., nn.RNNBase], type(rnn))(4, 4, 1)
        try:
            with torch.no_grad():
                probe(torch.zeros(2, 1, 4))
            _CPU_RNN_AUTOCAST = True
        except RuntimeError:
            _CPU_RNN_AUTOCAST = False
    return _CPU_RNN_AUTOCAST


def _to_float(state: State | None) -> State | None:
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.float() for s in state)  # type: ignore[return-value]
    return state.float()


def detach_state(state: State | None) -> State | None:
    """Cut the graph at a BPTT window boundary while keeping the values."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)  # type: ignore[return-value]
    return state.detach()


def _builder(cell: CellKind):
    def build(
        vocab_size: int,
        embedding_size: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        bidirectional: bool,
        init_range: float,
        input: InputKind = "tokens",
        num_features: int = 0,
        embedding_dropout: float = 0.0,
        locked_dropout: float = 0.0,
        weight_drop: float = 0.0,
        char_features: CharFeatures = "none",
        char_embedding_size: int = 30,
        char_filters: int = 50,
        vocab: Sequence[str] | None = None,
        word_dropout: float = 0.0,
    ) -> Encoder:
        return Encoder(
            cell,
            vocab_size,
            embedding_size,
            hidden_size,
            num_layers,
            dropout,
            bidirectional,
            init_range,
            input,
            num_features,
            embedding_dropout,
            locked_dropout,
            weight_drop,
            char_features,
            char_embedding_size,
            char_filters,
            vocab,
            word_dropout,
        )

    build.__doc__ = f"Embedding -> {cell.upper()} stack."
    return build


for _cell in RNN_CLASSES:
    MODELS.register(_cell)(_builder(_cell))


def build_encoder(model_cfg, vocab_size: int, vocab: Sequence[str] | None = None) -> Encoder:
    """Read the ``model`` config and call the registered builder with plain values; ``vocab``: the tokenizer's
    strings (``itos``), which ``model.char_features`` spells."""
    m = model_cfg
    return MODELS.get(m.name, key="model.name")(
        vocab_size=vocab_size,
        embedding_size=m.embedding_size,
        hidden_size=m.hidden_size,
        num_layers=m.num_layers,
        dropout=m.dropout,
        bidirectional=m.bidirectional,
        init_range=m.init_range,
        input=m.get("input", "tokens"),
        num_features=m.get("num_features", 0),
        embedding_dropout=m.get("embedding_dropout", 0.0),
        locked_dropout=m.get("locked_dropout", 0.0),
        weight_drop=m.get("weight_drop", 0.0),
        char_features=m.get("char_features", "none"),
        char_embedding_size=m.get("char_embedding_size", 30),
        char_filters=m.get("char_filters", 50),
        vocab=vocab,
        word_dropout=m.get("word_dropout", 0.0),
    )
