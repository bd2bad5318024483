"""objective=bilm: forward and backward LMs in one bidirectional layer. The forward half predicts the next token and
the backward half the previous one, without seeing them: on i.i.d. random tokens nothing can be learnt (a leak
would drive the loss to 0), on counting sequences the loss falls; a second layer (which would leak) is refused."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from seqtune.training.validation import validate_pretrain as validate
from seqtune.errors import ConfigError
from seqtune.objectives.base import TaskModel
from seqtune.objectives.bilm import BidirectionalLM
from tests.conftest import compose_config
from tests.objectives._helpers import N_SPECIAL, counting_tokens, mean, tiny_encoder, train_losses

VOCAB = 60


def _model(cutoffs=(20, 40)) -> TaskModel:
    enc = tiny_encoder(VOCAB, bidirectional=True, cell="lstm")
    return TaskModel(enc, BidirectionalLM(enc, list(cutoffs)))


def test_nothing_to_learn_from_random_tokens_means_no_leak():
    gen = torch.Generator().manual_seed(0)
    model = _model()
    assert isinstance(model.objective.softmax, nn.AdaptiveLogSoftmaxWithLoss)
    losses = train_losses(model, lambda: (torch.randint(N_SPECIAL, VOCAB, (12, 16), generator=gen),), 150, lr=0.02)
    uniform = math.log(VOCAB - N_SPECIAL)
    assert mean(losses[-20:]) > 0.9 * uniform, losses[-20:]  # a model that saw its targets would approach 0


def test_loss_falls_on_predictable_sequences_in_both_directions():
    gen = torch.Generator().manual_seed(1)
    model = _model(cutoffs=(1000,))  # past the vocabulary: a plain softmax
    assert isinstance(model.objective.softmax, nn.Linear)
    losses = train_losses(model, lambda: (counting_tokens(12, 16, VOCAB, gen),), 150, lr=0.02)
    assert mean(losses[-10:]) < 0.3 * mean(losses[:10])
    out = model((counting_tokens(12, 4, VOCAB, gen),))
    summary = model.objective.summarize({k: float(v) / out.count for k, v in out.sums.items()})
    assert out.count == 12 * 4 and out.sums["predicted"] == 2 * 11 * 4  # both directions, less the window ends
    assert summary["loss"] == pytest.approx(float(out.loss.detach()))
    assert summary["ppl"] == math.exp(summary["loss"])


def test_bilm_needs_one_bidirectional_layer():
    cfg = compose_config("pretrain", ["objective=bilm", "model.bidirectional=true", "model.num_layers=2",
                                      "objective.cutoffs=[100,50]"])
    try:
        validate(cfg)
    except ConfigError as err:
        text = str(err)
    assert "objective=bilm (forward and backward LMs) needs a one-layer encoder" in text
    assert "model.num_layers=2" in text and "objective.cutoffs=[100, 50]" in text
