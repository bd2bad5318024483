"""Metric backends: metrics.jsonl always, TensorBoard on request, bad names refused before training."""
from __future__ import annotations

import pytest

from seqtune.errors import ConfigError
from seqtune.loggers import LOGGERS, build_loggers, logger_problems

from conftest import TINY, read_jsonl, run_cli


def test_tensorboard_scalars_equal_the_metrics_jsonl(tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "run"
    res = run_cli(["pretrain", *TINY, "trainer.max_epochs=1", "trainer.loggers=[tensorboard]",
                   f"hydra.run.dir={run_dir}"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    lines = read_jsonl(run_dir / "metrics.jsonl")
    for key in ("train/loss", "val/loss", "val/ppl"):
        expected = [(r["step"], r[key]) for r in lines if key in r]
        got = [(e.step, e.value) for e in events.Scalars(key)]
        assert expected, key
        assert [s for s, _ in got] == [s for s, _ in expected]
        assert [v for _, v in got] == pytest.approx([v for _, v in expected], rel=1e-6)


def test_unknown_logger_exits_2_before_training(tmp_path):
    run_dir = tmp_path / "run"
    res = run_cli(["pretrain", *TINY, "trainer.loggers=[wandb2]", f"hydra.run.dir={run_dir}"], tmp_path)
    assert res.returncode == 2
    assert "trainer.loggers has unknown logger 'wandb2'" in res.stderr
    assert "tensorboard" in res.stderr and "Traceback" not in res.stderr
    assert not (run_dir / "metrics.jsonl").exists()  # refused before training


def test_missing_backend_package_names_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    (problem,) = logger_problems("trainer.loggers", ["tensorboard"])
    assert 'pip install "seqtune[tensorboard]"' in problem
    with pytest.raises(ConfigError, match="tensorboard"):
        build_loggers(__import__("pathlib").Path("."), ["tensorboard"])


def test_a_backend_is_one_registered_builder(tmp_path):
    """The interface a new backend (MLflow, W&B) implements: a builder from the run dir; log(record); close()."""
    seen: list[dict] = []

    class ListLogger:
        def log(self, record):
            seen.append(record)

        def close(self):
            seen.append({"closed": True})

    if "test_list" not in LOGGERS:
        LOGGERS.register("test_list")(lambda run_dir: ListLogger())
    logger = build_loggers(tmp_path, ["test_list"])
    logger.log({"step": 1, "train/loss": 2.5})
    logger.close()
    assert seen == [{"step": 1, "train/loss": 2.5}, {"closed": True}]
    assert read_jsonl(tmp_path / "metrics.jsonl") == [{"step": 1, "train/loss": 2.5}]
