"""Regularisers that RNN pretraining needs (Merity et al.'s AWD-LSTM recipe), used by the encoder.

* :func:`embedding_dropout` drops whole rows of the embedding matrix (a word is dropped everywhere it occurs
  in the batch), scaling the kept rows by ``1 / (1 - p)``.
* :func:`word_dropout` replaces word occurrences by ``<unk>`` (the input only: targets and, with character
  features, the spelling stay), so ``<unk>`` is trained in every context and the model learns to read a word it
  does not know from its spelling and neighbours.
* :func:`locked_dropout` draws one mask per sequence and feature and applies it at every time step
  (variational dropout, Gal & Ghahramani), so the recurrent layers see consistent inputs across time.
* :func:`dropped_hh_weights` returns DropConnect-ed copies of an RNN's hidden-to-hidden weights. The encoder
  passes them to the RNN with ``torch.func.functional_call``, so the module's parameters are never
  re-assigned: the state dict keys stay ``rnn.weight_hh_l0`` and cuDNN keeps its flat weight buffer (the
  re-assignment trick of the original AWD-LSTM code breaks both).  When the weights live in cuDNN's one flat
  buffer (after ``flatten_parameters`` on a GPU), the copies are laid out the same way, as views of one new
  buffer at the original offsets, so the weights cuDNN receives form one contiguous chunk (what it checks
  before warning "not part of single contiguous chunk").  Checked on CPU with a simulated flat buffer; on a GPU,
  PyTorch's RNN also re-flattens swapped-in weights itself (``RNNBase._weights_have_changed``), a copy per step
  that DropConnect cannot avoid since the weights differ every step.

All four are the identity outside training or with ``p == 0``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqtune.data.tokenizers import SPECIAL_TOKENS, UNK_ID

FIRST_WORD_ID = len(SPECIAL_TOKENS)  # ids below are <pad>, <unk>, <eos>, ...: never replaced


def embedding_dropout(embedding: nn.Embedding, tokens: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """tokens (time, batch) -> (time, batch, embedding), with whole vocabulary rows dropped when training."""
    if not training or p == 0.0:
        return embedding(tokens)
    weight = embedding.weight  # (vocab, embedding)
    keep = weight.new_empty(weight.size(0), 1).bernoulli_(1.0 - p) / (1.0 - p)  # (vocab, 1)
    return F.embedding(tokens, weight * keep, embedding.padding_idx)


def word_dropout(tokens: torch.Tensor, p: float, training: bool, first_word: int) -> torch.Tensor:
    """tokens (time, batch) with each occurrence of a word (id >= ``first_word``: specials stay) replaced by
    ``<unk>`` at rate p when training: the model learns what an unknown word's context and spelling say about it
    (Lample et al. 2016 replace singletons so; unlike :func:`embedding_dropout` the <unk> row trains too)."""
    if not training or p == 0.0:
        return tokens
    drop = (tokens >= first_word) & (torch.rand(tokens.shape, device=tokens.device) < p)
    return tokens.masked_fill(drop, UNK_ID)


def locked_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """x (time, batch, features): one mask per (batch, feature), shared by all time steps."""
    if not training or p == 0.0:
        return x
    mask = x.new_empty(1, x.size(1), x.size(2)).bernoulli_(1.0 - p) / (1.0 - p)  # (1, batch, features)
    return x * mask


def hh_weight_names(rnn: nn.RNNBase) -> list[str]:
    """Names of the hidden-to-hidden weight matrices of every layer and direction."""
    return [n for n in rnn._flat_weights_names if n.startswith("weight_hh")]


def dropped_hh_weights(rnn: nn.RNNBase, p: float) -> dict[str, torch.Tensor]:
    """DropConnect: each hidden-to-hidden weight with elements zeroed at rate p (a fresh mask per call).

    Returns the tensors to swap in with ``functional_call``: only the hidden-to-hidden weights, or, when the
    RNN's weights share one flat buffer, every weight as a view of one new buffer with the same layout.
    """
    dropped = {name: F.dropout(getattr(rnn, name), p, training=True) for name in hh_weight_names(rnn)}
    names = list(rnn._flat_weights_names)
    weights = [getattr(rnn, n) for n in names]
    storage = weights[0].untyped_storage().data_ptr()
    if len(weights) < 2 or any(w.untyped_storage().data_ptr() != storage for w in weights):
        return dropped  # separate tensors (CPU, or not flattened): nothing contiguous to keep
    return _same_layout({n: dropped.get(n, w) for n, w in zip(names, weights)}, dict(zip(names, weights)))


def _same_layout(values: dict[str, torch.Tensor], layout: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Views of one new (differentiable) buffer holding ``values`` at the offsets and strides of ``layout``."""
    order = sorted(layout, key=lambda n: layout[n].storage_offset())
    pieces, position = [], layout[order[0]].storage_offset()
    for n in order:
        w = layout[n]
        if w.storage_offset() > position:  # alignment gap in cuDNN's buffer
            pieces.append(w.new_zeros(w.storage_offset() - position))
        pieces.append(values[n].reshape(-1))
        position = w.storage_offset() + w.numel()
    base = layout[order[0]].storage_offset()
    buffer = torch.cat(pieces)  # (total,) one new storage
    return {n: buffer.as_strided(layout[n].shape, layout[n].stride(), layout[n].storage_offset() - base) for n in order}
