"""Scores: classification (accuracy, macro-F1, confusion) and conlleval-compatible entity P/R/F1."""
from __future__ import annotations

import pytest

from seqtune.heads.scores import chunks, classification_scores, entity_scores, macro_f1


def test_classification_scores_by_hand():
    gold = [0, 0, 1, 1, 2, 2]
    pred = [0, 1, 1, 1, 0, 2]
    s = classification_scores(gold, pred, 3)
    assert s["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert s["acc"] == pytest.approx(4 / 6)
    f1 = [2 * 1 / (2 + 2), 2 * 2 / (3 + 2), 2 * 1 / (1 + 2)]  # per class: 2tp / (pred + gold)
    assert s["f1"] == pytest.approx(sum(f1) / 3)
    # a class absent from gold and predictions does not count (scikit-learn's macro average)
    assert classification_scores(gold, pred, 5)["f1"] == pytest.approx(s["f1"])
    assert macro_f1([1, 2, 1], [2, 3, 1], [2, 2, 2]) == pytest.approx(s["f1"])


def test_chunks_follow_conlleval_rules():
    assert chunks(["B-PER", "I-PER", "O", "B-LOC"]) == {("PER", 0, 1), ("LOC", 3, 3)}
    assert chunks(["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]) == {("PER", 0, 1), ("LOC", 3, 3), ("LOC", 4, 4)}  # IOB1
    assert chunks(["O", "I-ORG", "I-PER"]) == {("ORG", 1, 1), ("PER", 2, 2)}  # a type change starts a chunk
    assert chunks(["B-MISC", "B-MISC", "I-MISC"]) == {("MISC", 0, 0), ("MISC", 1, 2)}
    assert chunks(["O", "O"]) == set()


def test_entity_scores_like_conlleval():
    # conlleval on these two sentences: 3 gold phrases, 3 predicted, 1 correct -> P = R = F1 = 33.33%
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["B-MISC", "O"]]
    s = entity_scores(gold, pred)
    assert (s["precision"], s["recall"], s["f1"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert s["acc"] == pytest.approx(4 / 6)
    assert entity_scores([["O"]], [["B-PER"]])["precision"] == 0.0
