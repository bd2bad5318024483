"""Numeric time series for forecasting: CSV -> splits by time -> train-only normalisation -> L/H windows.

Registered as the ``timeseries`` format (ETTh1/ETTh2/ETTm1/ETTm2 and a user's own CSV)::

    data = load_timeseries(cfg.dataset)        # TimeSeriesData: normalised (rows, features) float32 splits
    batches = ForecastWindows(data.train, data.lookback, data.horizon, batch_size=32, shuffle=True, seed=0,
                              device=device, target_index=data.target_index)
    for x, y in batches: ...                   # x (lookback, batch, features), y (horizon, batch, targets)

Splits are contiguous in time: the ETT protocol's 12/4/4 months (``split: ett_h`` / ``ett_15min``) or
fractions of the rows (``split: fraction``).  Validation and test splits start ``lookback`` rows early so their
first window has full history (targets always come from the split itself, as in the Informer code).
The mean/std are fitted on the training rows only and saved with ``to_dict()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from seqtune.data.catalog import dataset_file
from seqtune.data.formats import TimeSeriesTable, as_list, ett_split, read_timeseries_csv
from seqtune.data.records import SeriesFacts, SeriesLayout, dataset_format
from seqtune.errors import ConfigError, DataError
from seqtune.registry import DATASETS


@dataclass
class Normalizer:
    """Per-column z-score with statistics of the training rows."""

    mean: np.ndarray  # (features,)
    std: np.ndarray  # (features,)

    @classmethod
    def fit(cls, values: np.ndarray) -> Normalizer:
        std = values.std(axis=0)
        return cls(values.mean(axis=0), np.where(std > 0, std, 1.0))  # a constant column stays finite

    def apply(self, values: np.ndarray) -> np.ndarray:
        return ((values - self.mean) / self.std).astype(np.float32)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return values * self.std + self.mean

    def to_dict(self) -> dict:
        return {"mean": [float(x) for x in self.mean], "std": [float(x) for x in self.std]}

    @classmethod
    def from_dict(cls, d: dict) -> Normalizer:
        return cls(np.asarray(d["mean"], dtype=np.float64), np.asarray(d["std"], dtype=np.float64))


@dataclass
class TimeSeriesRaw:
    table: TimeSeriesTable
    splits: tuple[slice, slice, slice]  # row ranges of train / valid / test (valid/test include lookback rows)
    notes: list[str] = field(default_factory=list)


@dataclass
class TimeSeriesData:
    train: torch.Tensor  # (rows, features) float32, normalised
    valid: torch.Tensor
    test: torch.Tensor
    columns: list[str]
    target_index: int | None  # column forecast alone, None = all columns
    normalizer: Normalizer | None
    lookback: int
    horizon: int
    notes: list[str]

    def to_dict(self) -> dict:
        """What a later command needs to rebuild the preprocessing (saved with the run)."""
        return {
            "columns": self.columns,
            "target_index": self.target_index,
            "lookback": self.lookback,
            "horizon": self.horizon,
            "normalizer": None if self.normalizer is None else self.normalizer.to_dict(),
        }

    def facts(self, layout: SeriesLayout = SeriesLayout()) -> SeriesFacts:
        """The plain facts of this series' windows read with ``layout`` (targets and their train std)."""
        targets = list(range(len(self.columns))) if self.target_index is None else [self.target_index]
        std = self.normalizer.std if self.normalizer is not None else [1.0] * len(self.columns)
        return SeriesFacts(
            self.horizon,
            self.lookback,
            self.target_index,
            [self.columns[i] for i in targets],
            [float(std[i]) for i in targets],
            len(self.columns),
            self.to_dict(),
            layout,
        )


def _fraction_split(n: int, train_fraction: float, valid_fraction: float, lookback: int) -> tuple[slice, slice, slice]:
    train_end = int(n * train_fraction)
    valid_end = train_end + int(n * valid_fraction)
    if train_fraction + valid_fraction >= 1.0:
        raise ConfigError(
            f"dataset.train_fraction + dataset.valid_fraction = {train_fraction + valid_fraction} "
            "leaves no rows for test; make their sum < 1."
        )
    return slice(0, train_end), slice(max(0, train_end - lookback), valid_end), slice(max(0, valid_end - lookback), n)


@dataset_format("timeseries", holds="series")
def timeseries_splits(ds) -> TimeSeriesRaw:
    path = dataset_file(ds, ds.file, "dataset.file")
    table = read_timeseries_csv(
        path,
        timestamp_column=ds.timestamp_column,
        feature_columns=None if ds.feature_columns is None else as_list(ds.feature_columns),
        target_column=ds.target_column,
        encoding=ds.encoding,
    )
    n = len(table.values)
    if ds.split in ("ett_h", "ett_15min"):
        splits = ett_split(n, "h" if ds.split == "ett_h" else "15min", lookback=ds.lookback)
        note = "ETT split: 12 / 4 / 4 months of 30 days (rows after month 20 unused)"
    elif ds.split == "fraction":
        splits = _fraction_split(n, ds.train_fraction, ds.valid_fraction, ds.lookback)
        note = f"split by time: {ds.train_fraction:.0%} / {ds.valid_fraction:.0%} / rest"
    else:
        raise ConfigError(f"dataset.split={ds.split!r} is not one of fraction, ett_h, ett_15min.")
    return TimeSeriesRaw(table, splits, [note])


def load_timeseries(ds, horizon: int | None = None) -> TimeSeriesData:
    """``horizon``: replaces ``dataset.horizon`` (a regressor's ``head.horizon``)."""
    horizon = ds.horizon if horizon is None else horizon
    raw = DATASETS.get(ds.format, key="dataset.format")(ds)
    if not isinstance(raw, TimeSeriesRaw):
        raise ConfigError(
            f"dataset.format={ds.format!r} ({ds.name}) is not numeric time-series data; "
            "a forecasting objective needs format: timeseries (e.g. dataset=etth1)."
        )
    values = raw.table.values
    for name, s in zip(("train", "valid", "test"), raw.splits):
        rows = len(values[s])
        if rows < ds.lookback + ds.horizon:
            raise DataError(
                f"the {name} split of {ds.file} has {rows} rows, fewer than dataset.lookback "
                f"({ds.lookback}) + dataset.horizon ({ds.horizon}); shorten the windows or use more data."
            )
    # Statistics in float64: float32 sums of values near the float32 limit overflow to inf.
    normalizer = Normalizer.fit(values[raw.splits[0]].astype(np.float64)) if ds.normalize else None

    def part(s: slice) -> torch.Tensor:
        v = values[s]
        if len(v) < ds.lookback + horizon:
            raise DataError(
                f"a split of {ds.file} has {len(v)} rows, fewer than dataset.lookback "
                f"({ds.lookback}) + the horizon ({horizon}); shorten the windows or use more data."
            )
        out = normalizer.apply(v) if normalizer is not None else v.astype(np.float32)
        if not np.isfinite(out).all():
            raise DataError(
                f"{ds.file}: values too large to normalise in float32 (up to {np.abs(v).max():.3g}); "
                "rescale the columns in the file, or set dataset.normalize=false."
            )
        return torch.from_numpy(out)

    return TimeSeriesData(
        part(raw.splits[0]),
        part(raw.splits[1]),
        part(raw.splits[2]),
        raw.table.columns,
        raw.table.target_index,
        normalizer,
        ds.lookback,
        horizon,
        raw.notes,
    )


class ForecastWindows:
    """Batches of (lookback, horizon) windows over one split, time-major; the loop's Batches protocol.

    Window ``i`` is input rows ``[i, i+L)`` and target rows ``[i+L, i+L+H)``.  Shuffled per epoch from
    ``seed + epoch`` (call ``set_epoch``), so a resumed epoch sees the same order.
    """

    stateful = False

    def __init__(
        self,
        series: torch.Tensor,
        lookback: int,
        horizon: int,
        batch_size: int,
        shuffle: bool,
        seed: int,
        device: torch.device,
        target_index: int | None = None,
    ):
        self.series = series.to(device)  # (rows, features)
        self.lookback, self.horizon, self.batch_size = lookback, horizon, batch_size
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        self.target_index = target_index
        self.num_windows = series.size(0) - lookback - horizon + 1
        if self.num_windows < 1:
            raise DataError(f"{series.size(0)} rows are too few for lookback {lookback} + horizon {horizon}.")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.num_windows // self.batch_size)

    def iter_from(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.num_windows, generator=g)
        else:
            order = torch.arange(self.num_windows)
        order = order.to(self.series.device)
        offsets = torch.arange(self.lookback + self.horizon, device=self.series.device)
        for b in range(start, len(self)):
            starts = order[b * self.batch_size : (b + 1) * self.batch_size]
            rows = self.series[starts[None, :] + offsets[:, None]]  # (L+H, batch, features)
            x, y = rows[: self.lookback], rows[self.lookback :]
            if self.target_index is not None:
                y = y[..., self.target_index : self.target_index + 1]
            yield x, y

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.iter_from(0)
