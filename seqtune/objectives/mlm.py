"""Masked language modelling on a bidirectional RNN (BERT's objective on an LSTM/GRU encoder).

Each step picks ``mask_rate`` of the (non-padding) positions; of those, ``mask_token_rate`` become ``<mask>``,
``random_token_rate`` a random non-special token, and the rest keep their token (the 80/10/10 rule).  The
encoder reads the corrupted window whole (both directions), a linear decoder predicts the original token, and
the loss, accuracy and perplexity are over the picked positions only.  Batches are ``LMWindows`` (bptt-long
windows, no carried state) or any time-major ``(tokens, ...)`` tuple.
Its spec asks for a bidirectional encoder (``model.bidirectional: true``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from omegaconf import MISSING
from torch import nn

from seqtune.data.batching import IGNORE_INDEX
from seqtune.data.tokenizers import MASK_ID, PAD_ID, SPECIAL_TOKENS
from seqtune.models.encoder import Encoder, State
from seqtune.objectives.base import StepOutput
from seqtune.objectives.spec import ObjectiveSpec, register_objective


def mask_tokens(
    tokens: torch.Tensor,
    vocab_size: int,
    mask_rate: float,
    mask_token_rate: float,
    random_token_rate: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """tokens (time, batch) -> (inputs, targets), both (time, batch).

    targets hold the original token at the picked positions and IGNORE_INDEX elsewhere; inputs are the tokens
    with the picked positions replaced by <mask> / a random token / themselves.
    """

    def uniform() -> torch.Tensor:
        return (
            torch.rand(tokens.shape, generator=generator, device=tokens.device)
            if generator is None
            else torch.rand(tokens.shape, generator=generator).to(tokens.device)
        )

    picked = (uniform() < mask_rate) & (tokens != PAD_ID)  # (time, batch) bool
    targets = torch.where(picked, tokens, torch.full_like(tokens, IGNORE_INDEX))
    how = uniform()  # one draw decides mask / random / keep for each picked position
    to_mask = picked & (how < mask_token_rate)
    to_random = picked & (how >= mask_token_rate) & (how < mask_token_rate + random_token_rate)
    n_special = len(SPECIAL_TOKENS)
    if generator is None:
        random_ids = torch.randint(n_special, vocab_size, tokens.shape, device=tokens.device)
    else:
        random_ids = torch.randint(n_special, vocab_size, tokens.shape, generator=generator).to(tokens.device)
    inputs = torch.where(to_mask, torch.full_like(tokens, MASK_ID), tokens)
    inputs = torch.where(to_random, random_ids, inputs)
    return inputs, targets


def masked_loss_sums(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """logits (..., vocab), targets (...) with IGNORE_INDEX where not scored -> (loss sum, correct, count)."""
    flat_logits, flat_targets = logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1)
    loss_sum = F.cross_entropy(flat_logits, flat_targets, ignore_index=IGNORE_INDEX, reduction="sum")
    picked = flat_targets != IGNORE_INDEX
    correct = ((flat_logits.argmax(-1) == flat_targets) & picked).sum()
    return loss_sum, correct, picked.sum()


class MaskedLM(nn.Module):
    name = "mlm"

    def __init__(self, encoder: Encoder, mask_rate: float, mask_token_rate: float, random_token_rate: float):
        super().__init__()
        self.mask_rate, self.mask_token_rate, self.random_token_rate = mask_rate, mask_token_rate, random_token_rate
        self.decoder = nn.Linear(encoder.output_size, encoder.vocab_size)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, encoder: Encoder, batch, state: State | None) -> StepOutput:
        tokens = batch[0] if isinstance(batch, (tuple, list)) else batch.tokens  # (time, batch)
        inputs, targets = mask_tokens(
            tokens, encoder.vocab_size, self.mask_rate, self.mask_token_rate, self.random_token_rate
        )
        hidden, _ = encoder(inputs)  # (time, batch, 2 * hidden); no carried state: each window is seen whole
        picked = targets != IGNORE_INDEX  # (time, batch)
        # The vocabulary projection only where it is scored: ~mask_rate of the positions (6x less softmax work).
        logits = self.decoder(hidden[picked])  # (picked, vocab)
        loss_sum, correct, count = masked_loss_sums(logits, targets[picked])
        # The loop divides every sum by out.count (an int, known without a device sync): give it the number of
        # positions and report the picked count as a sum, so summarize() takes ratios of sums.
        n = tokens.numel()
        loss = loss_sum / count.clamp(min=1)
        return StepOutput(loss, None, {"loss_sum": loss_sum.detach(), "correct": correct, "masked": count}, n)

    def summarize(self, means: dict[str, float]) -> dict[str, float]:
        """Ratios of sums: loss (nats per masked token), masked-token accuracy and perplexity."""
        masked = max(means["masked"], 1e-12)
        loss = means["loss_sum"] / masked
        return {
            "loss": loss,
            "acc": means["correct"] / masked,
            "ppl": math.exp(min(loss, 50.0)),
            "mask_share": means["masked"],
        }


def build_mlm(encoder: Encoder, cfg, tokenizer, info: dict | None = None) -> MaskedLM:
    o = cfg.objective
    return MaskedLM(
        encoder, mask_rate=o.mask_rate, mask_token_rate=o.mask_token_rate, random_token_rate=o.random_token_rate
    )


@dataclass
class MlmObjectiveConfig:
    name: str = MISSING
    mask_rate: float = MISSING  # share of tokens chosen for prediction
    mask_token_rate: float = MISSING  # of the chosen: replaced by <mask>
    random_token_rate: float = MISSING  # of the chosen: replaced by a random token (the rest keep their token)


def mlm_rules(cfg) -> list[str]:
    o, problems = cfg.objective, []
    if not 0.0 < o.mask_rate < 1.0:
        problems.append(f"objective.mask_rate={o.mask_rate} must be between 0 and 1 (exclusive), e.g. 0.15.")
    if o.mask_token_rate < 0 or o.random_token_rate < 0 or o.mask_token_rate + o.random_token_rate > 1.0:
        problems.append(
            f"objective.mask_token_rate ({o.mask_token_rate}) + objective.random_token_rate "
            f"({o.random_token_rate}) must be non-negative and sum to at most 1 (BERT: 0.8 + 0.1)."
        )
    return problems


SPEC = register_objective(
    ObjectiveSpec(
        name="mlm",
        title="masked language model",
        schema=MlmObjectiveConfig,
        build=build_mlm,
        data_kind="windows",
        direction="bidirectional",
        multitask=True,
        rules=mlm_rules,
    )
)
