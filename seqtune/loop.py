"""The one training loop: steps, periodic validation, best/last checkpoints, metrics lines.

``train`` is shared by pretraining and fine-tuning; what differs sits in the model (an objective or a head)
and the data (LM streams or labelled batches).  It is a plain function, readable top to bottom:

    for each epoch, for each batch:  forward (autocast) -> backward -> clip -> optimizer -> schedule
        every log_interval steps:    read the device-side sums once, log train/*, update the display
        every eval_interval steps (or at each epoch end): validate, write last.pt, and best.pt if improved

Per-step metrics stay on the device (summed tensors), so on a GPU a step never waits for the host.

Data-parallel (``torchrun``, see ``distributed.py``): each global batch is cut into this rank's
``accumulate_grad_batches`` micro-batches; all but the last skip DDP's gradient all-reduce (``no_sync``).
Each micro-batch's mean loss is weighted by its count and the summed gradient divided by the global count,
so any split of a batch gives the gradient of the whole batch's mean loss.  Metric sums are all-reduced at
log and evaluation points only; only rank 0 writes metrics and checkpoints.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Protocol

import torch

from seqtune import checkpoint, distributed
from seqtune.metrics import Display, MetricsLogger, format_metrics
from seqtune.models.encoder import detach_state
from seqtune.objectives.base import TaskModel


class Batches(Protocol):
    stateful: bool  # carry the recurrent state from one batch to the next (LM streams)

    def __len__(self) -> int: ...

    def iter_from(self, start: int) -> Iterator[Any]: ...

    def set_epoch(self, epoch: int) -> None: ...  # the (shuffled) order of this epoch


@dataclass(frozen=True)
class LoopSettings:
    max_epochs: int
    max_steps: int  # -1: no limit
    eval_interval: int  # 0: at the end of every epoch
    log_interval: int
    clip_grad_norm: float  # 0: off
    precision: Literal["fp32", "bf16"]
    device: torch.device
    limit_eval_batches: int = -1  # -1: the whole split
    monitor: str = "loss"  # validation metric that picks best.pt
    monitor_mode: Literal["min", "max"] = "min"
    patience: int = 0  # stop after this many validations without improvement; 0: never stop early
    accumulate_grad_batches: int = 1  # micro-batches per optimizer step (per process)
    find_unused_parameters: bool = False  # DDP: some parameters may get no gradient (frozen layer groups)

    def total_steps(self, steps_per_epoch: int) -> int:
        by_epochs = self.max_epochs * steps_per_epoch
        return min(by_epochs, self.max_steps) if self.max_steps > 0 else by_epochs


@dataclass
class TrainState:
    step: int = 0
    epoch: int = 1  # 1-based epoch in progress
    batch_in_epoch: int = 0  # batches of the current epoch already done
    best_value: float | None = None
    best_step: int = 0
    train_tokens: int = 0
    train_seconds: float = 0.0  # wall time in training steps (validation excluded)
    last_val: dict[str, float] = field(default_factory=dict)
    evals_since_best: int = 0
    stopped_early: bool = False


def autocast(device: torch.device, precision: str) -> torch.autocast:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


@torch.inference_mode()
def evaluate(model: TaskModel, data: Batches, device: torch.device, precision: str,
             limit_batches: int = -1) -> dict[str, float]:
    """Mean of every summed metric over the split, or its first ``limit_batches`` (state carried through LM streams)."""
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    count = 0
    state = None
    with autocast(device, precision):
        for i, batch in enumerate(data.iter_from(0)):
            if i == limit_batches:
                break
            part = distributed.eval_shard(batch)  # this rank's examples / columns (all of them in one process)
            if part is None:
                continue
            out = model(part, state)
            state = out.state if data.stateful else None
            for k, v in out.sums.items():
                sums[k] = sums[k] + v if k in sums else v.clone()
            count += out.count
    model.train(was_training)
    sums, count = distributed.all_reduce_sums(sums, count, device)
    means = {k: float(v) / max(count, 1) for k, v in sums.items()}
    return model.objective.summarize(means)


def _better(value: float, best: float | None, mode: str) -> bool:
    if best is None:
        return True
    return value < best if mode == "min" else value > best


def train(
    model: TaskModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    train_data: Batches,
    valid_data: Batches,
    settings: LoopSettings,
    run_dir: Path,
    checkpoint_meta: dict[str, Any],
    display: Display,
    state: TrainState | None = None,
    on_epoch_start: Callable[[int], None] | None = None,
) -> TrainState:
    """Train until max_epochs or max_steps (or early stopping); returns the final state.

    ``on_epoch_start(epoch)`` (1-based) runs before each epoch's first batch, also for a resumed epoch:
    fine-tuning sets which layers train from it (gradual unfreezing is a function of the epoch).
    """
    st = state or TrainState()
    steps_per_epoch = len(train_data)
    total_steps = settings.total_steps(steps_per_epoch)
    logger = MetricsLogger(run_dir, enabled=distributed.is_main())
    ckpt_dir = run_dir / "checkpoints"
    params = list(model.parameters())  # which ones train may change per epoch; clipping skips those without grad
    device, precision = settings.device, settings.precision
    accumulate, world = settings.accumulate_grad_batches, distributed.world_size()
    plain = accumulate == 1 and world == 1  # one process, no accumulation: the loss as it is
    ddp = distributed.wrap(model, device, settings.find_unused_parameters)  # the model itself in one process

    def save(name: str) -> None:
        if not distributed.is_main():
            return
        checkpoint.save(ckpt_dir / name, {
            **checkpoint_meta,
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "step": st.step, "epoch": st.epoch, "batch_in_epoch": st.batch_in_epoch,
            "best_value": st.best_value, "best_step": st.best_step, "metrics": dict(st.last_val),
            "rng": checkpoint.rng_state(),
        })

    def validate() -> None:
        nonlocal eval_seconds
        t0 = time.perf_counter()
        metrics = evaluate(model, valid_data, device, precision, settings.limit_eval_batches)
        st.last_val = metrics
        value = metrics[settings.monitor]
        improved = _better(value, st.best_value, settings.monitor_mode)
        if improved:
            st.best_value, st.best_step, st.evals_since_best = value, st.step, 0
        else:
            st.evals_since_best += 1
            st.stopped_early = 0 < settings.patience <= st.evals_since_best
        logger.log({"step": st.step, "epoch": st.epoch, **{f"val/{k}": v for k, v in metrics.items()}})
        save("last.pt")
        if improved:
            save("best.pt")
        display.message(f"[eval] step {st.step} epoch {st.epoch}  {format_metrics({f'val/{k}': v for k, v in metrics.items()})}"
                        + ("  (best so far)" if improved else "")
                        + (f"  (no improvement in {st.evals_since_best} validations: stopping)" if st.stopped_early else ""))
        eval_seconds += time.perf_counter() - t0

    model.train()
    window_sums: dict[str, torch.Tensor] = {}
    window_count, window_tokens, window_t0 = 0, 0, time.perf_counter()
    evaluated_at = -1
    eval_seconds, loop_t0 = 0.0, time.perf_counter()
    try:
        while st.step < total_steps and st.epoch <= settings.max_epochs:
            rnn_states: list = [None] * accumulate  # one carried state per micro-batch (its own LM columns)
            train_data.set_epoch(st.epoch)
            if on_epoch_start is not None:
                on_epoch_start(st.epoch)
            for batch in train_data.iter_from(st.batch_in_epoch):
                optimizer.zero_grad(set_to_none=True)
                micro = distributed.micro_batches(batch, accumulate)  # [(part, counts)]: this rank's slices
                step_count = 0
                for j, (part, counts) in enumerate(micro):
                    with distributed.no_sync(ddp, j < len(micro) - 1):
                        with autocast(device, precision):
                            out = ddp(part, rnn_states[j])
                        # weight by count (0 for a padding copy); the sum is divided by the global count below
                        (out.loss if plain else out.loss * (out.count if counts else 0)).backward()
                    rnn_states[j] = detach_state(out.state) if train_data.stateful else None
                    if counts:
                        for k, v in out.sums.items():
                            window_sums[k] = window_sums[k] + v if k in window_sums else v.detach().clone()
                        window_count += out.count
                        step_count += out.count
                if not plain:  # DDP averaged the gradients over ranks: times world / global count = mean
                    step_count = distributed.all_reduce_int(step_count)
                    distributed.scale_gradients(params, world / max(step_count, 1))
                if settings.clip_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(params, settings.clip_grad_norm)
                optimizer.step()
                scheduler.step()
                st.step += 1
                st.batch_in_epoch += 1
                window_tokens += step_count  # all ranks'

                if st.step % settings.log_interval == 0 or st.step == total_steps:
                    now = time.perf_counter()
                    window_sums, window_count = distributed.all_reduce_sums(window_sums, window_count, device)
                    means = {k: float(v) / max(window_count, 1) for k, v in window_sums.items()}
                    metrics = model.objective.summarize(means)
                    rate = window_tokens / max(now - window_t0, 1e-9)
                    logger.log({"step": st.step, "epoch": st.epoch, **{f"train/{k}": v for k, v in metrics.items()},
                                "train/lr": optimizer.param_groups[0]["lr"], "train/tokens_per_s": rate})
                    display.update(st.step, format_metrics(metrics) + f"  {rate:,.0f} tok/s")
                    if not all(math.isfinite(v) for v in metrics.values()):
                        display.message(f"[warn] non-finite training metrics at step {st.step}: {metrics}")
                    window_sums, window_count, window_tokens = {}, 0, 0
                    window_t0 = time.perf_counter()
                st.train_tokens += step_count

                if settings.eval_interval > 0 and st.step % settings.eval_interval == 0:
                    validate()
                    evaluated_at = st.step
                    window_t0 = time.perf_counter()
                if st.step >= total_steps or st.stopped_early:
                    break
            else:  # the epoch ran to its end
                if settings.eval_interval == 0 and evaluated_at != st.step:
                    validate()
                    evaluated_at = st.step
                    window_t0 = time.perf_counter()
                st.epoch += 1
                st.batch_in_epoch = 0
                if st.stopped_early:
                    break
                continue
            break
        if evaluated_at != st.step:
            validate()
    finally:
        st.train_seconds += time.perf_counter() - loop_t0 - eval_seconds
        logger.close()
    return st
