"""A linear-chain CRF over tag sequences (Lafferty et al. 2001), the output layer of ``head=tagger head.crf=true``.

The score of tags ``y`` for emissions ``e`` (time, batch, tags) is ``start[y0] + sum_t e[t, y_t] +
sum_t trans[y_{t-1}, y_t] + end[y_last]``.  Training minimises ``log Z - score(gold)`` with ``log Z`` from the
forward algorithm; decoding is Viterbi.  The tagging scheme's rules (:func:`allowed_transitions`) are part of
the model: an illegal transition costs ``ILLEGAL`` in the likelihood (a large finite number, so gradients stay
finite) and is never taken by :meth:`CRF.decode` (it is masked to ``-inf`` there)::

    crf = CRF(["O", "B-PER", "I-PER"], scheme="auto")          # IOB2 rules found from the tag names
    nll = crf.nll(emissions, tags, lengths)                     # (batch,) negative log-likelihoods
    best = crf.decode(emissions, lengths)                       # (time, batch) tag ids, padding repeats the last

No maintained library fits: pytorch-crf's last release is from 2019 and has no transition constraints;
AllenNLP's CRF (which has them) went with the archived AllenNLP; torch-struct's last release is from 2021.
The module is small and is tested against brute-force enumeration (``tests/heads/test_crf.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

Scheme = Literal["auto", "iob2", "iobes", "none"]
SCHEMES: tuple[Scheme, ...] = ("auto", "iob2", "iobes", "none")
ILLEGAL = -1e4  # added to the score of an illegal transition in training


def _parse(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', ''); a tag without a one-letter prefix -> ('', tag)."""
    if tag == "O":
        return "O", ""
    if len(tag) > 2 and tag[1] == "-" and tag[0] in "BIES":
        return tag[0], tag[2:]
    return "", tag


def detect_scheme(labels: Sequence[str]) -> str:
    """iobes if any E-/S- tag, iob2 if the tags are O and B-/I- tags, else none (e.g. POS tags)."""
    parsed = [_parse(t) for t in labels]
    if any(p == "" for p, _ in parsed):
        return "none"
    if any(p in ("E", "S") for p, _ in parsed):
        return "iobes"
    return "iob2" if any(p in ("B", "I") for p, _ in parsed) else "none"


def allowed_transitions(
    labels: Sequence[str], scheme: Scheme = "auto"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(start (K,), transitions (K, K) [from, to], end (K,)) bool masks of what the scheme allows.

    iob2: I-X only after B-X or I-X, never first.  iobes: after B-X/I-X only I-X or E-X; after O, E-, S- only
    O, B-, S-; first only O, B-, S-; last only O, E-, S-.  none: everything.
    """
    k = len(labels)
    rules = detect_scheme(labels) if scheme == "auto" else scheme
    start, trans, end = (
        torch.ones(k, dtype=torch.bool),
        torch.ones(k, k, dtype=torch.bool),
        torch.ones(k, dtype=torch.bool),
    )
    if rules == "none":
        return start, trans, end
    parsed = [_parse(t) for t in labels]
    for j, (p, x) in enumerate(parsed):
        if rules == "iob2":
            start[j] = p != "I"
            for i, (q, y) in enumerate(parsed):
                trans[i, j] = p != "I" or (q in ("B", "I") and y == x)
        else:  # iobes
            start[j], end[j] = p in ("O", "B", "S"), p in ("O", "E", "S")
            for i, (q, y) in enumerate(parsed):
                inside = q in ("B", "I")  # an entity is open after tag i
                trans[i, j] = (p in ("I", "E") and y == x) if inside else p in ("O", "B", "S")
    return start, trans, end


class CRF(nn.Module):
    start_ok: torch.Tensor  # (K,) bool buffers: what the scheme allows (first tag, [from, to], last tag)
    trans_ok: torch.Tensor
    end_ok: torch.Tensor

    def __init__(self, labels: Sequence[str], scheme: Scheme = "auto"):
        super().__init__()
        k = len(labels)
        self.transitions = nn.Parameter(torch.zeros(k, k))  # [from, to]
        self.start = nn.Parameter(torch.zeros(k))
        self.end = nn.Parameter(torch.zeros(k))
        start_ok, trans_ok, end_ok = allowed_transitions(labels, scheme)
        self.register_buffer("start_ok", start_ok, persistent=False)
        self.register_buffer("trans_ok", trans_ok, persistent=False)
        self.register_buffer("end_ok", end_ok, persistent=False)

    def _scores(self, illegal: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """start, transitions, end with ``illegal`` added where the scheme forbids (added, or -inf for decoding)."""

        def cost(ok: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
            if illegal == float("-inf"):
                return param.masked_fill(~ok, illegal)
            return param + (~ok).to(param.dtype) * illegal

        return cost(self.start_ok, self.start), cost(self.trans_ok, self.transitions), cost(self.end_ok, self.end)

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """emissions (time, batch, K) float, tags (time, batch) (any value past a sequence's length), lengths (batch,)
        -> (batch,) negative log-likelihood of each sequence's tags."""
        return self.log_partition(emissions, lengths) - self.score(emissions, tags, lengths)

    def score(self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(batch,) score of the given tag sequences (illegal transitions included at their ILLEGAL cost)."""
        start, trans, end = self._scores(ILLEGAL)
        time, batch = tags.shape
        mask = _mask(lengths, time)  # (time, batch)
        tags = tags.clamp(min=0).masked_fill(~mask, 0)
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (time, batch)
        total = start[tags[0]] + (emitted * mask).sum(0)
        if time > 1:
            total = total + (trans[tags[:-1], tags[1:]] * mask[1:]).sum(0)
        last = tags.gather(0, (lengths - 1).clamp(min=0).unsqueeze(0)).squeeze(0)  # (batch,)
        return total + end[last]

    def log_partition(self, emissions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(batch,) log Z by the forward algorithm; steps past a sequence's length leave its alphas unchanged."""
        start, trans, end = self._scores(ILLEGAL)
        mask = _mask(lengths, emissions.size(0)).unsqueeze(2)  # (time, batch, 1)
        alpha = start + emissions[0]  # (batch, K)
        for t in range(1, emissions.size(0)):
            step = torch.logsumexp(alpha.unsqueeze(2) + trans, dim=1) + emissions[t]  # (batch, K)
            alpha = torch.where(mask[t], step, alpha)
        return torch.logsumexp(alpha + end, dim=1)

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(time, batch) best legal tag ids by Viterbi; positions past a length repeat the sequence's last tag."""
        start, trans, end = self._scores(float("-inf"))
        time, batch, k = emissions.shape
        mask = _mask(lengths, time).unsqueeze(2)  # (time, batch, 1)
        keep = torch.arange(k, device=emissions.device).expand(batch, k)  # a padded step points to itself
        score = start + emissions[0]  # (batch, K)
        pointers = []
        for t in range(1, time):
            best, arg = (score.unsqueeze(2) + trans).max(dim=1)  # (batch, K): best predecessor of each tag
            score = torch.where(mask[t], best + emissions[t], score)
            pointers.append(torch.where(mask[t], arg, keep))
        tag = (score + end).argmax(dim=1)  # (batch,)
        path = [tag]
        for arg in reversed(pointers):
            tag = arg.gather(1, tag.unsqueeze(1)).squeeze(1)
            path.append(tag)
        return torch.stack(path[::-1])  # (time, batch)


def _mask(lengths: torch.Tensor, time: int) -> torch.Tensor:
    """(time, batch) bool: True at the real steps of each sequence."""
    return torch.arange(time, device=lengths.device).unsqueeze(1) < lengths.to(torch.long).unsqueeze(0)
