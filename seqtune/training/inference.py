"""Shared by fine-tuning's final evaluation and the commands that read a trained run (evaluate, predict,
explain, generate, export): open a checkpoint, rebuild its model, read input lines, predict examples in their
given order, score them.

Every later command rebuilds the exact preprocessing of the run from the checkpoint (its resolved config, its
tokenizer and its label list), so ``evaluate`` reproduces the run's own test metrics and ``predict`` its labels::

    device, path, ckpt = open_run_checkpoint(cfg, "finetune")
    model, tokenizer, labels, run_cfg = rebuild_finetuned(ckpt)
    probs = predict_examples(model, examples, batch_size=64, device=device)   # one tensor per example
    metrics = score(model.objective, examples, probs)
    metrics, probs = evaluate_and_predict(model, examples, batch_size=64, device=device)   # both, one pass
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from seqtune.config.rules import device_problems
from seqtune.config.values import value_problems
from seqtune.data.batching import BucketBatches
from seqtune.data.records import Example, SeriesFacts
from seqtune.data.tokenizers import Tokenizer, tokenizer_from_dict
from seqtune.errors import CheckpointError, ConfigError, DataError
from seqtune.heads import build_head
from seqtune.heads.multitask import task_state
from seqtune.heads.scores import classification_scores, entity_scores
from seqtune.models.encoder import build_encoder
from seqtune.objectives import build_model
from seqtune.objectives.base import TaskModel
from seqtune.training import checkpoint, distributed, signals
from seqtune.training.checkpoint import Key
from seqtune.training.rundir import RunKind, resolve_checkpoint


def open_run_checkpoint(
    cfg: DictConfig, kind: RunKind, problems: list[str] | None = None
) -> tuple[torch.device, Path, dict[str, Any]]:
    """evaluate/predict/explain/generate: check every value and ``device`` (plus the caller's ``problems``), resolve
    ``checkpoint`` (a run of ``kind``, a .pt file or latest; which one is printed) and load it -> (device, path,
    checkpoint)."""
    problems = value_problems(cfg) + device_problems("device", cfg.device) + list(problems or [])
    if problems:
        raise ConfigError(problems)
    device = distributed.pick_device(cfg.device)
    path, how = resolve_checkpoint(cfg.checkpoint, cfg.output_root, kind, "checkpoint")
    print(how, file=sys.stderr)
    return device, path, checkpoint.load(path)


def read_input_lines(source: str, command: str) -> list[str]:
    """``input=``: the lines of a UTF-8 text file, or of stdin for ``-`` (blank ones kept: callers number lines)."""
    if source == "-":
        return sys.stdin.read().splitlines()
    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        raise DataError(
            f"input={source}: cannot read it ({exc.strerror}); give a text file, or input=- for stdin."
        ) from None
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"input={source}: line {line} (byte offset {exc.start}) holds byte 0x{data[exc.start]:02X}, "
            f"which is not valid UTF-8; {command} reads UTF-8 text. Convert the file (e.g. `iconv -f "
            "latin1 -t utf-8 in.txt > out.txt`) or fix that byte."
        ) from None


def rebuild_pretrained(ckpt: dict[str, Any], source: str | Path = "the checkpoint") -> TaskModel:
    """A pretraining checkpoint -> its model (encoder + objective) with its weights, in eval mode."""
    checkpoint.require(ckpt, source, (Key.MODEL, Key.CONFIG), config=("model", "objective"))
    tokenizer = tokenizer_from_dict(ckpt[Key.TOKENIZER]) if ckpt.get(Key.TOKENIZER) else None
    model = build_model(OmegaConf.create(ckpt[Key.CONFIG]), tokenizer, ckpt.get(Key.DATA))
    checkpoint.load_weights(model, ckpt[Key.MODEL], source)
    return model.eval()


def rebuild_finetuned(
    ckpt: dict[str, Any], source: str = "checkpoint"
) -> tuple[TaskModel, Tokenizer | None, list[str], DictConfig]:
    """A fine-tuning checkpoint -> (model with its weights, tokenizer (None for a numeric series), labels (a
    regressor's: its target columns), resolved config of the run).  A multitask run's pretraining objective is
    left out: evaluation and prediction need the encoder and the head only."""
    if Key.LABELS not in ckpt or Key.HEAD not in ckpt:
        raise CheckpointError(
            f"{source} is a pretraining checkpoint (no head, no labels); evaluate, predict and explain "
            "need a fine-tuned one (seqtune finetune writes it), and generate takes language models."
        )
    checkpoint.require(
        ckpt, source, (Key.MODEL, Key.CONFIG, Key.LABELS, Key.TASK), config=("model", "head", "dataset", "trainer")
    )
    cfg = OmegaConf.create(ckpt[Key.CONFIG])
    tokenizer = tokenizer_from_dict(ckpt[Key.TOKENIZER]) if ckpt.get(Key.TOKENIZER) else None
    vocab = getattr(tokenizer, "itos", None)
    encoder = build_encoder(cfg.model, tokenizer.vocab_size if tokenizer is not None else 0, vocab)
    series = SeriesFacts.from_dict(ckpt[Key.SERIES]) if ckpt.get(Key.SERIES) else None
    model = TaskModel(encoder, build_head(cfg.head, encoder, ckpt[Key.LABELS], series))
    checkpoint.load_weights(model, task_state(ckpt), source)
    model.eval()
    return model, tokenizer, list(ckpt[Key.LABELS]), cfg


def checkpoint_dataset(ds: DictConfig) -> DictConfig:
    """A checkpoint's dataset config is data, not instructions: its mirror URL is dropped, and nothing is fetched
    unless its folder is a plain relative name under the user's data directory (then only the built-in
    catalogue's files, from their canonical URLs, sha256-checked)."""
    ds = copy.deepcopy(ds)
    with open_dict(ds):
        if "mirror" in ds:
            ds.mirror = None
        folder = ds.get("folder")
        if "download" in ds and (folder is None or Path(folder).is_absolute() or ".." in Path(folder).parts):
            ds.download = False
    return ds


def _scatter(out: list, idx: list[int], probs: torch.Tensor, examples: Sequence[Example]) -> None:
    """A batch's probabilities (batch, classes) or (time, batch, tags) -> one tensor per example, in place."""
    for j, i in enumerate(idx):
        out[i] = probs[j] if probs.dim() == 2 else probs[: len(examples[i].tokens), j]


@torch.inference_mode()
def predict_examples(
    model: TaskModel, examples: Sequence[Example], batch_size: int, device: torch.device
) -> list[torch.Tensor]:
    """Probabilities per example, in the order given: (classes,) or (length, tags), on the CPU."""
    model.eval()
    batches = BucketBatches(examples, batch_size, shuffle=False, seed=0, device=device)
    out: list[torch.Tensor | None] = [None] * len(examples)
    for idx, batch in zip(batches.batch_indices(), batches.iter_from(0)):
        signals.check_stop()  # in a run (fine-tuning's test predictions): a signal ends it between two batches
        _scatter(out, idx, model.objective.predict(model.encoder, batch).cpu(), examples)
    return out  # type: ignore[return-value]


class _EncodeOnce:
    """The encoder as a head sees it when asked for its loss and then its predictions on the same batch: the
    second call with the same tokens and lengths returns the first call's outputs (one encoder pass, not two)."""

    def __init__(self, encoder: torch.nn.Module):
        self._encoder = encoder
        self._key: tuple[Any, ...] | None = None
        self._out: Any = None

    def __call__(
        self,
        tokens: torch.Tensor,
        state: Any = None,
        lengths: torch.Tensor | None = None,
        output_dropout: bool = True,
        chars: torch.Tensor | None = None,
    ) -> Any:
        key = (tokens, lengths, output_dropout, chars)
        if state is not None or self._key is None or any(a is not b for a, b in zip(key, self._key)):
            self._key = key
            self._out = self._encoder(tokens, state, lengths, output_dropout=output_dropout, chars=chars)
        return self._out

    def __getattr__(self, name: str):  # sizes, summary(), ... of the real encoder
        return getattr(self._encoder, name)


@torch.inference_mode()
def evaluate_and_predict(
    model: TaskModel, examples: Sequence[Example], batch_size: int, device: torch.device
) -> tuple[dict[str, float], list[torch.Tensor]]:
    """What ``loop.evaluate`` (fp32) and :func:`predict_examples` give on the same batches -- the head's summarised
    metrics and every example's probabilities -- with one encoder pass per batch instead of one for each."""
    model.eval()
    encoder = _EncodeOnce(model.encoder)
    batches = BucketBatches(examples, batch_size, shuffle=False, seed=0, device=device)
    out: list[torch.Tensor | None] = [None] * len(examples)
    sums: dict[str, torch.Tensor] = {}
    count = 0
    for idx, batch in zip(batches.batch_indices(), batches.iter_from(0)):
        signals.check_stop()  # in a run's test pass: a signal ends it between two batches
        step = model.objective(encoder, batch, None)
        for k, v in step.sums.items():
            sums[k] = sums[k] + v if k in sums else v.clone()
        count += step.count
        _scatter(out, idx, model.objective.predict(encoder, batch).cpu(), examples)
    metrics = model.objective.summarize({k: float(v) / max(count, 1) for k, v in sums.items()})
    return metrics, out  # type: ignore[return-value]


def score(head: Any, examples: Sequence[Example], probs: Sequence[torch.Tensor]) -> dict[str, Any]:
    """Task scores of predictions: acc, macro-F1, confusion (classification); entity P/R/F1, token acc (tagging)."""
    if head.task == "classification":
        predicted = [int(p.argmax()) for p in probs]
        return classification_scores([cast(int, e.label) for e in examples], predicted, len(head.labels))
    names = head.labels
    gold = [[names[t] for t in cast(list[int], e.label)] for e in examples]
    tags = [[names[t] for t in p.argmax(-1).tolist()] for p in probs]
    return entity_scores(gold, tags)


def prediction_records(head: Any, probs: Sequence[torch.Tensor]) -> list[dict[str, Any]]:
    """JSON-ready predictions: label and probabilities per label, or one tag per token."""
    names = head.labels
    if head.task == "classification":
        return [
            {"label": names[int(p.argmax())], "probs": {n: round(float(x), 6) for n, x in zip(names, p)}} for p in probs
        ]
    return [{"tags": [names[t] for t in p.argmax(-1).tolist()]} for p in probs]
