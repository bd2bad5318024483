"""`seqtune explain` on tiny models trained here: the keyword that decides a generated label gets the highest
score, Integrated Gradients' scores add up to the output change, occlusion scores are the output drops, the
attribution's forward pass is the prediction's, and the outputs (terminal at 80 columns, JSON Lines, one
self-contained HTML page, top-k words per class) hold what they should.  Errors are exit status 2."""

from __future__ import annotations

import csv
import json
import math
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seqtune.commands import finetune
from seqtune.training import checkpoint
from seqtune.data.batching import collate
from seqtune.data.records import Example
from seqtune.explain.attribution import class_probabilities, explain_text, explain_window, forecast_means
from seqtune.heads import build_head
from seqtune.training.inference import rebuild_finetuned
from seqtune.models.encoder import build_encoder
from seqtune.objectives.base import TaskModel
from tests.conftest import compose_config, read_jsonl, run_cli

KEYWORDS = {"alpha": "A", "bravo": "B", "charlie": "C"}
FILLER = [f"w{i}" for i in range(40)]
QUIET = ["trainer.device=cpu", "trainer.progress=quiet", "optimizer=adamw", "optimizer.schedule.warmup_steps=0"]


def keyword_rows(n: int, seed: int) -> list[tuple[str, str]]:
    """Random filler words with one keyword at a random place; the keyword alone decides the label."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = rng.choices(FILLER, k=rng.randint(4, 11))
        keyword = rng.choice(sorted(KEYWORDS))
        words.insert(rng.randint(0, len(words)), keyword)
        rows.append((" ".join(words), KEYWORDS[keyword]))
    return rows


def write_table(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def keyword_run(tmp_path_factory) -> Path:
    """A bidirectional LSTM classifier (packed sequences) trained from scratch on the keyword task."""
    root = tmp_path_factory.mktemp("keyword")
    files = {
        split: write_table(root / f"{split}.csv", keyword_rows(n, seed))
        for split, n, seed in (("train", 600, 1), ("valid", 100, 2), ("test", 100, 3))
    }
    cfg = compose_config(
        "finetune",
        [
            "dataset=table",
            *(f"dataset.{k}={v}" for k, v in files.items()),
            "transfer=scratch",
            "transfer.checkpoint=null",
            "+model=lstm",
            "model.bidirectional=true",
            "model.hidden_size=32",
            "model.embedding_size=16",
            "model.num_layers=1",
            "optimizer.lr=0.01",
            "trainer.max_epochs=6",
            "trainer.batch_size=16",
            *QUIET,
        ],
    )
    summary = finetune.run(cfg, root / "run")
    assert summary["test/acc"] > 0.95, summary
    return root / "run"


@pytest.fixture(scope="module")
def keyword_inputs(tmp_path_factory) -> tuple[Path, list[tuple[str, str]]]:
    rows = keyword_rows(100, 4)  # not seen in training, validation or test
    path = tmp_path_factory.mktemp("inputs") / "inputs.txt"
    path.write_text("\n".join(text for text, _ in rows) + "\n", encoding="utf-8")
    return path, rows


def test_the_keyword_gets_the_highest_score_and_scores_add_up(keyword_run, keyword_inputs, tmp_path):
    inputs, rows = keyword_inputs
    res = run_cli(
        ["explain", f"checkpoint={keyword_run}", f"input={inputs}", "output=scores.jsonl", "html=page.html", "top_k=3"],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    records = read_jsonl(tmp_path / "scores.jsonl")
    assert len(records) == len(rows)
    top = [r["units"][max(range(len(r["scores"])), key=r["scores"].__getitem__)] for r in records]
    hits = sum(word in KEYWORDS for word in top)
    assert hits >= 0.95 * len(rows), top
    for record, (text, label) in zip(records, rows):
        assert record["text"] == text and record["method"] == "integrated_gradients"
        assert record["prediction"] == record["target"] and record["units"][-1] == "<eos>"
        assert len(record["scores"]) == len(record["units"]) == len(text.split()) + 1
        # completeness: the scores add up to f(x) - f(baseline), within 5% with the default steps (50, refined)
        assert record["completeness_error"] < 0.05, record
        change = record["output"] - record["baseline_output"]
        assert sum(record["scores"]) == pytest.approx(change, rel=0.05, abs=1e-4)
        assert record["steps"] in (50, 100, 200, 400, 800)
        assert math.isclose(sum(record["probs"].values()), 1.0, abs_tol=1e-4)
    # top_k: each class's first word over the file is its keyword
    for keyword, label in KEYWORDS.items():
        assert re.search(rf"│ {label}\s+│ {keyword} \+", res.stdout), res.stdout


def test_terminal_lines_fit_80_columns(keyword_run, keyword_inputs, tmp_path):
    inputs = tmp_path / "some.txt"
    inputs.write_text("\n".join(keyword_inputs[0].read_text().splitlines()[:20]) + "\n")
    res = run_cli(
        ["explain", f"checkpoint={keyword_run}", f"input={inputs}", "top_k=5"],
        tmp_path,
        env={"COLUMNS": "80", "FORCE_COLOR": "1", "TERM": "xterm-256color"},
    )
    assert res.returncode == 0, res.stderr
    plain = re.sub(r"\x1b\[[0-9;]*m", "", res.stdout)
    assert "\x1b[" in res.stdout  # coloured
    assert max(len(line) for line in plain.splitlines()) <= 80
    assert "completeness" in plain and "top: " in plain and "top 5 words per class" in plain


def test_html_page_is_self_contained_and_escaped(keyword_run, tmp_path):
    (tmp_path / "odd.txt").write_text("alpha <script>alert(1)</script> w1 & w2\n", encoding="utf-8")
    res = run_cli(["explain", f"checkpoint={keyword_run}", "input=odd.txt", "html=page.html", "top_k=2"], tmp_path)
    assert res.returncode == 0, res.stderr
    page = (tmp_path / "page.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page and page.rstrip().endswith("</html>")
    assert "<script" not in page and "&lt;script&gt;" in page and "&amp;" in page
    for external in ("http://", "https://", " src=", "<link", "@import", "url("):
        assert external not in page
    assert "Top words per class" in page and 'title="+' in page and "completeness error" in page


def test_attribution_forward_is_the_prediction():
    """The hook that feeds embeddings in gives the probabilities of the head's own predict, packed or not."""
    for bidirectional in (False, True):
        cfg = compose_config(
            "finetune",
            [
                "+model=lstm",
                f"model.bidirectional={bidirectional}",
                "model.hidden_size=8",
                "model.embedding_size=6",
                "model.num_layers=2",
            ],
        )
        encoder = build_encoder(cfg.model, 30)
        model = TaskModel(encoder, build_head(cfg.head, encoder, ["x", "y", "z"], None)).eval()
        examples = [Example([5, 7, 9, 11, 3], 0), Example([8, 4], 0)]
        expected = model.objective.predict(encoder, collate(examples))  # (2, 3), padded batch
        for example, row in zip(examples, expected):
            with torch.no_grad():
                got = class_probabilities(model, encoder.embedding(torch.tensor([example.tokens])))[0]
            torch.testing.assert_close(got, row, atol=1e-6, rtol=1e-5)
        with pytest.raises(ValueError, match="eval mode"):
            explain_text(model.train(), [5, 7], 0, "occlusion", "pad", 50, 0.05)


def test_occlusion_scores_are_output_drops(keyword_run):
    model, tokenizer, labels, _ = rebuild_finetuned(checkpoint.load(keyword_run / "checkpoints" / "best.pt"))
    ids = tokenizer.encode("w3 w9 bravo w12")
    target = labels.index("B")
    result = explain_text(model, ids, target, "occlusion", "pad", 50, 0.05)
    assert result.completeness_error is None and result.steps is None
    embedded = model.encoder.embedding(torch.tensor([ids])).detach()
    with torch.no_grad():
        full = float(class_probabilities(model, embedded)[0, target])
        for t, score in enumerate(result.scores):
            occluded = embedded.clone()
            occluded[0, t] = model.encoder.embedding.weight[0]  # <pad>'s embedding
            assert score == pytest.approx(full - float(class_probabilities(model, occluded)[0, target]), abs=1e-5)
    assert max(range(len(ids)), key=result.scores.__getitem__) == 2  # bravo


def test_unk_baseline_and_a_chosen_target(keyword_run, tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "seqtune",
            "explain",
            f"checkpoint={keyword_run}",
            "baseline=unk",
            "target=C",
            "output=-",
        ],
        cwd=tmp_path,
        input="w1 alpha w2\n",
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert res.returncode == 0, res.stderr
    (record,) = [json.loads(line) for line in res.stdout.splitlines()]  # JSONL alone on stdout
    assert record["prediction"] == "A" and record["target"] == "C" and record["completeness_error"] < 0.05
    assert record["scores"][1] < 0  # alpha speaks against C
    assert "explaining C" in res.stderr  # the coloured lines went to stderr


# --------------------------------------------------------------------------------------- numeric series
@pytest.fixture(scope="module")
def series_run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("series")
    t = torch.arange(400, dtype=torch.float64).unsqueeze(1)
    values = torch.cat([torch.sin(2 * math.pi * t / 12), torch.cos(2 * math.pi * t / 7) + 3], dim=1)
    values += 0.05 * torch.randn(values.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    stamps = [f"2026-01-01 {i // 60:02d}:{i % 60:02d}" for i in range(400)]
    csv_path = root / "series.csv"
    csv_path.write_text("date,a,b\n" + "".join(f"{s},{a:.5f},{b:.5f}\n" for s, (a, b) in zip(stamps, values.tolist())))
    cfg = compose_config(
        "finetune",
        [
            "dataset=timeseries",
            f"dataset.file={csv_path}",
            "dataset.lookback=16",
            "dataset.horizon=4",
            "head=regressor",
            "head.horizon=4",
            "transfer=scratch",
            "transfer.checkpoint=null",
            "+model=gru",
            "model.input=numeric",
            "model.embedding_size=8",
            "model.hidden_size=16",
            "model.num_layers=1",
            "optimizer.lr=0.02",
            "trainer.max_epochs=2",
            "trainer.batch_size=16",
            *QUIET,
        ],
    )
    finetune.run(cfg, root / "run")
    return root / "run", csv_path


def test_series_scores_per_time_step(series_run, tmp_path):
    run_dir, csv_path = series_run
    res = run_cli(
        ["explain", f"checkpoint={run_dir}", f"input={csv_path}", "target=b", "output=s.jsonl", "html=s.html"], tmp_path
    )
    assert res.returncode == 0, res.stderr
    (record,) = read_jsonl(tmp_path / "s.jsonl")
    assert record["target"] == "b" and record["line"] == 400 and record["columns"] == ["a", "b"]
    assert record["units"][0] == "2026-01-01 06:24" and len(record["units"]) == len(record["scores"]) == 16
    assert len(record["feature_scores"]) == 16 and all(len(row) == 2 for row in record["feature_scores"])
    assert record["completeness_error"] < 0.05
    # the scores explain the forecast's move away from the training mean (0 after normalising)
    assert sum(record["scores"]) == pytest.approx(record["output"] - record["baseline_output"], rel=0.05, abs=1e-4)
    model, _, labels, _ = rebuild_finetuned(checkpoint.load(run_dir / "checkpoints" / "best.pt"))
    occluded = explain_window(model, torch.zeros(16, 2), 1, "occlusion", 50, 0.05)
    assert occluded.scores == pytest.approx([0.0] * 16, abs=1e-6)  # the baseline window itself: nothing to drop
    assert forecast_means(model, torch.zeros(1, 16, 2)).shape == (1, 2)


# ------------------------------------------------------------------------------------------------ errors
def test_a_missing_extra_names_the_install_command(keyword_run, tmp_path):
    """Captum hidden from the import system, as on a machine without the extra: exit 2, the pip line intact."""
    code = (
        "import sys; sys.modules['captum'] = None; from seqtune.cli import main; "
        f"main(['explain', 'checkpoint={keyword_run}'])"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, input="alpha w1\n", capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 2, res.stderr
    assert (
        'seqtune explain needs Captum, an optional extra that is not installed: pip install "seqtune[explain]"'
        in " ".join(res.stderr.split())
    )
    assert "Traceback" not in res.stderr


def test_bad_values_of_explain_keys_are_reported_together(keyword_run, tmp_path):
    res = run_cli(["explain", f"checkpoint={keyword_run}", "method=saliency", "steps=1", "top_k=-1"], tmp_path)
    assert res.returncode == 2
    text = " ".join(res.stderr.split())
    assert (
        "3 configuration problems" in text and "method='saliency' is not one of integrated_gradients, occlusion" in text
    )
    assert (
        "steps=1 must be at least 2" in text
        and "top_k=-1 is out of range; it must be >= 0" in text
        and "explain: no table" in text
    )
