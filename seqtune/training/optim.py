"""Optimizers and learning-rate schedules over parameter groups, built from plain values.

    optimizer = build_optimizer(cfg.optimizer, param_groups)
    scheduler = build_schedule(cfg.optimizer.schedule, optimizer, total_steps=..., steps_per_epoch=...)

Every schedule is a pure function of the step (a multiplier of each group's base lr) wrapped in ``LambdaLR``,
so its state is just the step count and it resumes exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import partial

import torch

from seqtune.registry import OPTIMIZERS, SCHEDULES


@OPTIMIZERS.register("sgd")
def build_sgd(
    params: Iterable, lr: float, weight_decay: float, momentum: float, fused: bool = False, **_: object
) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, fused=fused or None)


@OPTIMIZERS.register("adam")
def build_adam(
    params: Iterable,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float],
    eps: float,
    fused: bool = False,
    **_: object,
) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, fused=fused or None)


@OPTIMIZERS.register("adamw")
def build_adamw(
    params: Iterable,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float],
    eps: float,
    fused: bool = False,
    **_: object,
) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, fused=fused or None)


FUSED_DEVICES = ("cpu", "cuda")  # where torch (>= 2.4) has fused Adam/AdamW/SGD kernels


def can_fuse(params: list) -> bool:
    """Whether the fused optimizer kernels apply: every parameter a floating tensor on a CPU or CUDA device.

    Fused, each parameter is updated by one kernel instead of about ten element-wise ops; PyTorch's default on
    a CPU is that per-tensor loop.  Same results to float rounding (tests/test_optim_fused.py); measured on a
    2-core CPU: Adam on the fine-tuning model (8k x 200 embedding, 2x256 LSTM) 11.4 -> 1.7 ms per step, AdamW on
    WikiText-2's word LM (33k vocabulary) 90 -> 9 ms per step (docs/performance.md).
    """
    tensors = [t for p in params for t in (p["params"] if isinstance(p, dict) else [p])]
    return bool(tensors) and all(t.is_floating_point() and t.device.type in FUSED_DEVICES for t in tensors)


def build_optimizer(opt_cfg, params: Iterable) -> torch.optim.Optimizer:
    o = opt_cfg
    params = [dict(p, params=list(p["params"])) if isinstance(p, dict) else p for p in params]
    return OPTIMIZERS.get(o.name, key="optimizer.name")(
        params,
        lr=o.lr,
        weight_decay=o.weight_decay,
        momentum=o.momentum,
        betas=tuple(o.betas),
        eps=o.eps,
        fused=can_fuse(params),
    )


# ---------------------------------------------------------------------------------------------- schedules
def _warmup(step: int, warmup_steps: int) -> float:
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0


@SCHEDULES.register("constant")
def constant_factor(step: int, warmup_steps: int, **_: object) -> float:
    return _warmup(step, warmup_steps)


@SCHEDULES.register("linear")
def linear_factor(step: int, warmup_steps: int, total_steps: int, min_lr_ratio: float, **_: object) -> float:
    if step < warmup_steps:
        return _warmup(step, warmup_steps)
    frac = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return max(min_lr_ratio, 1.0 - (1.0 - min_lr_ratio) * min(1.0, frac))


@SCHEDULES.register("cosine")
def cosine_factor(step: int, warmup_steps: int, total_steps: int, min_lr_ratio: float, **_: object) -> float:
    if step < warmup_steps:
        return _warmup(step, warmup_steps)
    frac = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * frac))


@SCHEDULES.register("step")
def step_factor(
    step: int, warmup_steps: int, steps_per_epoch: int, decay_start_epoch: int, gamma: float, **_: object
) -> float:
    """Zaremba-style: constant, then multiplied by ``gamma`` at the start of each epoch after ``decay_start_epoch``."""
    epoch = step // max(1, steps_per_epoch) + 1  # 1-based epoch the step belongs to
    return _warmup(step, warmup_steps) * gamma ** max(0, epoch - decay_start_epoch)


@SCHEDULES.register("slanted_triangular")
def slanted_triangular_factor(step: int, total_steps: int, cut_frac: float, ratio: float, **_: object) -> float:
    """Howard & Ruder (2018), eq. 3: a short linear rise to the peak, then a long linear decay.

    cut = floor(T * cut_frac);  p = t / cut if t < cut else 1 - (t - cut) / (cut * (1 / cut_frac - 1));
    lr_t = lr_max * (1 + p * (ratio - 1)) / ratio.  Here t is the number of steps already taken (0 at the first).
    """
    cut = max(1, math.floor(total_steps * cut_frac))  # at least one step of rise, also for tiny runs
    if step < cut:
        p = step / cut
    else:
        p = max(0.0, 1.0 - (step - cut) / (cut * (1.0 / cut_frac - 1.0)))
    return (1.0 + p * (ratio - 1.0)) / ratio


def schedule_factor(sched_cfg, total_steps: int, steps_per_epoch: int) -> Callable[[int], float]:
    s = sched_cfg
    fn = SCHEDULES.get(s.name, key="optimizer.schedule.name")
    return partial(
        fn,
        warmup_steps=s.warmup_steps,
        total_steps=total_steps,
        min_lr_ratio=s.min_lr_ratio,
        steps_per_epoch=steps_per_epoch,
        decay_start_epoch=s.decay_start_epoch,
        gamma=s.gamma,
        cut_frac=s.cut_frac,
        ratio=s.ratio,
    )


def schedule_warnings(sched_cfg, total_steps: int, steps_per_epoch: int) -> list[str]:
    """A warm-up or a schedule longer than the run, with the numbers (the run would silently do less than asked:
    the lr never reaches its peak, or never decays)."""
    s, out = sched_cfg, []
    if s.warmup_steps >= total_steps > 0:
        out.append(
            f"[warn] optimizer.schedule.warmup_steps={s.warmup_steps} is not shorter than the run ({total_steps} "
            f"optimizer steps): the learning rate never reaches its peak. Lower warmup_steps (e.g. "
            f"{max(0, total_steps // 10)}) or lengthen the run (trainer.max_steps / trainer.max_epochs)."
        )
    epochs = math.ceil(total_steps / max(1, steps_per_epoch))
    if s.name == "step" and s.decay_start_epoch >= epochs:
        out.append(
            f"[warn] optimizer.schedule.decay_start_epoch={s.decay_start_epoch} but the run has {epochs} epoch(s): "
            "the step schedule never decays the learning rate. Lower decay_start_epoch or lengthen the run."
        )
    return out


def build_schedule(
    sched_cfg, optimizer: torch.optim.Optimizer, total_steps: int, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule_factor(sched_cfg, total_steps, steps_per_epoch))
