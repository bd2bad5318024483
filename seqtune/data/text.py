"""Language-modelling corpora: raw text splits -> tokenizer fitted on train -> 1-D id tensors.

``load_lm_corpus(dataset_cfg)`` is what ``pretrain`` calls.  Each dataset *format* is a registered reader
(the DATASETS registry) that returns its raw data: :class:`RawSplits` of text here, labelled or tagged
examples in ``labelled.py`` / ``tagging.py``.  Any labelled dataset also serves as unlabelled text (labels
ignored, its test split never read), so ``seqtune pretrain dataset=trec`` works.  Relative folders are looked
up under the data directory (``$SEQTUNE_DATA_DIR``, else the user cache directory); catalogued files of named
datasets are sha256-checked and downloaded when missing (``catalog.py``).

A split given as a file is streamed (:class:`~seqtune.data.cache.TextSource`): tokenised chunk by chunk into
a cached id file that is memory-mapped, so a corpus larger than RAM loads with flat memory and a second run
skips tokenisation.  Splits carved from train are read into memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seqtune.data.cache import cached_counts, cached_tokenizer, encode_cached, iter_text
from seqtune.data.catalog import dataset_file
from seqtune.data.formats import read_text, sniff
from seqtune.data.records import RawLabelled, RawSplits, TextSource, dataset_format
from seqtune.data.splits import carve, lm_splits
from seqtune.data.synthetic import generate_sentences
from seqtune.data.tokenizers import Tokenizer, extend_tokenizer, fit_tokenizer, settings_from_config
from seqtune.errors import ConfigError
from seqtune.registry import DATASETS


@dataclass
class LMCorpus:
    train: torch.Tensor  # (n_train,) int64 token ids
    valid: torch.Tensor
    test: torch.Tensor
    tokenizer: Tokenizer
    notes: list[str]
    train_counts: torch.Tensor | None = None  # (vocab,) occurrences of each id in train; None: count train

    def counts(self) -> torch.Tensor:
        """Occurrences of every token id in train (vocab,): the cache's, counted while encoding, so that a
        memory-mapped train split is not read through (which would make all of it resident)."""
        if self.train_counts is None:
            self.train_counts = torch.bincount(self.train, minlength=self.tokenizer.vocab_size)
        return self.train_counts


@dataset_format("synthetic", holds="text")
def synthetic_splits(ds) -> RawSplits:
    def text(n: int, seed: int) -> str:
        return "\n".join(s.text for s in generate_sentences(n, seed)) + "\n"

    # Distinct seeds per split, so no sentence sequence is shared between them.
    return RawSplits(
        text(ds.train_sentences, ds.seed * 3),
        text(ds.valid_sentences, ds.seed * 3 + 1),
        text(ds.test_sentences, ds.seed * 3 + 2),
        notes=[f"built-in grammar corpus, seed {ds.seed}"],
    )


@dataset_format("text", holds="text")
def text_splits(ds) -> RawSplits:
    train_path = dataset_file(ds, ds.train, "dataset.train")
    if ds.valid is not None and ds.test is not None:  # every split is a file: stream them
        for key in ("train", "valid", "test"):  # UTF-16/32 or an archive: named before the stream misreads it
            path = dataset_file(ds, ds[key], f"dataset.{key}")
            with open(path, "rb") as fh:
                sniff(str(path), fh.read(8), ds.encoding, compressed=False)  # .gz/.bz2/.xz: the stream's own
        return RawSplits(
            TextSource(train_path, ds.encoding),
            TextSource(dataset_file(ds, ds.valid, "dataset.valid"), ds.encoding),
            TextSource(dataset_file(ds, ds.test, "dataset.test"), ds.encoding),
            notes=[],
        )
    train = read_text(train_path, encoding=ds.encoding)
    notes: list[str] = []
    splits = {}
    for i, (name, frac) in enumerate((("valid", ds.valid_fraction), ("test", ds.test_fraction))):
        given = ds[name]
        if given is not None:
            splits[name] = read_text(dataset_file(ds, given, f"dataset.{name}"), encoding=ds.encoding)
        else:
            train, splits[name] = carve(train, frac, seed=1000 + i)
            notes.append(f"{name} split carved from train ({frac:.0%} of lines, fixed seed)")
    return RawSplits(train, splits["valid"], splits["test"], notes)


def load_lm_corpus(ds, tokenizer: Tokenizer | None = None, extend_vocab: bool = False) -> LMCorpus:
    """Read the splits the dataset config names, fit the tokenizer on train only, encode all three.

    ``tokenizer`` (e.g. from a checkpoint, for a second pretraining stage) is used as given instead, or with
    ``extend_vocab`` extended by the train split's tokens it lacks (``dataset.tokenizer.min_freq`` occurrences,
    ``dataset.tokenizer.max_vocab`` in all): ULMFiT's language-model fine-tuning on the target's own words.
    """
    raw = DATASETS.get(ds.format, key="dataset.format")(ds)
    if not isinstance(raw, RawSplits):
        if not isinstance(raw, RawLabelled):
            raise ConfigError(
                f"dataset.format={ds.format!r} holds no text, so it cannot be used for language "
                "modelling; choose a text or labelled dataset, or a forecasting objective."
            )
        raw = lm_splits(raw, ds)
    use_cache = bool(ds.get("token_cache", True))
    tok, notes = tokenizer, list(raw.notes)
    if tok is not None and extend_vocab:
        texts = iter_text(raw.train) if isinstance(raw.train, TextSource) else [raw.train]
        tok, added = extend_tokenizer(tok, texts, ds.tokenizer.min_freq, ds.tokenizer.max_vocab)
        shown = ", ".join(added[:12]) + (", ..." if len(added) > 12 else "")
        notes.append(
            f"init_vocab=extend: {len(added):,} tokens of the train split added to the checkpoint's vocabulary "
            f"(now {tok.vocab_size:,}; dataset.tokenizer.min_freq={ds.tokenizer.min_freq}): {shown}"
        )
    if tok is None:
        settings = settings_from_config(ds.tokenizer)
        if isinstance(raw.train, TextSource):
            tok = cached_tokenizer(settings, raw.train, use_cache)
        else:
            tok = fit_tokenizer(settings, [raw.train])

    def encode(split: str | TextSource) -> torch.Tensor:
        if isinstance(split, TextSource):
            return encode_cached(split, tok, use_cache)
        return torch.tensor(tok.encode(split), dtype=torch.long)

    train = encode(raw.train)
    counts = cached_counts(raw.train, tok) if isinstance(raw.train, TextSource) and use_cache else None
    return LMCorpus(train, encode(raw.valid), encode(raw.test), tokenizer=tok, notes=notes, train_counts=counts)


def unigram_log_loss(train_counts: torch.Tensor, target: torch.Tensor) -> float:
    """Mean negative log-likelihood (nats/token) of ``target`` under add-one-smoothed train unigram counts
    (``train_counts``: occurrences of every id in train, (vocab,)).

    exp() of this is the unigram perplexity: the bar a sequence model must clear to have learnt anything.
    """
    counts = train_counts.double() + 1.0
    logp = counts.log() - counts.sum().log()
    return float(-logp[target].mean())
