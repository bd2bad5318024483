"""Shared fixtures: compose the real shipped configs (shrunk) and run the real CLI in a temp directory."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from seqtune.config.schema import register_configs

# Small enough for seconds on 2 CPU cores, big enough that the loss visibly falls.
TINY = [
    "dataset.train_sentences=400", "dataset.valid_sentences=60", "dataset.test_sentences=60",
    "model.embedding_size=24", "model.hidden_size=32", "model.num_layers=1",
    "trainer.batch_size=8", "trainer.bptt=12", "trainer.eval_batch_size=4", "trainer.max_epochs=2",
    "trainer.log_interval=5", "trainer.device=cpu", "trainer.progress=log",
    "optimizer.lr=0.01", "optimizer.schedule.warmup_steps=0",
]


def load_script(name: str):
    """A script under scripts/ imported as module ``name`` (registered in sys.modules: dataclasses look it up)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def compose_config(root: str = "pretrain", overrides: list[str] | None = None) -> DictConfig:
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="seqtune.conf", version_base="1.3"):
        return compose(config_name=root, overrides=overrides or [])


def run_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """The real command line, as a user runs it (``python -m seqtune`` is the console script's code)."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "seqtune", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def tiny_pretrain_run(tmp_path_factory) -> Path:
    """One real `seqtune pretrain` on tiny built-in data, shared by the tests that inspect its run directory."""
    cwd = tmp_path_factory.mktemp("pretrain")
    run_dir = cwd / "run"
    res = run_cli(["pretrain", *TINY, f"hydra.run.dir={run_dir}"], cwd)
    assert res.returncode == 0, res.stdout + res.stderr
    return run_dir


EXPERIMENTS = Path(__file__).resolve().parents[1] / "conf" / "experiment"


def experiment_header(name: str, field: str, default: str = "") -> str:
    """A ``# field: value`` line of an experiment file's header (``command``: which root config it is for)."""
    for line in (EXPERIMENTS / f"{name}.yaml").read_text().splitlines():
        if line.startswith(f"# {field}:"):
            return line.split(":", 1)[1].strip()
    return default


def experiment_command(name: str) -> str:
    return experiment_header(name, "command", "pretrain")


def real_data_dir() -> Path | None:
    """The real datasets: $SEQTUNE_DATA_DIR, else ../shared/data beside the repository (None when absent)."""
    explicit = os.environ.get("SEQTUNE_DATA_DIR")
    path = Path(explicit) if explicit else Path(__file__).resolve().parents[2] / "shared" / "data"
    return path if path.is_dir() else None
