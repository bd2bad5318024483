"""The data path of each pretraining objective: one ``load_pretrain_data(cfg, kind, device)`` for pretrain.py.

Objectives differ in their data; each objective module declares its *data kind* (``DATA_KINDS`` in
``seqtune/objectives/__init__.py``) and this module turns the dataset config into train/valid/test batches
for it (the loop's ``Batches`` protocol):

=========== ================================================================ ===================== ==========
kind        batches                                                          used by               state
=========== ================================================================ ===================== ==========
stream      ``LMStream`` (bptt windows of a contiguous token stream)           clm                   carried
windows     the same windows, each seen on its own                            mlm                   none
sentences   one line = one sequence (split at ``<eos>``), ``BucketBatches``     autoencoder,denoising none
pairs       source/target pairs (``pairs.py``), ``PairBatches``                seq2seq               none
series      ``ForecastWindows`` of numeric rows (``timeseries.py``)            forecast,masked_values none
=========== ================================================================ ===================== ==========

``PretrainData.info`` holds the plain facts the objective builder needs and a later stage needs to rebuild the
data path (saved in every checkpoint under ``"data"``), e.g. ``num_features`` and the normaliser of a series,
fitted on the train split only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from seqtune.data.batching import BucketBatches, LMStream
from seqtune.data.pairs import PairBatches, load_pairs
from seqtune.data.records import Example, SeriesLayout, dataset_holds
from seqtune.data.series_labels import unlabelled_series
from seqtune.data.text import LMCorpus, load_lm_corpus, unigram_log_loss
from seqtune.data.timeseries import ForecastWindows, load_timeseries
from seqtune.data.tokenizers import EOS_ID, Tokenizer
from seqtune.errors import ConfigError

DataKind = Literal["stream", "windows", "sentences", "pairs", "series"]


class LMWindows(LMStream):
    """LMStream windows without a carried state: a bidirectional encoder sees each window whole (mlm)."""

    stateful = False


@dataclass
class PretrainData:
    train: Any  # Batches
    valid: Any
    test: Any
    tokenizer: Tokenizer | None  # None for numeric series
    unit: str  # what `sizes` counts: tokens, sentences, pairs, rows
    sizes: dict[str, int]
    notes: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(
        default_factory=dict
    )  # plain facts the objective builder needs (num_features = encoder input width, ...)
    baselines: dict[str, float] = field(default_factory=dict)  # reference numbers for the summary (val/...)


def split_sentences(ids: torch.Tensor, max_length: int) -> tuple[list[Example], int]:
    """A token stream -> one Example per line (each ending with its <eos>), truncated; returns (examples,
    n_truncated)."""
    ends = (ids == EOS_ID).nonzero().flatten() + 1  # exclusive end of every line
    pieces = torch.tensor_split(ids, ends.cpu())
    examples, truncated = [], 0
    for piece in pieces:
        tokens = piece.tolist()
        if not tokens or tokens == [EOS_ID]:  # an empty line, or the empty tail after the last <eos>
            continue
        if len(tokens) > max_length:
            tokens, truncated = tokens[:max_length], truncated + 1
        examples.append(Example(tokens, 0))  # label unused
    return examples, truncated


def _empty_lines(ids: torch.Tensor) -> int:
    """Lines that hold nothing but their <eos>: an <eos> at the start or right after another <eos>."""
    if ids.numel() == 0:
        return 0
    is_eos = ids == EOS_ID
    return int(is_eos[0]) + int((is_eos[1:] & is_eos[:-1]).sum())


def _unigram_baselines(corpus: LMCorpus) -> dict[str, float]:
    """The bars a model must clear: unigram perplexity, and accuracy of always guessing the most frequent token."""
    counts, valid = corpus.counts(), corpus.valid
    return {
        "unigram_ppl": float(torch.exp(torch.tensor(unigram_log_loss(counts, valid)))),
        "unigram_acc": float((valid == counts.argmax()).float().mean()),
    }


def load_pretrain_data(
    cfg: Any, kind: DataKind, device: torch.device, tokenizer: Tokenizer | None = None, extend_vocab: bool = False
) -> PretrainData:
    """The batches of data kind ``kind`` (the objective's spec names it); ``tokenizer``: use this one (init_from:
    the pretrained tokenizer) instead of fitting one on train; ``extend_vocab``: add the train split's tokens it
    lacks (init_vocab=extend)."""
    if kind not in _DATA_PATHS:
        raise ValueError(f"unknown data kind {kind!r}")
    if extend_vocab and kind not in ("stream", "windows", "sentences"):
        raise ConfigError(
            f"init_vocab=extend adds words to a text vocabulary; objective={cfg.objective.name} reads {kind}: "
            "use init_vocab=keep."
        )
    return _DATA_PATHS[kind](cfg, kind, device, tokenizer, extend_vocab)


def _lm_windows(
    cfg: Any, kind: DataKind, device: torch.device, tokenizer: Tokenizer | None, extend_vocab: bool = False
) -> PretrainData:
    """stream: bptt windows of contiguous columns, state carried; windows: the same, each seen on its own."""
    t, ds = cfg.trainer, cfg.dataset
    corpus = load_lm_corpus(ds, tokenizer=tokenizer, extend_vocab=extend_vocab)
    sizes = {s: getattr(corpus, s).numel() for s in SPLITS}
    for s, n in sizes.items():
        key, size = ("batch_size", t.batch_size) if s == "train" else ("eval_batch_size", t.eval_batch_size)
        if n < 2 * size:  # the stream is cut into `size` columns of at least two tokens
            raise ConfigError(
                f"the {s} split of dataset {ds.name!r} has only {n} tokens, too few for "
                f"trainer.{key}={size} (columns of at least 2 tokens); set trainer.{key} to at most {n // 2}, "
                "or use more data."
            )
    make = LMStream if kind == "stream" else LMWindows
    return PretrainData(
        make(corpus.train, t.batch_size, t.bptt, device),
        make(corpus.valid, t.eval_batch_size, t.bptt, device),
        make(corpus.test, t.eval_batch_size, t.bptt, device),
        corpus.tokenizer,
        "tokens",
        sizes,
        list(corpus.notes),
        baselines=_unigram_baselines(corpus),
    )


def _sentences(
    cfg: Any, kind: DataKind, device: torch.device, tokenizer: Tokenizer | None, extend_vocab: bool = False
) -> PretrainData:
    """One line = one sequence (split at <eos>, truncated to objective.max_length), length-bucketed."""
    t, ds = cfg.trainer, cfg.dataset
    corpus = load_lm_corpus(ds, tokenizer=tokenizer, extend_vocab=extend_vocab)
    if not bool((corpus.train[:1_000_000] == EOS_ID).any()):
        raise ConfigError(
            f"objective={cfg.objective.name} reads one sentence per line, split at <eos>, but the "
            f"tokenizer of dataset {ds.name!r} adds none; set dataset.tokenizer.add_eos=true."
        )
    splits, notes = {}, list(corpus.notes)
    for s in SPLITS:
        splits[s] = _split_sentences_noted(getattr(corpus, s), s, cfg, notes)
    return PretrainData(
        BucketBatches(splits["train"], t.batch_size, True, t.seed, device),
        BucketBatches(splits["valid"], t.eval_batch_size, False, t.seed, device),
        BucketBatches(splits["test"], t.eval_batch_size, False, t.seed, device),
        corpus.tokenizer,
        "sentences",
        {s: len(v) for s, v in splits.items()},
        notes,
        baselines=_unigram_baselines(corpus),
    )


def _split_sentences_noted(ids: torch.Tensor, split: str, cfg: Any, notes: list[str]) -> list[Example]:
    """A split's sentences; empty lines skipped and long sentences truncated, both noted."""
    max_length = cfg.objective.max_length
    sentences, cut = split_sentences(ids, max_length)
    if not sentences:
        raise ConfigError(f"the {split} split of dataset {cfg.dataset.name!r} holds no sentences.")
    empty = _empty_lines(ids)
    if empty:
        notes.append(f"{split}: {empty:,} empty line(s) skipped (a sentence needs at least one token)")
    if cut:
        notes.append(
            f"{split}: {cut:,} of {len(sentences):,} sentences truncated to objective.max_length={max_length} tokens"
        )
    return sentences


def _pairs(
    cfg: Any, kind: DataKind, device: torch.device, tokenizer: Tokenizer | None, extend_vocab: bool = False
) -> PretrainData:
    """Source/target pairs (pairs.py), bucketed by source length."""
    t = cfg.trainer
    data = load_pairs(cfg.dataset, cfg.objective.max_length)
    return PretrainData(
        PairBatches(data.train, t.batch_size, True, t.seed, device),
        PairBatches(data.valid, t.eval_batch_size, False, t.seed, device),
        PairBatches(data.test, t.eval_batch_size, False, t.seed, device),
        data.tokenizer,
        "pairs",
        {s: len(getattr(data, s)) for s in SPLITS},
        data.notes,
    )


def _series(
    cfg: Any, kind: DataKind, device: torch.device, tokenizer: Tokenizer | None, extend_vocab: bool = False
) -> PretrainData:
    """Look-back/horizon windows of a normalised numeric series; its facts (read with the objective's layout)
    go into ``info``."""
    t, o = cfg.trainer, cfg.objective
    if dataset_holds(cfg.dataset.format) == "labelled_series":
        return _labelled_series(cfg, device)
    series = load_timeseries(cfg.dataset)
    layout = SeriesLayout(
        channel_independent=bool(o.get("channel_independent")), segment_length=o.get("segment_length", 1)
    )

    def windows(split: torch.Tensor, batch_size: int, shuffle: bool) -> ForecastWindows:
        return ForecastWindows(
            split, series.lookback, series.horizon, batch_size, shuffle, t.seed, device, series.target_index
        )

    return PretrainData(
        windows(series.train, t.batch_size, True),
        windows(series.valid, t.eval_batch_size, False),
        windows(series.test, t.eval_batch_size, False),
        None,
        "rows",
        {s: getattr(series, s).size(0) for s in SPLITS},
        list(series.notes),
        info=series.facts(layout).pretraining_info(),
        baselines={},
    )


def _labelled_series(cfg: Any, device: torch.device) -> PretrainData:
    """A labelled-series dataset (``dataset=ucr``) read unlabelled: its training file's series and
    ``dataset.unlabelled_series``, as float steps in length-bucketed batches (the test file is never read; the
    test split here is the validation part)."""
    t = cfg.trainer
    train, valid, enc, notes = unlabelled_series(cfg.dataset)
    examples = {s: [Example(x, 0) for x in v] for s, v in (("train", train), ("valid", valid), ("test", valid))}
    width = enc.width
    info = {  # what masked_values is built from: every value of a step reconstructed, on the z-scored scale
        "num_features": width,
        "num_columns": width,
        "target_index": None,
        "target_std": [1.0] * width,
        "horizon": 0,
        "lookback": 0,
        "timeseries": {"normalizer": None, "series_encoding": dataclasses.asdict(enc)},
    }
    return PretrainData(
        BucketBatches(examples["train"], t.batch_size, True, t.seed, device),
        BucketBatches(examples["valid"], t.eval_batch_size, False, t.seed, device),
        BucketBatches(examples["test"], t.eval_batch_size, False, t.seed, device),
        None,
        "series",
        {s: len(v) for s, v in examples.items()},
        notes + ["pretraining 'test' metrics are on the validation part (the test file is not read)"],
        info=info,
    )


SPLITS = ("train", "valid", "test")
# The data path of each data kind an objective's spec may name (a new kind is one function and one entry here).
_DATA_PATHS: dict[str, Callable[[Any, DataKind, torch.device, Tokenizer | None, bool], PretrainData]] = {
    "stream": _lm_windows,
    "windows": _lm_windows,
    "sentences": _sentences,
    "pairs": _pairs,
    "series": _series,
}
