"""Warnings a fine-tuning run gives about itself: too much of the task unreadable by the checkpoint's tokenizer
(the <unk> shares come with the task data), and a classifier collapsed to predicting one class.  Plain functions;
the run puts their results in its log and ``summary.json``::

    warning = unk_warning(data.unk_shares, checkpoint_path, dataset_name)                 # str | None
    counts = predicted_counts(probs, labels)                                              # {"DESC": 500}
    warning = collapse_warning(counts, len(labels), "validation")                         # str | None
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import torch

UNK_WARN_SHARE = 0.05  # above this share of <unk> training tokens a run warns (ULMFiT's stage 2 is the fix)


def unk_warning(shares: dict[str, float], checkpoint: str | None, dataset: str) -> str | None:
    if shares.get("train", 0.0) <= UNK_WARN_SHARE or checkpoint is None:
        return None
    return (
        f"[warn] {shares['train']:.1%} of the training tokens are <unk> under the checkpoint's tokenizer "
        f"(more than {UNK_WARN_SHARE:.0%}): those words reach the encoder as one unknown token. Continue "
        f"pretraining on this task's text with its words added, then fine-tune from that run: "
        f"seqtune pretrain dataset={dataset} init_from={checkpoint} init_vocab=extend"
    )


def predicted_counts(probs: Sequence[torch.Tensor], labels: Sequence[str]) -> dict[str, int]:
    """How often each label was predicted (classification probabilities, one (classes,) tensor per example)."""
    counts = Counter(labels[int(p.argmax())] for p in probs)
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def collapse_warning(counts: dict[str, int], num_labels: int, split: str) -> str | None:
    """A warning when every example of ``split`` got the same label although the task has several."""
    if len(counts) != 1 or num_labels < 2:
        return None
    label = next(iter(counts))
    return (
        f"[warn] the best weights predict {label!r} for every {split} example ({counts[label]:,}): the "
        "classifier collapsed to one class. Likely causes: a learning rate too high for pretrained weights "
        "(seqtune lr-find suggests one), a warm-up or schedule longer than the run, too few labelled "
        "examples per class, or a vocabulary the task's words miss (see the <unk> share above)."
    )
