"""Every shipped experiment config runs end to end under debug=smoke, on the real data it names.

An experiment file is for `seqtune pretrain` unless its header says ``# command: finetune``; a fine-tuning
experiment runs on a smoke pretraining checkpoint (made from ``# smoke-pretrain: <overrides>`` in its header,
else the built-in default). Experiments whose dataset folder is not under the data directory are skipped,
saying which folder is missing.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.conftest import EXPERIMENTS, compose_config, experiment_command, experiment_header, real_data_dir, run_cli

NAMES = sorted(p.stem for p in EXPERIMENTS.glob("*.yaml"))


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    data = real_data_dir()
    cache = tmp_path_factory.mktemp("token-cache")
    return {"SEQTUNE_CACHE_DIR": str(cache), **({"SEQTUNE_DATA_DIR": str(data)} if data else {})}


def _needs_data(command: str, name: str) -> None:
    cfg = compose_config(command, [f"experiment={name}", "debug=smoke"])
    folder = cfg.dataset.get("folder")
    if folder is None:
        return
    data = real_data_dir()
    if data is None or not (data / folder).is_dir():
        pytest.skip(f"experiment {name} needs the real dataset folder {folder!r}: set SEQTUNE_DATA_DIR to a "
                    f"directory holding {folder}/ (now: {data or 'none found'})")


def _finite_summary(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    losses = [v for k, v in summary.items() if k.endswith("/loss")]
    assert losses and all(math.isfinite(v) for v in losses), summary
    assert (run_dir / "checkpoints" / "best.pt").exists()
    return summary


@pytest.mark.parametrize("name", NAMES)
def test_experiment_runs_under_debug_smoke(name, tmp_path, env):
    command = experiment_command(name)
    assert command in ("pretrain", "finetune"), f"{name}: unknown '# command: {command}' header"
    _needs_data(command, name)
    extra: list[str] = []
    if command == "finetune":
        ckpt = tmp_path / "pretrained"
        pre = experiment_header(name, "smoke-pretrain").split()
        res = run_cli(["pretrain", "debug=smoke", *pre, f"hydra.run.dir={ckpt}"], tmp_path, env)
        assert res.returncode == 0, res.stdout + res.stderr
        extra = [f"transfer.checkpoint={ckpt}"]
    run_dir = tmp_path / "run"
    res = run_cli([command, f"experiment={name}", "debug=smoke", *extra, f"hydra.run.dir={run_dir}"], tmp_path, env)
    assert res.returncode == 0, res.stdout + res.stderr
    summary = _finite_summary(run_dir)
    assert summary.get("steps", 6) <= 6  # debug=smoke's trainer.max_steps held
