"""Language-modelling corpora: raw text splits -> tokenizer fitted on train -> 1-D id tensors.

``load_lm_corpus(dataset_cfg)`` is what ``pretrain`` calls.  Each dataset *format* is a registered builder
that returns the three raw text splits; tokenisation is shared.  Relative folders are looked up under the data
directory (``$SEQTUNE_DATA_DIR``, else the user cache directory), so the named presets (ptb, wikitext2,
tinyshakespeare) work on any machine that has the files there.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch
from hydra.utils import to_absolute_path

from seqtune.data.download import data_dir
from seqtune.data.formats import read_text
from seqtune.data.synthetic import generate_sentences
from seqtune.data.tokenizers import Tokenizer, TokenizerSettings, fit_tokenizer
from seqtune.errors import DataError
from seqtune.registry import DATASETS


@dataclass
class RawSplits:
    train: str
    valid: str
    test: str
    notes: list[str]  # what was done to get them (e.g. "valid carved from train"), for the log


@dataclass
class LMCorpus:
    train: torch.Tensor  # (n_train,) int64 token ids
    valid: torch.Tensor
    test: torch.Tensor
    tokenizer: Tokenizer
    notes: list[str]


def resolve_folder(folder: str | None) -> Path | None:
    """Absolute folders stay; relative ones are looked up under the data directory."""
    if folder is None:
        return None
    p = Path(folder).expanduser()
    return p if p.is_absolute() else data_dir() / p


def _resolve_file(folder: Path | None, name: str, key: str) -> Path:
    path = (folder / name) if folder is not None else Path(to_absolute_path(name))
    if not path.exists():
        hint = (
            f"Put the file there, or set SEQTUNE_DATA_DIR to the folder that holds '{folder.name}/' "
            f"(now: {data_dir()})." if folder is not None else f"Check {key}, or give an absolute path."
        )
        raise DataError(f"{key}: file not found: {path}. {hint}")
    return path


def carve(text: str, fraction: float, seed: int, chunk_lines: int = 50) -> tuple[str, str]:
    """Split off about ``fraction`` of the lines as seeded, contiguous chunks of ``chunk_lines`` lines.

    Chunks (rather than single lines) keep the local context that a language model uses; the seed makes the
    split identical in every run.  Returns (kept, carved).
    """
    lines = text.splitlines(keepends=True)
    chunks = [lines[i : i + chunk_lines] for i in range(0, len(lines), chunk_lines)]
    n_carve = max(1, round(fraction * len(chunks))) if len(chunks) > 1 else 0
    if n_carve == 0:
        raise DataError("cannot carve a validation/test split from a training file of a single chunk of lines; "
                        "give dataset.valid and dataset.test files, or use a longer training file.")
    picked = set(random.Random(seed).sample(range(len(chunks)), n_carve))
    kept = "".join(l for i, c in enumerate(chunks) if i not in picked for l in c)
    carved = "".join(l for i, c in enumerate(chunks) if i in picked for l in c)
    return kept, carved


@DATASETS.register("synthetic")
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


@DATASETS.register("text")
def text_splits(ds) -> RawSplits:
    folder = resolve_folder(ds.folder)
    train = read_text(_resolve_file(folder, ds.train, "dataset.train"), encoding=ds.encoding)
    notes: list[str] = []
    splits = {}
    for i, (name, frac) in enumerate((("valid", ds.valid_fraction), ("test", ds.test_fraction))):
        given = ds[name]
        if given is not None:
            splits[name] = read_text(_resolve_file(folder, given, f"dataset.{name}"), encoding=ds.encoding)
        else:
            train, splits[name] = carve(train, frac, seed=1000 + i)
            notes.append(f"{name} split carved from train ({frac:.0%} of lines, fixed seed)")
    return RawSplits(train, splits["valid"], splits["test"], notes)


def load_lm_corpus(ds) -> LMCorpus:
    """Read the splits the dataset config names, fit the tokenizer on train only, encode all three."""
    raw = DATASETS.get(ds.format, key="dataset.format")(ds)
    t = ds.tokenizer
    settings = TokenizerSettings(t.kind, t.lowercase, t.max_vocab, t.min_freq, t.add_eos)
    tok = fit_tokenizer(settings, [raw.train])
    return LMCorpus(*(torch.tensor(tok.encode(s), dtype=torch.long) for s in (raw.train, raw.valid, raw.test)),
                    tokenizer=tok, notes=raw.notes)


def unigram_log_loss(train: torch.Tensor, target: torch.Tensor, vocab_size: int) -> float:
    """Mean negative log-likelihood (nats/token) of ``target`` under add-one-smoothed train unigram counts.

    exp() of this is the unigram perplexity: the bar a sequence model must clear to have learnt anything.
    """
    counts = torch.bincount(train, minlength=vocab_size).double() + 1.0
    logp = counts.log() - counts.sum().log()
    return float(-logp[target].mean())
