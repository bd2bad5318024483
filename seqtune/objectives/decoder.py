"""The decoder RNN shared by the sequence-to-sequence objectives (autoencoder, denoising, seq2seq).

It lives with the objectives, not in the encoder, so the encoder's state-dict keys stay ``encoder.*`` and
transfer cleanly; the decoder is pretraining scaffolding that fine-tuning drops.  The encoder's summary of the
input (``Encoder.summary``: last real step forward, first step backward) is the decoder's initial hidden state
in every layer (Dai & Le's SA-LSTM reconstructs from the final state alone, no attention)::

    dec = RNNDecoder("lstm", vocab_size, embedding_size=128, hidden_size=enc.output_size, num_layers=1)
    logits = dec.teacher_forced(summary, target)     # (T, batch, vocab): step t sees target[:t] after <bos>
    pred = dec.greedy(summary, steps=T)              # (T, batch): argmax fed back
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from omegaconf import MISSING
from torch import nn

from seqtune.data.tokenizers import BOS_ID, PAD_ID
from seqtune.models.encoder import RNN_CLASSES, Encoder


class RNNDecoder(nn.Module):
    def __init__(self, cell: str, vocab_size: int, embedding_size: int, hidden_size: int, num_layers: int):
        super().__init__()
        self.cell, self.num_layers = cell, num_layers
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=PAD_ID)
        self.rnn = RNN_CLASSES[cell](embedding_size, hidden_size, num_layers)
        self.output = nn.Linear(hidden_size, vocab_size)

    def initial_state(self, summary: torch.Tensor):
        """summary (batch, hidden) -> the state of every layer; an LSTM's cell state starts at zero."""
        h = summary.unsqueeze(0).expand(self.num_layers, -1, -1).contiguous()  # (layers, batch, hidden)
        return (h, torch.zeros_like(h)) if self.cell == "lstm" else h

    def teacher_forced(self, summary: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """summary (batch, hidden), target (T, batch) -> logits (T, batch, vocab); inputs are <bos> + target[:-1]."""
        bos = torch.full_like(target[:1], BOS_ID)
        inputs = torch.cat([bos, target[:-1]])  # (T, batch)
        out, _ = self.rnn(self.embedding(inputs), self.initial_state(summary))  # (T, batch, hidden)
        return self.output(out)

    @torch.no_grad()
    def greedy(self, summary: torch.Tensor, steps: int) -> torch.Tensor:
        """Greedy decoding for ``steps`` steps -> predicted ids (steps, batch)."""
        state = self.initial_state(summary)
        token = torch.full((1, summary.size(0)), BOS_ID, dtype=torch.long, device=summary.device)
        preds = []
        for _ in range(steps):
            out, state = self.rnn(self.embedding(token), state)  # (1, batch, hidden)
            token = self.output(out).argmax(-1)  # (1, batch)
            preds.append(token)
        return torch.cat(preds)


def build_decoder(encoder: Encoder, cell: str, embedding_size: int, num_layers: int) -> RNNDecoder:
    """A decoder sized to the encoder: its hidden size is the encoder's output size (both directions)."""
    emb = embedding_size or encoder.embedding.embedding_dim
    return RNNDecoder(cell, encoder.vocab_size, emb, encoder.output_size, num_layers)


def reconstruction_step(
    encoder: Encoder,
    decoder: RNNDecoder,
    source: torch.Tensor,
    source_lengths: torch.Tensor,
    target: torch.Tensor,
    greedy: bool,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], int]:
    """Encode ``source``, decode ``target`` (both time-major, PAD-padded).

    Returns the mean loss over real target tokens, summed metrics and the target-token count:
    ``loss``, ``acc`` (teacher-forced next-token accuracy) and, when ``greedy`` (evaluation),
    ``greedy_acc`` (token accuracy of greedy decoding, position by position), ``exact`` (sequences decoded
    exactly, up to and including their <eos>) and ``sequences``.
    """
    out, _ = encoder(source)  # (S, batch, output)
    summary = encoder.summary(out, source_lengths)  # (batch, output)
    logits = decoder.teacher_forced(summary, target)  # (T, batch, vocab)
    real = target != PAD_ID  # (T, batch)
    n = int(real.sum())
    loss_sum = F.cross_entropy(
        logits.float().reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=PAD_ID, reduction="sum"
    )
    sums = {"loss": loss_sum.detach(), "acc": ((logits.argmax(-1) == target) & real).sum()}
    if greedy:
        pred = decoder.greedy(summary, target.size(0))  # (T, batch)
        right = (pred == target) | ~real
        sums["greedy_acc"] = (right & real).sum()
        sums["exact"] = right.all(0).sum()
        sums["sequences"] = torch.tensor(float(target.size(1)), device=target.device)
    return loss_sum / max(n, 1), sums, n


def summarize_reconstruction(means: dict[str, float]) -> dict[str, float]:
    import math

    out = {"loss": means["loss"], "ppl": math.exp(min(means["loss"], 50.0)), "acc": means["acc"]}
    if "greedy_acc" in means:
        out["greedy_acc"] = means["greedy_acc"]
        out["exact_match"] = means["exact"] / max(means["sequences"], 1e-12)
    return out


@dataclass
class DecoderObjectiveConfig:
    """The options every decoder objective has (autoencoder, denoising, seq2seq)."""

    name: str = MISSING
    decoder_layers: int = MISSING  # decoder RNN layers (same cell as the encoder)
    decoder_embedding_size: int = MISSING  # 0: the encoder's model.embedding_size
    max_length: int = MISSING  # sentences/sources/targets are truncated to this many tokens (counted in the log)


def decoder_rules(cfg) -> list[str]:
    o = cfg.objective
    if o.decoder_layers < 1 or o.max_length < 2 or o.decoder_embedding_size < 0:
        return [
            f"objective.decoder_layers={o.decoder_layers} must be >= 1, objective.max_length="
            f"{o.max_length} >= 2 and objective.decoder_embedding_size >= 0 (0: model.embedding_size)."
        ]
    return []
