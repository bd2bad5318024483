"""Task scores from predictions: classification (accuracy, macro-F1, confusion matrix) and entity-level tagging
scores that agree with CoNLL's ``conlleval`` script.

Used by fine-tuning's final evaluation, ``seqtune evaluate`` and the heads' validation summaries::

    classification_scores(gold=[0, 1, 1], pred=[0, 1, 0], num_classes=2)
    # {"acc": 0.667, "f1": 0.667, "confusion": [[1, 0], [1, 1]]}   rows: gold label, columns: predicted
    entity_scores([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])
    # {"precision": 0.0, "recall": 0.0, "f1": 0.0}  (an entity counts only with the same span and type)

Macro-F1 averages the per-class F1 over the classes that occur in the gold labels or the predictions (what
scikit-learn's ``f1_score(average="macro")`` does).  Scores are fractions in [0, 1]; conlleval prints percent.
"""

from __future__ import annotations

from collections.abc import Sequence

Chunk = tuple[str, int, int]  # (type, first token, last token), inclusive


def macro_f1(tp: Sequence[float], pred: Sequence[float], gold: Sequence[float]) -> float:
    """Mean F1 over classes present in gold or predictions, from per-class counts (or any common multiple of them)."""
    scores = [2 * t / (p + g) for t, p, g in zip(tp, pred, gold) if p + g > 0]
    return sum(scores) / len(scores) if scores else 0.0


def classification_scores(gold: Sequence[int], pred: Sequence[int], num_classes: int) -> dict[str, object]:
    confusion = [[0] * num_classes for _ in range(num_classes)]
    for g, p in zip(gold, pred):
        confusion[g][p] += 1
    tp = [confusion[c][c] for c in range(num_classes)]
    n_pred = [sum(confusion[r][c] for r in range(num_classes)) for c in range(num_classes)]
    n_gold = [sum(row) for row in confusion]
    return {"acc": sum(tp) / max(len(gold), 1), "f1": macro_f1(tp, n_pred, n_gold), "confusion": confusion}


# ---------------------------------------------------------------------------------------- conlleval chunks
def _split(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', ''); a bare type without prefix counts as I- (as conlleval does)."""
    if tag == "O" or tag == "":
        return "O", ""
    if len(tag) > 2 and tag[1] == "-":
        return tag[0], tag[2:]
    return "I", tag


def _chunk_end(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """conlleval's endOfChunk: does a chunk end between the previous token and this one?"""
    return (
        (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
        or (prev_tag in ("E", "S"))
        or (prev_tag != "O" and prev_tag != "." and prev_type != type_)
        or prev_tag == "]"
        or prev_tag == "["
    )


def _chunk_start(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """conlleval's startOfChunk: does a chunk start at this token?"""
    return (
        tag in ("B", "S", "[")
        or (prev_tag in ("E", "S", "O") and tag in ("I", "E"))
        or (tag != "O" and tag != "." and prev_type != type_)
    )


def chunks(tags: Sequence[str]) -> set[Chunk]:
    """Entity spans of one sentence by conlleval's rules (IOB1, IOB2 and IOBES alike; I- after O starts a chunk)."""
    found: set[Chunk] = set()
    prev_tag, prev_type, start = "O", "", -1
    for i, raw in enumerate([*tags, "O"]):  # a final O closes an open chunk
        tag, type_ = _split(raw)
        if start >= 0 and _chunk_end(prev_tag, tag, prev_type, type_):
            found.add((prev_type, start, i - 1))
            start = -1
        if _chunk_start(prev_tag, tag, prev_type, type_) and tag != "O":
            start = i
        prev_tag, prev_type = tag, type_
    return found


def entity_counts(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> tuple[int, int, int]:
    """(correct, predicted, gold) entity counts over sentences; a correct entity has the same span and type."""
    correct = n_pred = n_gold = 0
    for g, p in zip(gold, pred):
        gc, pc = chunks(g), chunks(p)
        correct += len(gc & pc)
        n_pred += len(pc)
        n_gold += len(gc)
    return correct, n_pred, n_gold


def prf(correct: float, n_pred: float, n_gold: float) -> dict[str, float]:
    precision = correct / n_pred if n_pred else 0.0
    recall = correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def entity_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, float]:
    """conlleval's overall precision, recall and FB1 (as fractions), plus token accuracy."""
    tokens = sum(len(g) for g in gold)
    same = sum(a == b for g, p in zip(gold, pred) for a, b in zip(g, p))
    return {**prf(*entity_counts(gold, pred)), "acc": same / max(tokens, 1)}


def unseen_entity_scores(
    words: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], known: set[str]
) -> dict[str, float]:
    """Entity P/R/F1 restricted to entities none of whose words is in ``known`` (e.g. every word of the training
    file): gold entities of that kind for recall, predicted ones (spans whose words are all unknown) for precision.
    ``n_gold`` and ``n_pred`` say how many there were."""
    correct = n_pred = n_gold = 0
    for ws, g, p in zip(words, gold, pred):
        gc = {c for c in chunks(g) if _unseen(c, ws, known)}
        pc = {c for c in chunks(p) if _unseen(c, ws, known)}
        correct += len(gc & pc)
        n_pred += len(pc)
        n_gold += len(gc)
    return {**prf(correct, n_pred, n_gold), "n_gold": float(n_gold), "n_pred": float(n_pred)}


def _unseen(chunk: Chunk, words: Sequence[str], known: set[str]) -> bool:
    """Whether none of the chunk's words is in ``known``."""
    return not any(w in known for w in words[chunk[1] : chunk[2] + 1])
