"""seqtune's entity scorer agrees with seqeval (its default, conlleval-compatible mode) on the real CoNLL-2003 test
set: the gold tags against predictions corrupted in every way a tagger errs (wrong type, wrong boundary, I- after O,
entities dropped or invented), at several error rates; and the unseen-entity scores by hand."""
from __future__ import annotations

import random

import pytest

from seqtune.data.formats import read_conll
from seqtune.heads.scores import entity_scores, unseen_entity_scores
from tests.conftest import real_data_dir

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]


def _corrupt(tags: list[list[str]], rate: float, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [[rng.choice(TAGS) if rng.random() < rate else t for t in sentence] for sentence in tags]


def test_entity_scores_agree_with_seqeval_on_the_real_test_set():
    metrics = pytest.importorskip("seqeval.metrics", reason="seqeval is a test dependency: pip install -e '.[test]'")
    data = real_data_dir()
    path = data / "conll2003" / "eng.testb" if data else None
    if path is None or not path.exists():
        pytest.skip("needs conll2003/eng.testb under SEQTUNE_DATA_DIR (or ../shared/data)")
    _, gold = read_conll(path)  # IOB1 converted to IOB2, as seqtune trains on it
    assert sum(len(s) for s in gold) == 46435
    for rate, seed in ((0.0, 0), (0.02, 1), (0.1, 2), (0.3, 3)):
        pred = _corrupt(gold, rate, seed)
        ours = entity_scores(gold, pred)
        assert ours["precision"] == pytest.approx(metrics.precision_score(gold, pred), abs=1e-12)
        assert ours["recall"] == pytest.approx(metrics.recall_score(gold, pred), abs=1e-12)
        assert ours["f1"] == pytest.approx(metrics.f1_score(gold, pred), abs=1e-12)
        assert ours["acc"] == pytest.approx(metrics.accuracy_score(gold, pred), abs=1e-12)
    assert entity_scores(gold, _corrupt(gold, 0.1, 2))["f1"] < 0.9  # the corruptions do change the scores


def test_unseen_entity_scores_by_hand():
    words = [["Okonkwo", "met", "John", "Smith", "in", "Lagos"]]
    gold = [["B-PER", "O", "B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "O", "B-PER", "O", "O", "B-ORG"]]
    known = {"John", "Smith", "met", "in"}  # Okonkwo and Lagos never seen: 2 unseen gold entities
    s = unseen_entity_scores(words, gold, pred, known)
    assert (s["n_gold"], s["n_pred"]) == (2, 2)  # predicted unseen spans: Okonkwo (PER), Lagos (ORG)
    assert s["precision"] == pytest.approx(0.5) and s["recall"] == pytest.approx(0.5)
    everything = unseen_entity_scores(words, gold, pred, set())
    assert everything["n_gold"] == 3 and everything["f1"] == pytest.approx(entity_scores(gold, pred)["f1"])
