"""The one training loop: steps, periodic validation, best/last checkpoints, metrics lines.

``train`` is shared by pretraining and fine-tuning; what differs sits in the model (an objective or a head)
and the data (LM streams or labelled batches).  It is a plain function, readable top to bottom:

    for each epoch, for each batch:  forward (autocast) -> [non-finite check] -> backward -> clip -> optimizer -> schedule
        every log_interval steps:    read the device-side sums once, log train/*, update the display
        every eval_interval steps (or at each epoch end): validate, write last.pt, and best.pt if improved
        every checkpoint_every steps: write step-<N>.pt and refresh last.pt
        after a SIGINT/SIGTERM:      write last.pt and raise Interrupted (exit 130/143)

Per-step metrics stay on the device (summed tensors), so on a GPU a step never waits for the host.

Exact resume: a checkpoint holds everything the loop needs to go on as if it had never stopped (``TrainState``,
the carried BPTT state of a stream, the half-filled log window, every RNG); ``train(..., resume=ckpt)`` restores
it, after ``on_epoch_start`` has set which parameters train, so the next step is the one that would have come.

Non-finite losses: checked every step on the CPU (free there).  On CUDA a per-step check would make every step
wait for the host, so the default (stop) mode checks the summed loss at each log interval and the weights before
every checkpoint save; ``skip_nonfinite`` checks the loss and the gradient norm every step on every device.

Data-parallel (``torchrun``, see ``distributed.py``): each global batch is cut into this rank's
``accumulate_grad_batches`` micro-batches; all but the last skip DDP's gradient all-reduce (``no_sync``).
Each micro-batch's mean loss is weighted by its count and the summed gradient divided by the global count,
so any split of a batch gives the gradient of the whole batch's mean loss.  Metric sums are all-reduced at
log and evaluation points only; only rank 0 writes metrics and checkpoints.
"""
from __future__ import annotations

import math
import os
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Protocol

import torch

from seqtune.training import checkpoint, distributed
from seqtune.errors import Interrupted, TrainingError
from seqtune.loggers import build_loggers
from seqtune.loggers.metrics import Display, format_metrics
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
    loggers: tuple[str, ...] = ()  # metric backends beside metrics.jsonl (seqtune/loggers)
    compile: bool = False  # torch.compile the model's forward in place (state_dict keys unchanged)
    checkpoint_every: int = 0  # write checkpoints/step-<N>.pt every N steps; 0: off
    keep_checkpoints: int = 2  # step checkpoints kept
    skip_nonfinite: bool = False  # skip a batch with a NaN/Inf loss or gradient instead of stopping
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
    skipped_batches: int = 0  # batches skipped for a non-finite loss or gradient (skip_nonfinite)
    evaluated_at: int = -1  # step of the latest validation (a resumed end-of-epoch checkpoint is not validated twice)

    # Saved in every checkpoint under "loop" (step, epoch, ... have top-level entries of their own).
    RESTORED = ("train_tokens", "train_seconds", "evals_since_best", "stopped_early", "skipped_batches", "evaluated_at")

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> "TrainState":
        st = cls(step=ckpt["step"], epoch=ckpt["epoch"], batch_in_epoch=ckpt["batch_in_epoch"],
                 best_value=ckpt["best_value"], best_step=ckpt["best_step"], last_val=dict(ckpt["metrics"]))
        for key in cls.RESTORED:
            if key in ckpt.get("loop", {}):
                setattr(st, key, ckpt["loop"][key])
        return st


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


class StopRequest:
    """Set by the SIGINT/SIGTERM handler; the loop reads it after each step."""

    signum: int | None = None


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """SIGINT/SIGTERM ask the loop to stop after the current step (it then writes last.pt); a second SIGINT
    aborts at once (KeyboardInterrupt).  Outside the main thread (signals cannot be caught there) a no-op."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum: int, frame: object) -> None:
        if request.signum is not None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            return
        request.signum = signum
        # os.write, not print: a handler may run in the middle of another write to the same stream
        os.write(2, f"\n{signal.Signals(signum).name}: stopping after the current step and writing last.pt "
                    "(Ctrl-C again to abort without saving)\n".encode())

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _all_finite(tensors: list[torch.Tensor]) -> bool:
    """One host sync for the whole list."""
    return not tensors or bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())


def _grad_norm(params: list[torch.nn.Parameter]) -> torch.Tensor:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


def _to_device(state: Any, device: torch.device) -> Any:
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return tuple(s.to(device) for s in state)
    return state.to(device)


def _agreed_signal(signum: int | None) -> int | None:
    """Data-parallel: a signal reaches the ranks at different moments; they stop after the same step when any
    rank has one (a per-step host-side all-reduce, like the step's example count)."""
    if distributed.all_reduce_int(int(signum is not None)) == 0:
        return None
    return signum if signum is not None else signal.SIGTERM


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
    resume: dict[str, Any] | None = None,
    on_epoch_start: Callable[[int], None] | None = None,
) -> TrainState:
    """Train until max_epochs or max_steps (or early stopping); returns the final state.

    ``resume``: a checkpoint written by this loop; training goes on exactly where it was written.
    ``on_epoch_start(epoch)`` (1-based) runs before each epoch's first batch, also for a resumed epoch (then
    before the optimizer state is loaded): fine-tuning sets which layers train from it (gradual unfreezing is a
    function of the epoch).  SIGINT/SIGTERM end the run after the current step with last.pt written and
    :class:`~seqtune.errors.Interrupted` raised; a non-finite loss raises :class:`~seqtune.errors.TrainingError`
    (or skips the batch with ``skip_nonfinite``) and never overwrites a checkpoint.
    """
    steps_per_epoch = len(train_data)
    total_steps = settings.total_steps(steps_per_epoch)
    ckpt_dir = run_dir / "checkpoints"
    params = list(model.parameters())  # which ones train may change per epoch; clipping skips those without grad
    device, precision = settings.device, settings.precision
    check_every_step = device.type != "cuda" or settings.skip_nonfinite  # on CUDA: no host sync per step
    accumulate, world = settings.accumulate_grad_batches, distributed.world_size()
    plain = accumulate == 1 and world == 1  # one process, no accumulation: the loss as it is

    window_sums: dict[str, torch.Tensor] = {}
    window_count, window_tokens = 0, 0
    rnn_states: list[Any] = [None] * accumulate  # one carried state per micro-batch (its own LM columns)
    prepared_epoch: int | None = None
    saved_step: int | None = None  # step of last.pt on disk
    if resume is None:
        st = TrainState()
    else:
        st = TrainState.from_checkpoint(resume)
        if on_epoch_start is not None:  # requires_grad of this epoch's stage, before the optimizer state loads
            on_epoch_start(st.epoch)
            prepared_epoch = st.epoch
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        loop_state = resume.get("loop", {})
        saved_states = loop_state.get("rnn_states")
        layout = loop_state.get("rnn_layout", [1, len(saved_states or [])])
        if isinstance(saved_states, list) and list(layout) == [world, accumulate] and world == 1:
            rnn_states = [_to_device(x, device) for x in saved_states]
        elif saved_states is not None and any(x is not None for x in saved_states):  # another layout of the stream
            display.message("[resume] the carried BPTT state does not fit this number of processes x "
                            "trainer.accumulate_grad_batches: the next windows start from a zero state")
        window_sums = {k: v.to(device) for k, v in loop_state.get("window_sums", {}).items()}
        window_count, window_tokens = loop_state.get("window_count", 0), loop_state.get("window_tokens", 0)
        saved_step = st.step
        checkpoint.set_rng_state(resume["rng"])  # last: nothing may draw a random number before the next batch
    logger = build_loggers(run_dir, settings.loggers, enabled=distributed.is_main())
    eval_seconds, loop_t0 = 0.0, time.perf_counter()

    def elapsed() -> float:
        return st.train_seconds + time.perf_counter() - loop_t0 - eval_seconds

    def nonfinite(what: str) -> TrainingError:
        where = (f"the last good checkpoint, {ckpt_dir / 'last.pt'} (step {saved_step}), is left as it was"
                 if saved_step is not None else "no checkpoint had been written yet")
        return TrainingError(
            f"non-finite {what} (epoch {st.epoch}): training stopped; {where}. Lower optimizer.lr, "
            "set optimizer.clip_grad_norm (e.g. 0.25) or use trainer.precision=fp32; or skip such batches with "
            f"trainer.skip_nonfinite=true (to go on from the checkpoint: resume={run_dir} trainer.skip_nonfinite=true)."
        )

    def save(name: str) -> Path:
        nonlocal saved_step
        if not settings.skip_nonfinite and not _all_finite(params + list(window_sums.values())):
            raise nonfinite(f"weights or training loss after step {st.step}")  # never replace a good checkpoint with NaN weights
        path = ckpt_dir / name
        if not distributed.is_main():
            return path
        checkpoint.save(path, {
            **checkpoint_meta,
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "step": st.step, "epoch": st.epoch, "batch_in_epoch": st.batch_in_epoch,
            "best_value": st.best_value, "best_step": st.best_step, "metrics": dict(st.last_val),
            "rng": checkpoint.rng_state(),
            "loop": {**{k: getattr(st, k) for k in TrainState.RESTORED}, "train_seconds": elapsed(),
                     "rnn_states": rnn_states, "rnn_layout": [world, accumulate], "window_sums": window_sums, "window_count": window_count,
                     "window_tokens": window_tokens},
        })
        if name == "last.pt":
            saved_step = st.step
        return path

    def save_step_checkpoint() -> None:
        nonlocal saved_step
        path = save(f"step-{st.step}.pt")
        saved_step = st.step
        if not distributed.is_main():
            return
        checkpoint.replace_with(path, ckpt_dir / "last.pt")  # resume always finds the newest in last.pt
        saved_step = st.step
        for _, old in checkpoint.step_checkpoints(ckpt_dir)[: -settings.keep_checkpoints]:
            old.unlink(missing_ok=True)

    def validate() -> None:
        nonlocal eval_seconds
        t0 = time.perf_counter()
        metrics = evaluate(model, valid_data, device, precision, settings.limit_eval_batches)
        st.last_val = metrics
        st.evaluated_at = st.step
        value = metrics[settings.monitor]
        improved = _better(value, st.best_value, settings.monitor_mode)
        if improved:
            st.best_value, st.best_step, st.evals_since_best = value, st.step, 0
        else:
            st.evals_since_best += 1
            st.stopped_early = 0 < settings.patience <= st.evals_since_best
        logger.log({"step": st.step, "epoch": st.epoch, **{f"val/{k}": v for k, v in metrics.items()}})
        if improved:  # best.pt first: a kill between the two writes leaves last.pt older, and replaying from it
            save("best.pt")  # writes the same best.pt again
        save("last.pt")
        display.message(f"[eval] step {st.step} epoch {st.epoch}  {format_metrics({f'val/{k}': v for k, v in metrics.items()})}"
                        + ("  (best so far)" if improved else "")
                        + (f"  (no improvement in {st.evals_since_best} validations: stopping)" if st.stopped_early else ""))
        eval_seconds += time.perf_counter() - t0

    if settings.compile:
        model.compile()  # nn.Module.compile: the same module and parameter names, a compiled __call__
    ddp = distributed.wrap(model, device, settings.find_unused_parameters)  # the model itself in one process
    model.train()
    window_t0 = time.perf_counter()
    try:
        with stop_on_signals() as stop:
            while st.step < total_steps and st.epoch <= settings.max_epochs:
                train_data.set_epoch(st.epoch)
                if on_epoch_start is not None and prepared_epoch != st.epoch:
                    on_epoch_start(st.epoch)
                prepared_epoch = None
                for batch in train_data.iter_from(st.batch_in_epoch):
                    optimizer.zero_grad(set_to_none=True)
                    micro = distributed.micro_batches(batch, accumulate)  # [(part, counts)]: this rank's slices
                    step_sums: dict[str, torch.Tensor] = {}
                    step_count, losses, new_states = 0, [], list(rnn_states)
                    for j, (part, counts) in enumerate(micro):
                        with distributed.no_sync(ddp, j < len(micro) - 1):
                            with autocast(device, precision):
                                out = ddp(part, rnn_states[j])
                            # weight by count (0 for a padding copy); the sum is divided by the global count below
                            (out.loss if plain else out.loss * (out.count if counts else 0)).backward()
                        losses.append(out.loss.detach())
                        new_states[j] = detach_state(out.state) if train_data.stateful else None
                        if counts:
                            for k, v in out.sums.items():
                                step_sums[k] = step_sums[k] + v if k in step_sums else v.detach().clone()
                            step_count += out.count
                    skipped = False
                    if check_every_step:  # every rank takes the same decision (DDP: a flag summed over ranks)
                        bad = sum(not bool(torch.isfinite(loss)) for loss in losses)
                        if (bad if plain else distributed.all_reduce_int(int(bad > 0))):
                            if not settings.skip_nonfinite:
                                values = [float(x) for x in losses]
                                raise nonfinite(f"training loss ({values[0] if len(values) == 1 else values}) at step {st.step + 1}")
                            skipped = True
                    global_count = step_count if plain else distributed.all_reduce_int(step_count)
                    if not skipped:
                        if not plain:  # DDP averaged the gradients over ranks: times world / global count = mean
                            distributed.scale_gradients(params, world / max(global_count, 1))
                        norm = None
                        if settings.clip_grad_norm > 0:
                            norm = torch.nn.utils.clip_grad_norm_(params, settings.clip_grad_norm)
                        if settings.skip_nonfinite:  # gradients are the same on every rank after the all-reduce
                            skipped = not bool(torch.isfinite(norm if norm is not None else _grad_norm(params)))
                        if not skipped:
                            optimizer.step()
                    scheduler.step()  # a skipped batch still counts as a step: the schedule stays on st.step
                    st.step += 1
                    st.batch_in_epoch += 1
                    if skipped:
                        st.skipped_batches += 1
                        rnn_states = [None] * accumulate  # do not carry a state that may hold NaN into the next window
                        display.message(f"[warn] step {st.step}: non-finite loss or gradient, batch skipped "
                                        f"({st.skipped_batches} so far)")
                    else:
                        rnn_states = new_states
                        for k, v in step_sums.items():
                            window_sums[k] = window_sums[k] + v if k in window_sums else v
                        window_count += step_count  # this rank's; summed over ranks at the log interval
                        window_tokens += global_count  # all ranks'
                        st.train_tokens += global_count

                    if st.step % settings.log_interval == 0 or st.step == total_steps:
                        now = time.perf_counter()
                        window_sums, window_count = distributed.all_reduce_sums(window_sums, window_count, device)
                        metrics = {}
                        if window_count:
                            metrics = model.objective.summarize({k: float(v) / window_count for k, v in window_sums.items()})
                        if not all(math.isfinite(v) for v in metrics.values()) and not settings.skip_nonfinite:
                            raise nonfinite(f"training metrics {metrics} in the steps up to step {st.step} (on CUDA the loss is "
                                            "checked at log intervals)")
                        rate = window_tokens / max(now - window_t0, 1e-9)
                        record = {"step": st.step, "epoch": st.epoch, **{f"train/{k}": v for k, v in metrics.items()},
                                  "train/lr": optimizer.param_groups[0]["lr"], "train/tokens_per_s": rate}
                        if settings.skip_nonfinite:
                            record["train/skipped_batches"] = st.skipped_batches
                        logger.log(record)
                        display.update(st.step, format_metrics(metrics) + f"  {rate:,.0f} tok/s")
                        window_sums, window_count, window_tokens = {}, 0, 0
                        window_t0 = time.perf_counter()

                    if settings.eval_interval > 0 and st.step % settings.eval_interval == 0:
                        validate()
                        window_t0 = time.perf_counter()
                    if settings.checkpoint_every > 0 and st.step % settings.checkpoint_every == 0:
                        save_step_checkpoint()
                    signum = stop.signum if world == 1 else _agreed_signal(stop.signum)
                    if signum is not None:
                        if saved_step != st.step:
                            save("last.pt")
                        raise Interrupted(signum, st.step, str(ckpt_dir / "last.pt"))
                    if st.step >= total_steps or st.stopped_early:
                        break
                else:  # the epoch ran to its end
                    if settings.eval_interval == 0 and st.evaluated_at != st.step:
                        validate()
                        window_t0 = time.perf_counter()
                    st.epoch += 1
                    st.batch_in_epoch = 0
                    rnn_states = [None] * accumulate  # every epoch reads the stream from its start with a fresh state
                    if st.stopped_early:
                        break
                    continue
                break
            if st.evaluated_at != st.step:
                validate()
    finally:
        st.train_seconds = elapsed()
        logger.close()
    return st
