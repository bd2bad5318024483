"""Checks a fine-tuning run reports about itself: how much of the task its tokenizer cannot read, and whether
the classifier collapsed to predicting one class.  Plain functions of examples and predictions; the run puts
their results in its log and ``summary.json``::

    shares = unk_shares({"train": data.train, "valid": data.valid, "test": data.test})   # {"train": 0.134, ...}
    warning = unk_warning(shares, checkpoint_path)                                         # str | None
    counts = predicted_counts(probs, labels)                                              # {"DESC": 500}
    warning = collapse_warning(counts, len(labels), "validation")                         # str | None
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import torch

from seqtune.data.labelled import Example
from seqtune.data.tokenizers import EOS_ID, UNK_ID

UNK_WARN_SHARE = 0.05  # above this share of <unk> training tokens a run warns (ULMFiT's stage 2 is the fix)


def unk_share(examples: Sequence[Example]) -> float:
    """Share of the examples' tokens (end-of-line markers excluded) that are <unk>."""
    tokens = unknown = 0
    for e in examples:
        tokens += sum(t != EOS_ID for t in e.tokens)
        unknown += sum(t == UNK_ID for t in e.tokens)
    return unknown / max(tokens, 1)


def unk_shares(splits: dict[str, Sequence[Example]]) -> dict[str, float]:
    return {name: unk_share(examples) for name, examples in splits.items()}


def unk_warning(shares: dict[str, float], checkpoint: str | None, dataset: str) -> str | None:
    if shares.get("train", 0.0) <= UNK_WARN_SHARE or checkpoint is None:
        return None
    return (f"[warn] {shares['train']:.1%} of the training tokens are <unk> under the checkpoint's tokenizer "
            f"(more than {UNK_WARN_SHARE:.0%}): those words reach the encoder as one unknown token. Continue "
            f"pretraining on this task's text with its words added, then fine-tune from that run: "
            f"seqtune pretrain dataset={dataset} init_from={checkpoint} init_vocab=extend")


def predicted_counts(probs: Sequence[torch.Tensor], labels: Sequence[str]) -> dict[str, int]:
    """How often each label was predicted (classification probabilities, one (classes,) tensor per example)."""
    counts = Counter(labels[int(p.argmax())] for p in probs)
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def collapse_warning(counts: dict[str, int], num_labels: int, split: str) -> str | None:
    """A warning when every example of ``split`` got the same label although the task has several."""
    if len(counts) != 1 or num_labels < 2:
        return None
    label = next(iter(counts))
    return (f"[warn] the best weights predict {label!r} for every {split} example ({counts[label]:,}): the "
            "classifier collapsed to one class. Likely causes: a learning rate too high for pretrained weights "
            "(seqtune lr-find suggests one), a warm-up or schedule longer than the run, too few labelled "
            "examples per class, or a vocabulary the task's words miss (see the <unk> share above).")
