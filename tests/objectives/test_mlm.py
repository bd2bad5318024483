"""Masked LM: the 80/10/10 rule, loss on picked positions only, a falling loss on a bidirectional GRU."""
from __future__ import annotations

import torch

from seqtune.data.batching import IGNORE_INDEX
from seqtune.data.tokenizers import MASK_ID, PAD_ID
from seqtune.objectives.base import TaskModel
from seqtune.objectives.mlm import MaskedLM, mask_tokens, masked_loss_sums
from tests.objectives._helpers import N_SPECIAL, counting_tokens, mean, tiny_encoder, train_losses


def test_masking_follows_80_10_10_and_skips_padding():
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(N_SPECIAL, 1000, (200, 100), generator=g)
    tokens[150:, :50] = PAD_ID
    inputs, targets = mask_tokens(tokens, 1000, 0.15, 0.8, 0.1, generator=g)
    picked = targets != IGNORE_INDEX
    real = tokens != PAD_ID
    assert not (picked & ~real).any()  # padding is never picked
    assert abs(picked.sum() / real.sum() - 0.15) < 0.01
    assert torch.equal(targets[picked], tokens[picked])  # targets are the original tokens
    assert torch.equal(inputs[~picked], tokens[~picked])  # unpicked positions are untouched
    n = picked.sum().item()
    masked = (inputs[picked] == MASK_ID).sum().item() / n
    kept = (inputs[picked] == tokens[picked]).sum().item() / n
    randomised = 1 - masked - kept
    assert abs(masked - 0.8) < 0.02 and abs(kept - 0.1) < 0.02 and abs(randomised - 0.1) < 0.02
    assert (inputs[picked] >= N_SPECIAL).logical_or(inputs[picked] == MASK_ID).all()  # random ids are not specials


def test_loss_counts_masked_positions_only():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 3, 11, generator=g, requires_grad=True)
    targets = torch.full((6, 3), IGNORE_INDEX)
    targets[1, 0], targets[4, 2] = 7, 9
    loss_sum, _, count = masked_loss_sums(logits, targets)
    assert count.item() == 2
    loss_sum.backward()
    grad_rows = logits.grad.abs().sum(-1) > 0  # (time, batch)
    assert grad_rows.sum() == 2 and grad_rows[1, 0] and grad_rows[4, 2]
    # changing the logits at an unmasked position does not change the loss
    other = logits.detach().clone()
    other[0, 0] += 5.0
    assert torch.allclose(masked_loss_sums(other, targets)[0], loss_sum.detach())


def test_mlm_loss_falls_and_accuracy_rises_on_tiny_data():
    vocab = 20
    encoder = tiny_encoder(vocab, bidirectional=True)
    model = TaskModel(encoder, MaskedLM(encoder, 0.3, 0.8, 0.1))
    g = torch.Generator().manual_seed(0)
    losses = train_losses(model, lambda: (counting_tokens(12, 16, vocab, g), None), steps=120, lr=0.02)
    assert mean(losses[-10:]) < 0.5 * mean(losses[:10])
    model.eval()
    with torch.no_grad():
        out = model((counting_tokens(12, 64, vocab, g), None))
    metrics = model.objective.summarize({k: float(v) / out.count for k, v in out.sums.items()})
    assert metrics["acc"] > 0.5  # chance is 1/14
