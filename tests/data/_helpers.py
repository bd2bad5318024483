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
