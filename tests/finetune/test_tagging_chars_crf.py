"""Character features and the CRF end to end: a tagger must tell names from common words that are all <unk> and
stand in the same context, which only their spelling can do; the run's predictions are legal IOB2, evaluate
reproduces its test scores and predict spells the words of raw input lines. Plus dataset.unlabelled_text."""
from __future__ import annotations

import json
import random
from pathlib import Path

from seqtune.commands import finetune
from seqtune.data.splits import lm_splits
from seqtune.data.tagging import conll_splits
from seqtune.data.text import with_unlabelled_text
from tests.conftest import compose_config, run_cli


def _word(rng: random.Random, capital: bool) -> str:
    w = "".join(rng.choice("bcdfgklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))
    return w.capitalize() if capital else w


def _write(path: Path, n: int, seed: int) -> None:
    """'<X> visited <Y> .': X and Y are fresh made-up words (each once: <unk> with min_freq=2); a capitalised one
    is a name (B-PER), a lower-case one is not (O)."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        x, y = rng.random() < 0.5, rng.random() < 0.5
        lines += [f"{_word(rng, x)} {'B-PER' if x else 'O'}", "visited O",
                  f"{_word(rng, y)} {'B-PER' if y else 'O'}", ". O", ""]
    path.write_text("\n".join(lines) + "\n")


def _overrides(tmp_path: Path, chars: str) -> list[str]:
    return ["dataset=conll", f"dataset.train={tmp_path / 'train.txt'}", f"dataset.valid={tmp_path / 'valid.txt'}",
            f"dataset.test={tmp_path / 'test.txt'}", "dataset.tokenizer.min_freq=2", "head=tagger", "head.crf=true",
            "transfer=scratch", "transfer.checkpoint=null", "+model=lstm", "model.bidirectional=true",
            "model.num_layers=1", "model.hidden_size=16", "model.embedding_size=8", f"model.char_features={chars}",
            "model.char_embedding_size=8", "model.char_filters=16", "optimizer=adamw", "optimizer.lr=0.02",
            "optimizer.schedule.warmup_steps=0", "trainer.max_epochs=6", "trainer.batch_size=16", "trainer.device=cpu",
            "trainer.progress=quiet"]


def test_characters_name_unseen_words_and_the_crf_run_evaluates_and_predicts(tmp_path):
    for split, n, seed in (("train", 240, 0), ("valid", 40, 1), ("test", 60, 2)):
        _write(tmp_path / f"{split}.txt", n, seed)
    scores = {}
    for chars in ("cnn", "none"):
        finetune.run(compose_config("finetune", _overrides(tmp_path, chars)), tmp_path / chars)
        scores[chars] = json.loads((tmp_path / chars / "summary.json").read_text())["test/f1"]
    assert scores["cnn"] > 0.95 and scores["none"] < 0.7, scores  # every test name is <unk>: only spelling helps
    run = tmp_path / "cnn"
    for line in (run / "test_predictions.jsonl").read_text().splitlines():
        tags = json.loads(line)["tags"]
        assert all(not (t.startswith("I-") and (i == 0 or tags[i - 1][2:] != t[2:])) for i, t in enumerate(tags))
    res = run_cli(["evaluate", f"checkpoint={run}", "split=test"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["f1"] == scores["cnn"]
    rng = random.Random(99)
    name, word = _word(rng, True), _word(rng, False)  # new words, spelled like the training data's
    (tmp_path / "in.txt").write_text(f"{name} visited {word} .\n{word} visited {name} .\n")
    res = run_cli(["predict", f"checkpoint={run}", f"input={tmp_path / 'in.txt'}"], tmp_path)
    assert res.returncode == 0, res.stderr
    first, second = (json.loads(line)["tags"] for line in res.stdout.splitlines())
    assert first == ["B-PER", "O", "O", "O"] and second == ["O", "O", "B-PER", "O"]


def test_unlabelled_text_joins_the_language_model_text_only(tmp_path):
    _write(tmp_path / "train.txt", 20, 0)
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "wiki.txt").write_text("some unlabelled wikipedia text\nmore of it\n")
    cfg = compose_config("pretrain", ["dataset=conll", f"dataset.train={tmp_path / 'train.txt'}",
                                      f"dataset.unlabelled_text=[{tmp_path / 'extra' / 'wiki.txt'}]"])
    raw = conll_splits(cfg.dataset)
    text = with_unlabelled_text(lm_splits(raw, cfg.dataset), cfg.dataset)
    assert text.train.endswith("some unlabelled wikipedia text\nmore of it\n") and "visited" in text.train
    assert "wikipedia" not in text.valid and any("wiki.txt" in n for n in text.notes)
    assert all("wikipedia" not in " ".join(s) for s in raw.train.inputs)  # fine-tuning data does not change


def test_a_char_aware_bilm_pretrains_and_transfers_to_the_crf_tagger_with_multitask(tmp_path):
    from seqtune.commands import pretrain

    for split, n, seed in (("train", 80, 0), ("valid", 20, 1), ("test", 20, 2)):
        _write(tmp_path / f"{split}.txt", n, seed)
    data = [o for o in _overrides(tmp_path, "cnn") if o.startswith("dataset")]
    model = ["model.bidirectional=true", "model.num_layers=1", "model.hidden_size=16", "model.embedding_size=8",
             "model.char_features=cnn", "model.char_embedding_size=8", "model.char_filters=16"]
    pretrain.run(compose_config("pretrain", [*data, *model, "objective=bilm", "trainer.batch_size=4",
                                             "trainer.bptt=8", "trainer.max_epochs=1", "trainer.device=cpu",
                                             "trainer.progress=quiet"]), tmp_path / "pre")
    ckpt = __import__("torch").load(tmp_path / "pre" / "checkpoints" / "best.pt", weights_only=True)
    assert any(k.startswith("encoder.chars.conv") for k in ckpt["model"]) and ckpt["objective"] == "bilm"
    ft = [o for o in _overrides(tmp_path, "cnn") if not o.startswith(("transfer", "+model", "model."))]
    finetune.run(compose_config("finetune", [*ft, "transfer=multitask", f"transfer.checkpoint={tmp_path / 'pre'}",
                                             "transfer.aux_weight=0.1", "trainer.max_epochs=1"]), tmp_path / "ft")
    summary = json.loads((tmp_path / "ft" / "summary.json").read_text())
    assert 0 <= summary["test/f1"] <= 1 and summary["val/aux_loss"] > 0
