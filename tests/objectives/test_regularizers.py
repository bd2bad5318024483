"""Weight drop, locked dropout and embedding dropout: behaviour in train/eval mode, weights untouched."""

from __future__ import annotations

import warnings

import pytest
import torch

from seqtune.models.encoder import Encoder


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("locked", [0.0, 0.3])
def test_weight_drop_changes_training_outputs_not_eval_and_keeps_parameters(cell, locked):
    torch.manual_seed(0)
    enc = Encoder(cell, 30, 8, 16, 2, weight_drop=0.5, locked_dropout=locked)
    params_before = {n: p for n, p in enc.named_parameters()}
    storage_before = {n: p.data_ptr() for n, p in enc.named_parameters()}
    flat_before = [w.data_ptr() for w in enc.rnn._flat_weights]
    x = torch.randint(0, 30, (7, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "RNN module weights are not part of single contiguous chunk"
        enc.train()
        a, _ = enc(x)
        b, _ = enc(x)
        a.sum().backward()
        enc.eval()
        c, _ = enc(x)
        d, _ = enc(x)
    assert not torch.allclose(a, b)  # a fresh DropConnect mask per training forward
    assert torch.equal(c, d)  # eval: deterministic, full weights
    # the module's parameters are the same objects in the same storage: nothing was re-assigned
    assert {n: p for n, p in enc.named_parameters()} == params_before
    assert {n: p.data_ptr() for n, p in enc.named_parameters()} == storage_before
    assert [w.data_ptr() for w in enc.rnn._flat_weights] == flat_before
    assert all(isinstance(w, torch.nn.Parameter) for w in enc.rnn._flat_weights)
    assert enc.rnn.weight_hh_l0.grad is not None and enc.rnn.weight_hh_l0.grad.abs().sum() > 0
    assert set(enc.state_dict()) == set(Encoder(cell, 30, 8, 16, 2).state_dict())  # keys transfer


@pytest.mark.parametrize("bidirectional", [False, True])
def test_layer_by_layer_stack_equals_fused_call_in_eval(bidirectional):
    torch.manual_seed(0)
    locked = Encoder("lstm", 30, 8, 16, 3, bidirectional=bidirectional, locked_dropout=0.5).eval()
    fused = Encoder("lstm", 30, 8, 16, 3, bidirectional=bidirectional).eval()
    fused.load_state_dict(locked.state_dict())
    x = torch.randint(0, 30, (9, 4))
    state = fused.init_state(4, torch.device("cpu"))
    (o1, s1), (o2, s2) = locked(x, state), fused(x, state)
    assert torch.allclose(o1, o2, atol=1e-6)
    assert all(torch.allclose(p, q, atol=1e-6) for p, q in zip(s1, s2))


def test_locked_dropout_mask_is_constant_over_time():
    from seqtune.models.regularizers import locked_dropout

    torch.manual_seed(0)
    y = locked_dropout(torch.ones(50, 4, 10), 0.5, training=True)
    assert torch.equal(y, y[:1].expand_as(y))  # same mask at every step
    assert set(y.unique().tolist()) <= {0.0, 2.0}


def test_embedding_dropout_drops_whole_words():
    torch.manual_seed(0)
    enc = Encoder("gru", 40, 8, 8, 1, embedding_dropout=0.5)
    tokens = torch.arange(6, 40).repeat(3, 1).t()  # (34, 3): every word once in each of 3 columns
    from seqtune.models.regularizers import embedding_dropout

    e = embedding_dropout(enc.embedding, tokens, 0.5, training=True)  # (34, 3, 8)
    zero = e.abs().sum(-1) == 0  # (34, 3)
    assert zero.any() and (~zero).any()
    assert torch.equal(zero[:, 0], zero[:, 1]) and torch.equal(zero[:, 0], zero[:, 2])  # a word is dropped everywhere
    assert torch.equal(embedding_dropout(enc.embedding, tokens, 0.5, training=False), enc.embedding(tokens))


def test_weight_drop_keeps_a_flattened_buffer_layout():
    """On a GPU, flatten_parameters puts every weight in one buffer; the dropped weights keep that layout
    (one storage, same offsets), which is what cuDNN checks before it warns and re-packs. Simulated on CPU."""
    from torch import nn
    from torch.func import functional_call

    from seqtune.models.regularizers import dropped_hh_weights

    torch.manual_seed(0)
    rnn = nn.LSTM(5, 7, 2, bidirectional=True)
    weights = [getattr(rnn, n) for n in rnn._flat_weights_names]
    buffer = torch.zeros(sum(w.numel() + 3 for w in weights))  # +3: gaps like cuDNN's alignment
    offset = 0
    for w in weights:
        with torch.no_grad():
            buffer[offset : offset + w.numel()] = w.reshape(-1)
        w.data = buffer.as_strided(w.shape, w.stride(), offset)
        offset += w.numel() + 3
    torch.manual_seed(1)
    dropped = dropped_hh_weights(rnn, 0.5)
    assert set(dropped) == set(rnn._flat_weights_names)
    assert len({v.untyped_storage().data_ptr() for v in dropped.values()}) == 1
    assert all(dropped[n].storage_offset() == getattr(rnn, n).storage_offset() for n in dropped)
    torch.manual_seed(1)
    plain = {
        n: torch.nn.functional.dropout(getattr(rnn, n), 0.5, training=True)
        for n in rnn._flat_weights_names
        if n.startswith("weight_hh")
    }
    x = torch.randn(4, 2, 5)
    out, _ = functional_call(rnn, dropped, (x,))
    assert torch.equal(out, functional_call(rnn, plain, (x,))[0])  # the same DropConnect, only the layout differs
    out.sum().backward()
    assert all(getattr(rnn, n).grad is not None for n in rnn._flat_weights_names)  # gradients reach every weight


def test_ar_tar_add_their_formulas_to_the_training_loss_only():
    """AR = ar x mean(dropped top outputs^2), TAR = tar x mean((h_t - h_(t-1))^2) of the undropped ones: added to
    the loss that is optimised in training, never to the logged cross-entropy or to evaluation."""
    from seqtune.objectives.clm import CausalLM

    torch.manual_seed(0)
    enc = Encoder("lstm", 30, 8, 16, 2, dropout=0.3)
    plain, regularised = CausalLM(enc, tie_weights=False), CausalLM(enc, tie_weights=False, ar=2.0, tar=1.0)
    regularised.load_state_dict(plain.state_dict())
    x, y = torch.randint(0, 30, (7, 3)), torch.randint(0, 30, (7, 3))
    enc.train()
    torch.manual_seed(1)
    base = plain(enc, (x, y), None)
    torch.manual_seed(1)
    reg = regularised(enc, (x, y), None)
    torch.manual_seed(1)  # the same dropout masks: the encoder's outputs of that forward
    raw, _ = enc(x, None, output_dropout=False)
    dropped = enc.dropout(raw)
    expected = 2.0 * dropped.pow(2).mean() + 1.0 * (raw[1:] - raw[:-1]).pow(2).mean()
    assert torch.allclose(reg.loss - base.loss, expected, atol=1e-6) and expected > 0
    assert torch.equal(reg.sums["loss"], base.sums["loss"])  # perplexity: cross-entropy alone
    for module in (enc, plain, regularised):
        module.eval()
    assert torch.equal(regularised(enc, (x, y), None).loss, plain(enc, (x, y), None).loss)


def test_ar_tar_must_be_non_negative():
    from omegaconf import OmegaConf

    from seqtune.objectives.clm import clm_rules

    cfg = OmegaConf.create({"objective": {"softmax": "full", "ar": -1.0, "tar": float("nan")}, "model": {}})
    problems = clm_rules(cfg)
    assert len(problems) == 2 and "objective.ar=-1.0 must be a finite number >= 0" in problems[0]
