"""Record types of the data layer: what a dataset reader returns and what a loader hands to batching.

The bottom of the data layer: plain dataclasses and no reading or encoding logic, so every other data module
(splits and encoding, the format readers, the loaders) can import them without importing one another::

    records  <-  encoding, splits  <-  readers (text, labelled, tagging, timeseries, pairs)  <-  loaders

Readers (registered in ``DATASETS``) return raw records: :class:`RawSplits` (text), :class:`RawLabelled`
(labelled or tagged texts), :class:`RawPairs` (source/target pairs), ``timeseries.TimeSeriesRaw`` (a numeric
table).  Loaders turn them into encoded records: :class:`Example` and :class:`LabelledData`, :class:`Pair`.
:class:`SeriesFacts` are the plain facts of a numeric series' windows that a regressor (and a forecasting
objective) is built from; saved in checkpoints as a dict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from seqtune.data.tokenizers import Tokenizer

if TYPE_CHECKING:
    from torch import Tensor
from seqtune.registry import DATASETS

Task = Literal["classification", "tagging"]


# ------------------------------------------------------------------------------------------- raw text
@dataclass(frozen=True)
class TextSource:
    """A text file read lazily (a corpus that need not fit in memory)."""

    path: Path
    encoding: str = "utf-8"


@dataclass
class RawSplits:
    train: str | TextSource  # text in memory, or a file streamed through the token cache
    valid: str | TextSource
    test: str | TextSource
    notes: list[str]  # what was done to get them (e.g. "valid carved from train"), for the log


# --------------------------------------------------------------------------------------- raw labelled
@dataclass
class RawSplit:
    """One split as read: texts (classification) or token lists (tagging), and labels or tag lists."""

    inputs: list[Any]
    labels: list[Any]
    source: str  # the file (or generator) it came from, for error messages


@dataclass
class RawLabelled:
    task: Task
    train: RawSplit
    valid: RawSplit | None  # None: carved from train
    test: RawSplit | None  # None: carved from train
    notes: list[str] = field(default_factory=list)
    unlabelled: list[str] = field(default_factory=list)  # extra text for language-model stages (IMDB unsup)
    label_order: list[str] | None = None  # fixed label vocabulary (else sorted training labels)


@dataclass
class RawPairs:
    train: list[tuple[str, str]]
    valid: list[tuple[str, str]]
    test: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------- encoded
@dataclass
class Example:
    tokens: list[int] | Tensor  # token ids, at least one; a labelled series: float steps (steps, values per step)
    label: int | list[int]  # class id, or one tag id per token
    words: list[str] | None = None  # tagging: the token strings (spelled for character features, even if <unk>)


@dataclass
class LabelledData:
    train: list[Example]
    valid: list[Example]
    test: list[Example]
    labels: list[str]  # label (or tag) vocabulary; id i <-> labels[i]
    tokenizer: Tokenizer | None  # None: labelled numeric series (each Example's tokens a float tensor of steps)
    task: Task
    notes: list[str]

    @property
    def label_to_index(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}


@dataclass
class Pair:
    tokens: list[int]  # source ids (named like Example.tokens so BucketBatches buckets by source length)
    target: list[int]  # target ids, ending with <eos> unless truncated


# -------------------------------------------------------------------------------------------- series
@dataclass(frozen=True)
class SeriesLayout:
    """How a window of a series is fed to the encoder (the forecast objective's and the regressor's options)."""

    channel_independent: bool = True  # every column its own univariate series
    subtract_last: bool = True  # subtract the window's last value, add it back to the forecast
    segment_length: int = 1  # steps per RNN step (SegRNN segments)


@dataclass(frozen=True)
class SeriesFacts:
    """Plain facts of a numeric series' windows: what a regressor is built from and its checkpoint keeps
    (``"series"``, and ``data.json`` of the run), and, without the layout, a forecasting objective's ``"data"``."""

    horizon: int
    lookback: int
    target_index: int | None  # the column forecast alone; None: every column
    targets: list[str]  # forecast columns, in output order
    target_std: list[float]  # their train-split std (errors on the original scale)
    num_columns: int
    timeseries: dict[str, Any]  # TimeSeriesData.to_dict(): columns, normaliser, lookback, horizon
    layout: SeriesLayout = SeriesLayout()

    @property
    def width(self) -> int:
        """Values per RNN step the layout feeds the encoder (its ``model.num_features``)."""
        per_step = 1 if self.layout.channel_independent else self.num_columns
        return per_step * self.layout.segment_length

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's ``"series"`` entry (the layout's keys at the top level, as always)."""
        d = {k: v for k, v in asdict(self).items() if k != "layout"}
        return {**d, **asdict(self.layout)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SeriesFacts:
        layout = SeriesLayout(**{k: d[k] for k in ("channel_independent", "subtract_last", "segment_length")})
        return cls(
            d["horizon"],
            d["lookback"],
            d["target_index"],
            list(d["targets"]),
            list(d["target_std"]),
            d["num_columns"],
            d["timeseries"],
            layout,
        )

    def pretraining_info(self) -> dict[str, Any]:
        """A forecasting objective's checkpoint ``"data"`` entry (its layout is in its own config)."""
        return {
            "num_features": self.width,
            "num_columns": self.num_columns,
            "target_index": self.target_index,
            "target_std": self.target_std,
            "horizon": self.horizon,
            "lookback": self.lookback,
            "timeseries": self.timeseries,
        }


# ------------------------------------------------------------------------------------------- formats
Holds = Literal[
    "text", "labelled", "tagged", "pairs", "series", "labelled_series"
]  # labelled_series: one label per series


@dataclass(frozen=True)
class DatasetFormat:
    """A registered dataset format: its reader (dataset config -> a raw record) and what it holds."""

    read: Callable[[Any], Any]
    holds: Holds

    def __call__(self, ds: Any) -> Any:
        return self.read(ds)


def dataset_format(name: str, holds: Holds) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Register a reader as dataset format ``name`` (``dataset.format``); ``holds``: what it returns."""

    def register(read: Callable[[Any], Any]) -> Callable[[Any], Any]:
        DATASETS.register(name)(DatasetFormat(read, holds))
        return read

    return register


def dataset_holds(fmt: str | None) -> Holds | None:
    """What dataset format ``fmt`` holds (None for a name no reader registered)."""
    return DATASETS.get(fmt).holds if fmt is not None and fmt in DATASETS else None
