"""Time-series forecasting: read L normalised steps, predict the next H (``data_kind = "series"``).

Batches are :class:`~seqtune.data.timeseries.ForecastWindows`: ``x (L, batch, features)``, ``y (H, batch,
targets)``, z-scored with train-split statistics (saved with the run).  The encoder must be built with
``model.input=numeric``.  Options:

* ``head: direct`` maps the encoder's summary to all H steps at once (one linear layer, as in SegRNN's
  parallel decoding); ``autoregressive`` predicts one step, feeds it back as the next input and rolls out H
  steps through the encoder's carried state (unidirectional encoders only).
* ``channel_independent``: every column is a univariate series of its own (a batch of B windows of C columns
  becomes B*C series with one input feature, PatchTST's and SegRNN's setting); otherwise multivariate input.
* ``subtract_last``: subtract the window's last value and add it back to the forecast (SegRNN).
* ``segment_length`` w > 1: the look-back is read as L/w segments of w steps, one RNN step each (SegRNN's
  segment-wise iteration: 12x fewer recurrent steps for w=12, and better long-range forecasts); the
  encoder's input width is w times the channel width.

Metrics: MSE and MAE on the normalised scale (the ETT literature's convention; ``loss`` is the MSE) and on
the original scale (``mse_raw``, ``mae_raw``: errors times the column's train std).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from omegaconf import MISSING
from torch import nn

from seqtune.config.schema import Choice
from seqtune.data.records import dataset_holds
from seqtune.models.encoder import Encoder, State
from seqtune.objectives.base import StepOutput
from seqtune.objectives.spec import ObjectiveSpec, register_objective


def error_sums(err: torch.Tensor, std: torch.Tensor) -> dict[str, torch.Tensor]:
    """err (..., targets) on the normalised scale, std (targets,) -> summed squared/absolute errors, both scales."""
    raw = err * std
    return {
        "se": err.detach().pow(2).sum(),
        "ae": err.detach().abs().sum(),
        "se_raw": raw.detach().pow(2).sum(),
        "ae_raw": raw.detach().abs().sum(),
    }


def series_inputs(
    x: torch.Tensor, target_index: int | None, channel_independent: bool, subtract_last: bool, segment_length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A window x (L, batch, features) -> (encoder input, the value added back to every forecast step).

    Shared by this objective and the regressor head (heads/regressor.py), so a fine-tuned encoder reads its
    windows exactly as it read them in pretraining.  Returns inputs (L or L / w, series, w * f) and last
    (1, series, per_step): the window's last value of the forecast column(s), or zeros without subtract_last.
    """
    length = x.size(0)
    if channel_independent:
        if target_index is not None:
            x = x[..., target_index : target_index + 1]  # the target column alone
        x = x.reshape(length, -1, 1)  # (L, batch * channels, 1): series b*C + c
    last = x[-1:] if subtract_last else torch.zeros_like(x[-1:])  # (1, series, f)
    x = x - last
    if not channel_independent and target_index is not None:
        last = last[..., target_index : target_index + 1]  # multivariate input, one forecast column
    if segment_length > 1:  # (L, series, f) -> (L / w, series, w * f): one RNN step per segment
        w, series, f = segment_length, x.size(1), x.size(2)
        x = x.reshape(length // w, w, series, f).permute(0, 2, 1, 3).reshape(length // w, series, w * f)
    return x, last


def summarize_errors(means: dict[str, float]) -> dict[str, float]:
    return {
        "loss": means["se"],
        "mse": means["se"],
        "mae": means["ae"],
        "mse_raw": means["se_raw"],
        "mae_raw": means["ae_raw"],
    }


class Forecast(nn.Module):
    name = "forecast"
    target_std: torch.Tensor  # a buffer (not saved: it comes from the data's facts)

    def __init__(
        self,
        encoder: Encoder,
        horizon: int,
        num_targets: int,
        target_index: int | None,
        head: str,
        channel_independent: bool,
        subtract_last: bool,
        target_std: list[float],
        segment_length: int = 1,
    ):
        super().__init__()
        self.segment_length = segment_length
        self.horizon, self.head_kind, self.target_index = horizon, head, target_index
        self.channel_independent, self.subtract_last = channel_independent, subtract_last
        self.per_step = 1 if channel_independent else num_targets
        self.head = nn.Linear(encoder.output_size, (horizon if head == "direct" else 1) * self.per_step)
        self.register_buffer("target_std", torch.tensor(target_std, dtype=torch.float32), persistent=False)

    def predict(self, encoder: Encoder, x: torch.Tensor) -> torch.Tensor:
        """x (L, batch, features) -> forecast (H, batch, targets) on the normalised scale."""
        batch = x.size(1)
        x, last = series_inputs(
            x, self.target_index, self.channel_independent, self.subtract_last, self.segment_length
        )  # (L or L / w, series, w * f), (1, series, per_step)
        out, state = encoder(x)  # (L or L / w, series, output)
        if self.head_kind == "direct":
            summary = encoder.summary(out)  # (series, output)
            pred = self.head(summary).view(-1, self.horizon, self.per_step).transpose(0, 1)  # (H, series, per_step)
        else:
            steps = [self.head(out[-1])]  # (series, per_step)
            for _ in range(self.horizon - 1):
                out, state = encoder(steps[-1].unsqueeze(0), state)  # (1, series, output)
                steps.append(self.head(out[-1]))
            pred = torch.stack(steps)  # (H, series, per_step)
        pred = pred + last
        return pred.reshape(self.horizon, batch, -1)  # (H, batch, targets)

    def forward(self, encoder: Encoder, batch: tuple[torch.Tensor, torch.Tensor], state: State | None) -> StepOutput:
        x, y = batch  # (L, batch, features), (H, batch, targets)
        err = self.predict(encoder, x) - y  # (H, batch, targets)
        return StepOutput(err.pow(2).mean(), None, error_sums(err, self.target_std), err.numel())

    def summarize(self, means: dict[str, float]) -> dict[str, float]:
        return summarize_errors(means)

    def task_loss(self, encoder: Encoder, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """transfer=multitask: forecast the first H_pretrain steps of a regressor's window targets."""
        x, y = batch  # the pretraining horizon is at most the task's (checked in build_multitask)
        return self(encoder, (x, y[: self.horizon]), None).loss


def build_forecast(encoder: Encoder, cfg, tokenizer, info: dict | None = None) -> Forecast:
    """``info`` comes from the data (``load_pretrain_data``) or a checkpoint's ``data`` entry."""
    if info is None:
        raise ValueError("objective=forecast is built from the data's facts (target_std, target_index, horizon)")
    o = cfg.objective
    return Forecast(
        encoder,
        info["horizon"],
        len(info["target_std"]),
        info["target_index"],
        o.head,
        o.channel_independent,
        o.subtract_last,
        info["target_std"],
        o.segment_length,
    )


class ForecastHead(Choice):
    direct = "direct"  # one linear map from the encoder's summary to all H steps
    autoregressive = "autoregressive"  # one step at a time, fed back through the encoder's carried state


@dataclass
class ForecastObjectiveConfig:
    name: str = MISSING
    head: ForecastHead = MISSING
    channel_independent: bool = MISSING  # each column is its own univariate series (PatchTST/SegRNN)
    subtract_last: bool = MISSING  # subtract the window's last value and add it back to the forecast (SegRNN)
    segment_length: int = MISSING  # read the look-back in segments of this many steps, one RNN step each (SegRNN)


def forecast_rules(cfg) -> list[str]:
    m, o, ds = cfg.model, cfg.objective, cfg.dataset
    if dataset_holds(ds.get("format")) == "labelled_series":
        return [
            f"objective=forecast reads look-back/horizon windows of one long series, but dataset.format="
            f"{ds.format!r} holds many short labelled series; use objective=masked_values on them."
        ]
    problems = []
    if o.head == "autoregressive" and m.bidirectional:
        problems.append(
            "objective.head=autoregressive rolls the encoder forward one step at a time, which a "
            "bidirectional encoder cannot do; set model.bidirectional=false or objective.head=direct."
        )
    elif o.head == "autoregressive" and not o.channel_independent and ds.get("target_column") is not None:
        problems.append(
            f"objective.head=autoregressive feeds each forecast back as the next input, so it must "
            f"forecast every column, but dataset.target_column={ds.target_column!r}; set "
            "dataset.target_column=null or objective.channel_independent=true."
        )
    if o.segment_length != 1:
        lookback = ds.get("lookback")
        if o.segment_length < 1 or (lookback is not None and lookback % o.segment_length):
            problems.append(
                f"objective.segment_length={o.segment_length} must be >= 1 and divide dataset.lookback "
                f"({lookback}); e.g. objective.segment_length=12 for lookback 96 or 336."
            )
        if o.head == "autoregressive":
            problems.append(
                f"objective.segment_length={o.segment_length} reads segments, but objective.head="
                "autoregressive feeds back single steps; set objective.segment_length=1 or objective.head=direct."
            )
    return problems


SPEC = register_objective(
    ObjectiveSpec(
        name="forecast",
        title="forecasting",
        schema=ForecastObjectiveConfig,
        build=build_forecast,
        data_kind="series",
        input="numeric",
        multitask=True,
        rules=forecast_rules,
    )
)
