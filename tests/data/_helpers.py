"""Helpers shared by the data tests (typed dataset configs without Hydra, the real-data location)."""
from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf


def make_cfg(schema: type, **fields):
    """A dataset config node typed by ``schema`` (as Hydra would compose it)."""
    node = OmegaConf.structured(schema)
    for key, value in fields.items():
        # Dicts merge into typed sub-configs (tokenizer); a dict for an unset (None) field is assigned whole.
        OmegaConf.update(node, key, value, merge=OmegaConf.select(node, key) is not None)
    return node


def shared_data() -> Path | None:
    """The real datasets (../shared/data next to the checkout, or $SEQTUNE_SHARED_DATA), if present."""
    env = os.environ.get("SEQTUNE_SHARED_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return path if path.is_dir() else None


def write_lines(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n")
    return path


def ucr_ds(tmp_path: Path, **over):
    """A ``dataset=ucr`` config reading files from ``tmp_path`` (as Hydra would compose it)."""
    from seqtune.config.schema import UcrDatasetConfig

    cfg = OmegaConf.structured(UcrDatasetConfig)
    cfg.name, cfg.format, cfg.folder = "mine", "ucr", str(tmp_path)
    for k, v in over.items():
        cfg[k] = v
    return cfg


# A small series classifier trained from scratch (the series fine-tuning tests): a bidirectional GRU, layer norm
SERIES_SMALL = ["model.hidden_size=16", "model.embedding_size=16", "model.num_layers=1", "trainer.device=cpu",
                "trainer.progress=log", "trainer.eval_batch_size=64"]
SERIES_SCRATCH_GRU = [*SERIES_SMALL, "transfer=scratch", "transfer.checkpoint=null", "+model=gru",
                      "model.bidirectional=true", "head.norm=layer", "optimizer=adamw", "optimizer.lr=0.01",
                      "trainer.batch_size=16", "trainer.max_epochs=12"]


def assert_data_error_names_file(read, f: Path, message: str) -> None:
    """``read(f)`` raises a DataError whose message holds ``message`` and the file's path."""
    import pytest

    from seqtune.errors import DataError

    with pytest.raises(DataError) as err:
        read(f)
    assert message in str(err.value)
    assert str(f) in str(err.value)
