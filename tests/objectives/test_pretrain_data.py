"""The data paths of the objectives: sentences split at <eos>, pairs from a TSV or generated, truncation counted."""
from __future__ import annotations

import torch

from seqtune.data.pairs import generate_pairs, load_pairs
from seqtune.data.pretraining import split_sentences
from seqtune.data.tokenizers import EOS_ID
from tests.conftest import compose_config


def test_split_sentences_keeps_eos_skips_empty_lines_and_counts_truncation():
    ids = torch.tensor([7, 8, EOS_ID, EOS_ID, 9, 10, 11, 12, EOS_ID, 13])  # an empty line, a long one, a tail
    examples, cut = split_sentences(ids, max_length=4)
    assert [e.tokens for e in examples] == [[7, 8, EOS_ID], [9, 10, 11, 12], [13]]
    assert cut == 1


def test_generated_pairs_are_deterministic_and_correct():
    a = generate_pairs("sort", 50, 5, 2, 6, seed=3)
    assert a == generate_pairs("sort", 50, 5, 2, 6, seed=3)
    assert all(t.split() == sorted(s.split(), key=lambda w: int(w[1:])) for s, t in a)


def test_pairs_from_a_tsv_carve_splits_and_truncate(tmp_path):
    rows = ["source\ttarget"] + [f"a{i} b{i} c\tx{i} y" for i in range(40)] + ["w " * 30 + "\tlong"]
    (tmp_path / "p.tsv").write_text("\n".join(rows) + "\n")
    cfg = compose_config("pretrain", ["objective=seq2seq", "dataset=pairs", f"dataset.train={tmp_path / 'p.tsv'}"])
    data = load_pairs(cfg.dataset, max_length=8)
    assert len(data.train) + len(data.valid) + len(data.test) == 41
    assert len(data.valid) == 4 and len(data.test) == 4
    assert all(p.target[-1] == EOS_ID or len(p.target) == 8 for p in data.train)
    assert any("truncated" in n for n in data.notes)
    p = next(p for p in data.train + data.valid + data.test if len(p.tokens) == 3)
    assert data.tokenizer.decode(p.target[:-1]).split()[1] == "y"
