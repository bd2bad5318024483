"""Text -> token ids, the one way every command does it: the labelled loaders, language-model text made of
labelled data, and ``seqtune predict`` all call these functions, so a line is encoded at prediction exactly
as it was in training::

    ids = encode_input(tokenizer, "classification", "What is the capital of France ?")
    ids = encode_input(tokenizer, "tagging", ["EU", "rejects", "German", "call"])   # one id per token

A classification example is one line (line breaks inside a document become spaces: the word tokenizers add
``<eos>`` per line, and a document must not be split).  Tagging needs one id per given token, so only a
word-level tokenizer can serve it (:func:`check_tagging_tokenizer`).
"""

from __future__ import annotations

from seqtune.data.records import Task
from seqtune.data.tokenizers import UNK_ID, BasicEnglishTokenizer, Tokenizer, WordTokenizer
from seqtune.errors import ConfigError

WORD_LEVEL = ("word", "basic_english")  # tokenizer kinds that give exactly one id per whitespace token


def one_line(text: str) -> str:
    """A document as one line (its line breaks become spaces)."""
    return " ".join(text.splitlines()) if "\n" in text or "\r" in text else text


def check_tagging_tokenizer(kind: str) -> None:
    if kind not in WORD_LEVEL:
        raise ConfigError(
            f"dataset.tokenizer.kind={kind!r} cannot be used for tagging: every token needs exactly "
            f"one id and one tag. Use dataset.tokenizer.kind=word or basic_english."
        )


def encode_tokens(tok: Tokenizer, words: list[str]) -> list[int]:
    """One id per given token (no <eos>), looked up in a word-level vocabulary."""
    check_tagging_tokenizer(tok.kind)
    assert isinstance(tok, WordTokenizer)
    lower = isinstance(tok, BasicEnglishTokenizer) or tok.lowercase
    stoi = tok.stoi
    return [stoi.get(w.lower() if lower else w, UNK_ID) for w in words]


def encode_input(tok: Tokenizer, task: Task, value: str | list[str]) -> list[int]:
    """A classification text (one line) or a tagging example (its tokens; a string is split on whitespace)."""
    if task == "classification":
        assert isinstance(value, str)
        return tok.encode(one_line(value))
    return encode_tokens(tok, value.split() if isinstance(value, str) else value)


def lines_for_fitting(task: Task, inputs: list[str] | list[list[str]]) -> str:
    """A split's inputs as the text a tokenizer is fitted on (one example per line)."""
    if task == "tagging":
        return "\n".join(" ".join(words) for words in inputs)
    return "\n".join(one_line(text) for text in inputs)  # type: ignore[arg-type]
