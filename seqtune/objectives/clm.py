"""Causal language modelling: predict the next token from the encoder's state (a linear decoder + softmax).

Used by ``pretrain`` with :class:`~seqtune.data.batching.LMStream` windows; the hidden state is carried
across windows by the loop.  The loss is the per-token mean cross-entropy; the summed loss and the token count
are returned as device tensors so the loop can accumulate them without a host sync per step.

The output layer is ``objective.softmax``: ``full`` (a linear decoder over the vocabulary, by default fused
with the loss, see ``fused_ce.py``) or ``adaptive`` (``adaptive.py``: an exact adaptive softmax, cheap for
large vocabularies).  Everything that scores the vocabulary goes through :meth:`CausalLM.scores`
(generation, export) or :meth:`CausalLM.token_loss` (training, evaluation, a multitask auxiliary loss).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import MISSING
from torch import nn

from seqtune.data.tokenizers import PAD_ID
from seqtune.models.encoder import Encoder, State
from seqtune.objectives.adaptive import AdaptiveSoftmax, check_cutoffs
from seqtune.objectives.base import StepOutput
from seqtune.objectives.fused_ce import linear_cross_entropy
from seqtune.objectives.spec import ObjectiveSpec, register_objective


class CausalLM(nn.Module):
    name = "clm"

    def __init__(
        self,
        encoder: Encoder,
        tie_weights: bool,
        char_level: bool = False,
        fused_loss: bool = True,
        adaptive_cutoffs: list[int] | None = None,
        div_value: float = 4.0,
        ar: float = 0.0,
        tar: float = 0.0,
    ):
        super().__init__()
        self.ar, self.tar = ar, tar  # AWD-LSTM's activation regularisers (Merity et al. 2017), training only
        self.fused_loss = fused_loss  # decoder + cross-entropy in one chunked step (fused_ce.py); same maths
        self.char_level = char_level  # one token per character: report bits per character too
        self.adaptive: AdaptiveSoftmax | None = None
        if adaptive_cutoffs is not None:  # softmax=adaptive (tie_weights is refused by config validation)
            self.adaptive = AdaptiveSoftmax(encoder.output_size, encoder.vocab_size, adaptive_cutoffs, div_value)
            return
        self.decoder = nn.Linear(encoder.output_size, encoder.vocab_size)
        if tie_weights:
            self.decoder.weight = encoder.embedding.weight  # shared parameter, checked sizes in config.validate
        nn.init.zeros_(self.decoder.bias)

    def token_loss(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """hidden (N, H), targets (N,) -> mean next-token cross-entropy (nats)."""
        if self.adaptive is not None:
            return self.adaptive.loss(hidden, targets)
        if self.fused_loss:  # no vocabulary-sized tensors kept for backward, no zero-filled logits gradient
            return linear_cross_entropy(hidden, self.decoder.weight, self.decoder.bias, targets)
        return F.cross_entropy(self.decoder(hidden).float(), targets)

    def forward(self, encoder: Encoder, batch: tuple[torch.Tensor, torch.Tensor], state: State | None) -> StepOutput:
        inputs, targets = batch  # (time, batch) each
        raw, state = encoder(inputs, state, output_dropout=False)  # (time, batch, hidden), undropped
        hidden = encoder.dropout(raw)  # the encoder's own output dropout, as encoder(inputs, state) applies it
        loss = self.token_loss(hidden.reshape(-1, hidden.size(-1)), targets.reshape(-1))
        n = targets.numel()
        return StepOutput(loss + self.activation_penalty(raw, hidden), state, {"loss": loss.detach() * n}, n)

    def activation_penalty(self, raw: torch.Tensor, dropped: torch.Tensor) -> torch.Tensor | float:
        """AR: ``ar`` x the mean square of the top layer's dropped outputs (keeps activations small); TAR:
        ``tar`` x the mean square of the change between consecutive undropped outputs (keeps them slow).  Added
        to the training loss only: perplexities and the logged loss are the cross-entropy alone."""
        if not self.training or (self.ar == 0 and self.tar == 0):
            return 0.0
        penalty = self.ar * dropped.pow(2).mean()
        if raw.size(0) > 1:
            penalty = penalty + self.tar * (raw[1:] - raw[:-1]).pow(2).mean()
        return penalty

    def scores(self, hidden: torch.Tensor) -> torch.Tensor:
        """(..., hidden) -> (..., vocab) scores whose softmax is the model's next-token distribution: logits of
        the full softmax, exact log-probabilities of the adaptive one."""
        if self.adaptive is not None:
            return self.adaptive.log_prob(hidden)
        return self.decoder(hidden)

    def predict(self, encoder: Encoder, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token scores (time, batch, vocab) for inference and export (no state carried in)."""
        hidden, _ = encoder(tokens)  # (time, batch, hidden)
        return self.scores(hidden)  # (time, batch, vocab)

    def summarize(self, means: dict[str, float]) -> dict[str, float]:
        """Mean loss (nats/token) -> loss, perplexity and, for characters, bits per character."""
        loss = means["loss"]
        out = {"loss": loss, "ppl": math.exp(min(loss, 50.0))}
        if self.char_level:
            out["bpc"] = loss / math.log(2)
        return out

    def task_loss(self, encoder: Encoder, batch: Any) -> torch.Tensor:
        """transfer=multitask: the next token of a task batch's texts (padding not scored)."""
        return clm_loss(self, encoder, batch.tokens)


def clm_loss(lm: CausalLM, encoder: Encoder, tokens: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of the causal LM ``lm`` (its full or adaptive softmax) over a padded
    (time, batch) batch; padded targets are not scored."""
    inputs, targets = tokens[:-1], tokens[1:]  # (time - 1, batch) each
    hidden, _ = encoder(inputs)  # (time - 1, batch, hidden)
    real = targets != PAD_ID
    return lm.token_loss(hidden[real], targets[real])  # hidden[real]: (real targets, hidden)


def build_clm(encoder: Encoder, cfg, tokenizer, info: dict | None = None) -> CausalLM:
    """Builder: reads the config, passes plain values."""
    o = cfg.objective  # .get: a checkpoint written before these keys existed has a full softmax
    cutoffs = None
    if o.get("softmax", "full") == "adaptive":  # the vocabulary is known only now, after the tokenizer was fitted
        cutoffs = check_cutoffs(list(o.cutoffs), encoder.vocab_size)
    return CausalLM(
        encoder,
        tie_weights=cfg.model.tie_weights,
        char_level=tokenizer.kind == "char",
        fused_loss=o.get("fused_loss", True),
        adaptive_cutoffs=cutoffs,
        div_value=float(o.get("div_value", 4.0)),
        ar=float(o.get("ar", 0.0)),
        tar=float(o.get("tar", 0.0)),
    )


@dataclass
class ClmObjectiveConfig:
    name: str = MISSING
    # full softmax: output layer + cross-entropy together, in row chunks (fused_ce.py); false: textbook ops
    fused_loss: bool = MISSING
    softmax: str = MISSING  # full | adaptive (Grave et al. 2017, adaptive.py; exact, cheap for large vocabularies)
    cutoffs: list[int] = MISSING  # adaptive: token ranks where tail clusters start; [] = the default split
    div_value: float = MISSING  # adaptive: each tail cluster's projection is div_value x narrower than the one before
    ar: float = MISSING  # activation regularisation: ar x mean squared dropped top-layer output (AWD-LSTM: 2)
    tar: float = MISSING  # temporal AR: tar x mean squared step-to-step change of undropped outputs (AWD-LSTM: 1)


def clm_rules(cfg) -> list[str]:
    """objective.softmax and its settings (the cutoffs' upper bound needs the vocabulary: checked when built)."""
    o, m = cfg.objective, cfg.model
    if o.softmax not in ("full", "adaptive"):
        return [f"objective.softmax={o.softmax!r} is not one of full, adaptive."]
    problems = [
        f"objective.{k}={o.get(k)} must be a finite number >= 0 (AWD-LSTM uses ar=2, tar=1; 0 turns it off)."
        for k in ("ar", "tar")
        if not 0 <= float(o.get(k, 0.0)) < float("inf")
    ]
    if o.softmax == "full":
        return problems
    cutoffs = list(o.cutoffs)
    if any(c < 1 for c in cutoffs) or any(b <= a for a, b in zip(cutoffs, cutoffs[1:])):
        problems.append(
            f"objective.cutoffs={cutoffs} must be strictly increasing positive token ranks, e.g. "
            "[2000,10000]; or [] for the default split."
        )
    if o.div_value < 1.0:
        problems.append(f"objective.div_value={o.div_value} must be >= 1 (4: each cluster 4x narrower).")
    if m.tie_weights:
        problems.append(
            "model.tie_weights=true shares the embedding with a full softmax's decoder, which "
            "objective.softmax=adaptive does not have; set model.tie_weights=false or objective.softmax=full."
        )
    return problems


SPEC = register_objective(
    ObjectiveSpec(
        name="clm",
        title="causal language model",
        schema=ClmObjectiveConfig,
        build=build_clm,
        data_kind="stream",
        direction="unidirectional",
        multitask=True,
        rules=clm_rules,
    )
)
