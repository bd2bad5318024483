"""The loop's state: what a checkpoint holds so that a resumed run goes on as if it had never stopped.

:class:`LoopState` is the one place that says what the loop keeps between steps and how it is saved: the
counters (step, epoch, position in the epoch, best value, early-stopping count, ...), the carried BPTT state of an
LM stream (one per micro-batch) and the half-summed :class:`LogWindow`.  ``checkpoint_entries()`` writes it into
a checkpoint and ``LoopState.from_checkpoint()`` reads it back; the entry names are ``checkpoint.Key``'s.
:class:`TrainClock` counts the wall time spent in training steps (validation excluded) across launches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from seqtune.training import distributed
from seqtune.training.checkpoint import Key


@dataclass
class LogWindow:
    """Training metrics summed since the last metrics line, as device tensors (no host sync per step)."""

    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    count: int = 0  # what this rank's sums run over (tokens, examples, ...); summed over ranks when flushed
    tokens: int = 0  # all ranks' count: the tokens/s figure
    started: float = field(default_factory=time.perf_counter)  # wall clock, not saved

    def add(self, sums: dict[str, torch.Tensor], count: int, global_count: int) -> None:
        for k, v in sums.items():
            self.sums[k] = self.sums[k] + v if k in self.sums else v
        self.count += count
        self.tokens += global_count

    def restart_clock(self) -> None:
        """After a validation: the rate counts training time only."""
        self.started = time.perf_counter()

    def flush(
        self, device: torch.device, summarize: Callable[[dict[str, float]], dict[str, float]]
    ) -> tuple[dict[str, float], float]:
        """(metrics of the window, all ranks' tokens per second); the window starts again, empty."""
        now = time.perf_counter()
        sums, count = distributed.all_reduce_sums(self.sums, self.count, device)
        metrics = summarize({k: float(v) / count for k, v in sums.items()}) if count else {}
        rate = self.tokens / max(now - self.started, 1e-9)
        self.sums, self.count, self.tokens = {}, 0, 0
        self.restart_clock()
        return metrics, rate

    def to_checkpoint(self) -> dict[str, Any]:
        return {"window_sums": self.sums, "window_count": self.count, "window_tokens": self.tokens}

    @classmethod
    def from_checkpoint(cls, loop: dict[str, Any], device: torch.device) -> LogWindow:
        return cls(
            {k: v.to(device) for k, v in loop.get("window_sums", {}).items()},
            loop.get("window_count", 0),
            loop.get("window_tokens", 0),
        )


@dataclass
class LoopState:
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
    rnn_states: list[Any] = field(default_factory=lambda: [None])  # carried BPTT state, one per micro-batch
    window: LogWindow = field(default_factory=LogWindow)

    # Kept in the checkpoint's "loop" entry (step, epoch, ... have top-level entries of their own).
    RESTORED = ("train_tokens", "train_seconds", "evals_since_best", "stopped_early", "skipped_batches", "evaluated_at")

    @classmethod
    def fresh(cls, micro_batches: int) -> LoopState:
        return cls(rnn_states=[None] * micro_batches)

    # ---- checkpoints
    def checkpoint_entries(self, train_seconds: float, layout: list[int]) -> dict[str, Any]:
        """This state's checkpoint entries; ``layout``: [processes, micro-batches] the carried states belong to."""
        return {
            Key.STEP: self.step,
            Key.EPOCH: self.epoch,
            Key.BATCH_IN_EPOCH: self.batch_in_epoch,
            Key.BEST_VALUE: self.best_value,
            Key.BEST_STEP: self.best_step,
            Key.METRICS: dict(self.last_val),
            Key.LOOP: {
                **{k: getattr(self, k) for k in self.RESTORED},
                "train_seconds": train_seconds,
                "rnn_states": self.rnn_states,
                "rnn_layout": layout,
                **self.window.to_checkpoint(),
            },
        }

    @classmethod
    def from_checkpoint(
        cls, ckpt: dict[str, Any], device: torch.device, layout: list[int], warn: Callable[[str], None]
    ) -> LoopState:
        """The state a checkpoint holds.  Its carried BPTT states are used only under the same layout of one
        process (another split of the stream columns starts its next windows from a zero state, said by ``warn``)."""
        loop = ckpt.get(Key.LOOP, {})
        st = cls(
            step=ckpt[Key.STEP],
            epoch=ckpt[Key.EPOCH],
            batch_in_epoch=ckpt[Key.BATCH_IN_EPOCH],
            best_value=ckpt[Key.BEST_VALUE],
            best_step=ckpt[Key.BEST_STEP],
            last_val=dict(ckpt[Key.METRICS]),
            rnn_states=[None] * layout[1],
            window=LogWindow.from_checkpoint(loop, device),
        )
        for key in cls.RESTORED:
            if key in loop:
                setattr(st, key, loop[key])
        saved = loop.get("rnn_states")
        saved_layout = list(loop.get("rnn_layout", [1, len(saved or [])]))
        if isinstance(saved, list) and saved_layout == layout and layout[0] == 1:
            st.rnn_states = [_to_device(x, device) for x in saved]
        elif saved is not None and any(x is not None for x in saved):
            warn(
                "[resume] the carried BPTT state does not fit this number of processes x "
                "trainer.accumulate_grad_batches: the next windows start from a zero state"
            )
        return st

    # ---- transitions
    def after_step(
        self, states: list[Any], sums: dict[str, torch.Tensor], count: int, global_count: int, skipped: bool
    ) -> None:
        """One optimizer step done (or skipped for a non-finite loss: its sums and states are dropped)."""
        self.step += 1
        self.batch_in_epoch += 1
        if skipped:
            self.skipped_batches += 1
            self.rnn_states = [None] * len(self.rnn_states)  # a state that may hold NaN is not carried on
            return
        self.rnn_states = states
        self.window.add(sums, count, global_count)
        self.train_tokens += global_count

    def record_validation(self, metrics: dict[str, float], value: float, mode: str, patience: int) -> bool:
        """Best value and early-stopping count after a validation; whether ``value`` is the best so far."""
        self.last_val, self.evaluated_at = metrics, self.step
        improved = self.best_value is None or (value < self.best_value if mode == "min" else value > self.best_value)
        if improved:
            self.best_value, self.best_step, self.evals_since_best = value, self.step, 0
        else:
            self.evals_since_best += 1
            self.stopped_early = 0 < patience <= self.evals_since_best
        return improved

    def end_epoch(self) -> None:
        """Every epoch reads the stream from its start, with a fresh state."""
        self.epoch += 1
        self.batch_in_epoch = 0
        self.rnn_states = [None] * len(self.rnn_states)


@dataclass
class TrainClock:
    """Wall time in training steps: earlier launches' seconds plus this launch's, validation left out."""

    before: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    paused: float = 0.0

    def elapsed(self) -> float:
        return self.before + time.perf_counter() - self.started - self.paused

    @contextmanager
    def pause(self) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.paused += time.perf_counter() - t0


def _to_device(state: Any, device: torch.device) -> Any:
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return tuple(s.to(device) for s in state)
    return state.to(device)
