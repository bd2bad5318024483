"""Task heads for fine-tuning; importing this package registers them in ``HEADS``.

A head is a small ``nn.Module`` with the objectives' contract: ``forward(encoder, batch, state) -> StepOutput``
(mean loss, summed metrics on the device) and ``summarize(means) -> metrics``; plus ``predict(encoder, batch)``
for evaluation and inference.  Each registered builder takes plain values (``series``: the facts of a numeric
task's windows, for the regressor)::

    head = HEADS.get("classifier")(input_size=encoder.output_size, labels=["neg", "pos"], bidirectional=False,
                                   pooling="concat", hidden_size=0, dropout=0.1)
"""
from __future__ import annotations

from torch import nn

from seqtune.heads import classifier, regressor, tagger  # noqa: F401  (registers them)
from seqtune.registry import HEADS

TASKS = {"classifier": "classification", "tagger": "tagging", "regressor": "regression"}  # the labelled task each head needs


def build_head(head_cfg, encoder, labels: list[str], series: dict | None = None) -> nn.Module:
    """Read the ``head`` config and call the registered builder with plain values."""
    h = head_cfg
    return HEADS.get(h.name, key="head.name")(
        input_size=encoder.output_size, labels=list(labels), bidirectional=encoder.num_directions == 2,
        pooling=h.pooling, hidden_size=h.hidden_size, dropout=h.dropout, series=series,
        crf=h.get("crf", False), crf_scheme=h.get("crf_scheme", "auto"),
    )
