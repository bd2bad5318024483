"""`seqtune report`: reads a run tree, prints the table, writes report.csv/.md and the plots."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from rich.console import Console

from seqtune.errors import SeqtuneError
from seqtune.commands.report import report
from tests.conftest import run_cli


def fake_run(root: Path, name: str, overrides: list[str], summary: dict | None, error: str | None = None) -> None:
    """A run directory as seqtune writes it (the files the report reads), without training."""
    d = root / name
    (d / ".hydra").mkdir(parents=True)
    (d / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (d / "config.yaml").write_text("transfer:\n  name: full\ndataset:\n  labels_per_class: null\n")
    if summary is not None:
        (d / "summary.json").write_text(json.dumps(summary))
        (d / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "epoch": 1, "train/loss": 3.0 / s}) + "\n"
                                                 for s in (1, 2, 3)) + json.dumps({"step": 3, "val/loss": 1.5}) + "\n")
    if error is not None:
        (d / "error.txt").write_text(error + "\n\ntraceback...")


def test_budget_sweep_report(tmp_path):
    for i, (strategy, budget, seed, acc) in enumerate([
        ("scratch", 10, 1, 0.50), ("scratch", 10, 2, 0.60), ("full", 10, 1, 0.80), ("full", 10, 2, 0.90),
        ("scratch", 100, 1, 0.70), ("full", 100, 1, 0.95),
    ]):
        fake_run(tmp_path, str(i), [f"transfer={strategy}", f"dataset.labels_per_class={budget}", f"trainer.seed={seed}",
                                    f"+transfer.name={strategy}"], {"test/acc": acc, "val/loss": 1.0 - acc})
    fake_run(tmp_path, "6", ["transfer=full", "dataset.labels_per_class=100", "trainer.seed=2"], None, "CUDA exploded")
    files = report(tmp_path, sort="test/acc", descending=True, console=Console(width=200, record=True))
    rows = list(csv.DictReader(open(files["csv"])))
    assert [r["run"] for r in rows][:2] == ["5", "3"] and rows[-1]["status"] == "failed"
    assert rows[-1]["error"] == "CUDA exploded"
    md = files["md"].read_text()
    assert "test/acc by dataset.labels_per_class" in md
    assert "| full | 0.85 ± 0.071 (n=2) | 0.95 ± 0 (n=1) |" in md and "| scratch | 0.55 ± 0.071 (n=2) |" in md
    pytest.importorskip("matplotlib")
    assert files["learning_curves"].stat().st_size > 1000 and files["budget"].stat().st_size > 1000


def test_report_on_a_real_sweep(tmp_path):
    res = run_cli(["pretrain", "-m", "debug=smoke", "trainer.progress=quiet", "trainer.seed=1,2",
                   f"hydra.sweep.dir={tmp_path}/sweep"], tmp_path)
    assert res.returncode == 0, res.stderr
    res = run_cli(["report", str(tmp_path / "sweep"), "--sort", "val/loss"], tmp_path, env={"COLUMNS": "200"})
    assert res.returncode == 0, res.stderr
    assert "2 runs" in res.stdout and "trainer.seed" in res.stdout
    assert (tmp_path / "sweep" / "report.md").read_text().count("| ok |") == 2


def test_report_errors_are_clear(tmp_path):
    with pytest.raises(SeqtuneError, match="no runs under"):
        report(tmp_path)
    fake_run(tmp_path, "a", [], {"val/loss": 1.0})
    with pytest.raises(SeqtuneError, match="no run has the metric 'test/acc'"):
        report(tmp_path, sort="test/acc")


def test_runs_with_every_label_sit_at_their_training_size():
    from seqtune.commands.report import Run, budget_table

    runs = [Run(Path(f"r{i}"), f"r{i}", "ok", {"transfer": t, **({"dataset.train_limit": "100"} if lim else {})},
                {"test/acc": acc, "train/examples": 100 if lim else 4906})
            for i, (t, lim, acc) in enumerate([("full", True, 0.5), ("full", False, 0.9), ("full", False, 0.8),
                                                ("scratch", False, 0.7)])]
    table = budget_table(runs, "dataset.train_limit", "transfer", "test/acc")
    assert table == {"full": {100.0: [0.5], 4906.0: [0.9, 0.8]}, "scratch": {4906.0: [0.7]}}


def test_mixed_runs_get_separate_figures_legends_from_overrides_and_task_panels(tmp_path):
    """An LM and two classifiers under one outputs/: two learning-curve figures (never one loss axis for both),
    legends naming the override that differs, the constant columns dropped from the terminal table."""
    pytest.importorskip("matplotlib")
    from seqtune.commands.report import _labels, family, find_runs

    def run(name, cfg, overrides, records, summary):
        d = tmp_path / name
        (d / ".hydra").mkdir(parents=True)
        (d / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
        (d / "config.yaml").write_text(json.dumps(cfg))
        (d / "summary.json").write_text(json.dumps(summary))
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))

    lm = {"objective": {"name": "clm"}, "dataset": {"name": "text"}}
    clf = {"head": {"name": "classifier"}, "dataset": {"name": "table"}}
    run("lm", lm, [], [{"step": 1, "train/loss": 5.0}, {"step": 2, "val/loss": 4.0}], {"val/loss": 4.0, "best_step": 2})
    for lr, acc in (("0.01", 0.8), ("0.003", 0.6)):
        run(f"clf{lr}", clf, [f"optimizer.lr={lr}"],
            [{"step": 1, "train/loss": 0.7}, {"step": 2, "val/loss": 0.6, "val/acc": acc, "val/f1": acc}],
            {"val/loss": 0.6, "test/acc": acc, "best_step": 2})
    runs = find_runs(tmp_path)
    assert {family(r) for r in runs} == {"clm-text", "classifier-table"}
    assert set(_labels([r for r in runs if r.name.startswith("clf")]).values()) == {"optimizer.lr=0.01",
                                                                                    "optimizer.lr=0.003"}
    console = Console(width=80, record=True)
    files = report(tmp_path, console=console)
    assert {p.name for p in files.values() if p.suffix == ".png"} == {
        "learning_curves-clm-text.png", "learning_curves-classifier-table.png"}
    text = console.export_text()
    assert "status" not in text and "error" not in text  # every run ok: constant columns dropped
    assert max(len(line) for line in text.splitlines()) <= 80
