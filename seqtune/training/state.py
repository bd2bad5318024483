"""The loop's state: what a checkpoint holds so that a resumed run goes on as if it had never stopped.

:class:`LoopState` is the one place that says what the loop keeps between steps and how it is saved: the
counters (step, epoch, position in the epoch, best value, early-stopping count, ...), the carried BPTT state of an
LM stream (one per micro-batch) and the half-summed :class:`LogWindow`.  ``checkpoint_entries()`` writes it into
a checkpoint and ``LoopState.from_checkpoint()`` reads it back; the entry names are ``checkpoint.Key``'s.
:class:`TrainClock` counts the wall time spent in training steps (validation excluded) across launches.

**Per rank.**  Under ``torchrun`` the carried states, the log window and the random streams belong to each
process.  :meth:`LoopState.rank_share` is one process's part; the checkpointer gathers every rank's to rank 0, and
the checkpoint keeps them all, in rank order, with the layout they belong to (``rnn_layout``: [processes,
micro-batches])::

    loop.rnn_states    processes x micro-batches states, flat (rank r's: r*k ... r*k+k-1)
    loop.windows       one log window per process: {window_sums, window_count, window_tokens}
    loop.rank_rngs     the RNG states of ranks 1 ... (rank 0's is the top-level ``rng`` entry)

A resume with the same layout gives every rank its own share back: bit-identical to an uninterrupted run.  Under
another layout (other processes or micro-batches) the log window is kept whole (rank 0 takes the sum of all the
windows; the next train/* line is the same mean), but the carried BPTT state cannot be cut again and the other
ranks' random streams have no owner: the next windows start from a zero state, every rank from rank 0's RNG,
and a warning says so (:func:`layout_warning`).
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
        """On the CPU (a share gathered from every rank)."""
        sums = {k: v.detach().cpu() for k, v in self.sums.items()}
        return {"window_sums": sums, "window_count": self.count, "window_tokens": self.tokens}

    @classmethod
    def from_checkpoint(cls, saved: dict[str, Any], device: torch.device) -> LogWindow:
        return cls(
            {k: v.to(device) for k, v in saved.get("window_sums", {}).items()},
            saved.get("window_count", 0),
            saved.get("window_tokens", 0),
        )

    @classmethod
    def merged(cls, windows: list[dict[str, Any]], device: torch.device) -> LogWindow:
        """All ranks' windows as one (another layout: rank 0 holds it, the flush sums over ranks anyway)."""
        out = cls(tokens=windows[0].get("window_tokens", 0) if windows else 0)  # every rank counts all tokens
        for w in windows:
            out.add({k: v.to(device) for k, v in w.get("window_sums", {}).items()}, w.get("window_count", 0), 0)
        return out


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
    def rank_share(self) -> dict[str, Any]:
        """This process's own part of the state (carried BPTT states, log window), on the CPU."""
        return {"rnn_states": [_to_device(x, torch.device("cpu")) for x in self.rnn_states],
                "window": self.window.to_checkpoint()}  # fmt: skip

    def checkpoint_entries(
        self, train_seconds: float, layout: list[int], shares: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """This state's checkpoint entries; ``layout``: [processes, micro-batches]; ``shares``: every rank's
        :meth:`rank_share` in rank order (this process's alone when None), each with its ``rng``."""
        shares = shares if shares is not None else [self.rank_share()]
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
                "rnn_states": [x for share in shares for x in share["rnn_states"]],
                "rnn_layout": layout,
                "windows": [share["window"] for share in shares],
                "rank_rngs": [share["rng"] for share in shares[1:] if "rng" in share],
            },
        }

    @classmethod
    def from_checkpoint(
        cls,
        ckpt: dict[str, Any],
        device: torch.device,
        layout: list[int],
        warn: Callable[[str], None],
        rank: int = 0,
    ) -> LoopState:
        """The state a checkpoint holds, this rank's share of it (see the module docstring): its own carried
        states and log window under the same layout; under another, the merged window on rank 0 and zero
        states (said by ``warn``)."""
        loop = ckpt.get(Key.LOOP, {})
        st = cls(
            step=ckpt[Key.STEP],
            epoch=ckpt[Key.EPOCH],
            batch_in_epoch=ckpt[Key.BATCH_IN_EPOCH],
            best_value=ckpt[Key.BEST_VALUE],
            best_step=ckpt[Key.BEST_STEP],
            last_val=dict(ckpt[Key.METRICS]),
            rnn_states=[None] * layout[1],
        )
        for key in cls.RESTORED:
            if key in loop:
                setattr(st, key, loop[key])
        same = saved_layout(loop) == layout  # the processes x micro-batches the per-rank entries belong to
        windows = loop.get("windows", [loop])  # (an older checkpoint: rank 0's window, at the top)
        if same and rank < len(windows):
            st.window = LogWindow.from_checkpoint(windows[rank], device)
        elif rank == 0:
            st.window = LogWindow.merged(windows, device)
        saved, before = loop.get("rnn_states") or [], saved_layout(loop)
        carried = any(x is not None for x in saved)
        if same and len(saved) == layout[0] * layout[1]:
            st.rnn_states = [_to_device(x, device) for x in saved[rank * layout[1] : (rank + 1) * layout[1]]]
        elif not same and rank == 0 and (carried or max(layout[0], before[0]) > 1):
            warn(layout_warning(before, layout, carried))
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


def saved_layout(loop: dict[str, Any]) -> list[int]:
    """[processes, micro-batches] the checkpoint's per-rank entries belong to."""
    return [int(n) for n in loop.get("rnn_layout", [1, len(loop.get("rnn_states") or [None])])]


def layout_warning(saved: list[int], now: list[int], carried: bool) -> str:
    """What a resume under another layout cannot keep."""
    lost = "the carried BPTT state (the next windows start from a zero state), " if carried else ""
    return (
        f"[resume] the checkpoint was written by {saved[0]} process(es) x {saved[1]} micro-batch(es) "
        f"(trainer.accumulate_grad_batches), this run has {now[0]} x {now[1]}: {lost}each process's random "
        "stream (every process goes on from rank 0's) and the summation order of the batches are not kept, so "
        "the run goes on but not bit-identical to an uninterrupted one (the half-filled log window is kept). "
        f"To keep them, resume with {saved[0]} process(es) and trainer.accumulate_grad_batches={saved[1]}."
    )


def rank_rng(ckpt: dict[str, Any], layout: list[int], rank: int) -> dict[str, Any]:
    """The RNG state this rank goes on from: its own under the same layout, else rank 0's."""
    loop = ckpt.get(Key.LOOP, {})
    rngs = loop.get("rank_rngs", [])
    if rank > 0 and saved_layout(loop) == layout and rank - 1 < len(rngs):
        return rngs[rank - 1]
    return ckpt[Key.RNG]


def _to_device(state: Any, device: torch.device) -> Any:
    """A carried state (a tensor, or tuples / lists of them, per layer) on ``device``."""
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return type(state)(_to_device(s, device) for s in state)
    return state.to(device)
