"""Labelled numeric series, one label per series: the UCR Time Series Classification Archive's format.

Registered as the ``ucr`` format (``holds="labelled_series"``)::

    seqtune finetune dataset=ucr dataset.set=ECGFiveDays head=classifier      # <data dir>/ucr/<set>/<set>_TRAIN.tsv
    seqtune finetune dataset=ucr dataset.set=null dataset.folder=null dataset.train=a.csv dataset.test=b.csv

A file holds one series per line: the label first, then the values, no header; tab-separated (``.tsv``, the
archive's 2018 release) or comma-separated (``.csv``), or ``dataset.delimiter``.  Labels are category codes
whatever they look like (``1``/``2``, ``-1``/``1``, names); they are ordered numerically when all are numbers.
The archive pads a shorter series with NaN at its end (its variable-length sets): trailing NaN and empty fields
are trimmed, so such a set reads as series of different lengths.  Rows with different numbers of fields are
refused unless ``dataset.variable_length=true``.  A file ending in ``.ts`` is the UEA & UCR archives'
sktime/aeon format, univariate or multivariate (``ts_format.py``); ``dataset.set`` finds
``<set>/<set>_{TRAIN,TEST}.ts`` when the ``.tsv`` files are absent.  A univariate series is a ``(length,)``
array, a multivariate one ``(length, channels)``; every file of a dataset (train, test, valid,
``unlabelled_series``) must have the same channels.

The loader turns each series into an :class:`~seqtune.data.records.Example` whose ``tokens`` are a float
tensor ``(steps, segment_length * channels)``: the values z-scored (``dataset.normalize``: each channel of each
series by its own mean and std, or each channel by the training file's, or none) and cut into segments of
``dataset.segment_length`` values of every channel, one RNN step each (SegRNN / PatchTST patches; the last
segment padded with the series' last values).  ``BucketBatches`` pads them into ``(time, batch, width)`` batches
with true lengths, so the text classifier's pooling reads them unchanged.  Validation is carved from the training
file (stratified, ``split_seed``), or from the ``label_budget`` labels; the test file is only ever the test split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from seqtune.data.catalog import dataset_file, resolve_folder
from seqtune.data.formats import read_text
from seqtune.data.records import Example, LabelledData, RawLabelled, RawSplit, dataset_format
from seqtune.data.splits import finish_splits, stratified_split
from seqtune.data.ts_format import COMMENT, predict_case, read_ts_file
from seqtune.errors import ConfigError, DataError
from seqtune.registry import DATASETS

NORMALIZE = ("series", "dataset", "none")


# ------------------------------------------------------------------------------------------- reading
def _delimiter(path: Path, given: str | None, first_line: str) -> str:
    if given:
        return "\t" if given in ("\\t", "tab") else given
    suffixes = [s for s in path.suffixes if s not in (".gz", ".bz2", ".xz", ".zst")]
    if suffixes and suffixes[-1] == ".tsv":
        return "\t"
    if suffixes and suffixes[-1] == ".csv":
        return ","
    return "\t" if "\t" in first_line else ","


def _sep_name(sep: str) -> str:
    return {"\t": "tab", ",": "comma", ";": "semicolon", " ": "space"}.get(sep, repr(sep))


def _row_values(fields: list[str], path: Path, lineno: int) -> np.ndarray:
    """The value fields of one line -> float64 values, the archive's trailing NaN padding trimmed."""
    while fields and fields[-1].strip().lower() in ("", "nan"):
        fields = fields[:-1]
    values = np.empty(len(fields))
    for j, field in enumerate(fields):
        try:
            values[j] = float(field)
        except ValueError:
            raise DataError(
                f"{path}, line {lineno}, field {j + 2}: {field.strip()!r} is not a number; a series file holds "
                "the label, then numbers only (no header row). Fix or remove that line."
            ) from None
    if not len(values):
        raise DataError(f"{path}, line {lineno}: a label and no values; every line is <label>, then the series.")
    if not np.isfinite(values).all():
        j = int(np.flatnonzero(~np.isfinite(values))[0])
        raise DataError(
            f"{path}, line {lineno}, field {j + 2}: {fields[j].strip()!r} inside the series (only trailing NaN "
            "padding is allowed); fill the missing values in the file, or drop the series."
        )
    return values


def _suffix(path: Path) -> str:
    suffixes = [s for s in path.suffixes if s not in (".gz", ".bz2", ".xz", ".zst")]
    return suffixes[-1].lower() if suffixes else ""


def read_series_file(
    path: Path,
    delimiter: str | None = None,
    variable_length: bool = False,
    encoding: str = "utf-8",
    labelled: bool = True,
) -> tuple[list[np.ndarray], list[str]]:
    """A UCR-style file (or a ``.ts`` file) -> (series, labels); a clear DataError names the file, line and field
    of a bad row.  ``labelled=False``: labels may be absent (``""``), as for pretraining's extra files."""
    if _suffix(path) == ".ts":
        ts = read_ts_file(path, variable_length, encoding)
        if labelled and (ts.labels is None or ts.header.regression):
            said = "@targetLabel true: regression targets" if ts.header.regression else "@classLabel false"
            raise DataError(
                f"{path}: no class labels in the file ({said}); a classifier's train, valid and test files need "
                "@classLabel true and a label ending each case. Use it as dataset.unlabelled_series (pretraining) "
                "or as `seqtune predict` input."
            )
        return ts.series, ts.labels or [""] * len(ts.series)
    lines = read_text(path, encoding).splitlines()
    sep = _delimiter(path, delimiter, lines[0] if lines else "")
    series: list[np.ndarray] = []
    labels: list[str] = []
    first_fields: tuple[int, int] | None = None  # (line, fields) of the first row
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.split(sep)
        label = fields[0].strip()
        if not label or label.lower() == "nan":
            raise DataError(
                f"{path}, line {lineno}: no label in the first field; every line is the label, then the values, "
                f"{_sep_name(sep)}-separated (the UCR layout). Put the class in the first field or remove the line."
            )
        if first_fields is None:
            first_fields = (lineno, len(fields))
        elif len(fields) != first_fields[1] and not variable_length:
            raise DataError(
                f"{path}, line {lineno}: {len(fields) - 1} values, but line {first_fields[0]} has "
                f"{first_fields[1] - 1} ({_sep_name(sep)}-separated); series of different lengths need "
                "dataset.variable_length=true (or pad them with NaN at the end, as the UCR archive does)."
            )
        series.append(_row_values(fields[1:], path, lineno))
        labels.append(label)
    if not series:
        raise DataError(f"{path}: no series in the file; expected one line per series: <label>, then its values.")
    return series, labels


def label_order(labels: list[str]) -> list[str]:
    """Numeric codes in numeric order (``2`` before ``10``), other labels sorted as strings."""
    distinct = set(labels)
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return sorted(distinct)


def ucr_files(ds) -> tuple[str, str | None]:
    """dataset.set names an archive set (<set>/<set>_TRAIN.tsv under dataset.folder, or <set>_TRAIN.ts when the
    .tsv is absent), else dataset.train/test."""
    if ds.get("set"):
        folder = resolve_folder(ds.get("folder"))
        suffix = ".tsv"
        if folder is not None and not (folder / f"{ds.set}/{ds.set}_TRAIN.tsv").exists():
            suffix = ".ts" if (folder / f"{ds.set}/{ds.set}_TRAIN.ts").exists() else ".tsv"
        return f"{ds.set}/{ds.set}_TRAIN{suffix}", f"{ds.set}/{ds.set}_TEST{suffix}"
    if not ds.get("train"):
        raise ConfigError(
            "dataset.set and dataset.train are both unset; name an archive set (dataset.set=ECGFiveDays) or "
            "give your own files (dataset.set=null dataset.folder=null dataset.train=train.tsv dataset.test=test.tsv)."
        )
    return ds.train, ds.get("test")


@dataset_format("ucr", holds="labelled_series")
def ucr_splits(ds) -> RawLabelled:
    train_name, test_name = ucr_files(ds)

    def split(name: str, key: str) -> RawSplit:
        path = dataset_file(ds, name, key)
        values, labels = read_series_file(path, ds.delimiter, ds.variable_length, ds.encoding)
        return RawSplit(values, labels, str(path))

    train = split(train_name, "dataset.train")
    test = split(test_name, "dataset.test") if test_name else None
    valid = split(ds.valid, "dataset.valid") if ds.get("valid") else None
    for other in (test, valid):
        if other is not None:
            same_channels(train.source, train.inputs, other.source, other.inputs)
    lengths = sorted({len(v) for v in train.inputs})
    shown = f"{lengths[0]}" if len(lengths) == 1 else f"{lengths[0]}..{lengths[-1]}"
    channels = series_channels(train.inputs)
    of = f" of {channels} channels" if channels > 1 else ""
    notes = [f"{len(train.inputs):,} training series{of} of length {shown} from {train.source}"]
    return RawLabelled("classification", train, valid, test, notes=notes, label_order=label_order(train.labels))


def series_channels(series: list[np.ndarray]) -> int:
    """Channels of a file's series: 1 for (length,) arrays, else their second dimension (the same in a file)."""
    return 1 if not series or series[0].ndim == 1 else int(series[0].shape[1])


def same_channels(source: str, series: list[np.ndarray], other_source: str, other: list[np.ndarray]) -> None:
    """Two files of one dataset must have the same channels (dimensions)."""
    a, b = series_channels(series), series_channels(other)
    if a != b:
        raise DataError(
            f"{other_source} has {b} channel(s) (dimensions) per series, but {source} has {a}; every file of a "
            "dataset (train, valid, test, dataset.unlabelled_series) needs the same channels, in the same order."
        )


# ------------------------------------------------------------------------------------------- encoding
@dataclass(frozen=True)
class SeriesEncoding:
    """How values become RNN steps (saved with a run: ``data.json``)."""

    normalize: str  # series | dataset | none
    segment_length: int
    mean: tuple[float, ...] = (0.0,)  # dataset: the training file's statistics, one per channel
    std: tuple[float, ...] = (1.0,)
    channels: int = 1  # values of each time step (a multivariate series' dimensions)

    @property
    def width(self) -> int:
        """Values per RNN step (the encoder's ``model.num_features``): a segment of every channel."""
        return self.segment_length * self.channels

    def steps(self, values: np.ndarray) -> torch.Tensor:
        """(length,) or (length, channels) values -> (ceil(length / segment_length), width) float32; a step holds
        ``segment_length`` consecutive time points, all channels of each."""
        if (values.shape[1] if values.ndim == 2 else 1) != self.channels:
            raise ValueError(f"a series of shape {values.shape}, but the encoding reads {self.channels} channel(s)")
        if self.normalize == "series":  # each channel by its own statistics
            std = values.std(axis=0)
            values = (values - values.mean(axis=0)) / np.where(std > 0, std, 1.0)
        elif self.normalize == "dataset":
            values = (values - np.asarray(self.mean)) / np.asarray(self.std)
        s = self.segment_length
        pad = math.ceil(len(values) / s) * s - len(values)
        padded = np.concatenate([values, np.repeat(values[-1:], pad, axis=0)])  # (steps * s, [channels])
        return torch.from_numpy(padded.astype(np.float32)).reshape(-1, self.width)


def series_encoding(ds, train_series: list[np.ndarray], channels: int | None = None) -> SeriesEncoding:
    """The encoding of ``dataset.normalize`` and ``segment_length``; ``dataset`` statistics (per channel) from
    ``train_series``, whose shape also gives the channels unless ``channels`` says."""
    normalize = str(ds.normalize)
    if normalize not in NORMALIZE:
        raise ConfigError(f"dataset.normalize={normalize!r} is not one of {', '.join(NORMALIZE)}.")
    channels = series_channels(train_series) if channels is None else channels
    if normalize != "dataset":
        return SeriesEncoding(normalize, ds.segment_length, (0.0,) * channels, (1.0,) * channels, channels)
    pooled = np.concatenate(train_series)  # (values, [channels])
    std = np.atleast_1d(pooled.std(axis=0))
    mean = tuple(float(m) for m in np.atleast_1d(pooled.mean(axis=0)))
    return SeriesEncoding("dataset", ds.segment_length, mean, tuple(float(x) if x > 0 else 1.0 for x in std), channels)


def _examples(split: RawSplit, enc: SeriesEncoding, index: dict[str, int], max_length: int | None) -> list[Example]:
    from seqtune.data.labelled import check_labels

    check_labels(split, index, list(index), "label")
    out = [Example(enc.steps(v), index[label]) for v, label in zip(split.inputs, split.labels)]
    if max_length is not None:
        out = [Example(e.tokens[:max_length], e.label) for e in out]
    return out


def read_labelled_series(ds) -> RawLabelled:
    raw = DATASETS.get(ds.format, key="dataset.format")(ds)
    if not isinstance(raw, RawLabelled) or not raw.train.inputs or not isinstance(raw.train.inputs[0], np.ndarray):
        raise ConfigError(f"dataset.format={ds.format!r} ({ds.name}) holds no labelled series; use dataset=ucr.")
    return raw


def load_labelled_series(ds, labels: list[str] | None = None) -> tuple[LabelledData, SeriesEncoding]:
    """Train/valid/test examples of float steps (``finish_splits``: carved validation, label budgets)."""
    raw = read_labelled_series(ds)
    full_train, train, valid, test, notes = finish_splits(raw, ds)
    labels = list(raw.label_order or label_order(full_train.labels)) if labels is None else labels
    index = {label: i for i, label in enumerate(labels)}
    enc = series_encoding(ds, raw.train.inputs)  # statistics of the whole training file, labels unused
    splits = [_examples(s, enc, index, ds.get("max_length")) for s in (train, valid, test)]
    notes.append(
        f"series: normalize={enc.normalize}, {enc.segment_length} value(s) per RNN step, "
        f"{max(len(e.tokens) for e in splits[0])} steps"
    )
    return LabelledData(splits[0], splits[1], splits[2], labels, None, "classification", notes), enc


def unlabelled_series(ds) -> tuple[list[torch.Tensor], list[torch.Tensor], SeriesEncoding, list[str]]:
    """Pretraining on a labelled-series dataset: the training file's series (labels ignored) and those of
    ``dataset.unlabelled_series`` files (their first field ignored); a seeded ``valid_fraction`` of the pool for
    validation.  The test file is never read."""
    train_path = dataset_file(ds, ucr_files(ds)[0], "dataset.train")  # the training file alone: test is not opened
    train_values, train_labels = read_series_file(train_path, ds.delimiter, ds.variable_length, ds.encoding)
    held_out = _cv_held_out(ds, RawSplit(train_values, train_labels, str(train_path)))
    pool = [v for v in train_values if id(v) not in held_out]
    fold_note = f" less cross-validation fold {ds.cv_fold}'s {len(held_out)}" if held_out else ""
    sources = [str(train_path) + fold_note]
    for i, name in enumerate(ds.get("unlabelled_series") or []):
        path = dataset_file(ds, str(name), f"dataset.unlabelled_series[{i}]")
        extra = read_series_file(path, ds.delimiter, True, ds.encoding, labelled=False)[0]
        same_channels(str(train_path), train_values, str(path), extra)
        pool += extra
        sources.append(str(path))
    enc = series_encoding(ds, train_values)
    kept, carved = stratified_split([""] * len(pool), ds.valid_fraction, ds.split_seed, "pretrain_valid")
    if not carved or not kept:
        raise DataError(f"cannot carve a validation part ({ds.valid_fraction:.0%}) from {len(pool)} series.")
    notes = [
        f"unlabelled series (labels and test files not read): {len(pool):,} from {', '.join(sources)}; "
        f"{len(carved):,} carved for validation (split_seed {ds.split_seed})"
    ]
    train = [pool[i] for i in kept]
    copies = int(ds.get("augment_copies") or 0)
    if copies:
        rng = np.random.default_rng(ds.split_seed)
        train += [augmented(v, rng) for v in train for _ in range(copies)]
        notes.append(f"{copies} augmented copies of every training series (scaled, jittered, time-warped)")
    return [enc.steps(v) for v in train], [enc.steps(pool[i]) for i in carved], enc, notes


def _cv_held_out(ds, train: RawSplit) -> set[int]:
    """ids of the training file's series that fine-tuning validates on under ``dataset.cv_folds`` (the same
    ``finish_splits`` call, the test file's place taken by an empty split): pretraining leaves them out."""
    if ds.get("cv_folds") is None:
        return set()
    test = RawSplit([], [], "test file (not read)") if ucr_files(ds)[1] is not None else None
    valid = finish_splits(RawLabelled("classification", train, None, test), ds)[2]
    return {id(v) for v in valid.inputs}


def augmented(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible variant of a series: a smooth time warp (random knots, same length), an amplitude scale and
    jitter, each mild (Um et al. 2017's time-series augmentations).  A multivariate series' channels share the
    warp and the scale; each channel's jitter follows its own spread."""
    n = len(values)
    knots = np.linspace(0, n - 1, 5)
    warped = np.clip(knots + rng.normal(0, 0.03 * n, size=5) * np.array([0, 1, 1, 1, 0]), 0, n - 1)
    positions = np.interp(np.arange(n), knots, np.sort(warped))  # monotone: the order of events is kept
    if values.ndim == 1:
        out = np.interp(positions, np.arange(n), values)
    else:  # (length, channels): one warp for all
        out = np.stack([np.interp(positions, np.arange(n), values[:, c]) for c in range(values.shape[1])], axis=1)
    spread = values.std(axis=0)
    scale = np.where(spread > 0, spread, 1.0) if values.ndim == 2 else float(spread) if spread > 0 else 1.0
    return out * rng.normal(1.0, 0.1) + rng.normal(0, 0.05 * scale, size=values.shape)


def run_encoding(ds, width: int) -> SeriesEncoding:
    """A trained run's encoding, from its dataset config and its encoder's input ``width`` (values per step:
    ``segment_length`` x channels); ``normalize=dataset`` re-reads its training file."""
    if str(ds.normalize) != "dataset":
        return series_encoding(ds, [], channels=max(1, width // int(ds.segment_length)))
    return series_encoding(ds, read_labelled_series(ds).train.inputs)


def predict_series(
    numbered: list[tuple[int, str]], enc: SeriesEncoding, source: str, variable_length: bool
) -> tuple[list[tuple[int, str]], list[torch.Tensor]]:
    """``seqtune predict``'s lines -> the lines that hold series and their steps.  A line of values only
    (``values_line``), or a ``.ts`` case (dimensions separated by ``:``, the label optional and ignored); a
    ``.ts`` file's header and comments (up to ``@data``) are skipped.  A multivariate model reads ``.ts`` cases."""
    start = next((i + 1 for i, (_, line) in enumerate(numbered) if line.strip().lower() == "@data"), 0)
    kept = [(n, line) for n, line in numbered[start:] if not (start and line.lstrip().startswith(COMMENT))]
    if not start and kept and kept[0][1].lstrip().startswith("@"):
        raise DataError(f"{source}, line {kept[0][0]}: a .ts header without @data; add @data above the cases.")
    steps = []
    for n, line in kept:
        if enc.channels > 1 or ":" in line:
            steps.append(enc.steps(predict_case(line, n, source, enc.channels, variable_length)))
        else:
            steps.append(enc.steps(values_line(line, n, source)))
    return kept, steps


def values_line(line: str, lineno: int, source: str) -> np.ndarray:
    """A line of values only (tab-, comma- or space-separated; no label): what ``seqtune predict`` reads."""
    fields = line.replace(",", " ").split()
    try:
        values = np.array([float(f) for f in fields])
    except ValueError:
        bad = next(f for f in fields if not _is_number(f))
        raise DataError(
            f"{source}, line {lineno}: {bad!r} is not a number; predict reads one series per line, values only "
            "(no label: cut the first field of a UCR file, e.g. `cut -f2- X_TEST.tsv`)."
        ) from None
    if not len(values) or not np.isfinite(values).all():
        raise DataError(f"{source}, line {lineno}: a series needs finite values (no NaN or inf).")
    return values


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True
