"""Regularisers that RNN pretraining needs (Merity et al.'s AWD-LSTM recipe), used by the encoder.

* :func:`embedding_dropout` drops whole rows of the embedding matrix (a word is dropped everywhere it occurs
  in the batch), scaling the kept rows by ``1 / (1 - p)``.
* :func:`locked_dropout` draws one mask per sequence and feature and applies it at every time step
  (variational dropout, Gal & Ghahramani), so the recurrent layers see consistent inputs across time.
* :func:`dropped_hh_weights` returns DropConnect-ed copies of an RNN's hidden-to-hidden weights. The encoder
  passes them to the RNN with ``torch.func.functional_call``, so the module's parameters are never
  re-assigned: the state dict keys stay ``rnn.weight_hh_l0`` and cuDNN keeps its flat weight buffer (the
  re-assignment trick of the original AWD-LSTM code breaks both).

All three are the identity outside training or with ``p == 0``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def embedding_dropout(embedding: nn.Embedding, tokens: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """tokens (time, batch) -> (time, batch, embedding), with whole vocabulary rows dropped when training."""
    if not training or p == 0.0:
        return embedding(tokens)
    weight = embedding.weight  # (vocab, embedding)
    keep = weight.new_empty(weight.size(0), 1).bernoulli_(1.0 - p) / (1.0 - p)  # (vocab, 1)
    return F.embedding(tokens, weight * keep, embedding.padding_idx)


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
    """DropConnect: each hidden-to-hidden weight with elements zeroed at rate p (a fresh mask per call)."""
    return {name: F.dropout(getattr(rnn, name), p, training=True) for name in hh_weight_names(rnn)}
