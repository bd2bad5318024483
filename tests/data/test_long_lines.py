"""A corpus without line breaks is streamed in pieces cut at blanks (flat memory) and encodes exactly as the whole
text would; the train split's token counts come from the cache, not from reading the memory-mapped ids."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from seqtune.config.schema import TextDatasetConfig
from seqtune.data import cache
from seqtune.data.cache import iter_pieces
from seqtune.data.records import TextSource
from seqtune.data.text import load_lm_corpus, unigram_log_loss
from seqtune.data.tokenizers import TokenizerSettings, fit_tokenizer
from ._helpers import make_cfg

WORDS = ["the", "cat", "sat", "on", "a", "mat", "déjà", "vu", "naïve", "ünïcödé", "x"]


def one_line(n_words: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n_words))  # no line break at all, multi-byte characters


def test_newline_free_file_is_cut_at_blanks_into_bounded_pieces(tmp_path: Path) -> None:
    f = tmp_path / "long.txt"
    text = one_line(3000)
    f.write_text(text, encoding="utf-8")
    pieces = list(iter_pieces(TextSource(f), chunk_bytes=256))
    assert "".join(p for p, _ in pieces) == text
    assert len(pieces) > 40 and all(len(p.encode()) <= 256 + 16 for p, _ in pieces)  # bounded: flat memory
    assert all(mid for _, mid in pieces[:-1]) and not pieces[-1][1]
    assert all(p.startswith(" ") for p, _ in pieces[1:])  # never inside a word (nor a multi-byte character)


def test_lines_longer_than_a_chunk_mix_with_short_ones(tmp_path: Path) -> None:
    f = tmp_path / "mixed.txt"
    text = "short line\n" + one_line(500, 1) + "\nanother\n" + one_line(400, 2) + "\n"
    f.write_text(text, encoding="utf-8")
    pieces = list(iter_pieces(TextSource(f), chunk_bytes=64))
    assert "".join(p for p, _ in pieces) == text
    assert all(mid == (not p.endswith("\n")) for p, mid in pieces)


@pytest.mark.parametrize("kind", ["word", "char", "bpe"])
@pytest.mark.parametrize("trailing_newline", [False, True])
def test_chunked_encoding_equals_whole_text_encoding(tmp_path: Path, kind: str, trailing_newline: bool) -> None:
    f = tmp_path / "long.txt"
    text = one_line(2000) + ("\n" if trailing_newline else "")
    f.write_text(text, encoding="utf-8")
    tok = fit_tokenizer(TokenizerSettings(kind=kind, vocab_size=60), [text])
    counts = np.zeros(tok.vocab_size, dtype=np.int64)
    n = cache.encode_to_file(TextSource(f), tok, tmp_path / "ids.bin", chunk_bytes=128, counts=counts)
    ids = np.fromfile(tmp_path / "ids.bin", dtype="<i8")
    expected = tok.encode(text)
    assert n == len(expected) and ids.tolist() == expected  # one <eos> at the end for word/bpe, none in between
    assert counts.tolist() == np.bincount(expected, minlength=tok.vocab_size).tolist()


def test_fitting_on_pieces_gives_the_same_vocabulary(tmp_path: Path) -> None:
    f = tmp_path / "long.txt"
    text = one_line(2000, 3)
    f.write_text(text, encoding="utf-8")
    settings = TokenizerSettings(kind="word")
    streamed = fit_tokenizer(settings, cache.iter_text(TextSource(f), chunk_bytes=100))
    assert streamed.to_dict() == fit_tokenizer(settings, [text]).to_dict()


def test_train_counts_come_from_the_cache_and_equal_a_recount(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    for split, seed in (("train", 0), ("valid", 1), ("test", 2)):
        (folder / f"{split}.txt").write_text(one_line(800, seed) + "\n", encoding="utf-8")
    cfg = make_cfg(TextDatasetConfig, name="t", format="text", folder=str(folder), train="train.txt",
                   valid="valid.txt", test="test.txt")
    for attempt in ("first load (encodes)", "second load (cache hit)"):
        corpus = load_lm_corpus(cfg)
        assert corpus.train_counts is not None, attempt  # from the cache's metadata
        recount = torch.bincount(corpus.train.clone(), minlength=corpus.tokenizer.vocab_size)
        assert torch.equal(corpus.counts(), recount), attempt
    in_memory = load_lm_corpus(make_cfg(TextDatasetConfig, name="t", format="text", folder=str(folder),
                                        train="train.txt", valid="valid.txt", test="test.txt", token_cache=False))
    assert in_memory.train_counts is None and torch.equal(in_memory.counts(), recount)
    loss = unigram_log_loss(recount, corpus.valid)
    p = (recount.double() + 1) / (recount.double() + 1).sum()
    assert loss == pytest.approx(float(-p[corpus.valid].log().mean()))


@pytest.mark.parametrize("lowercase", [False, True])
def test_vectorised_char_encoding_equals_the_lookup_per_character(lowercase: bool) -> None:
    rng = random.Random(5)
    train = "".join(rng.choice("abcXYZ é\n\tß") for _ in range(500))
    tok = fit_tokenizer(TokenizerSettings(kind="char", lowercase=lowercase), [train])
    text = "".join(rng.choice("abcXYZ é\n\tßq\U0001F600\u00e9Ω") for _ in range(2000))  # unknown characters too
    expected = [tok.stoi.get(c, 1) for c in (text.lower() if lowercase else text)]
    assert tok.encode(text) == expected and tok.encode_array(text).tolist() == expected
    assert tok.encode("") == []
