"""scripts/tagging_report.py: entity F1 overall, on unseen and on seen entities, from a tagger run's files."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from tests.conftest import load_script

TRAIN = "EU B-ORG\nrejects O\nGerman B-MISC\ncall O\n\nPeter B-PER\nBlackburn I-PER\n"
# gold: Peter Blackburn (seen), Zorgle (unseen PER), Berlin (unseen LOC)
TEST = "Peter B-PER\nBlackburn I-PER\nmet O\nZorgle B-PER\n\nin O\nBerlin B-LOC\n"


def _run(tmp_path, predictions: list[list[str]], folder: str | None = None):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "train.txt").write_text(TRAIN)
    (data / "test.txt").write_text(TEST)
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    ds = {
        "folder": folder,
        "train": str(data / "train.txt"),
        "test": str(data / "test.txt"),
        "token_column": 0,
        "tag_column": 1,
        "encoding": "utf-8",
        "scheme": "iob2",
        "to_scheme": None,
    }
    OmegaConf.save({"dataset": ds}, run / "config.yaml")
    (run / "summary.json").write_text(json.dumps({"best_epoch": 3, "train/seconds": 1.0, "test/f1": 0.5}))
    (run / "test_predictions.jsonl").write_text("".join(json.dumps({"tags": p}) + "\n" for p in predictions))
    return run


def test_scores_split_seen_and_unseen_entities(tmp_path):
    report = load_script("tagging_report").report
    # the seen person and the unseen location found, the unseen person missed
    run = _run(tmp_path, [["B-PER", "I-PER", "O", "O"], ["O", "B-LOC"]])
    r = report(run)
    assert r["f1"] == pytest.approx(0.8)  # P 2/2, R 2/3
    assert (r["unseen_gold"], r["gold"]) == (2, 3)
    assert r["unseen_recall"] == pytest.approx(0.5) and r["unseen_precision"] == pytest.approx(1.0)
    assert r["seen_f1"] == pytest.approx(1.0)
    assert r["best_epoch"] == 3


def test_predictions_that_do_not_line_up_are_refused(tmp_path):
    report = load_script("tagging_report").report
    run = _run(tmp_path, [["B-PER", "I-PER", "O", "O"]])
    with pytest.raises(SystemExit, match="does not line up"):
        report(run)


def test_a_directory_that_is_not_a_run_is_named(tmp_path, capsys):
    main = load_script("tagging_report").main
    with pytest.raises(SystemExit, match="no config.yaml"):
        main([str(tmp_path)])


def test_a_missing_data_file_exits_2_with_the_fix(tmp_path, capsys):
    main = load_script("tagging_report").main
    run = _run(tmp_path, [["O"] * 4, ["O", "O"]])
    (tmp_path / "data" / "test.txt").unlink()
    with pytest.raises(SystemExit) as exc:
        main([str(run)])
    assert exc.value.code == 2
    assert "file not found" in capsys.readouterr().err
