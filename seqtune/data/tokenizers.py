"""Tokenizers: fitted on the train split only, saved with every run (``tokenizer.json`` and inside each
checkpoint) and rebuilt from that dict by every later command, so preprocessing never drifts.

Usage::

    tok = fit_tokenizer(TokenizerSettings(kind="word", max_vocab=10000), [train_text])
    ids = tok.encode(text)                       # list[int]
    same = tokenizer_from_dict(tok.to_dict())    # identical behaviour

The special tokens are defined once, here, and every tokenizer puts them first in the same order, so their
ids are the same in every vocabulary (``PAD_ID == 0`` and so on).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Protocol

from seqtune.errors import ConfigError, DataError
from seqtune.registry import TOKENIZERS

PAD, UNK, BOS, EOS, MASK, CLS = "<pad>", "<unk>", "<bos>", "<eos>", "<mask>", "<cls>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, UNK, BOS, EOS, MASK, CLS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID, MASK_ID, CLS_ID = range(len(SPECIAL_TOKENS))


@dataclass(frozen=True)
class TokenizerSettings:
    """Plain typed settings (built from the ``dataset.tokenizer`` config by the caller)."""

    kind: str = "word"
    lowercase: bool = False
    max_vocab: int | None = None
    min_freq: int = 1
    add_eos: bool = True


class Tokenizer(Protocol):
    kind: str
    itos: list[str]

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Iterable[int]) -> str: ...

    def to_dict(self) -> dict: ...


def _build_vocab(counts: Counter, max_vocab: int | None, min_freq: int) -> list[str]:
    """Specials first, then tokens by falling frequency (ties broken alphabetically, so the order is stable)."""
    for s in SPECIAL_TOKENS:
        counts.pop(s, None)
    ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
    if max_vocab is not None:
        ranked = ranked[: max(0, max_vocab - len(SPECIAL_TOKENS))]
    return list(SPECIAL_TOKENS) + ranked


class _VocabTokenizer:
    """Shared part of the char and word tokenizers: a fixed list of strings and its inverse."""

    kind = "base"

    def __init__(self, itos: list[str], lowercase: bool):
        if list(itos[: len(SPECIAL_TOKENS)]) != list(SPECIAL_TOKENS):
            raise DataError("tokenizer vocabulary does not start with seqtune's special tokens; it is not a seqtune tokenizer file")
        self.itos = list(itos)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.lowercase = lowercase

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def _pieces(self, text: str) -> list[str]:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        stoi, unk = self.stoi, UNK_ID
        return [stoi.get(p, unk) for p in self._pieces(text.lower() if self.lowercase else text)]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "itos": self.itos, "lowercase": self.lowercase}


class CharTokenizer(_VocabTokenizer):
    """One token per Unicode character, newlines included."""

    kind = "char"

    def _pieces(self, text: str) -> list[str]:
        return list(text)

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.itos[i] for i in ids if i >= len(SPECIAL_TOKENS) or i == UNK_ID)


class WordTokenizer(_VocabTokenizer):
    """Whitespace-separated words; with ``add_eos`` an ``<eos>`` token ends every line."""

    kind = "word"

    def __init__(self, itos: list[str], lowercase: bool, add_eos: bool):
        super().__init__(itos, lowercase)
        self.add_eos = add_eos

    def _pieces(self, text: str) -> list[str]:
        if not self.add_eos:
            return text.split()
        out: list[str] = []
        for line in text.splitlines():
            out.extend(line.split())
            out.append(EOS)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        words = [self.itos[i] for i in ids if i != PAD_ID]
        return " ".join(words).replace(f" {EOS} ", "\n").replace(f" {EOS}", "\n")

    def to_dict(self) -> dict:
        return {**super().to_dict(), "add_eos": self.add_eos}


@TOKENIZERS.register("char")
def fit_char(settings: TokenizerSettings, texts: Iterable[str]) -> CharTokenizer:
    counts: Counter = Counter()
    for t in texts:
        counts.update(t.lower() if settings.lowercase else t)
    return CharTokenizer(_build_vocab(counts, settings.max_vocab, settings.min_freq), settings.lowercase)


@TOKENIZERS.register("word")
def fit_word(settings: TokenizerSettings, texts: Iterable[str]) -> WordTokenizer:
    counts: Counter = Counter()
    for t in texts:
        counts.update((t.lower() if settings.lowercase else t).split())
    return WordTokenizer(_build_vocab(counts, settings.max_vocab, settings.min_freq), settings.lowercase, settings.add_eos)


def fit_tokenizer(settings: TokenizerSettings, texts: Iterable[str]) -> Tokenizer:
    return TOKENIZERS.get(settings.kind, key="dataset.tokenizer.kind")(settings, texts)


def tokenizer_from_dict(d: dict) -> Tokenizer:
    """Rebuild a tokenizer saved by ``to_dict`` (from tokenizer.json or a checkpoint)."""
    kind = d.get("kind")
    if kind == "char":
        return CharTokenizer(d["itos"], d.get("lowercase", False))
    if kind == "word":
        return WordTokenizer(d["itos"], d.get("lowercase", False), d.get("add_eos", True))
    raise ConfigError(f"saved tokenizer has unknown kind {kind!r}; this seqtune knows: {', '.join(TOKENIZERS.names())}.")
