"""Replaced-token detection (ELECTRA's discriminator task, here without a generator: replacements are random).

In each bptt window a share ``replace_rate`` of the (non-padding) tokens is replaced by random non-special tokens;
the encoder reads the corrupted window whole and a linear layer says, at every position, whether its token was
replaced.  Every position is scored (not only the ~15% an MLM predicts) and the output is one logit instead of a
vocabulary softmax, so a step is cheap.  Both directions help: a bidirectional encoder sees the token's right
context too.  Batches: ``windows`` (LM windows without a carried state), or a task's ``LabelledBatch`` under
``transfer=multitask``.

Metrics: ``loss`` (binary cross-entropy per position), ``acc`` (positions judged right), ``f1`` of finding the
replaced positions, and ``replaced_share``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import MISSING
from torch import nn

from seqtune.data.tokenizers import PAD_ID, SPECIAL_TOKENS
from seqtune.models.encoder import Encoder, State
from seqtune.objectives.base import StepOutput
from seqtune.objectives.spec import ObjectiveSpec, register_objective


@dataclass
class RtdObjectiveConfig:
    name: str = MISSING
    replace_rate: float = MISSING  # share of the tokens replaced by a random token


def replace_tokens(tokens: torch.Tensor, vocab_size: int, rate: float) -> tuple[torch.Tensor, torch.Tensor]:
    """tokens (time, batch) -> (corrupted tokens, replaced (time, batch) bool); padding is never replaced, and a
    draw that happens to give the same token is no replacement."""
    random_ids = torch.randint(len(SPECIAL_TOKENS), vocab_size, tokens.shape, device=tokens.device)
    replaced = (torch.rand(tokens.shape, device=tokens.device) < rate) & (tokens != PAD_ID) & (random_ids != tokens)
    return torch.where(replaced, random_ids, tokens), replaced


class ReplacedTokenDetection(nn.Module):
    name = "rtd"

    def __init__(self, encoder: Encoder, replace_rate: float):
        super().__init__()
        self.replace_rate = replace_rate
        self.detector = nn.Linear(encoder.output_size, 1)

    def forward(self, encoder: Encoder, batch: Any, state: State | None) -> StepOutput:
        tokens = batch[0] if isinstance(batch, (tuple, list)) else batch.tokens  # (time, batch)
        inputs, replaced = replace_tokens(tokens, encoder.vocab_size, self.replace_rate)
        hidden, _ = encoder(inputs)  # (time, batch, output); each window is read whole
        logits = self.detector(hidden).squeeze(-1).float()  # (time, batch)
        real = tokens != PAD_ID
        loss_sum = F.binary_cross_entropy_with_logits(logits[real], replaced[real].float(), reduction="sum")
        flagged = (logits > 0) & real
        sums = {
            "loss_sum": loss_sum.detach(),
            "correct": ((logits > 0) == replaced)[real].sum(),
            "positions": real.sum(),
            "found": (flagged & replaced).sum(),
            "flagged": flagged.sum(),
            "replaced": replaced.sum(),
        }
        # The loop divides sums by an int count known without a device sync: the window's size; summarize()
        # takes ratios of sums.
        return StepOutput(loss_sum / real.sum().clamp(min=1), None, sums, tokens.numel())

    def summarize(self, means: dict[str, float]) -> dict[str, float]:
        positions = max(means["positions"], 1e-12)
        precision = means["found"] / max(means["flagged"], 1e-12)
        recall = means["found"] / max(means["replaced"], 1e-12)
        return {
            "loss": means["loss_sum"] / positions,
            "acc": means["correct"] / positions,
            "f1": 2 * precision * recall / max(precision + recall, 1e-12),
            "replaced_share": means["replaced"] / positions,
        }


def rtd_rules(cfg) -> list[str]:
    rate = cfg.objective.replace_rate
    if not 0.0 < rate < 1.0:
        return [f"objective.replace_rate={rate} must be between 0 and 1 (exclusive), e.g. 0.15."]
    return []


def build_rtd(encoder: Encoder, cfg, tokenizer, info: dict | None = None) -> ReplacedTokenDetection:
    return ReplacedTokenDetection(encoder, cfg.objective.replace_rate)


SPEC = register_objective(
    ObjectiveSpec(
        name="rtd",
        title="replaced-token detection",
        schema=RtdObjectiveConfig,
        build=build_rtd,
        data_kind="windows",
        multitask=True,
        rules=rtd_rules,
    )
)
