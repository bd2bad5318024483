"""TensorBoard backend: scalars under ``<run dir>/tensorboard`` (``tensorboard --logdir outputs``).

Needs the ``tensorboard`` package: ``pip install "seqtune[tensorboard]"``.
"""

from __future__ import annotations

import math
from pathlib import Path

from seqtune.loggers.registry import register


class TensorBoardLogger:
    def __init__(self, run_dir: Path):
        from torch.utils.tensorboard import SummaryWriter  # imported here: optional dependency

        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def log(self, record: dict[str, object]) -> None:
        step = record.get("step", 0)
        step = int(step) if isinstance(step, (int, float)) else 0
        for key, value in record.items():
            if key in ("step", "epoch") or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if math.isfinite(value):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


@register("tensorboard", requires=("tensorboard", "tensorboard"))
def build(run_dir: Path) -> TensorBoardLogger:
    return TensorBoardLogger(run_dir)
