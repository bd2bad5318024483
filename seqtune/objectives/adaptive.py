"""Adaptive softmax (Grave et al. 2017, "Efficient softmax approximation for GPUs") for the causal LM.

A word LM's output layer costs ``hidden x vocabulary`` per token, which at WikiText-2's 33k words is most of a
training step and at WikiText-103's 267k nearly all of it.  The adaptive softmax splits the vocabulary, sorted
by falling frequency (seqtune's tokenizers rank words that way, specials first), into a *head* of the most
frequent tokens plus one entry per *tail cluster*, and the clusters of rarer tokens.  The head is scored for
every token; a cluster only for the tokens whose target lies in it, through a projection that is
``div_value`` times narrower for each cluster further down::

    p(w | h) = p_head(w | h)                              w in the head
    p(w | h) = p_head(cluster_i | h) * p_i(w | h)         w in tail cluster i

It is an exact, normalised distribution over the whole vocabulary (not a sampled estimate), so perplexities
are comparable with the full softmax's.  ``nn.AdaptiveLogSoftmaxWithLoss`` computes the training loss (only the
clusters a batch needs); :meth:`AdaptiveSoftmax.log_prob` gives every token's log-probability for generation,
evaluation and export, built with ``torch.cat`` so that it traces into a plain ONNX graph::

    out = AdaptiveSoftmax(hidden_size=256, vocab_size=33278, cutoffs=default_cutoffs(33278))
    loss = out.loss(hidden, targets)           # hidden (N, H), targets (N,) -> mean NLL
    logp = out.log_prob(hidden)                # (..., H) -> (..., vocab); logsumexp over vocab == 0

Default cutoffs (:func:`default_cutoffs`) follow the paper's guidance: a small head of the ~2,000 most
frequent tokens (most of the text falls there; the paper finds heads of 1-2k words best on its hardware) and
1 to 4 tail clusters of growing size (boundaries x5 apart), with the projection of each cluster 4x narrower
than the one before (``div_value=4``, the paper's and PyTorch's choice).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqtune.errors import ConfigError

HEAD_SIZE = 2000  # tokens in the head by default (the paper: 1-2k frequent words)
GROWTH = 5  # each default boundary is GROWTH x the one before
MAX_CLUSTERS = 4  # boundaries at most, i.e. 4 tail clusters (the paper uses 2-5 clusters in all)


def default_cutoffs(vocab_size: int) -> list[int]:
    """Cluster boundaries for a vocabulary ranked by frequency: 2000, 10000, 50000, 250000 (x5 each), as long
    as the tokens left after a boundary are at least as many as the cluster before it holds (so the last
    cluster is never a small remainder).  WikiText-2 (33,278): [2000, 10000]; PTB (10,000): [2000];
    WikiText-103 (267,735): [2000, 10000, 50000].

    Vocabularies too small to split (under 4,000) get a head of a quarter of the vocabulary and one tail
    cluster, which keeps the mechanism but will not save much time.
    """
    if vocab_size < 2 * HEAD_SIZE:
        return [max(1, vocab_size // 4)]
    cutoffs = [HEAD_SIZE]
    while len(cutoffs) < MAX_CLUSTERS:
        nxt = cutoffs[-1] * GROWTH
        if vocab_size - nxt < nxt - cutoffs[-1]:  # the remainder would be smaller than the cluster before it
            break
        cutoffs.append(nxt)
    return cutoffs


def check_cutoffs(cutoffs: list[int], vocab_size: int, key: str = "objective.cutoffs") -> list[int]:
    """The cutoffs to use (``[]`` -> the defaults), or a ConfigError naming ``key`` and the fix."""
    if not cutoffs:
        return default_cutoffs(vocab_size)
    cutoffs = [int(c) for c in cutoffs]
    if any(b <= a for a, b in zip(cutoffs, cutoffs[1:])) or cutoffs[0] < 1 or cutoffs[-1] >= vocab_size:
        raise ConfigError(
            f"{key}={cutoffs} must be strictly increasing token ranks between 1 and the vocabulary "
            f"size minus one ({vocab_size - 1}); e.g. {key}={default_cutoffs(vocab_size)}, or {key}=[] "
            "for the default split."
        )
    return cutoffs


def adaptive_loss(asm: nn.AdaptiveLogSoftmaxWithLoss, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood through ``asm`` in float32 with autocast off: under bf16 autocast its clusters
    would return bf16 log-probabilities that PyTorch's module copies into a float32 buffer (an error), and the sums
    of log-probabilities should stay float32 anyway.  The softmax is a small part of an adaptive model's step."""
    with torch.autocast(hidden.device.type, enabled=False):
        return asm(hidden.float(), targets).loss


class AdaptiveSoftmax(nn.Module):
    """The output layer of a causal LM with an adaptive softmax; parameters live in ``self.asm``."""

    def __init__(self, hidden_size: int, vocab_size: int, cutoffs: list[int], div_value: float = 4.0):
        super().__init__()
        # head_bias: the full softmax's decoder has a bias too; it learns the unigram distribution early on.
        self.asm = nn.AdaptiveLogSoftmaxWithLoss(hidden_size, vocab_size, cutoffs, div_value=div_value, head_bias=True)
        self.cutoffs = list(cutoffs)

    def loss(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """hidden (N, H), targets (N,) -> mean negative log-likelihood of the targets (exact); 0 for N = 0."""
        if targets.numel() == 0:  # e.g. a multitask batch without a scored token: no NaN from an empty mean
            return hidden.sum() * 0.0
        return adaptive_loss(self.asm, hidden, targets)

    def log_prob(self, hidden: torch.Tensor) -> torch.Tensor:
        """(..., H) -> (..., vocab) log-probabilities of every token; they normalise (logsumexp = 0)."""
        flat = hidden.reshape(-1, hidden.size(-1)).float()  # (N, H)
        shortlist = self.asm.shortlist_size
        with torch.autocast(hidden.device.type, enabled=False):  # float32 log-probabilities, as adaptive_loss
            head = F.log_softmax(self.asm.head(flat), dim=-1)  # (N, shortlist + clusters)
            parts = [head[:, :shortlist]]
            for i, cluster in enumerate(self.asm.tail):
                # p(w) = p(cluster i) * p(w | cluster i), in log space
                parts.append(F.log_softmax(cluster(flat), dim=-1) + head[:, shortlist + i : shortlist + i + 1])
        return torch.cat(parts, dim=-1).reshape(*hidden.shape[:-1], -1)  # (..., vocab)
