"""Token tagging data (NER, chunking, POS): CoNLL-style column files -> token sequences + tag sequences.

Registered as the ``conll`` format; :func:`seqtune.data.labelled.load_labelled` turns it into examples whose
``label`` is one tag id per token, with the tag vocabulary in ``LabelledData.labels``.  Tags are converted to
IOB2 by default (CoNLL-2003's original files are IOB1); ``-DOCSTART-`` lines are skipped.  Each token maps to
exactly one id, so tagging needs a word-level tokenizer (``word`` or ``basic_english``).
"""
from __future__ import annotations

from pathlib import Path

from seqtune.data.formats import read_conll
from seqtune.data.labelled import RawLabelled, RawSplit, _read_split
from seqtune.data.tokenizers import UNK_ID, BasicEnglishTokenizer, Tokenizer, WordTokenizer
from seqtune.errors import ConfigError
from seqtune.registry import DATASETS

WORD_LEVEL = ("word", "basic_english")


def check_tagging_tokenizer(kind: str) -> None:
    if kind not in WORD_LEVEL:
        raise ConfigError(f"dataset.tokenizer.kind={kind!r} cannot be used for tagging: every token needs exactly "
                          f"one id and one tag. Use dataset.tokenizer.kind=word or basic_english.")


def encode_tokens(tok: Tokenizer, words: list[str]) -> list[int]:
    """One id per given token (no <eos>), looked up in a word-level vocabulary."""
    check_tagging_tokenizer(tok.kind)
    assert isinstance(tok, WordTokenizer)
    lower = isinstance(tok, BasicEnglishTokenizer) or tok.lowercase
    stoi = tok.stoi
    return [stoi.get(w.lower() if lower else w, UNK_ID) for w in words]


@DATASETS.register("conll")
def conll_splits(ds) -> RawLabelled:
    def reader(path: Path) -> tuple[list[list[str]], list[list[str]]]:
        return read_conll(path, token_column=ds.token_column, tag_column=ds.tag_column, encoding=ds.encoding,
                          scheme=ds.scheme, to_scheme=ds.to_scheme)

    splits: dict[str, RawSplit | None] = {name: _read_split(ds, name, reader) for name in ("train", "valid", "test")}
    note = f"tags converted to {ds.to_scheme.upper()}" if ds.to_scheme else "tags as written"
    return RawLabelled("tagging", splits["train"], splits["valid"], splits["test"], notes=[note])
