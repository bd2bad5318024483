"""The CRF output layer against brute-force enumeration of every tag sequence on small cases: log-likelihood,
partition function, Viterbi path; illegal IOB2/IOBES transitions are never decoded, however the scores push."""
from __future__ import annotations

import itertools

import pytest
import torch

from seqtune.heads.crf import CRF, allowed_transitions, detect_scheme

IOB2 = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
IOBES = ["O", "B-PER", "I-PER", "E-PER", "S-PER"]


def _random_crf(labels: list[str], seed: int, scheme: str = "auto") -> CRF:
    torch.manual_seed(seed)
    crf = CRF(labels, scheme)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_(0, 1.5)
    return crf


@torch.no_grad()
def _brute_force(crf: CRF, emissions: torch.Tensor, length: int, legal_only: bool):
    """Every tag sequence of one example (emissions (time, K)): (log Z, best path, score of each path)."""
    start_ok, trans_ok, end_ok = crf.start_ok, crf.trans_ok, crf.end_ok
    k = emissions.size(-1)
    scores = {}
    for path in itertools.product(range(k), repeat=length):
        legal = bool(start_ok[path[0]]) and bool(end_ok[path[-1]]) and all(
            bool(trans_ok[a, b]) for a, b in zip(path, path[1:]))
        if legal_only and not legal:
            continue
        s = crf.start[path[0]] + crf.end[path[-1]] + sum(emissions[t, y] for t, y in enumerate(path))
        s = s + sum(crf.transitions[a, b] for a, b in zip(path, path[1:]))
        penalty = 0.0 if legal else -1e4 * (int(not start_ok[path[0]]) + int(not end_ok[path[-1]])
                                             + sum(int(not trans_ok[a, b]) for a, b in zip(path, path[1:])))
        scores[path] = s + penalty
    values = torch.stack(list(scores.values()))
    best = max(scores, key=lambda p: float(scores[p].detach()))
    return torch.logsumexp(values, 0), best, scores


@pytest.mark.parametrize("labels,seed", [(IOB2, 0), (IOB2, 1), (IOBES, 2), (["A", "B", "C"], 3)])
def test_partition_likelihood_and_viterbi_match_enumeration(labels, seed):
    crf = _random_crf(labels, seed)
    lengths = torch.tensor([4, 2, 1, 3])  # padded batch: the shorter rows must ignore their padding
    time, batch, k = 4, len(lengths), len(labels)
    emissions = torch.randn(time, batch, k, generator=torch.Generator().manual_seed(seed)) * 2
    tags = torch.randint(0, k, (time, batch), generator=torch.Generator().manual_seed(seed + 10))
    tags[2:, 1], tags[1:, 2], tags[3:, 3] = -100, -100, -100  # IGNORE_INDEX on padding, as batches carry it
    log_z = crf.log_partition(emissions, lengths)
    nll = crf.nll(emissions, tags, lengths)
    decoded = crf.decode(emissions, lengths)
    for b, n in enumerate(lengths.tolist()):
        z, _, scores = _brute_force(crf, emissions[:n, b], n, legal_only=False)
        _, best_legal, _ = _brute_force(crf, emissions[:n, b], n, legal_only=True)
        assert log_z[b].item() == pytest.approx(z.item(), abs=1e-4)
        gold = tuple(tags[:n, b].tolist())
        assert nll[b].item() == pytest.approx((z - scores[gold]).item(), rel=1e-6, abs=1e-3)  # illegal gold: ~1e4
        assert tuple(decoded[:n, b].tolist()) == best_legal
        assert (decoded[n:, b] == decoded[n - 1, b]).all()  # padding repeats the last tag


def test_nll_gradient_is_finite_and_probabilities_sum_to_one():
    crf = _random_crf(IOB2, 5)
    emissions = torch.randn(3, 1, 5, requires_grad=True)
    lengths = torch.tensor([3])
    total = torch.logsumexp(torch.stack([-crf.nll(emissions, torch.tensor(p).view(3, 1), lengths)[0]
                                         for p in itertools.product(range(5), repeat=3)]), 0)
    assert total.item() == pytest.approx(0.0, abs=1e-5)  # sum over all paths of p(path) = 1
    crf.nll(emissions, torch.tensor([[1], [2], [0]]), lengths).sum().backward()
    assert torch.isfinite(emissions.grad).all() and torch.isfinite(crf.transitions.grad).all()


def _legal(tags: list[str]) -> bool:
    prev = "O"
    for tag in tags:
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            return False
        prev = tag
    return True


def test_illegal_iob2_transitions_are_never_decoded():
    """Emissions that favour I- tags everywhere (a model that has not learnt the scheme): Viterbi still returns
    legal IOB2 only, across many random draws and lengths; the per-token argmax would not."""
    crf = CRF(IOB2)  # zero transition scores: only the rules shape the path
    gen = torch.Generator().manual_seed(0)
    emissions = torch.randn(12, 200, 5, generator=gen)
    emissions[..., 2] += 2.0  # I-PER
    emissions[..., 4] += 2.0  # I-LOC
    lengths = torch.randint(1, 13, (200,), generator=gen)
    decoded = crf.decode(emissions, lengths)
    argmax_illegal = 0
    for b, n in enumerate(lengths.tolist()):
        assert _legal([IOB2[i] for i in decoded[:n, b].tolist()])
        argmax_illegal += not _legal([IOB2[i] for i in emissions[:n, b].argmax(-1).tolist()])
    assert argmax_illegal > 100  # the test would catch a decoder that ignored the rules


def test_scheme_rules():
    assert detect_scheme(IOB2) == "iob2" and detect_scheme(IOBES) == "iobes" and detect_scheme(["NN", "VB"]) == "none"
    start, trans, end = allowed_transitions(IOB2)
    assert start.tolist() == [True, True, False, True, False]
    assert trans[IOB2.index("B-PER"), IOB2.index("I-PER")] and trans[IOB2.index("I-PER"), IOB2.index("I-PER")]
    assert not trans[IOB2.index("O"), IOB2.index("I-PER")] and not trans[IOB2.index("B-LOC"), IOB2.index("I-PER")]
    assert end.all()
    start, trans, end = allowed_transitions(IOBES)
    assert start.tolist() == [True, True, False, False, True] and end.tolist() == [True, False, False, True, True]
    assert not trans[IOBES.index("B-PER"), IOBES.index("O")] and trans[IOBES.index("B-PER"), IOBES.index("E-PER")]
    assert not trans[IOBES.index("E-PER"), IOBES.index("I-PER")] and trans[IOBES.index("S-PER"), IOBES.index("B-PER")]
    assert allowed_transitions(IOB2, "none")[1].all()
