"""Time series: ETT-style split, train-only normalisation, look-back / horizon windows."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from seqtune.config.schema import TimeSeriesDatasetConfig
from seqtune.data.timeseries import ForecastWindows, Normalizer, load_timeseries

from ._helpers import make_cfg


def write_series(path: Path, rows: int) -> None:
    t = np.arange(rows)
    lines = ["date,load,temp,OT"] + [f"2020-01-01 {i},{np.sin(i / 24):.5f},{i % 7},{i / 100:.3f}" for i in t]
    path.write_text("\n".join(lines) + "\n")


def test_ett_split_and_train_only_normalisation(tmp_path: Path) -> None:
    f = tmp_path / "ETTx.csv"
    write_series(f, 14400 + 50)
    cfg = make_cfg(TimeSeriesDatasetConfig, name="ett", format="timeseries", file=str(f), target_column="OT",
                   split="ett_h", lookback=24, horizon=12)
    data = load_timeseries(cfg)
    assert data.columns == ["load", "temp", "OT"] and data.target_index == 2
    assert data.train.shape == (8640, 3)
    assert data.valid.shape == (2880 + 24, 3) and data.test.shape == (2880 + 24, 3)  # + look-back history
    assert torch.allclose(data.train.mean(0), torch.zeros(3), atol=1e-3)
    assert torch.allclose(data.train.std(0), torch.ones(3), atol=1e-2)
    assert data.test[:, 2].mean() > 3  # the rising OT column is normalised with train statistics only
    saved = data.to_dict()
    back = Normalizer.from_dict(saved["normalizer"])
    assert np.allclose(back.mean, data.normalizer.mean) and saved["lookback"] == 24


def test_windows_shapes_targets_and_epoch_order(tmp_path: Path) -> None:
    series = torch.arange(100, dtype=torch.float32)[:, None].repeat(1, 2)  # (rows, features)
    w = ForecastWindows(series, lookback=10, horizon=5, batch_size=8, shuffle=False, seed=0,
                        device=torch.device("cpu"), target_index=1)
    assert w.num_windows == 86 and len(w) == 11
    x, y = next(iter(w))
    assert x.shape == (10, 8, 2) and y.shape == (5, 8, 1)
    assert x[:, 3, 0].tolist() == list(range(3, 13)) and y[:, 3, 0].tolist() == list(range(13, 18))
    shuffled = ForecastWindows(series, 10, 5, 8, shuffle=True, seed=0, device=torch.device("cpu"))
    first = next(iter(shuffled))[0]
    shuffled.set_epoch(1)
    assert not torch.equal(first, next(iter(shuffled))[0])
