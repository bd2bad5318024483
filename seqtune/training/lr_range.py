"""The learning-rate range test (Smith 2015, "Cyclical Learning Rates"; fastai's ``lr_find``): train for a few
hundred steps while the learning rate rises exponentially from ``start_lr`` to ``end_lr``, record the loss, and
read a learning rate off the curve.  ``seqtune lr-find`` builds a command's model, optimizer and data exactly as
the command would and runs :func:`range_test` on them; nothing is saved but the curve::

    curve = range_test(model, optimizer, batches, settings, start_lr=1e-7, end_lr=10, steps=200)
    pick = suggest(curve)            # Suggestion(lr=..., steepest=..., minimum=...)

Every optimizer group keeps its ratio to the top group (discriminative learning rates move together); the
rising value is what ``optimizer.lr`` would be.  The test stops early once the smoothed loss exceeds
``diverge`` times its minimum, or turns non-finite.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from seqtune.training.step import NonFiniteLoss, train_step

SMOOTHING = 0.98  # exponential moving average of the loss, bias-corrected (Smith; fastai)


@dataclass
class Curve:
    lrs: list[float]
    losses: list[float]  # raw per-step mean loss
    running: list[float]  # the running (causal) average the stop rule reads
    stopped: str  # why the test ended: "steps" | "diverged" | "non-finite"

    @property
    def smoothed(self) -> list[float]:
        """A centred moving average of the losses (no lag, unlike the running average): what the suggestion and
        the plot read.  Its window is a twentieth of the curve (at least 5 steps), shrinking at the ends."""
        half = max(2, len(self.losses) // 40)
        n = len(self.losses)
        return [
            sum(self.losses[max(0, i - half) : i + half + 1]) / (min(n, i + half + 1) - max(0, i - half))
            for i in range(n)
        ]


@dataclass
class Suggestion:
    lr: float  # the suggestion: the steepest descent of the smoothed loss
    steepest: float
    minimum: float  # the lr of the lowest smoothed loss
    rule: str = "steepest descent of the smoothed loss, before its minimum"


class _NoSchedule:
    def step(self) -> None:  # train_step advances a schedule; here the range test sets the lr itself
        pass


def _batches(data: Any) -> Iterator[Any]:
    """The training batches, epoch after epoch."""
    epoch = 1
    while True:
        data.set_epoch(epoch)
        yield from data.iter_from(0)
        epoch += 1


def range_test(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Any,
    settings: Any,
    start_lr: float,
    end_lr: float,
    steps: int,
    diverge: float = 4.0,
) -> Curve:
    """Train ``steps`` steps at lr = start_lr * (end_lr / start_lr) ** (i / (steps - 1)) (the top group's)."""
    top = optimizer.param_groups[-1]["lr"]
    ratios = [g["lr"] / top for g in optimizer.param_groups]
    params = [p for g in optimizer.param_groups for p in g["params"]]
    curve = Curve([], [], [], "steps")
    states: list[Any] = [None] * settings.accumulate_grad_batches
    average, best = 0.0, math.inf
    model.train()
    for i, batch in zip(range(steps), _batches(data)):
        lr = start_lr * (end_lr / start_lr) ** (i / max(1, steps - 1))
        for group, ratio in zip(optimizer.param_groups, ratios):
            group["lr"] = lr * ratio
        try:
            result = train_step(model, batch, states, optimizer, _NoSchedule(), params, settings, data.stateful)
        except NonFiniteLoss:
            curve.stopped = "non-finite"
            break
        states = result.states
        loss = float(result.sums["loss"]) / max(result.count, 1)
        if not math.isfinite(loss):
            curve.stopped = "non-finite"
            break
        average = SMOOTHING * average + (1 - SMOOTHING) * loss
        smoothed = average / (1 - SMOOTHING ** (i + 1))
        curve.lrs.append(lr)
        curve.losses.append(loss)
        curve.running.append(smoothed)
        best = min(best, smoothed)
        if i > steps // 10 and smoothed > diverge * best:
            curve.stopped = "diverged"
            break
    return curve


def suggest(curve: Curve) -> Suggestion:
    """The lr where the smoothed loss falls fastest against log(lr), before its minimum; and the minimum's lr."""
    smooth = curve.smoothed
    if len(smooth) < 10:
        raise ValueError(f"the range test recorded only {len(smooth)} steps")
    low = smooth.index(min(smooth))
    slopes = [(smooth[i + 1] - smooth[i - 1]) / math.log(curve.lrs[i + 1] / curve.lrs[i - 1]) for i in range(1, low)]
    steepest = curve.lrs[1 + slopes.index(min(slopes))] if slopes else curve.lrs[low]
    return Suggestion(lr=steepest, steepest=steepest, minimum=curve.lrs[low])


def plot(curve: Curve, pick: Suggestion, path: Any, title: str) -> None:
    """lr_find.png: the raw and smoothed loss against the learning rate (log axis), the suggestion marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    smooth = curve.smoothed
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(curve.lrs, curve.losses, color="0.75", linewidth=0.8, label="loss per step")
    ax.plot(curve.lrs, smooth, color="C0", linewidth=2, label="smoothed (centred)")
    y = smooth[curve.lrs.index(pick.lr)]
    ax.plot([pick.lr], [y], "o", color="C3", markersize=9, label=f"suggested {pick.lr:.2g}")
    ax.axvline(pick.minimum, color="C2", linestyle=":", label=f"minimum {pick.minimum:.2g}")
    ax.set_xscale("log")
    top = min(max(smooth[: len(smooth) // 2 + 1]) * 1.3, max(curve.losses))
    ax.set_ylim(min(smooth) * 0.9, top)
    ax.set_xlabel("learning rate (optimizer.lr)")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.legend(loc="upper left")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
