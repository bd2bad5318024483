"""evaluate_and_predict: the loop's evaluation metrics and predict_examples' probabilities, exactly, from one encoder
pass per batch (seqtune evaluate and fine-tuning's test evaluation use it)."""
from __future__ import annotations

import random

import pytest
import torch

from seqtune.data.batching import BucketBatches
from seqtune.data.records import Example
from seqtune.heads.classifier import Classifier
from seqtune.heads.tagger import Tagger
from seqtune.training.inference import evaluate_and_predict, predict_examples
from seqtune.training.loop import evaluate
from seqtune.models.encoder import Encoder
from seqtune.objectives.base import TaskModel


def examples(tagging: bool, n: int = 53) -> list[Example]:
    rng = random.Random(0)
    out = []
    for _ in range(n):
        tokens = [rng.randrange(6, 40) for _ in range(rng.randint(1, 15))]
        out.append(Example(tokens, [rng.randrange(3) for _ in tokens] if tagging else rng.randrange(4)))
    return out


@pytest.mark.parametrize("tagging,bidirectional", [(False, False), (False, True), (True, True)])
def test_one_pass_equals_evaluate_then_predict(tagging: bool, bidirectional: bool) -> None:
    torch.manual_seed(0)
    enc = Encoder("lstm", vocab_size=40, embedding_size=8, hidden_size=12, num_layers=2, dropout=0.3,
                  bidirectional=bidirectional)
    head = Tagger(enc.output_size, ["O", "B-X", "I-X"]) if tagging else \
        Classifier(enc.output_size, ["a", "b", "c", "d"], bidirectional, pooling="concat", hidden_size=5)
    model = TaskModel(enc, head)
    data = examples(tagging)
    calls = []
    enc.register_forward_hook(lambda *a: calls.append(1))
    metrics, probs = evaluate_and_predict(model, data, batch_size=8, device=torch.device("cpu"))
    one_pass_calls = len(calls)
    expected = evaluate(model, BucketBatches(data, 8, False, 0, torch.device("cpu")), torch.device("cpu"), "fp32")
    expected_probs = predict_examples(model, data, 8, torch.device("cpu"))
    assert one_pass_calls == 7 and len(calls) == 7 * 3  # 7 batches: one encoder call each, instead of two
    assert metrics == pytest.approx(expected, rel=1e-6, abs=1e-7)
    assert all(torch.equal(a, b) for a, b in zip(probs, expected_probs))
    assert [p.shape[0] for p in probs] == ([len(e.tokens) for e in data] if tagging else [4] * len(data))
