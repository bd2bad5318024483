"""Task heads for fine-tuning.  Importing this package imports every module in it, and each head module registers
its spec in ``HEADS`` (``spec.py``: its task, its options' schema, its rules, its default monitor); so a new head is
one module here plus one YAML file in ``conf/head/``.

A head is a small ``nn.Module`` with the objectives' contract: ``forward(encoder, batch, state) -> StepOutput``
(mean loss, summed metrics on the device) and ``summarize(means) -> metrics``; plus ``predict(encoder, batch)``
for evaluation and inference, and the attributes ``name``, ``task``, ``labels`` and ``default_monitor``::

    head = build_head(cfg.head, encoder, labels=["neg", "pos"])     # the head's typed config, plain values inside
"""

from __future__ import annotations

import importlib
import pkgutil

from torch import nn

from seqtune.data.records import SeriesFacts
from seqtune.heads.spec import HeadSpec
from seqtune.registry import HEADS

for _module in pkgutil.iter_modules(__path__):  # each head module registers its spec
    importlib.import_module(f"{__name__}.{_module.name}")


def head_spec(name: str) -> HeadSpec:
    return HEADS.get(name, key="head.name")


def build_head(head_cfg, encoder, labels: list[str], series: SeriesFacts | None = None) -> nn.Module:
    """The registered builder with the head's config, the encoder it reads and its labels (a regressor: the
    series' facts)."""
    return head_spec(head_cfg.name).build(head_cfg, encoder, list(labels), series)
