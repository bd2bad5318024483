"""One optimizer step: micro-batches, loss scaling, the non-finite policy, clipping, the update, the schedule.

Data-parallel (``torchrun``, see ``distributed.py``): each global batch is cut into this rank's
``accumulate_grad_batches`` micro-batches; all but the last skip DDP's gradient all-reduce (``no_sync``).  Each
micro-batch's mean loss is weighted by its count and the summed gradient divided by the global count, so any split
of a batch gives the gradient of the whole batch's mean loss.  In one process without accumulation the loss is
back-propagated as it is.

Non-finite losses: checked every step where that costs no wait (the CPU, or ``skip_nonfinite`` on any device);
in the default (stop) mode a bad loss raises :class:`NonFiniteLoss` (the loop turns it into a TrainingError naming
the last good checkpoint), with ``skip_nonfinite`` the batch is skipped: no update, but the schedule advances.
"""

from __future__ import annotations

import warnings
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch

from seqtune.models.encoder import detach_state
from seqtune.training import distributed


class NonFiniteLoss(Exception):
    """A step's loss is NaN or Inf (stop mode); ``losses`` holds every micro-batch's value."""

    def __init__(self, losses: list[float]):
        self.losses = losses
        super().__init__(f"non-finite loss {losses}")

    def shown(self) -> str:
        return str(self.losses[0] if len(self.losses) == 1 else self.losses)


@dataclass
class StepResult:
    sums: dict[str, torch.Tensor]  # this rank's summed metrics (device tensors)
    count: int  # what they sum over, on this rank
    global_count: int  # over all ranks
    states: list[Any]  # the carried state of each micro-batch after the step (None where nothing carries)
    skipped: bool  # a non-finite loss or gradient skipped the update (skip_nonfinite)


def autocast(device: torch.device, precision: str) -> AbstractContextManager:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def grad_norm(params: list[torch.nn.Parameter]) -> torch.Tensor:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


def train_step(
    model: torch.nn.Module,
    batch: Any,
    states: list[Any],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    params: list[torch.nn.Parameter],
    settings: Any,
    stateful: bool,
) -> StepResult:
    """Forward and backward over this rank's micro-batches of ``batch``, then (unless skipped) clip and update;
    the schedule always advances.  ``model``: the module to step (DDP-wrapped in several processes);
    ``states``: the carried state per micro-batch; ``stateful``: carry the new ones (LM streams)."""
    world, accumulate = distributed.world_size(), settings.accumulate_grad_batches
    plain = accumulate == 1 and world == 1  # one process, no accumulation: the loss as it is
    optimizer.zero_grad(set_to_none=True)
    micro = distributed.micro_batches(batch, accumulate)  # [(part, counts)]: this rank's slices
    sums: dict[str, torch.Tensor] = {}
    count, losses, new_states = 0, [], list(states)
    for j, (part, counts) in enumerate(micro):
        with distributed.no_sync(model, j < len(micro) - 1):
            with autocast(settings.device, settings.precision):
                out = model(part, states[j])
            # weight by count (0 for a padding copy); the sum is divided by the global count below
            (out.loss if plain else out.loss * (out.count if counts else 0)).backward()
        losses.append(out.loss.detach())
        new_states[j] = detach_state(out.state) if stateful else None
        if counts:
            for k, v in out.sums.items():
                sums[k] = sums[k] + v if k in sums else v.detach().clone()
            count += out.count
    skipped = _loss_is_bad(losses, settings, plain)
    global_count = count if plain else distributed.all_reduce_int(count)
    if not skipped:
        skipped = not _update(optimizer, params, settings, 1.0 if plain else world / max(global_count, 1))
    if skipped:  # a skipped batch still counts as a step: the schedule stays on the step count
        with warnings.catch_warnings():  # (PyTorch warns when the first step of a run is such a batch)
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
            scheduler.step()
    else:
        scheduler.step()
    return StepResult(sums, count, global_count, new_states, skipped)


def _loss_is_bad(losses: list[torch.Tensor], settings: Any, plain: bool) -> bool:
    """Whether to skip the update (skip_nonfinite and a bad loss); raises NonFiniteLoss in stop mode.  Every rank
    takes the same decision (a flag summed over ranks).  On CUDA without skip_nonfinite nothing is checked here
    (no host sync per step; the loop checks the summed loss at log intervals)."""
    if settings.device.type == "cuda" and not settings.skip_nonfinite:
        return False
    bad = sum(not bool(torch.isfinite(loss)) for loss in losses)
    if not (bad if plain else distributed.all_reduce_int(int(bad > 0))):
        return False
    if not settings.skip_nonfinite:
        raise NonFiniteLoss([float(x) for x in losses])
    return True


def _update(optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter], settings: Any, scale: float) -> bool:
    """Scale (data-parallel: DDP averaged over ranks, times world / global count gives the mean), clip and step;
    False if skip_nonfinite finds a non-finite gradient norm (then nothing is updated)."""
    if scale != 1.0:
        distributed.scale_gradients(params, scale)
    norm = None
    if settings.clip_grad_norm > 0:
        norm = torch.nn.utils.clip_grad_norm_(params, settings.clip_grad_norm)
    if settings.skip_nonfinite and not bool(torch.isfinite(norm if norm is not None else grad_norm(params))):
        return False  # gradients are the same on every rank after the all-reduce
    optimizer.step()
    return True
