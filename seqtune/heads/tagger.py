"""Token tagging head (NER, chunking, POS): one label per token from the encoder's output at that token.

Works on a unidirectional encoder (each tag sees the left context) or a bidirectional one (both sides).
Padding positions carry label ``IGNORE_INDEX`` and count nowhere.  During evaluation the step also returns
entity counts by conlleval's rules (``ent_correct``, ``ent_pred``, ``ent_gold``), so validation reports
entity precision/recall/F1; training steps skip that host-side decoding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from omegaconf import MISSING
from torch import nn

from seqtune.data.batching import IGNORE_INDEX, LabelledBatch
from seqtune.data.records import SeriesFacts, dataset_holds
from seqtune.heads.layers import output_layers, output_rules
from seqtune.heads.scores import entity_counts, prf
from seqtune.heads.spec import HeadSpec, Task, register_head
from seqtune.models.encoder import Encoder, State
from seqtune.objectives.base import StepOutput


class Tagger(nn.Module):
    name = "tagger"
    task: Task = "tagging"
    default_monitor = "f1"

    def __init__(self, input_size: int, labels: list[str], hidden_size: int = 0, dropout: float = 0.1):
        super().__init__()
        self.labels = list(labels)
        self.layers = output_layers(input_size, len(labels), hidden_size, dropout)

    def logits(self, encoder: Encoder, batch: LabelledBatch) -> torch.Tensor:
        out, _ = encoder(batch.tokens, None, batch.lengths)  # (time, batch, hidden * directions)
        return self.layers(out).float()  # (time, batch, tags)

    def tag_lists(self, ids: torch.Tensor, lengths: torch.Tensor) -> list[list[str]]:
        """(time, batch) tag ids -> one list of tag names per example, cut at its length."""
        cols = ids.t().tolist()
        return [[self.labels[i] for i in col[:n]] for col, n in zip(cols, lengths.tolist())]

    def forward(self, encoder: Encoder, batch: LabelledBatch, state: State | None = None) -> StepOutput:
        logits = self.logits(encoder, batch)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), batch.labels.reshape(-1), ignore_index=IGNORE_INDEX)
        real = batch.labels != IGNORE_INDEX
        n = int(batch.lengths.sum())
        pred = logits.argmax(-1).detach()
        sums = {"loss": loss.detach() * n, "correct": (pred.eq(batch.labels) & real).sum()}
        if not self.training:  # entity decoding happens on the host: evaluation only
            gold = self.tag_lists(batch.labels.clamp(min=0), batch.lengths)
            correct, n_pred, n_gold = entity_counts(gold, self.tag_lists(pred, batch.lengths))
            sums.update(
                ent_correct=torch.tensor(float(correct)),
                ent_pred=torch.tensor(float(n_pred)),
                ent_gold=torch.tensor(float(n_gold)),
            )
        return StepOutput(loss, None, sums, n)

    @torch.no_grad()
    def predict(self, encoder: Encoder, batch: LabelledBatch) -> torch.Tensor:
        """(time, batch, tags) probabilities."""
        return self.logits(encoder, batch).softmax(-1)

    def summarize(self, means: dict[str, float]) -> dict[str, float]:
        out = {"loss": means["loss"], "acc": means["correct"]}
        if "ent_gold" in means:
            out.update(prf(means["ent_correct"], means["ent_pred"], means["ent_gold"]))
        return out


@dataclass
class TaggerHeadConfig:
    name: str = MISSING
    hidden_size: int = MISSING  # a hidden layer (ReLU) before the output layer; 0 = none
    dropout: float = MISSING  # on the encoder outputs (and after the hidden layer)


def tagger_rules(cfg) -> list[str]:
    fmt = cfg.dataset.get("format")
    problems = output_rules(cfg.head)
    if dataset_holds(fmt) != "tagged":
        problems.append(
            f"head=tagger needs token labels, but dataset.format={fmt!r} labels whole texts; use a conll "
            "dataset (dataset=conll2003) or head=classifier."
        )
    if dataset_holds(fmt) == "series":
        problems.append(f"head=tagger reads text, but dataset.format={fmt!r} is a numeric series; use head=regressor.")
    return problems


def build_tagger(h, encoder, labels: list[str], series: SeriesFacts | None = None) -> Tagger:
    return Tagger(encoder.output_size, labels, h.hidden_size, h.dropout)


SPEC = register_head(
    HeadSpec(
        name="tagger",
        task=Tagger.task,
        schema=TaggerHeadConfig,
        build=build_tagger,
        default_monitor=Tagger.default_monitor,
        rules=tagger_rules,
    )
)
