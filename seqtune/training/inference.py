"""Shared by fine-tuning's final evaluation, ``seqtune evaluate`` and ``seqtune predict``: rebuild a fine-tuned
model from its checkpoint, predict examples in their given order, and score predictions.

Every later command rebuilds the exact preprocessing of the run from the checkpoint (its resolved config, its
tokenizer and its label list), so ``evaluate`` reproduces the run's own test metrics and ``predict`` its labels::

    model, tokenizer, labels, cfg = rebuild_finetuned(checkpoint.load(path))
    probs = predict_examples(model, examples, batch_size=64, device=device)   # one tensor per example
    metrics = score(model.objective, examples, probs)
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from omegaconf import DictConfig, OmegaConf

from seqtune.training.checkpoint import load_weights
from seqtune.data.batching import BucketBatches
from seqtune.data.labelled import Example
from seqtune.data.tokenizers import Tokenizer, tokenizer_from_dict
from seqtune.errors import CheckpointError
from seqtune.heads import build_head
from seqtune.models.encoder import build_encoder
from seqtune.heads.multitask import task_state
from seqtune.objectives.base import TaskModel
from seqtune.heads.scores import classification_scores, entity_scores


def open_finetuned(cfg: DictConfig, problems: list[str] | None = None) -> tuple[torch.device, Path, dict]:
    """evaluate/predict: check ``device`` (plus the caller's ``problems``), resolve ``checkpoint`` (a fine-tuning
    run, a .pt file or latest; which one is printed) and load it -> (device, path, checkpoint dict)."""
    import sys

    from seqtune.training import checkpoint
    from seqtune.config.schema import device_problems
    from seqtune.errors import ConfigError
    from seqtune.commands.pretrain import pick_device
    from seqtune.training.transfer import resolve_checkpoint

    problems = device_problems("device", cfg.device) + list(problems or [])
    if problems:
        raise ConfigError(problems)
    device = pick_device(cfg.device)
    path, how = resolve_checkpoint(cfg.checkpoint, cfg.output_root, "finetune", "checkpoint")
    print(how, file=sys.stderr)
    return device, path, checkpoint.load(path)


def rebuild_finetuned(ckpt: dict, source: str = "checkpoint") -> tuple[TaskModel, Tokenizer | None, list[str], DictConfig]:
    """A fine-tuning checkpoint -> (model with its weights, tokenizer (None for a numeric series), labels (a
    regressor's: its target columns), resolved config of the run).  A multitask run's pretraining objective is
    left out: evaluation and prediction need the encoder and the head only."""
    if "labels" not in ckpt or "head" not in ckpt:
        raise CheckpointError(f"{source} is a pretraining checkpoint (no head, no labels); evaluate and predict need a "
                              "fine-tuned one (seqtune finetune writes it), and generate takes language models.")
    cfg = OmegaConf.create(ckpt["config"])
    tokenizer = tokenizer_from_dict(ckpt["tokenizer"]) if ckpt.get("tokenizer") else None
    encoder = build_encoder(cfg.model, tokenizer.vocab_size if tokenizer is not None else 0,
                            getattr(tokenizer, "itos", None))
    model = TaskModel(encoder, build_head(cfg.head, encoder, ckpt["labels"], ckpt.get("series")))
    load_weights(model, task_state(ckpt), source)
    model.eval()
    return model, tokenizer, list(ckpt["labels"]), cfg


@torch.inference_mode()
def predict_examples(model: TaskModel, examples: Sequence[Example], batch_size: int,
                     device: torch.device) -> list[torch.Tensor]:
    """Probabilities per example, in the order given: (classes,) or (length, tags), on the CPU."""
    model.eval()
    batches = BucketBatches(examples, batch_size, shuffle=False, seed=0, device=device)
    out: list[torch.Tensor | None] = [None] * len(examples)
    for idx, batch in zip(batches.batch_indices(), batches.iter_from(0)):
        probs = model.objective.predict(model.encoder, batch).cpu()
        for j, i in enumerate(idx):
            out[i] = probs[j] if probs.dim() == 2 else probs[: len(examples[i].tokens), j]
    return out  # type: ignore[return-value]


def score(head: torch.nn.Module, examples: Sequence[Example], probs: Sequence[torch.Tensor]) -> dict[str, object]:
    """Task scores of predictions: acc, macro-F1, confusion (classification); entity P/R/F1, token acc (tagging)."""
    if head.task == "classification":
        pred = [int(p.argmax()) for p in probs]
        return classification_scores([e.label for e in examples], pred, len(head.labels))
    names = head.labels
    gold = [[names[t] for t in e.label] for e in examples]
    pred = [[names[t] for t in p.argmax(-1).tolist()] for p in probs]
    return entity_scores(gold, pred)


def prediction_records(head: torch.nn.Module, probs: Sequence[torch.Tensor]) -> list[dict]:
    """JSON-ready predictions: label and probabilities per label, or one tag per token."""
    names = head.labels
    if head.task == "classification":
        return [{"label": names[int(p.argmax())], "probs": {n: round(float(x), 6) for n, x in zip(names, p)}}
                for p in probs]
    return [{"tags": [names[t] for t in p.argmax(-1).tolist()]} for p in probs]
