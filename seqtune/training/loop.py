"""The one training loop: steps, periodic validation, best/last checkpoints, metrics lines.

``train`` is shared by pretraining and fine-tuning; what differs sits in the model (an objective or a head)
and the data (LM streams or labelled batches).  It reads top to bottom and is built from small named parts,
each tested on its own::

    epoch_batches   the batches of each epoch from the state's position, then EPOCH_END (step.py's neighbour here)
    train_step      micro-batches, scaling, the non-finite policy, clipping, the update, the schedule (step.py)
    LoopState       counters, carried BPTT state, the log window; saved in and restored from checkpoints (state.py)
    LogWindow       training sums between metrics lines: flushed every log_interval steps (state.py)
    Validation      evaluate, best value and patience, val/* line, best.pt and last.pt (here)
    Checkpointer    best.pt / last.pt / step-<N>.pt, the non-finite guard, Ctrl-C (checkpointer.py)

    for each batch:  train_step -> state.after_step
        every log_interval steps:    flush the window (one host sync), log train/*, update the display
        every eval_interval steps (or at each epoch end): validate, write last.pt, and best.pt if improved
        every checkpoint_every steps: write step-<N>.pt and refresh last.pt
        after a SIGINT/SIGTERM:      write last.pt and raise Interrupted (exit 130/143)

Per-step metrics stay on the device (summed tensors), so on a GPU a step never waits for the host.  Exact
resume: ``train(..., resume=ckpt)`` restores the state a checkpoint holds, after ``on_epoch_start`` has set which
parameters train, so the next step is the one that would have come.  Data-parallel (``torchrun``): metric sums
are all-reduced at log and evaluation points only; only rank 0 writes metrics and checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import torch

from seqtune.loggers import MultiLogger, build_loggers
from seqtune.loggers.metrics import Display, format_metrics
from seqtune.objectives.base import TaskModel
from seqtune.training import checkpoint, distributed, signals
from seqtune.training.checkpoint import Key
from seqtune.training.checkpointer import Checkpointer
from seqtune.training.rundir import RunDir
from seqtune.training.signals import EvaluationStopped, StopRequest, signal_received, stop_on_signals
from seqtune.training.state import LoopState, TrainClock, rank_rng

__all__ = ["evaluate", "train", "signal_received", "stop_on_signals"]  # (signals.py's, for run.py)
from seqtune.training.step import NonFiniteLoss, autocast, train_step


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
    patience_from_epoch: int = 1  # early stopping counts validations from this epoch on (gradual: the last stage)
    loggers: tuple[str, ...] = ()  # metric backends beside metrics.jsonl (seqtune/loggers)
    compile: bool = False  # torch.compile the model's forward in place (state_dict keys unchanged)
    checkpoint_every: int = 0  # write checkpoints/step-<N>.pt every N steps; 0: off
    keep_checkpoints: int = 2  # step checkpoints kept
    skip_nonfinite: bool = False  # skip a batch with a NaN/Inf loss or gradient instead of stopping
    accumulate_grad_batches: int = 1  # micro-batches per optimizer step (per process)
    find_unused_parameters: bool = False  # DDP: some parameters may get no gradient (frozen layer groups)

    def total_steps(self, steps_per_epoch: int) -> int:
        """``max_steps`` when set (it overrides ``max_epochs``: as many epochs as those steps take), else
        ``max_epochs`` whole epochs."""
        return self.max_steps if self.max_steps > 0 else self.max_epochs * steps_per_epoch

    @property
    def epoch_limit(self) -> int:
        """The epochs the loop may start: ``max_epochs``, or no limit when ``max_steps`` decides."""
        return self.max_epochs if self.max_steps <= 0 else 2**62


@torch.inference_mode()
def evaluate(
    model: TaskModel, data: Batches, device: torch.device, precision: str, limit_batches: int = -1
) -> dict[str, float]:
    """Mean of every summed metric over the split, or its first ``limit_batches`` (state carried through LM streams).
    Inside a run (a ``stop_on_signals`` block) a SIGINT/SIGTERM ends the pass between two batches:
    :class:`~seqtune.training.signals.EvaluationStopped`."""
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    count = 0
    state = None
    try:
        with autocast(device, precision):
            for i, batch in enumerate(data.iter_from(0)):
                if i == limit_batches:
                    break
                signals.check_stop()  # every rank, before its shard may be empty
                part = distributed.eval_shard(batch)  # this rank's examples / columns (all of them in one process)
                if part is None:
                    continue
                out = model(part, state)
                state = out.state if data.stateful else None
                for k, v in out.sums.items():
                    sums[k] = sums[k] + v if k in sums else v.clone()
                count += out.count
    finally:
        model.train(was_training)
    sums, count = distributed.all_reduce_sums(sums, count, device)
    means = {k: float(v) / max(count, 1) for k, v in sums.items()}
    return model.objective.summarize(means)


# ------------------------------------------------------------------------------------------ the parts
EPOCH_END = object()  # what epoch_batches yields after an epoch's last batch


def epoch_batches(
    st: LoopState, data: Batches, total_steps: int, max_epochs: int, on_epoch_start: Callable[[int], None]
) -> Iterator[Any]:
    """The batches of every epoch from the state's position (a resumed epoch goes on where it stopped), with
    ``EPOCH_END`` after each epoch's last one; the consumer advances the state and stops when it is done."""
    while st.step < total_steps and st.epoch <= max_epochs:
        data.set_epoch(st.epoch)
        on_epoch_start(st.epoch)
        yield from data.iter_from(st.batch_in_epoch)
        yield EPOCH_END


class Validation:
    """Evaluate the validation split, keep the best value and the patience count, log val/*, write best.pt (when
    improved) and last.pt; validation time is not training time."""

    def __init__(
        self,
        model: TaskModel,
        data: Batches,
        settings: LoopSettings,
        ckpt: Checkpointer,
        logger: MultiLogger,
        display: Display,
        clock: TrainClock,
    ):
        self.model, self.data, self.settings, self.ckpt = model, data, settings, ckpt
        self.logger, self.display, self.clock = logger, display, clock

    def __call__(self, st: LoopState) -> None:
        s = self.settings
        with self.clock.pause():
            try:
                metrics = evaluate(self.model, self.data, s.device, s.precision, s.limit_eval_batches)
            except EvaluationStopped as stopped:  # nothing of the pass is kept: resume validates this step again
                raise self.ckpt.interrupted(stopped.signum, st) from None
            value = float(st.step) if s.monitor == "last" else metrics[s.monitor]  # "last": the newest weights
            mode = "max" if s.monitor == "last" else s.monitor_mode
            improved = st.record_validation(
                metrics, value, mode, s.patience if st.epoch >= s.patience_from_epoch else 0
            )
            if st.epoch < s.patience_from_epoch:  # early stopping counts validations from that epoch on only
                st.evals_since_best = 0
            shown = {f"val/{k}": v for k, v in metrics.items()}
            self.logger.log({"step": st.step, "epoch": st.epoch, **shown})
            if improved:  # best.pt first: a kill between the two writes leaves last.pt older, and replaying from it
                self.ckpt.save_best(st)  # writes the same best.pt again
            self.ckpt.save_last(st)
            self.display.message(
                f"[eval] step {st.step} epoch {st.epoch}  {format_metrics(shown)}"
                + ("  (best so far)" if improved else "")
                + (f"  (no improvement in {st.evals_since_best} validations: stopping)" if st.stopped_early else "")
            )
        st.window.restart_clock()


def log_train(
    st: LoopState,
    model: TaskModel,
    optimizer: torch.optim.Optimizer,
    settings: LoopSettings,
    logger: MultiLogger,
    display: Display,
    ckpt: Checkpointer,
) -> None:
    """The window's train/* line (one host sync): loss and metrics, lr, tokens/s; a non-finite loss stops the
    run here when it was not checked every step (CUDA)."""
    metrics, rate = st.window.flush(settings.device, model.objective.summarize)
    if not all(math.isfinite(v) for v in metrics.values()) and not settings.skip_nonfinite:
        raise ckpt.nonfinite(
            f"training metrics {metrics} in the steps up to step {st.step} (on CUDA the loss is "
            "checked at log intervals)",
            st,
        )
    record = {
        "step": st.step,
        "epoch": st.epoch,
        **{f"train/{k}": v for k, v in metrics.items()},
        "train/lr": optimizer.param_groups[-1]["lr"],  # the top group's (fine-tuning: the head's)
        "train/tokens_per_s": rate,
    }
    if settings.skip_nonfinite:
        record["train/skipped_batches"] = st.skipped_batches
    logger.log(record)
    display.update(st.step, format_metrics(metrics) + f"  {rate:,.0f} tok/s")


# ------------------------------------------------------------------------------------------ the loop
def save_step_if_due(ckpt: Checkpointer, st: LoopState, s: LoopSettings) -> None:
    """``trainer.checkpoint_every=N``: a step file every N optimizer steps."""
    if s.checkpoint_every > 0 and st.step % s.checkpoint_every == 0:
        ckpt.save_step(st)


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
) -> LoopState:
    """Train until max_epochs or max_steps (or early stopping); returns the final state.

    ``resume``: a checkpoint written by this loop; training goes on exactly where it was written.
    ``on_epoch_start(epoch)`` (1-based) runs before each epoch's first batch, also for a resumed epoch (then
    before the optimizer state is loaded): fine-tuning sets which layers train from it (gradual unfreezing is a
    function of the epoch).  SIGINT/SIGTERM end the run after the current step with last.pt written and
    :class:`~seqtune.errors.Interrupted` raised; a non-finite loss raises :class:`~seqtune.errors.TrainingError`
    (or skips the batch with ``skip_nonfinite``) and never overwrites a checkpoint.
    """
    s = settings
    total_steps = s.total_steps(len(train_data))
    layout = [distributed.world_size(), s.accumulate_grad_batches]  # processes x micro-batches: carried states
    params = list(model.parameters())  # which ones train may change per epoch; clipping skips those without grad
    epoch_start = EpochStart(on_epoch_start)
    if resume is None:
        st = LoopState.fresh(s.accumulate_grad_batches)
    else:
        st = _restore(resume, model, optimizer, scheduler, epoch_start, s.device, layout, display)
    clock = TrainClock(before=st.train_seconds)
    saved_step = st.step if resume is not None else None  # last.pt on disk
    ckpt = Checkpointer(RunDir(run_dir), checkpoint_meta, model, optimizer, scheduler, clock, layout, s, saved_step)
    logger = build_loggers(run_dir, s.loggers, enabled=distributed.is_main())
    validate = Validation(model, valid_data, s, ckpt, logger, display, clock)
    if s.compile:
        model.compile()  # nn.Module.compile: the same module and parameter names, a compiled __call__
    ddp = distributed.wrap(model, s.device, s.find_unused_parameters)  # the model itself in one process
    model.train()
    st.window.restart_clock()
    try:
        with stop_on_signals() as stop:
            if resume is not None and validation_due(st, s):  # a signal stopped it: the run goes on with it
                validate(st)
                save_step_if_due(ckpt, st, s)
            for batch in epoch_batches(st, train_data, total_steps, s.epoch_limit, epoch_start):
                if batch is EPOCH_END:  # the epoch ran to its end
                    if s.eval_interval == 0 and st.evaluated_at != st.step:
                        validate(st)
                    st.end_epoch()
                    if st.stopped_early:
                        break
                    continue
                try:
                    result = train_step(ddp, batch, st.rnn_states, optimizer, scheduler, params, s, train_data.stateful)
                except NonFiniteLoss as bad:
                    raise ckpt.nonfinite(f"training loss ({bad.shown()}) at step {st.step + 1}", st) from None
                st.after_step(result.states, result.sums, result.count, result.global_count, result.skipped)
                if result.skipped:
                    display.message(
                        f"[warn] step {st.step}: non-finite loss or gradient, batch skipped "
                        f"({st.skipped_batches} so far)"
                    )
                if st.step % s.log_interval == 0 or st.step == total_steps:
                    log_train(st, model, optimizer, s, logger, display, ckpt)
                if s.eval_interval > 0 and st.step % s.eval_interval == 0:
                    validate(st)
                save_step_if_due(ckpt, st, s)
                stop_if_signalled(stop, ckpt, st)
                if st.step >= total_steps or st.stopped_early:
                    break
            if st.evaluated_at != st.step:
                validate(st)
            stop_if_signalled(stop, ckpt, st)  # one that came during the last validation: stop, resumable
    finally:
        st.train_seconds = clock.elapsed()
        logger.close()
    return st


def validation_due(st: LoopState, s: LoopSettings) -> bool:
    """The periodic validation of the state's step is still to do (a signal stopped it between two batches; an
    epoch's last validation is found again by ``epoch_batches``, the final one after the loop)."""
    return s.eval_interval > 0 and st.step > 0 and st.step % s.eval_interval == 0 and st.evaluated_at != st.step


class EpochStart:
    """The loop's ``on_epoch_start``: an epoch prepared before the loop (a resumed one, :meth:`prepare`) is not
    prepared again when the loop reaches it."""

    def __init__(self, on_epoch_start: Callable[[int], None] | None):
        self.on_epoch_start = on_epoch_start
        self.prepared: int | None = None

    def prepare(self, epoch: int) -> None:
        if self.on_epoch_start is not None:
            self.on_epoch_start(epoch)
            self.prepared = epoch

    def __call__(self, epoch: int) -> None:
        if self.on_epoch_start is not None and self.prepared != epoch:
            self.on_epoch_start(epoch)
        self.prepared = None


def _restore(
    ckpt: dict[str, Any],
    model: TaskModel,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    epoch_start: EpochStart,
    device: torch.device,
    layout: list[int],
    display: Display,
) -> LoopState:
    """The state of a checkpoint, with its epoch's trainable parameters set before the optimizer state loads,
    and every RNG restored last (nothing may draw a random number before the next batch)."""
    epoch_start.prepare(ckpt[Key.EPOCH])  # requires_grad of this epoch's stage, before the optimizer state loads
    rank = distributed.rank()
    st = LoopState.from_checkpoint(ckpt, device, layout, display.message, rank)  # this rank's share
    model.load_state_dict(ckpt[Key.MODEL])
    optimizer.load_state_dict(ckpt[Key.OPTIMIZER])
    scheduler.load_state_dict(ckpt[Key.SCHEDULER])
    checkpoint.set_rng_state(rank_rng(ckpt, layout, rank))
    return st


# ------------------------------------------------------------------------------------------ signals
def stop_if_signalled(stop: StopRequest, ckpt: Checkpointer, st: LoopState) -> None:
    """A SIGINT/SIGTERM received (agreed by every rank): last.pt is written and Interrupted raised."""
    signum = signal_received(stop)
    if signum is not None:
        raise ckpt.interrupted(signum, st)
