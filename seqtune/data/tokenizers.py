"""Tokenizers: fitted on the train split only, saved with every run (``tokenizer.json`` and inside each
checkpoint) and rebuilt from that dict by every later command, so preprocessing never drifts.

Usage::

    tok = fit_tokenizer(TokenizerSettings(kind="word", max_vocab=10000), [train_text])
    ids = tok.encode(text)                       # list[int]
    same = tokenizer_from_dict(tok.to_dict())    # identical behaviour

Kinds (the TOKENIZERS registry): ``char``; ``word`` (whitespace split); ``basic_english`` (torchtext's rules:
lower-case, split off punctuation, drop double quotes and ``<br />``); ``bpe``, ``wordpiece`` and ``unigram``
(subword models trained on the train split with the Hugging Face ``tokenizers`` library, ``vocab_size`` pieces).
``fit_tokenizer`` takes any iterable of strings, so a corpus larger than memory can be fitted chunk by chunk.

The special tokens are defined once, here, and every tokenizer puts them first in the same order, so their
ids are the same in every vocabulary (``PAD_ID == 0`` and so on), subword models included.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from seqtune.errors import CheckpointError, ConfigError, DataError
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
    vocab_size: int = 8000  # bpe / wordpiece / unigram: size of the trained vocabulary (specials included)


def settings_from_config(cfg) -> TokenizerSettings:
    """``dataset.tokenizer`` config node -> plain settings (the only place that reads that node)."""
    return TokenizerSettings(
        kind=cfg.kind,
        lowercase=cfg.lowercase,
        max_vocab=cfg.max_vocab,
        min_freq=cfg.min_freq,
        add_eos=cfg.add_eos,
        vocab_size=cfg.vocab_size,
    )


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
            raise DataError(
                "tokenizer vocabulary does not start with seqtune's special tokens; it is not a seqtune tokenizer file"
            )
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
    _table: np.ndarray | None = None  # code point -> id (UNK where no character); built on first use

    def _pieces(self, text: str) -> list[str]:
        return list(text)

    def encode(self, text: str) -> list[int]:
        return self.encode_array(text).tolist()

    def encode_array(self, text: str) -> np.ndarray:
        """``encode`` as an int64 array, vectorised: code points looked up in a table (3x faster than a dict per
        character on WikiText-2; the token cache uses it)."""
        if self._table is None:
            known = [ord(c) if len(c) == 1 else -1 for c in self.itos]  # specials are not characters
            table = np.full(max(known) + 1, UNK_ID, dtype=np.int64)
            for i, cp in enumerate(known):
                if cp >= 0:
                    table[cp] = i
            self._table = table
        table = self._table
        text = text.lower() if self.lowercase else text
        points = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype="<u4")  # (len(text),)
        ids = table[np.minimum(points, table.size - 1)]
        ids[points >= table.size] = UNK_ID
        return ids

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


# torchtext's ``basic_english`` normalisation, rule for rule (torchtext/data/utils.py): lower-case, then these
# substitutions in this order, then split on whitespace.
_BASIC_ENGLISH_RULES = [
    (re.compile(p), r)
    for p, r in [
        (r"\'", " '  "),
        (r"\"", ""),
        (r"\.", " . "),
        (r"<br \/>", " "),
        (r",", " , "),
        (r"\(", " ( "),
        (r"\)", " ) "),
        (r"\!", " ! "),
        (r"\?", " ? "),
        (r"\;", " "),
        (r"\:", " "),
        (r"\s+", " "),
    ]
]


def basic_english(line: str) -> list[str]:
    """torchtext's ``get_tokenizer("basic_english")``: the same tokens for the same line."""
    line = line.lower()
    for pattern, replacement in _BASIC_ENGLISH_RULES:
        line = pattern.sub(replacement, line)
    return line.split()


class BasicEnglishTokenizer(WordTokenizer):
    """Word tokenizer on torchtext's ``basic_english`` tokens (always lower-cased)."""

    kind = "basic_english"

    def __init__(self, itos: list[str], add_eos: bool):
        super().__init__(itos, lowercase=False, add_eos=add_eos)

    def _pieces(self, text: str) -> list[str]:
        if not self.add_eos:
            return basic_english(text)
        out: list[str] = []
        for line in text.splitlines():
            out.extend(basic_english(line))
            out.append(EOS)
        return out

    def to_dict(self) -> dict:
        return {"kind": self.kind, "itos": self.itos, "add_eos": self.add_eos}


class SubwordTokenizer:
    """A BPE / WordPiece / Unigram model of the ``tokenizers`` library, behind seqtune's Tokenizer protocol.

    Text is encoded line by line (an ``<eos>`` after each line with ``add_eos``), in batches so the Rust side
    can use its threads.  Saved as the library's own JSON string inside ``to_dict``.
    """

    def __init__(self, kind: str, model, add_eos: bool):
        self.kind = kind
        self.model = model  # tokenizers.Tokenizer
        self.add_eos = add_eos
        vocab = model.get_vocab(with_added_tokens=True)
        self.itos = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
        if self.itos[: len(SPECIAL_TOKENS)] != list(SPECIAL_TOKENS):
            raise DataError(
                "subword tokenizer vocabulary does not start with seqtune's special tokens; "
                "it is not a seqtune tokenizer file"
            )

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        if not self.add_eos:
            return self.model.encode(text, add_special_tokens=False).ids
        out: list[int] = []
        # encode_batch_fast (tokenizers >= 0.21) skips the character offsets we do not use.
        batch = getattr(self.model, "encode_batch_fast", self.model.encode_batch)
        for enc in batch(text.splitlines(), add_special_tokens=False):
            out.extend(enc.ids)
            out.append(EOS_ID)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        lines: list[list[int]] = []
        current: list[int] = []
        for i in ids:
            if i == EOS_ID:
                lines.append(current)
                current = []
            elif i >= len(SPECIAL_TOKENS):
                current.append(i)
        lines.append(current)
        return "\n".join(self.model.decode(c) for c in lines)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "add_eos": self.add_eos, "model": self.model.to_str()}


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
    return WordTokenizer(
        _build_vocab(counts, settings.max_vocab, settings.min_freq), settings.lowercase, settings.add_eos
    )


@TOKENIZERS.register("basic_english")
def fit_basic_english(settings: TokenizerSettings, texts: Iterable[str]) -> BasicEnglishTokenizer:
    counts: Counter = Counter()
    for t in texts:
        counts.update(basic_english(t))
    return BasicEnglishTokenizer(_build_vocab(counts, settings.max_vocab, settings.min_freq), settings.add_eos)


def _lines(texts: Iterable[str]) -> Iterator[list[str]]:
    # The trainers see the same units the encoder will: lines (batched, so Python overhead stays small).
    for t in texts:
        lines = t.splitlines()
        for i in range(0, len(lines), 1000):
            yield lines[i : i + 1000]


def _fit_subword(kind: str, settings: TokenizerSettings, texts: Iterable[str]) -> SubwordTokenizer:
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

    specials = list(SPECIAL_TOKENS)  # in this order -> ids 0..5, as in every seqtune vocabulary
    if settings.vocab_size <= len(specials):
        raise ConfigError(
            f"dataset.tokenizer.vocab_size={settings.vocab_size} must be larger than the "
            f"{len(specials)} special tokens; use a few thousand for {kind}."
        )
    trainer: Any  # the trainer of the chosen model
    if kind == "bpe":
        model = HFTokenizer(models.BPE(unk_token=UNK))
        model.pre_tokenizer, model.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
        trainer = trainers.BpeTrainer(
            vocab_size=settings.vocab_size,
            min_frequency=settings.min_freq,
            special_tokens=specials,
            show_progress=False,
        )
    elif kind == "wordpiece":
        model = HFTokenizer(models.WordPiece(unk_token=UNK))
        model.pre_tokenizer, model.decoder = pre_tokenizers.Whitespace(), decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(
            vocab_size=settings.vocab_size,
            min_frequency=settings.min_freq,
            special_tokens=specials,
            show_progress=False,
        )
    else:
        model = HFTokenizer(models.Unigram())
        model.pre_tokenizer, model.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
        trainer = trainers.UnigramTrainer(
            vocab_size=settings.vocab_size, special_tokens=specials, unk_token=UNK, show_progress=False
        )
    if settings.lowercase:
        model.normalizer = normalizers.Lowercase()
    model.train_from_iterator(_lines(texts), trainer)
    return SubwordTokenizer(kind, model, settings.add_eos)


@TOKENIZERS.register("bpe")
def fit_bpe(settings: TokenizerSettings, texts: Iterable[str]) -> SubwordTokenizer:
    return _fit_subword("bpe", settings, texts)


@TOKENIZERS.register("wordpiece")
def fit_wordpiece(settings: TokenizerSettings, texts: Iterable[str]) -> SubwordTokenizer:
    return _fit_subword("wordpiece", settings, texts)


@TOKENIZERS.register("unigram")
def fit_unigram(settings: TokenizerSettings, texts: Iterable[str]) -> SubwordTokenizer:
    return _fit_subword("unigram", settings, texts)


def fit_tokenizer(settings: TokenizerSettings, texts: Iterable[str]) -> Tokenizer:
    return TOKENIZERS.get(settings.kind, key="dataset.tokenizer.kind")(settings, texts)


def tokenizer_hash(tok: Tokenizer) -> str:
    """A short stable digest of everything that decides how text is encoded (keys the token cache)."""
    import hashlib

    return hashlib.sha256(json.dumps(tok.to_dict(), sort_keys=True).encode("utf-8")).hexdigest()[:16]


def tokenizer_from_dict(d: dict) -> Tokenizer:
    """Rebuild a tokenizer saved by ``to_dict`` (from tokenizer.json or a checkpoint); a damaged entry (no
    vocabulary, no model, wrong types) is a CheckpointError that names what is missing."""
    kind = d.get("kind") if isinstance(d, dict) else None
    needed = ("model", str) if kind in SUBWORD_KINDS else ("itos", list)
    if isinstance(d, dict) and kind in TOKENIZERS.names() and not isinstance(d.get(needed[0]), needed[1]):
        raise CheckpointError(
            f"the saved tokenizer ({kind}) has no {needed[0]!r} entry of type {needed[1].__name__}: the checkpoint "
            "(or tokenizer.json) is damaged. Use the run's own checkpoints/best.pt or last.pt, or re-create it."
        )
    if kind == "char":
        return CharTokenizer(d["itos"], d.get("lowercase", False))
    if kind == "word":
        return WordTokenizer(d["itos"], d.get("lowercase", False), d.get("add_eos", True))
    if kind == "basic_english":
        return BasicEnglishTokenizer(d["itos"], d.get("add_eos", True))
    if kind in ("bpe", "wordpiece", "unigram"):
        from tokenizers import Tokenizer as HFTokenizer

        return SubwordTokenizer(kind, HFTokenizer.from_str(d["model"]), d.get("add_eos", True))
    raise ConfigError(
        f"saved tokenizer has unknown kind {kind!r}; this seqtune knows: {', '.join(TOKENIZERS.names())}."
    )


SUBWORD_KINDS = ("bpe", "wordpiece", "unigram")  # trained to ``vocab_size`` pieces


def tokenizer_problems(key: str, tok) -> list[str]:
    """The rules of a tokenizer config node (``dataset.tokenizer``); one line per problem."""
    if tok is None:
        return []
    problems: list[str] = []
    if tok.min_freq < 1:
        problems.append(f"{key}.min_freq={tok.min_freq} must be >= 1.")
    if tok.kind not in TOKENIZERS:
        problems.append(f"{key}.kind={tok.kind!r} is not one of {', '.join(TOKENIZERS.names())}.")
    elif tok.kind in SUBWORD_KINDS and tok.vocab_size <= len(SPECIAL_TOKENS):
        problems.append(f"{key}.vocab_size={tok.vocab_size} must exceed the {len(SPECIAL_TOKENS)} special tokens.")
    return problems


def extend_tokenizer(
    tok: Tokenizer, texts: Iterable[str], min_freq: int, max_vocab: int | None
) -> tuple[Tokenizer, list[str]]:
    """ULMFiT's second stage on a new corpus: ``tok``'s vocabulary plus the corpus's tokens it lacks.

    New tokens (at least ``min_freq`` occurrences, most frequent first, up to ``max_vocab`` in all) go after the
    existing ones, so every old id keeps its meaning and pretrained rows stay where they are.  Word-level kinds
    and characters only: a subword model covers new words by splitting them already.
    Returns (the extended tokenizer, the tokens added).
    """
    if not isinstance(tok, _VocabTokenizer):
        raise ConfigError(
            f"init_vocab=extend adds words to a word or character vocabulary; the checkpoint's tokenizer is "
            f"{tok.kind!r} (subwords already cover new words): use init_vocab=keep."
        )
    counts: Counter = Counter()
    for text in texts:
        counts.update(p for p in tok._pieces(text.lower() if tok.lowercase else text) if p not in tok.stoi)
    ranked = _build_vocab(counts, None, min_freq)[len(SPECIAL_TOKENS) :]
    if max_vocab is not None:
        ranked = ranked[: max(0, max_vocab - tok.vocab_size)]
    data = tok.to_dict()
    data["itos"] = list(tok.itos) + ranked
    return tokenizer_from_dict(data), ranked
