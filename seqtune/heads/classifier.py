"""Classification head: pool the encoder's outputs over time, then a (hidden layer and) linear layer.

It reads a text's token ids, or a labelled series' float steps (``dataset=ucr``, ``data/series_labels.py``): the
batch's ``tokens`` go to the encoder as they are, so pooling and every transfer strategy work the same.

Pooling (``LabelledBatch`` is time-major and padded; ``lengths`` says where each example ends):

- ``last``: the state after the last real token (bidirectional: the forward state there and the backward state
  at the first token, each having read the whole example);
- ``mean`` / ``max``: over the real time steps only;
- ``concat``: ``[last, max, mean]`` side by side, ULMFiT's concat pooling (Howard & Ruder 2018, section 3.3).

Sums returned per step: ``loss``, ``correct`` and per class ``tp/i``, ``pred/i``, ``gold/i`` (scalar device
tensors), so the loop's running means give accuracy and macro-F1 without a host sync per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from omegaconf import MISSING
from torch import nn

from seqtune.config.schema import Choice
from seqtune.data.batching import LabelledBatch
from seqtune.data.records import SeriesFacts, dataset_holds
from seqtune.heads.layers import output_layers, output_rules
from seqtune.heads.scores import macro_f1
from seqtune.heads.spec import HeadSpec, Task, register_head
from seqtune.models.encoder import Encoder, State
from seqtune.objectives.base import StepOutput


class Norm(Choice):
    none = "none"
    batch = "batch"  # BatchNorm1d: fastai's ULMFiT classifier; batch statistics (unsteady on tiny batches)
    layer = "layer"  # LayerNorm: each example on its own


class Pooling(Choice):
    last = "last"  # the state after the last real token (bidirectional: and the backward state at the first)
    mean = "mean"
    max = "max"
    concat = "concat"  # [last, max, mean] side by side (ULMFiT)


def pool(out: torch.Tensor, lengths: torch.Tensor, pooling: Pooling, bidirectional: bool) -> torch.Tensor:
    """(time, batch, features) encoder outputs -> (batch, features * (3 if concat else 1))."""
    time, batch, features = out.shape
    steps = torch.arange(time, device=out.device).unsqueeze(1)  # (time, 1)
    mask = (steps < lengths.unsqueeze(0)).unsqueeze(-1)  # (time, batch, 1) true on real tokens
    index = torch.arange(batch, device=out.device)
    last = out[lengths - 1, index]  # (batch, features)
    if bidirectional:  # the backward direction has read the whole example at its first token
        half = features // 2
        last = torch.cat([last[:, :half], out[0, :, half:]], dim=-1)
    if pooling == "last":
        return last
    mean = (out * mask).sum(0) / lengths.unsqueeze(-1).to(out.dtype)  # (batch, features)
    if pooling == "mean":
        return mean
    largest = out.masked_fill(~mask, float("-inf")).max(0).values  # (batch, features)
    if pooling == "max":
        return largest
    return torch.cat([last, largest, mean], dim=-1)


class Classifier(nn.Module):
    name = "classifier"
    task: Task = "classification"
    default_monitor = "acc"

    def __init__(
        self,
        input_size: int,
        labels: list[str],
        bidirectional: bool,
        pooling: Pooling = Pooling.concat,
        hidden_size: int = 0,
        dropout: float = 0.1,
        norm: str = "none",
    ):
        super().__init__()
        self.labels, self.pooling, self.bidirectional = list(labels), pooling, bidirectional
        features = input_size * (3 if pooling == "concat" else 1)
        self.layers = output_layers(features, len(labels), hidden_size, dropout, norm)

    def logits(self, encoder: Encoder, batch: LabelledBatch) -> torch.Tensor:
        # Undropped outputs: dropout before max/mean pooling would make training features differ from evaluation
        # ones (the head drops out the pooled features instead).
        out, _ = encoder(batch.tokens, None, batch.lengths, output_dropout=False)  # (time, batch, hidden * dirs)
        return self.layers(pool(out, batch.lengths, self.pooling, self.bidirectional)).float()  # (batch, classes)

    def forward(self, encoder: Encoder, batch: LabelledBatch, state: State | None = None) -> StepOutput:
        logits = self.logits(encoder, batch)
        loss = F.cross_entropy(logits, batch.labels)
        pred = logits.argmax(-1).detach()
        n, classes = batch.labels.numel(), len(self.labels)
        hit = pred == batch.labels
        tp = torch.bincount(batch.labels[hit], minlength=classes)
        n_pred = torch.bincount(pred, minlength=classes)
        n_gold = torch.bincount(batch.labels, minlength=classes)
        sums = {"loss": loss.detach() * n, "correct": hit.sum()}
        for i in range(classes):
            sums[f"tp/{i}"], sums[f"pred/{i}"], sums[f"gold/{i}"] = tp[i], n_pred[i], n_gold[i]
        return StepOutput(loss, None, sums, n)

    @torch.no_grad()
    def predict(self, encoder: Encoder, batch: LabelledBatch) -> torch.Tensor:
        """(batch, classes) probabilities."""
        return self.logits(encoder, batch).softmax(-1)

    def summarize(self, means: dict[str, float]) -> dict[str, float]:
        """Means per example -> loss, accuracy and macro-F1 (count-free: F1 is a ratio of the summed counts)."""
        r = range(len(self.labels))
        f1 = macro_f1([means[f"tp/{i}"] for i in r], [means[f"pred/{i}"] for i in r], [means[f"gold/{i}"] for i in r])
        return {"loss": means["loss"], "acc": means["correct"], "f1": f1}


@dataclass
class ClassifierHeadConfig:
    name: str = MISSING
    pooling: Pooling = MISSING
    hidden_size: int = MISSING  # a hidden layer (ReLU) before the output layer; 0 = none
    dropout: float = MISSING  # on the pooled features (and after the hidden layer)
    norm: Norm = MISSING  # standardise the pooled features first: none | batch (fastai's) | layer


def classifier_rules(cfg) -> list[str]:
    fmt = cfg.dataset.get("format")
    problems = output_rules(cfg.head)
    if dataset_holds(fmt) == "tagged":
        problems.append(
            f"head=classifier needs one label per text, but dataset.format={fmt!r} labels every token; use head=tagger."
        )
    if dataset_holds(fmt) == "series":
        problems.append(
            f"head=classifier needs one label per example, but dataset.format={fmt!r} is one numeric series to "
            "forecast; use head=regressor, or for labelled series (one label per series) dataset=ucr."
        )
    return problems


def build_classifier(h, encoder, labels: list[str], series: SeriesFacts | None = None) -> Classifier:
    return Classifier(
        encoder.output_size, labels, encoder.num_directions == 2, h.pooling, h.hidden_size, h.dropout, str(h.norm)
    )


SPEC = register_head(
    HeadSpec(
        name="classifier",
        task=Classifier.task,
        schema=ClassifierHeadConfig,
        build=build_classifier,
        default_monitor=Classifier.default_monitor,
        rules=classifier_rules,
    )
)
