"""Autoencoder, denoising and seq2seq: corruption rules, falling losses, greedy decoding, encoder-only keys."""
from __future__ import annotations

import torch

from seqtune.data.pairs import PairBatches, collate_pairs, generate_pairs
from seqtune.data.records import Pair
from seqtune.data.tokenizers import EOS_ID, MASK_ID, PAD_ID
from seqtune.objectives.autoencoder import SequenceAutoencoder
from seqtune.objectives.base import TaskModel
from seqtune.objectives.denoising import DenoisingAutoencoder, corrupt
from seqtune.objectives.seq2seq import Seq2Seq
from tests.objectives._helpers import N_SPECIAL, mean, sentence_batch, tiny_encoder, train_losses


def test_corrupt_masks_deletes_and_keeps_padding_consistent():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    batch = sentence_batch(64, 50, g, min_len=10, max_len=20)
    noisy, lengths = corrupt(batch.tokens, batch.lengths, mask_rate=0.2, delete_rate=0.25, span_length=3,
                             shuffle_distance=0.0)
    real = torch.arange(noisy.size(0)).unsqueeze(1) < lengths
    assert (noisy[~real] == PAD_ID).all() and (noisy[real] != PAD_ID).all()
    kept_share = lengths.sum().item() / batch.lengths.sum().item()
    assert abs(kept_share - 0.75) < 0.05
    assert abs((noisy[real] == MASK_ID).float().mean().item() - 0.2) < 0.05
    # without shuffling the kept, unmasked tokens keep their order (a subsequence of the original)
    for b in range(8):
        orig = batch.tokens[: batch.lengths[b], b].tolist()
        kept = [t for t in noisy[: lengths[b], b].tolist() if t != MASK_ID]
        it = iter(orig)
        assert all(t in it for t in kept)


def test_span_shuffle_permutes_within_distance_only():
    torch.manual_seed(1)
    tokens = torch.arange(N_SPECIAL, N_SPECIAL + 30).unsqueeze(1).repeat(1, 16)  # (30, 16), distinct per position
    lengths = torch.full((16,), 30)
    noisy, new_lengths = corrupt(tokens, lengths, 0.0, 0.0, span_length=3, shuffle_distance=1.0)
    assert torch.equal(new_lengths, lengths)
    assert not torch.equal(noisy, tokens)  # something moved
    for b in range(16):
        assert sorted(noisy[:, b].tolist()) == tokens[:, b].tolist()  # a permutation
        moved = (noisy[:, b] - tokens[:, b]).abs().max().item()
        assert moved <= 2 * 3 + 2  # at most shuffle_distance+1 spans of 3 tokens away


def test_autoencoder_and_denoising_losses_fall():
    for make in (lambda e: SequenceAutoencoder(e, 0, 1),
                 lambda e: DenoisingAutoencoder(e, 0, 1, 0.15, 0.1, 2, 1.0)):
        encoder = tiny_encoder(20, cell="lstm")
        model = TaskModel(encoder, make(encoder))
        g = torch.Generator().manual_seed(0)
        losses = train_losses(model, lambda: sentence_batch(16, 20, g), steps=80, lr=0.02)
        assert mean(losses[-10:]) < 0.6 * mean(losses[:10]), (type(model.objective).__name__, losses[:3], losses[-3:])
        assert all(k.startswith(("encoder.", "objective.decoder.")) for k in model.state_dict())
        assert not any(k.startswith("encoder.") and "decoder" in k for k in model.state_dict())


def test_seq2seq_learns_reversal_and_reports_exact_match():
    pairs = generate_pairs("reverse", 600, num_symbols=6, min_length=2, max_length=4, seed=0)
    vocab = {f"s{i}": N_SPECIAL + i for i in range(6)}
    data = [Pair([vocab[w] for w in s.split()], [vocab[w] for w in t.split()] + [EOS_ID]) for s, t in pairs]
    assert all(p.target[:-1] == p.tokens[::-1] for p in data)
    batches = PairBatches(data, 32, shuffle=True, seed=0, device=torch.device("cpu"))
    stream = iter(())

    def next_batch():
        nonlocal stream
        try:
            return next(stream)
        except StopIteration:
            stream = batches.iter_from(0)
            return next(stream)

    encoder = tiny_encoder(N_SPECIAL + 6, cell="gru", bidirectional=True)
    model = TaskModel(encoder, Seq2Seq(encoder, 0, 1))
    losses = train_losses(model, next_batch, steps=150, lr=0.02)
    assert mean(losses[-10:]) < 0.3 * mean(losses[:10])
    model.eval()
    with torch.no_grad():
        out = model(collate_pairs(data[:200]))
    m = model.objective.summarize({k: float(v) / out.count for k, v in out.sums.items()})
    assert set(m) >= {"loss", "acc", "greedy_acc", "exact_match"}
    assert 0.0 <= m["exact_match"] <= m["greedy_acc"] <= 1.0
    assert m["exact_match"] > 0.3


def test_autoencoder_carries_information_through_the_encoder_summary():
    """iid random tokens: a decoder that ignored the encoder could not beat log(8) nats on the 4 symbols."""
    import math

    from seqtune.data.batching import collate
    from seqtune.data.records import Example

    g = torch.Generator().manual_seed(0)

    def batch():
        return collate([Example(torch.randint(6, 14, (4,), generator=g).tolist() + [EOS_ID], 0) for _ in range(32)])

    encoder = tiny_encoder(14, cell="gru")
    model = TaskModel(encoder, SequenceAutoencoder(encoder, 0, 1))
    losses = train_losses(model, batch, steps=200, lr=0.01)
    blind = math.log(8) * 4 / 5  # per target token (4 random symbols + a certain <eos>)
    assert mean(losses[-10:]) < 0.75 * blind
