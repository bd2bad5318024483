"""Forward and backward language models in one bidirectional encoder (ELMo's biLM, Peters et al. 2018; the word
level of Akbik et al. 2018's forward and backward character LMs).

The encoder is a one-layer bidirectional RNN (its rules require ``model.num_layers=1``: a second layer
would feed the backward states, which have seen token t+1, into the forward states that must predict it).  The
forward half of the output at step t predicts token t+1, the backward half token t-1; both directions share one
output layer.  The vocabulary is sorted by frequency, so an adaptive softmax (Grave et al. 2017; ``cutoffs``)
keeps the full vocabulary's softmax cheap on a CPU: frequent words in the head, rare ones in smaller tail
clusters.  Batches are ``LMWindows`` (bptt-long windows, each read whole, no carried state).

With ``model.char_features=cnn`` the encoder spells every input word, so a tagger fine-tuned from this encoder
starts with word embeddings for the pretraining corpus's whole vocabulary, a character CNN and a BiLSTM that
has read both sides of each word.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from omegaconf import MISSING
from torch import nn

from seqtune.data.tokenizers import PAD_ID
from seqtune.models.encoder import Encoder, State
from seqtune.objectives.adaptive import adaptive_loss
from seqtune.objectives.base import StepOutput
from seqtune.objectives.spec import ObjectiveSpec, register_objective


class BidirectionalLM(nn.Module):
    name = "bilm"

    def __init__(self, encoder: Encoder, cutoffs: Sequence[int]):
        super().__init__()
        self.hidden_size = encoder.hidden_size
        vocab = encoder.vocab_size
        kept = [c for c in cutoffs if 0 < c < vocab - 1]  # a small vocabulary (smoke runs) gets fewer clusters
        self.softmax: nn.Module = (
            nn.AdaptiveLogSoftmaxWithLoss(self.hidden_size, vocab, kept, div_value=4.0)
            if kept
            else nn.Linear(self.hidden_size, vocab)
        )

    def forward(self, encoder: Encoder, batch, state: State | None) -> StepOutput:
        tokens = batch[0] if isinstance(batch, (tuple, list)) else batch.tokens  # (time, batch)
        lengths, chars = getattr(batch, "lengths", None), getattr(batch, "chars", None)  # a task batch (multitask)
        out, _ = encoder(tokens, None, lengths, chars=chars)  # (time, batch, 2 * hidden); each window read whole
        h = self.hidden_size
        forward = out[:-1, :, :h].reshape(-1, h)  # step t predicts token t+1
        backward = out[1:, :, h:].reshape(-1, h)  # step t predicts token t-1
        hidden = torch.cat([forward, backward])  # (2 * (time-1) * batch, hidden)
        targets = torch.cat([tokens[1:].reshape(-1), tokens[:-1].reshape(-1)])
        real = targets != PAD_ID
        hidden, targets = hidden[real], targets[real]
        if isinstance(self.softmax, nn.AdaptiveLogSoftmaxWithLoss):
            loss = adaptive_loss(self.softmax, hidden, targets)
        else:
            loss = F.cross_entropy(self.softmax(hidden).float(), targets)
        predicted = targets.numel()
        # The loop's count (tokens/s, micro-batch weights) is the input tokens; the predictions (two per token, less
        # the window ends) are a sum of their own, so summarize() takes the ratio of sums.
        sums = {"loss_sum": loss.detach() * predicted, "predicted": torch.tensor(float(predicted))}
        return StepOutput(loss, None, sums, tokens.numel())

    def summarize(self, means: dict[str, float]) -> dict[str, float]:
        """Mean loss over the predictions of both directions (nats/token) -> loss and perplexity."""
        loss = means["loss_sum"] / max(means["predicted"], 1e-12)
        return {"loss": loss, "ppl": math.exp(min(loss, 50.0))}


def build_bilm(encoder: Encoder, cfg, tokenizer, info: dict | None = None) -> BidirectionalLM:
    return BidirectionalLM(encoder, list(cfg.objective.cutoffs))


@dataclass
class BilmObjectiveConfig:
    name: str = MISSING
    # Adaptive-softmax cluster boundaries over the frequency-sorted vocabulary (Grave et al. 2017): the head holds
    # the most frequent cutoffs[0] words; cutoffs at or past the vocabulary size are dropped (none left: a plain
    # softmax).
    cutoffs: list[int] = MISSING


def bilm_rules(cfg) -> list[str]:
    m, cutoffs, problems = cfg.model, list(cfg.objective.cutoffs), []
    if m.num_layers != 1:
        problems.append(
            f"objective=bilm (forward and backward LMs) needs a one-layer encoder, but model.num_layers="
            f"{m.num_layers}: a second layer would show the forward LM the token it predicts. Set model.num_layers=1."
        )
    if any(c < 1 for c in cutoffs) or cutoffs != sorted(set(cutoffs)):
        problems.append(f"objective.cutoffs={cutoffs} must be positive word counts in increasing order.")
    return problems


SPEC = register_objective(
    ObjectiveSpec(
        name="bilm",
        title="bidirectional language model",
        schema=BilmObjectiveConfig,
        build=build_bilm,
        data_kind="windows",
        direction="bidirectional",
        multitask=True,
        rules=bilm_rules,
    )
)
