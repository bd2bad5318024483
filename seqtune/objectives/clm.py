"""Causal language modelling: predict the next token from the encoder's state (a linear decoder + softmax).

Used by ``pretrain`` with :class:`~seqtune.data.batching.LMStream` windows; the hidden state is carried
across windows by the loop.  The loss is the per-token mean cross-entropy; the summed loss and the token count
are returned as device tensors so the loop can accumulate them without a host sync per step.
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
from seqtune.objectives.base import StepOutput
from seqtune.objectives.fused_ce import linear_cross_entropy
from seqtune.objectives.spec import ObjectiveSpec, register_objective


class CausalLM(nn.Module):
    name = "clm"

    def __init__(self, encoder: Encoder, tie_weights: bool, char_level: bool = False, fused_loss: bool = True):
        super().__init__()
        self.fused_loss = fused_loss  # decoder + cross-entropy in one chunked step (fused_ce.py); same maths
        self.char_level = char_level  # one token per character: report bits per character too
        self.decoder = nn.Linear(encoder.output_size, encoder.vocab_size)
        if tie_weights:
            self.decoder.weight = encoder.embedding.weight  # shared parameter, checked sizes in config.validate
        nn.init.zeros_(self.decoder.bias)

    def forward(self, encoder: Encoder, batch: tuple[torch.Tensor, torch.Tensor], state: State | None) -> StepOutput:
        inputs, targets = batch  # (time, batch) each
        hidden, state = encoder(inputs, state)  # (time, batch, hidden)
        if self.fused_loss:  # no vocabulary-sized tensors kept for backward, no zero-filled logits gradient
            loss = linear_cross_entropy(
                hidden.reshape(-1, hidden.size(-1)), self.decoder.weight, self.decoder.bias, targets.reshape(-1)
            )
        else:
            logits = self.decoder(hidden)  # (time, batch, vocab)
            loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))
        n = targets.numel()
        return StepOutput(loss, state, {"loss": loss.detach() * n}, n)

    def predict(self, encoder: Encoder, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token logits (time, batch, vocab) for inference and export (no state carried in)."""
        hidden, _ = encoder(tokens)  # (time, batch, hidden)
        return self.decoder(hidden)  # (time, batch, vocab)

    def summarize(self, means: dict[str, float]) -> dict[str, float]:
        """Mean loss (nats/token) -> loss, perplexity and, for characters, bits per character."""
        loss = means["loss"]
        out = {"loss": loss, "ppl": math.exp(min(loss, 50.0))}
        if self.char_level:
            out["bpc"] = loss / math.log(2)
        return out

    def task_loss(self, encoder: Encoder, batch: Any) -> torch.Tensor:
        """transfer=multitask: the next token of a task batch's texts (padding not scored)."""
        return clm_loss(self.decoder, encoder, batch.tokens)


def clm_loss(decoder: nn.Linear, encoder: Encoder, tokens: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over a padded (time, batch) batch; padded targets are not scored."""
    inputs, targets = tokens[:-1], tokens[1:]  # (time - 1, batch) each
    hidden, _ = encoder(inputs)  # (time - 1, batch, hidden)
    real = targets != PAD_ID
    logits = decoder(hidden[real]).float()  # (real targets, vocab)
    return F.cross_entropy(logits, targets[real], reduction="sum") / real.sum().clamp(min=1)


def build_clm(encoder: Encoder, cfg, tokenizer, info: dict | None = None) -> CausalLM:
    """Builder: reads the config, passes plain values."""
    return CausalLM(
        encoder,
        tie_weights=cfg.model.tie_weights,
        char_level=tokenizer.kind == "char",
        fused_loss=cfg.objective.get("fused_loss", True),
    )


@dataclass
class ClmObjectiveConfig:
    name: str = MISSING
    fused_loss: bool = (
        MISSING  # output layer + cross-entropy together, in row chunks (fused_ce.py); false: textbook ops
    )


SPEC = register_objective(
    ObjectiveSpec(
        name="clm",
        title="causal language model",
        schema=ClmObjectiveConfig,
        build=build_clm,
        data_kind="stream",
        direction="unidirectional",
        multitask=True,
    )
)
