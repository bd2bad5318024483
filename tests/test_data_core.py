"""Tokenizers and LM batching: the pieces pretraining is built from."""
from __future__ import annotations

import torch

from seqtune.data.batching import LMStream, to_columns
from seqtune.data.synthetic import generate_sentences
from seqtune.data.splits import carve
from seqtune.data.tokenizers import (EOS_ID, SPECIAL_TOKENS, UNK_ID, TokenizerSettings, fit_tokenizer,
                                     tokenizer_from_dict)


def test_word_tokenizer_caps_vocab_maps_unknowns_and_round_trips():
    tok = fit_tokenizer(TokenizerSettings(kind="word", max_vocab=len(SPECIAL_TOKENS) + 2, min_freq=1),
                        ["a a a b b c\n"])
    assert tok.itos[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    assert tok.itos[len(SPECIAL_TOKENS):] == ["a", "b"]
    assert tok.encode("a c\n") == [tok.stoi["a"], UNK_ID, EOS_ID]
    again = tokenizer_from_dict(tok.to_dict())
    assert again.encode("b a zzz\n") == tok.encode("b a zzz\n")


def test_min_freq_and_lowercase():
    tok = fit_tokenizer(TokenizerSettings(kind="word", lowercase=True, min_freq=2), ["The the cat\n"])
    assert "the" in tok.stoi and "cat" not in tok.stoi and "The" not in tok.stoi


def test_char_tokenizer_decodes_what_it_encodes():
    tok = fit_tokenizer(TokenizerSettings(kind="char"), ["hello\nworld"])
    assert tok.decode(tok.encode("low\nhe")) == "low\nhe"


def test_columns_and_bptt_windows():
    ids = torch.arange(26)
    cols = to_columns(ids, 2)  # (13, 2): column 0 is 0..12, column 1 is 13..25
    assert cols.shape == (13, 2) and cols[:, 1].tolist() == list(range(13, 26))
    stream = LMStream(ids, batch_size=2, bptt=5, device=torch.device("cpu"))
    windows = list(stream)
    assert len(windows) == len(stream) == 3  # 12 target steps in windows of 5, 5, 2
    x, y = windows[0]
    assert x.shape == (5, 2) and torch.equal(y, cols[1:6])
    assert torch.equal(torch.cat([w[1] for w in windows]), cols[1:])  # every target exactly once, in order
    assert [w[0].tolist() for w in stream.iter_from(2)] == [windows[2][0].tolist()]


def test_synthetic_corpus_is_deterministic_and_has_agreement():
    a, b = generate_sentences(50, seed=3), generate_sentences(50, seed=3)
    assert a == b and a != generate_sentences(50, seed=4)
    assert all(s.text.endswith(" .") for s in a)


def test_carve_is_seeded_and_disjoint():
    text = "".join(f"line {i}\n" for i in range(1000))
    kept, carved = carve(text, 0.1, seed=1)
    assert carve(text, 0.1, seed=1) == (kept, carved)
    assert len(carved.splitlines()) == 100 and len(kept.splitlines()) == 900
    assert not set(kept.splitlines()) & set(carved.splitlines())
