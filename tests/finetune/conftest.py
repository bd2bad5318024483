"""Fixtures for fine-tuning: one tiny real pretraining run (2 LSTM layers) made through the CLI, shared."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TINY, run_cli

# A small labelled companion task; trains in a few seconds.
FT_TINY = [
    "dataset.train_docs=160", "dataset.valid_docs=40", "dataset.test_docs=40",
    "trainer.batch_size=8", "trainer.eval_batch_size=16", "trainer.log_interval=5", "trainer.device=cpu",
    "trainer.progress=log",
]


@pytest.fixture(scope="session")
def output_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("outputs")


@pytest.fixture(scope="session")
def pretrained_run(output_root: Path) -> Path:
    """`seqtune pretrain` on tiny built-in data, in the output root's date/time layout (what latest finds)."""
    run_dir = output_root / "2026-01-01" / "00-00-00_pretrain"
    res = run_cli(["pretrain", *TINY, "model.num_layers=2", "trainer.max_epochs=1", f"hydra.run.dir={run_dir}"],
                  output_root)
    assert res.returncode == 0, res.stdout + res.stderr
    return run_dir


@pytest.fixture(scope="session")
def finetuned_run(pretrained_run: Path, output_root: Path) -> tuple[Path, str]:
    """`seqtune finetune` (gradual, the default) from the newest pretraining run under the output root."""
    run_dir = output_root / "2026-01-01" / "00-10-00_finetune"
    res = run_cli(["finetune", *FT_TINY, "trainer.max_epochs=4", f"output_root={output_root}",
                   f"hydra.run.dir={run_dir}"], output_root)
    assert res.returncode == 0, res.stdout + res.stderr
    return run_dir, res.stdout
