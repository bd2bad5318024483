"""Token tagging head (NER, chunking, POS): one label per token from the encoder's output at that token.

Works on a unidirectional encoder (each tag sees the left context) or a bidirectional one (both sides).
Padding positions carry label ``IGNORE_INDEX`` and count nowhere.  During evaluation the step also returns
entity counts by conlleval's rules (``ent_correct``, ``ent_pred``, ``ent_gold``), so validation reports
entity precision/recall/F1; training steps skip that host-side decoding.

With ``crf`` a CRF (``crf.py``) sits on the per-token scores: the loss is its negative log-likelihood per token,
evaluation and prediction decode by Viterbi under the tagging scheme's transition rules (``crf_scheme``), and
``predict`` returns the decoded path as one-hot rows (accuracy is of the Viterbi path in training too: a CRF's
per-token scores alone are not its prediction).  Batches that carry the words' characters (``batch.chars``) hand
them to the encoder, so a character-aware encoder spells words that are ``<unk>`` in its vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from omegaconf import MISSING
from torch import nn

from seqtune.data.batching import IGNORE_INDEX, LabelledBatch
from seqtune.data.records import SeriesFacts, dataset_holds
from seqtune.heads.crf import CRF, SCHEMES, Scheme
from seqtune.heads.layers import output_layers, output_rules
from seqtune.heads.scores import entity_counts, prf
from seqtune.heads.spec import HeadSpec, Task, register_head
from seqtune.models.encoder import Encoder, State
from seqtune.objectives.base import StepOutput


class Tagger(nn.Module):
    name = "tagger"
    task: Task = "tagging"
    default_monitor = "f1"

    def __init__(
        self,
        input_size: int,
        labels: list[str],
        hidden_size: int = 0,
        dropout: float = 0.1,
        crf: bool = False,
        crf_scheme: Scheme = "auto",
    ):
        super().__init__()
        self.labels = list(labels)
        self.layers = output_layers(input_size, len(labels), hidden_size, dropout)
        self.crf = CRF(self.labels, crf_scheme) if crf else None

    def logits(self, encoder: Encoder, batch: LabelledBatch) -> torch.Tensor:
        chars = getattr(batch, "chars", None)  # (time, batch, word_chars) or None
        out, _ = encoder(batch.tokens, None, batch.lengths, chars=chars)  # (time, batch, hidden * directions)
        return self.layers(out).float()  # (time, batch, tags)

    def tag_lists(self, ids: torch.Tensor, lengths: torch.Tensor) -> list[list[str]]:
        """(time, batch) tag ids -> one list of tag names per example, cut at its length."""
        cols = ids.t().tolist()
        return [[self.labels[i] for i in col[:n]] for col, n in zip(cols, lengths.tolist())]

    def forward(self, encoder: Encoder, batch: LabelledBatch, state: State | None = None) -> StepOutput:
        logits = self.logits(encoder, batch)
        n = int(batch.lengths.sum())
        if self.crf is not None:
            loss = self.crf.nll(logits, batch.labels, batch.lengths).sum() / max(n, 1)
        else:
            flat = logits.view(-1, logits.size(-1))
            loss = F.cross_entropy(flat, batch.labels.reshape(-1), ignore_index=IGNORE_INDEX)
        real = batch.labels != IGNORE_INDEX
        pred = self.best_tags(logits.detach(), batch.lengths)
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

    def best_tags(self, logits: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(time, batch) tag ids: Viterbi under the CRF, else the per-token argmax."""
        if self.crf is not None:
            return self.crf.decode(logits, lengths)
        return logits.argmax(-1)

    @torch.no_grad()
    def predict(self, encoder: Encoder, batch: LabelledBatch) -> torch.Tensor:
        """(time, batch, tags) probabilities; with a CRF, the Viterbi path as one-hot rows."""
        logits = self.logits(encoder, batch)
        if self.crf is None:
            return logits.softmax(-1)
        path = self.crf.decode(logits, batch.lengths)  # (time, batch)
        return F.one_hot(path, len(self.labels)).to(logits.dtype)

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
    crf: bool = MISSING  # a CRF output layer: Viterbi decoding under the tag scheme's transition rules
    crf_scheme: str = MISSING  # auto | iob2 | iobes | none (auto: read from the tag names)


def tagger_rules(cfg) -> list[str]:
    fmt = cfg.dataset.get("format")
    problems = output_rules(cfg.head)
    if cfg.head.crf_scheme not in SCHEMES:
        problems.append(f"head.crf_scheme={cfg.head.crf_scheme!r} is not one of {', '.join(SCHEMES)}.")
    if dataset_holds(fmt) != "tagged":
        problems.append(
            f"head=tagger needs token labels, but dataset.format={fmt!r} labels whole texts; use a conll "
            "dataset (dataset=conll2003) or head=classifier."
        )
    if dataset_holds(fmt) == "series":
        problems.append(f"head=tagger reads text, but dataset.format={fmt!r} is a numeric series; use head=regressor.")
    return problems


def build_tagger(h, encoder, labels: list[str], series: SeriesFacts | None = None) -> Tagger:
    return Tagger(encoder.output_size, labels, h.hidden_size, h.dropout, h.crf, h.crf_scheme)


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
