"""The run skeleton pretrain and fine-tuning share: set up the process and the run directory, build the loop's
settings from the config, train, test the best weights, write the summary.

A command reads top to bottom around it::

    setup = start_run(cfg.trainer, run_dir, first_launch=not cfg.resume)     # seed, device, environment.json
    ... data, model, optimizer, schedule (the command's own part) ...
    settings = loop_settings(cfg.trainer, cfg.optimizer, setup.device, monitor="acc", monitor_mode="max")
    result = train_and_test(model, optimizer, scheduler, (train, valid, test), settings, setup, meta, display)
    summary = {**best_and_test(result), ...the command's own entries..., **run_figures(result, model)}
    finish_run(setup.run, summary, display, title)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

from seqtune.errors import Interrupted
from seqtune.loggers.metrics import Display, summary_table, write_json
from seqtune.objectives.base import TaskModel
from seqtune.training import checkpoint, distributed
from seqtune.training.checkpoint import Key
from seqtune.training.environment import seed_everything, set_determinism, write_environment
from seqtune.training.loop import Batches, LoopSettings, evaluate, train
from seqtune.training.rundir import RunDir
from seqtune.training.runtime import tune_malloc
from seqtune.training.signals import EvaluationStopped, signal_received, stop_on_signals
from seqtune.training.state import LoopState

T = TypeVar("T")


@dataclass(frozen=True)
class RunSetup:
    run: RunDir  # writes only on rank 0
    device: torch.device


def start_run(t: Any, run_dir: Path, first_launch: bool) -> RunSetup:
    """Process settings (malloc, seeds, determinism), this process's device, the run directory and, on the first
    launch of the run (not on resume), environment.json.  ``t``: the trainer config."""
    if t.tune_malloc:
        tune_malloc()  # before the data and model allocate: large per-step buffers then come from the heap
    seed_everything(t.seed)
    set_determinism(t.deterministic)
    device = distributed.pick_device(t.device)
    run = RunDir(run_dir, main=distributed.is_main())
    run_dir.mkdir(parents=True, exist_ok=True)
    run.lock()  # one process writes a run (a resumed one took it before its files were touched)
    if run.main and first_launch:
        write_environment(run_dir)  # a resumed run keeps the record of its first launch
    return RunSetup(run, device)


def loop_settings(t: Any, o: Any, device: torch.device, **extra: Any) -> LoopSettings:
    """The loop's settings from the trainer and optimizer configs, by keyword; ``extra``: the command's own
    (monitor, patience, find_unused_parameters; max_epochs where the command plans them)."""
    settings: dict[str, Any] = dict(
        max_epochs=t.max_epochs,
        max_steps=t.max_steps,
        eval_interval=t.eval_interval,
        log_interval=t.log_interval,
        clip_grad_norm=o.clip_grad_norm,
        precision=t.precision,
        device=device,
        limit_eval_batches=t.limit_eval_batches,
        loggers=tuple(t.loggers),
        compile=t.compile,
        checkpoint_every=t.checkpoint_every,
        keep_checkpoints=t.keep_checkpoints,
        skip_nonfinite=t.skip_nonfinite,
        accumulate_grad_batches=t.accumulate_grad_batches,
    )
    return LoopSettings(**{**settings, **extra})


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())  # parameters() yields a tied tensor once


def parallel_note(batch_size: int, accumulate: int) -> str:
    """How the global batch is cut (empty in one process without accumulation)."""
    world = distributed.world_size()
    if world == 1 and accumulate == 1:
        return ""
    return (
        f"\nglobal batch {batch_size} = {world} process(es) x {accumulate} micro-batch(es) of about "
        f"{batch_size / (world * accumulate):.3g}"
    )


def make_display(t: Any, run: RunDir, total_steps: int, title: str) -> Display:
    return Display(t.progress if run.main else "quiet", total_steps, title)


@dataclass
class RunResult:
    state: LoopState  # the loop's final state
    best: dict[str, Any]  # best.pt (its weights are in the model now)
    test: dict[str, Any]  # test metrics of the best weights
    skip_nonfinite: bool


def train_and_test(
    model: TaskModel,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    data: tuple[Batches, Batches, Batches],
    settings: LoopSettings,
    setup: RunSetup,
    meta: dict[str, Any],
    display: Display,
    resume: dict[str, Any] | None = None,
    on_epoch_start: Callable[[int], None] | None = None,
    test_pass: Callable[[TaskModel], dict[str, Any]] | None = None,
) -> RunResult:
    """Train (validation, best/last checkpoints, metrics.jsonl), then load best.pt and evaluate the test split
    (``test_pass(model)`` where the command has its own: fine-tuning keeps the predictions of the same pass)."""
    train_data, valid_data, test_data = data
    try:
        state = train(
            model,
            optimizer,
            scheduler,
            train_data,
            valid_data,
            settings,
            setup.run.path,
            meta,
            display,
            resume=resume,
            on_epoch_start=on_epoch_start,
        )
    finally:
        display.close()
    distributed.barrier()  # rank 0 has written best.pt
    with stop_on_signals() as stop:  # a signal during the test evaluation stops it between two batches
        best = checkpoint.load(setup.run.best, map_location=setup.device)
        model.load_state_dict(best[Key.MODEL])
        try:
            if test_pass is not None:
                test = test_pass(model)
            else:
                test = evaluate(model, test_data, setup.device, settings.precision, settings.limit_eval_batches)
            signum = signal_received(stop)
        except EvaluationStopped as stopped:
            signum = stopped.signum
    if signum is not None:  # resume=<run> finds the finished loop in last.pt and evaluates again
        distributed.barrier()
        raise Interrupted(signum, state.step, str(setup.run.last))
    return RunResult(state, best, dict(test), settings.skip_nonfinite)


def after_test(work: Callable[[], T], result: RunResult, setup: RunSetup) -> T:
    """``work()`` on the best weights after the test evaluation (fine-tuning's prediction passes), with signals
    honoured as in the test evaluation: between two batches and at its end, resumable from last.pt."""
    with stop_on_signals() as stop:
        try:
            out = work()
            signum = signal_received(stop)
        except EvaluationStopped as stopped:
            signum = stopped.signum
    if signum is not None:
        distributed.barrier()
        raise Interrupted(signum, result.state.step, str(setup.run.last))
    return out


def best_and_test(result: RunResult) -> dict[str, Any]:
    """The summary's first entries: val/* of the best checkpoint and test/* of its weights."""
    return {
        **{f"val/{k}": v for k, v in result.best[Key.METRICS].items()},
        **{f"test/{k}": v for k, v in result.test.items()},
    }


def skipped(result: RunResult) -> dict[str, Any]:
    """train/skipped_batches, with trainer.skip_nonfinite only."""
    return {"train/skipped_batches": result.state.skipped_batches} if result.skip_nonfinite else {}


def finish_run(run: RunDir, summary: dict[str, Any], display: Display, title: str) -> None:
    """summary.json (rank 0) and the summary table (entries that are lists or dicts are left out of the table)."""
    if run.main:
        write_json(run.summary, summary)
    if display.mode != "quiet":
        shown = {k: v for k, v in summary.items() if not isinstance(v, (dict, list))}
        display.console.print(summary_table(shown, title))
