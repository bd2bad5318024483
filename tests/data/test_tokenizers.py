"""Tokenizers: every kind fits, encodes, decodes, keeps the special ids and survives to_dict / from_dict."""

from __future__ import annotations

import pytest

from seqtune.data.tokenizers import (
    EOS_ID,
    PAD_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    TokenizerSettings,
    basic_english,
    fit_tokenizer,
    tokenizer_from_dict,
    tokenizer_hash,
)
from seqtune.errors import ConfigError

TEXT = "the cat sat on the mat\nthe dog sat on the log\na cat and a dog\n" * 20
ALL_KINDS = ["char", "word", "basic_english", "bpe", "wordpiece", "unigram"]


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_kind_has_specials_first_and_round_trips(kind: str) -> None:
    tok = fit_tokenizer(TokenizerSettings(kind=kind, vocab_size=60), [TEXT])
    assert tok.kind == kind
    assert tok.itos[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    ids = tok.encode("the cat sat\na dog")
    assert ids and all(0 <= i < tok.vocab_size for i in ids)
    assert PAD_ID not in ids
    again = tokenizer_from_dict(tok.to_dict())
    assert again.encode("the cat sat\na dog") == ids
    assert again.vocab_size == tok.vocab_size
    assert tokenizer_hash(again) == tokenizer_hash(tok)
    assert "cat" in tok.decode(ids) and "dog" in tok.decode(ids)


@pytest.mark.parametrize("kind", ["word", "basic_english", "bpe", "wordpiece", "unigram"])
def test_line_ends_become_eos(kind: str) -> None:
    tok = fit_tokenizer(TokenizerSettings(kind=kind, vocab_size=60, add_eos=True), [TEXT])
    ids = tok.encode("the cat\nthe dog\n")
    assert ids.count(EOS_ID) == 2 and ids[-1] == EOS_ID
    no_eos = fit_tokenizer(TokenizerSettings(kind=kind, vocab_size=60, add_eos=False), [TEXT])
    assert EOS_ID not in no_eos.encode("the cat\nthe dog\n")


def test_word_vocabulary_cap_min_freq_and_unk() -> None:
    text = "a a a a b b b c c d\n"
    capped = fit_tokenizer(TokenizerSettings(kind="word", max_vocab=len(SPECIAL_TOKENS) + 2, add_eos=False), [text])
    assert capped.itos[len(SPECIAL_TOKENS) :] == ["a", "b"]
    assert capped.encode("a c zzz") == [capped.stoi["a"], UNK_ID, UNK_ID]
    frequent = fit_tokenizer(TokenizerSettings(kind="word", min_freq=2, add_eos=False), [text])
    assert set(frequent.itos[len(SPECIAL_TOKENS) :]) == {"a", "b", "c"}
    lower = fit_tokenizer(TokenizerSettings(kind="word", lowercase=True, add_eos=False), ["The THE the\n"])
    assert lower.itos[len(SPECIAL_TOKENS) :] == ["the"]


def test_basic_english_follows_torchtext_rules() -> None:
    # Expected tokens per torchtext's documented normalisation (lower-case, quotes dropped, punctuation split).
    assert basic_english("You can now install TorchText using pip!") == [
        "you",
        "can",
        "now",
        "install",
        "torchtext",
        "using",
        "pip",
        "!",
    ]
    assert basic_english('He said "no", (twice); OK?<br />Yes: it\'s.') == [
        "he",
        "said",
        "no",
        ",",
        "(",
        "twice",
        ")",
        "ok",
        "?",
        "yes",
        "it",
        "'",
        "s",
        ".",
    ]


def test_subword_vocab_size_and_unknown_kind() -> None:
    tok = fit_tokenizer(TokenizerSettings(kind="bpe", vocab_size=40), [TEXT])
    assert tok.vocab_size <= 40
    with pytest.raises(ConfigError, match="vocab_size"):
        fit_tokenizer(TokenizerSettings(kind="bpe", vocab_size=6), [TEXT])
    with pytest.raises(ConfigError, match="valid names are"):
        fit_tokenizer(TokenizerSettings(kind="sentencepiece"), [TEXT])


def test_extend_tokenizer_appends_missing_words_and_keeps_old_ids():
    from seqtune.data.tokenizers import TokenizerSettings, extend_tokenizer, fit_tokenizer

    base = fit_tokenizer(TokenizerSettings(kind="word", lowercase=True), ["the cat sat\nthe dog"])
    extended, added = extend_tokenizer(base, ["The bird sat on the bird", "a Bird flew"], min_freq=2, max_vocab=None)
    assert added == ["bird"]  # 3 occurrences (lower-cased); "on", "a", "flew" occur once
    assert extended.itos[: base.vocab_size] == base.itos  # every old id keeps its token
    assert extended.encode("the bird flew") == [base.stoi["the"], base.vocab_size, 1, 3]  # flew stays <unk>
    capped, added = extend_tokenizer(base, ["x y x y z z"], min_freq=1, max_vocab=base.vocab_size + 1)
    assert capped.vocab_size == base.vocab_size + 1 and len(added) == 1


def test_extend_tokenizer_refuses_subword_models():
    from seqtune.data.tokenizers import TokenizerSettings, extend_tokenizer, fit_tokenizer
    from seqtune.errors import ConfigError

    bpe = fit_tokenizer(TokenizerSettings(kind="bpe", vocab_size=40), ["low lower lowest newer wider"] * 5)
    with pytest.raises(ConfigError, match="init_vocab=keep"):
        extend_tokenizer(bpe, ["anything"], 1, None)
