"""Regression / forecasting head (``head=regressor``): a numeric context window -> the next H values of the
target column(s), from the encoder's state after the window.

Batches are :class:`~seqtune.data.timeseries.ForecastWindows` of a ``format: timeseries`` dataset: x (L, batch,
features), y (H, batch, targets), both z-scored per column with the training split's mean and std (the scale
the ETT literature reports).  The window is read the way the encoder read its series in pretraining
(``channel_independent``, ``subtract_last``, ``segment_length``: ``objectives.forecast.series_inputs``; by default
the checkpoint objective's own settings, see ``finetune.series_layout``), so a forecast or masked_values encoder
sees familiar input.  The summary (forward state at the last step, backward state at the first) goes through
the shared output stack (dropout, optional hidden layer) to all H steps at once.  A scalar target is
``head.horizon=1`` with one ``dataset.target_column``.

Metrics (sums per value, so the loop's means are per forecast value): loss = mse, mse and mae on the
normalised scale, mse_raw and mae_raw on the original scale (errors times the column's train std).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from omegaconf import MISSING
from torch import nn

from seqtune.data.records import SeriesFacts, dataset_holds
from seqtune.heads.layers import output_layers, output_rules
from seqtune.heads.spec import HeadSpec, Task, register_head
from seqtune.models.encoder import Encoder, State
from seqtune.objectives.base import StepOutput
from seqtune.objectives.forecast import error_sums, series_inputs, summarize_errors


class Regressor(nn.Module):
    name = "regressor"
    target_std: torch.Tensor  # a buffer (not saved: it comes from the data's facts)
    task: Task = "regression"
    default_monitor = "mse"

    def __init__(
        self,
        input_size: int,
        targets: list[str],
        horizon: int,
        target_index: int | None,
        channel_independent: bool,
        subtract_last: bool,
        segment_length: int,
        target_std: list[float],
        hidden_size: int = 0,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.labels = list(targets)  # the forecast columns, in output order (labels.json)
        self.horizon, self.target_index = horizon, target_index
        self.channel_independent, self.subtract_last, self.segment_length = (
            channel_independent,
            subtract_last,
            segment_length,
        )
        self.per_step = 1 if channel_independent else len(targets)  # values per series per step
        self.layers = output_layers(input_size, horizon * self.per_step, hidden_size, dropout)
        self.register_buffer("target_std", torch.tensor(target_std, dtype=torch.float32), persistent=False)

    def predict(self, encoder: Encoder, x: torch.Tensor) -> torch.Tensor:
        """x (L, batch, features) -> forecast (H, batch, targets) on the normalised scale."""
        batch = x.size(1)
        inputs, last = series_inputs(
            x, self.target_index, self.channel_independent, self.subtract_last, self.segment_length
        )  # (steps, series, width), (1, series, per_step)
        out, _ = encoder(inputs)  # (steps, series, output)
        pred = self.layers(encoder.summary(out)).float()  # (series, H * per_step)
        pred = pred.view(-1, self.horizon, self.per_step).transpose(0, 1) + last  # (H, series, per_step)
        return pred.reshape(self.horizon, batch, -1)  # (H, batch, targets)

    def forward(
        self, encoder: Encoder, batch: tuple[torch.Tensor, torch.Tensor], state: State | None = None
    ) -> StepOutput:
        x, y = batch  # (L, batch, features), (H, batch, targets)
        err = self.predict(encoder, x) - y  # (H, batch, targets)
        return StepOutput(err.pow(2).mean(), None, error_sums(err, self.target_std), err.numel())

    def summarize(self, means: dict[str, float]) -> dict[str, float]:
        return summarize_errors(means)


@dataclass
class RegressorHeadConfig:
    name: str = MISSING
    horizon: int | None = MISSING  # steps to forecast; null: dataset.horizon
    hidden_size: int = MISSING  # a hidden layer (ReLU) before the output layer; 0 = none
    dropout: float = MISSING  # on the encoder's summary (and after the hidden layer)
    # How a window is read; null: the checkpoint objective's setting (forecast, masked_values), else true / true / 1.
    channel_independent: bool | None = MISSING  # each column its own univariate series
    subtract_last: bool | None = MISSING  # subtract the window's last value, add it back to the forecast
    segment_length: int | None = MISSING  # steps per RNN step (SegRNN segments)


def regressor_rules(cfg) -> list[str]:
    h, fmt = cfg.head, cfg.dataset.get("format")
    problems = output_rules(h)
    if dataset_holds(fmt) == "labelled_series":
        problems.append(
            f"head=regressor forecasts values, but dataset.format={fmt!r} holds one label per series; "
            "use head=classifier."
        )
    elif dataset_holds(fmt) != "series":
        problems.append(
            f"head=regressor forecasts numeric values, but dataset.format={fmt!r} is text; use a numeric "
            "time-series dataset (dataset=etth1, or dataset=timeseries dataset.file=your.csv), or "
            "head=classifier / head=tagger for text."
        )
    if h.horizon is not None and h.horizon < 1:
        problems.append(f"head.horizon={h.horizon} must be >= 1 (steps to forecast), or null for dataset.horizon.")
    if h.segment_length is not None and h.segment_length < 1:
        problems.append(f"head.segment_length={h.segment_length} must be >= 1, or null for the checkpoint's setting.")
    return problems


def build_regressor(h, encoder, labels: list[str], series: SeriesFacts | None = None) -> Regressor:
    """``series``: the plain facts of the task's windows (saved in the checkpoint)."""
    if series is None:
        raise ValueError("head=regressor is built from the series' facts (horizon, targets, layout)")
    layout = series.layout
    return Regressor(
        encoder.output_size,
        labels,
        series.horizon,
        series.target_index,
        layout.channel_independent,
        layout.subtract_last,
        layout.segment_length,
        series.target_std,
        h.hidden_size,
        h.dropout,
    )


SPEC = register_head(
    HeadSpec(
        name="regressor",
        task=Regressor.task,
        schema=RegressorHeadConfig,
        build=build_regressor,
        default_monitor=Regressor.default_monitor,
        rules=regressor_rules,
    )
)
