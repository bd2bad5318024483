"""The loop's checkpoints: best.pt, last.pt and step-<N>.pt, written by rank 0, never with non-finite weights.

One payload for all of them: the run's ``meta`` (config, tokenizer, ...), the model, optimizer and scheduler
states, the loop's state (:meth:`LoopState.checkpoint_entries`) and every RNG.  Every rank calls ``save``: the
ranks' own parts (carried BPTT states, log windows, RNG states) are gathered to rank 0, which writes them all, so
a resume with the same processes is exact (state.py's docstring).  ``last.pt`` always holds the
newest state (a step checkpoint is hard-linked to it), so ``resume=<run dir>`` finds it there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from seqtune.errors import Interrupted, TrainingError
from seqtune.training import checkpoint, distributed
from seqtune.training.checkpoint import Key
from seqtune.training.rundir import RunDir
from seqtune.training.state import LoopState, TrainClock


def all_finite(tensors: list[torch.Tensor]) -> bool:
    """One host sync for the whole list."""
    return not tensors or bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())


class Checkpointer:
    def __init__(
        self,
        run: RunDir,
        meta: dict[str, Any],
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        clock: TrainClock,
        layout: list[int],
        settings: Any,
        saved_step: int | None = None,
    ):
        self.run, self.meta, self.clock, self.layout = run, meta, clock, layout
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.skip_nonfinite, self.keep = settings.skip_nonfinite, settings.keep_checkpoints
        self.params = list(model.parameters())
        self.saved_step = saved_step  # step of last.pt on disk (None: none written yet)

    def payload(self, st: LoopState, shares: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """``shares``: every rank's part (:meth:`LoopState.rank_share` and its ``rng``), this process's when None."""
        shares = shares if shares is not None else [{**st.rank_share(), "rng": checkpoint.rng_state()}]
        return {
            **self.meta,
            Key.MODEL: self.model.state_dict(),
            Key.OPTIMIZER: self.optimizer.state_dict(),
            Key.SCHEDULER: self.scheduler.state_dict(),
            Key.RNG: shares[0]["rng"],
            **st.checkpoint_entries(self.clock.elapsed(), self.layout, shares),
        }

    def save(self, path: Path, st: LoopState) -> Path:
        """``path`` with the current state (every rank calls it, rank 0 writes); refuses weights or a log window
        that are not finite on any rank."""
        finite = self.skip_nonfinite or all_finite(self.params + list(st.window.sums.values()))
        if distributed.all_reduce_int(int(not finite)):  # the ranks agree (one would wait for the others below)
            raise self.nonfinite(f"weights or training loss after step {st.step}", st)  # never replace a good one
        shares = distributed.gather_to_main({**st.rank_share(), "rng": checkpoint.rng_state()})
        if shares is not None:
            checkpoint.save(path, self.payload(st, shares))
        if path == self.run.last:
            self.saved_step = st.step  # on every rank: interrupted() must decide alike everywhere
        return path

    def save_best(self, st: LoopState) -> None:
        self.save(self.run.best, st)

    def save_last(self, st: LoopState) -> None:
        self.save(self.run.last, st)

    def save_step(self, st: LoopState) -> None:
        """step-<N>.pt, last.pt the same file, and only the newest ``keep_checkpoints`` step files kept."""
        path = self.save(self.run.step_file(st.step), st)
        self.saved_step = st.step
        if not distributed.is_main():
            return
        checkpoint.replace_with(path, self.run.last)  # resume always finds the newest in last.pt
        for _, old in self.run.step_checkpoints()[: -self.keep]:
            old.unlink(missing_ok=True)

    def interrupted(self, signum: int, st: LoopState) -> Interrupted:
        """After SIGINT/SIGTERM: last.pt holds this step (written now unless it already does)."""
        if self.saved_step != st.step:
            self.save_last(st)
        distributed.barrier()  # the ranks leave together, after rank 0 has written last.pt (torchrun ends the
        return Interrupted(signum, st.step, str(self.run.last))  # others as soon as one exits)

    def nonfinite(self, what: str, st: LoopState) -> TrainingError:
        where = (
            f"the last good checkpoint, {self.run.last} (step {self.saved_step}), is left as it was"
            if self.saved_step is not None
            else "no checkpoint had been written yet"
        )
        return TrainingError(
            f"non-finite {what} (epoch {st.epoch}): training stopped; {where}. Lower optimizer.lr, "
            "set optimizer.clip_grad_norm (e.g. 0.25) or use trainer.precision=fp32; or skip such batches with "
            f"trainer.skip_nonfinite=true (to go on from the checkpoint: resume={self.run.path} "
            "trainer.skip_nonfinite=true)."
        )
