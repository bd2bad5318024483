"""The data path of a fine-tuning task: labelled text, or windows of a numeric series; one ``load_task_data`` for
fine-tuning and ``seqtune evaluate`` (the counterpart of ``pretraining.py``).

=============== =================================================== ==========================================
head reads      batches                                             labels
=============== =================================================== ==========================================
text            ``BucketBatches`` of encoded examples (``labelled``)  the label or tag vocabulary
series          ``ForecastWindows`` of the normalised series          the forecast columns (``SeriesFacts``)
(any)           labelled series (``dataset=ucr``): ``BucketBatches``   the class labels (``series_labels.py``)
                of float steps, whatever the head reads
=============== =================================================== ==========================================
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from seqtune.data.batching import BucketBatches
from seqtune.data.labelled import load_labelled
from seqtune.data.records import Example, LabelledData, SeriesFacts, SeriesLayout, dataset_holds
from seqtune.data.series_labels import load_labelled_series
from seqtune.data.timeseries import ForecastWindows, load_timeseries
from seqtune.data.tokenizers import EOS_ID, UNK_ID, Tokenizer

SPLITS = ("train", "valid", "test")


@dataclass
class TaskData:
    train: Any  # the loop's Batches
    valid: Any
    test: Any
    labels: list[str]  # label / tag vocabulary, or a regressor's target columns
    task: Literal["classification", "tagging", "regression"]
    sizes: dict[str, int]  # examples or windows per split
    unit: str  # what sizes count: examples | windows
    notes: list[str] = field(default_factory=list)
    tokenizer: Tokenizer | None = None  # None for a numeric series
    labelled: LabelledData | None = None  # text tasks: the examples (test predictions, scores)
    series: SeriesFacts | None = None  # series tasks: what the regressor is built from
    unk_shares: dict[str, float] = field(default_factory=dict)  # text: share of <unk> tokens per split
    series_encoding: dict[str, Any] | None = None  # labelled series: how values became steps (data.json)
    width: int = 0  # labelled series: values per RNN step (the encoder's model.num_features)


def unk_share(examples: list[Example]) -> float:
    """Share of the examples' tokens (end-of-line markers aside) that are <unk>: how much of the task the
    tokenizer cannot read (a pretrained tokenizer on a new domain)."""
    tokens = unknown = 0
    for e in examples:
        tokens += sum(t != EOS_ID for t in e.tokens)
        unknown += sum(t == UNK_ID for t in e.tokens)
    return unknown / max(tokens, 1)


def load_task_data(
    ds: Any,
    reads: Literal["text", "series"],
    batch_sizes: tuple[int, int],
    seed: int,
    device: torch.device,
    tokenizer: Tokenizer | None = None,
    labels: list[str] | None = None,
    layout: SeriesLayout = SeriesLayout(),
    horizon: int | None = None,
    shuffle_train: bool = True,
) -> TaskData:
    """Text (encoded with ``tokenizer``, fitted on train when None; ``labels``: a fixed vocabulary) or windows of a
    series read with ``layout`` (``horizon`` replaces dataset.horizon).  ``batch_sizes``: (train, evaluation)."""
    sizes = dict(zip(SPLITS, (batch_sizes[0], batch_sizes[1], batch_sizes[1])))
    shuffled = {"train": shuffle_train, "valid": False, "test": False}
    if dataset_holds(ds.get("format")) == "labelled_series":
        return _labelled_series(ds, sizes, shuffled, seed, device, labels)
    if reads == "series":
        ts = load_timeseries(ds, horizon)
        windows = {
            s: ForecastWindows(
                getattr(ts, s), ts.lookback, ts.horizon, sizes[s], shuffled[s], seed, device, ts.target_index
            )
            for s in SPLITS
        }
        facts = ts.facts(layout)
        return TaskData(
            windows["train"],
            windows["valid"],
            windows["test"],
            facts.targets,
            "regression",
            {s: w.num_windows for s, w in windows.items()},
            "windows",
            list(ts.notes),
            series=facts,
        )
    data = load_labelled(ds, tokenizer=tokenizer, labels=labels)
    batches = {
        s: BucketBatches(
            getattr(data, s), sizes[s], shuffle=shuffled[s], seed=seed if shuffled[s] else 0, device=device
        )
        for s in SPLITS
    }
    unk = {s: unk_share(getattr(data, s)) for s in SPLITS}
    notes = [
        *data.notes,
        "tokens unknown to the tokenizer (<unk>): " + ", ".join(f"{s} {v:.1%}" for s, v in unk.items()),
    ]
    return TaskData(
        batches["train"],
        batches["valid"],
        batches["test"],
        data.labels,
        data.task,
        {s: len(getattr(data, s)) for s in SPLITS},
        "examples",
        notes,
        data.tokenizer,
        labelled=data,
        unk_shares=unk,
    )


def _labelled_series(
    ds: Any, sizes: dict[str, int], shuffled: dict[str, bool], seed: int, device: torch.device, labels: list[str] | None
) -> TaskData:
    """One label per numeric series: length-bucketed batches of float steps (``series_labels.py``)."""
    data, enc = load_labelled_series(ds, labels)
    batches = {
        s: BucketBatches(
            getattr(data, s), sizes[s], shuffle=shuffled[s], seed=seed if shuffled[s] else 0, device=device
        )
        for s in SPLITS
    }
    return TaskData(
        batches["train"],
        batches["valid"],
        batches["test"],
        data.labels,
        "classification",
        {s: len(getattr(data, s)) for s in SPLITS},
        "series",
        list(data.notes),
        labelled=data,
        series_encoding=dataclasses.asdict(enc),
        width=enc.width,
    )
