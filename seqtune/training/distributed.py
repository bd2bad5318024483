"""Data-parallel training: the process group, rank-0 guards, sums across ranks and the batch shards.

One process per device, started by ``torchrun`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``
in the environment) or as the tasks of one submitit job (``hydra/launcher=submitit_slurm`` with
``tasks_per_node`` > 1).  In a single process every helper here is a cheap no-op, so the rest of the code
calls them unconditionally::

    init()                        # cli.main, before Hydra (torchrun); _run_task (submitit tasks)
    is_main(), rank(), world_size()
    model_for_steps = wrap(model, device)         # DDP in several processes, the model itself in one
    with no_sync(model_for_steps, not last): ...  # micro-batches but the last skip the gradient all-reduce
    sums, count = all_reduce_sums(sums, count, device)   # metric sums and counts of all ranks, summed

**Sharding (deterministic from the epoch, the batch index, the rank and the world size).**  Every rank
builds the *same* global batch: the same LM stream columns, the same shuffled order (same seed on all
ranks).  ``trainer.batch_size`` is that global batch.  :func:`micro_batches` cuts it along the batch
dimension into ``world_size x accumulate_grad_batches`` near-equal slices; rank ``r`` takes slices
``r*k ... r*k+k-1``.  For an LM stream a slice is a fixed block of columns (the same block every step, so
each micro-batch carries its own recurrent state); for labelled data it is a block of the batch's examples,
so every example is seen exactly once per epoch across ranks.  Nothing depends on how many steps ran
before, so a run resumed with another number of processes can recompute its data position from
(epoch, batch index).  A slice that would be empty (a last batch with fewer examples than slices) is
replaced by a copy of the batch's first example with weight 0: the rank still runs forward/backward (DDP
needs every rank in the gradient all-reduce) but adds nothing to the gradient or the metrics.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
from collections.abc import Iterator
from typing import Any, cast

import torch
import torch.distributed as dist

from seqtune.training.launch import in_submitit_tasks, launched_by_torchrun, local_rank


def init() -> bool:
    """Join the process group when started as one of several processes; True if this process is in one.

    Backends: gloo for CPU tensors and, where CUDA is available, nccl for CUDA tensors (one group serves
    both: ``cpu:gloo,cuda:nccl``), so host-side counts never wait for the GPU.  On CUDA each process uses
    the device of its local rank.
    """
    if dist.is_available() and dist.is_initialized():
        return True
    if not launched_by_torchrun():
        if not in_submitit_tasks():
            return False
        from submitit.helpers import TorchDistributedEnvironment

        TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    cuda = torch.cuda.is_available()
    if cuda and local_rank() < torch.cuda.device_count():  # (a CPU run on a machine with fewer GPUs than ranks)
        torch.cuda.set_device(local_rank())
    dist.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo", timeout=datetime.timedelta(minutes=30))
    return True


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def gpus_for_every_local_rank() -> bool:
    """One GPU per process on this node (``trainer.device=auto`` then means the GPU of the local rank)."""
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world_size()))
    return torch.cuda.is_available() and torch.cuda.device_count() >= local_world


def pick_device(name: str) -> torch.device:
    """``auto``: the GPU if there is one.  In a data-parallel run ``auto`` and ``cuda`` mean the GPU of this
    process's local rank (``cuda:N`` is taken as given)."""
    if name == "auto":
        usable = gpus_for_every_local_rank() if active() else torch.cuda.is_available()
        name = "cuda" if usable else "cpu"
    if name == "cuda" and active():
        return torch.device("cuda", local_rank())
    return torch.device(name)


def same_on_all_ranks(value: str, what: str) -> None:
    """Raise a DataError naming ``what`` unless every rank computed the same ``value`` (e.g. a fitted tokenizer)."""
    if not active():
        return
    import hashlib

    from seqtune.errors import DataError

    digests = _gather(hashlib.sha256(value.encode("utf-8")).hexdigest())
    if len(set(digests)) > 1:
        raise DataError(
            f"the {what} differs between the data-parallel processes (rank digests {digests}); every "
            "process must read the same data with the same settings. Fit it once (e.g. run "
            "`seqtune pretrain` in one process first) or check that every node sees the same files."
        )


def is_main() -> bool:
    """Only rank 0 writes files (logs, metrics, summary, tokenizer, checkpoints) and prints."""
    return rank() == 0


def barrier() -> None:
    if active():
        dist.barrier()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_object(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (the others' arguments are ignored)."""
    if not active():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce_int(value: int) -> int:
    """Sum of a host-side integer over ranks (over gloo on the CPU: no GPU synchronisation)."""
    if not active():
        return value
    t = torch.tensor([value], dtype=torch.int64)
    dist.all_reduce(t)
    return int(t.item())


def all_reduce_sums(
    sums: dict[str, torch.Tensor], count: int, device: torch.device
) -> tuple[dict[str, torch.Tensor], int]:
    """Metric sums (device tensors, scalars or vectors) and their count, summed over ranks.

    A rank may lack a key (it saw only zero-weight batches), so the key set is agreed first.
    """
    if not active():
        return sums, count
    known: dict[str, tuple[int, ...]] = {}
    for per_rank in _gather({k: tuple(v.shape) for k, v in sums.items()}):
        known.update(per_rank)
    keys, shapes = sorted(known), known
    flat = [
        sums[k].detach().reshape(-1).to(device, torch.float64)
        if k in sums
        else torch.zeros(int(torch.Size(shapes[k]).numel()), dtype=torch.float64, device=device)
        for k in keys
    ]
    packed = torch.cat([*flat, torch.tensor([float(count)], dtype=torch.float64, device=device)])
    dist.all_reduce(packed)
    out, offset = {}, 0
    for k in keys:
        n = int(torch.Size(shapes[k]).numel())
        dtype = sums[k].dtype if k in sums else torch.float32
        out[k] = packed[offset : offset + n].reshape(shapes[k]).to(dtype)
        offset += n
    return out, int(round(float(packed[-1])))


def gather_to_main(obj: Any) -> list[Any] | None:
    """Every rank's ``obj`` (picklable, CPU tensors), in rank order, on rank 0; None on the others.  In one
    process: ``[obj]``."""
    if not active():
        return [obj]
    gathered = _gather(obj)  # all_gather: the same collective as same_on_all_ranks, on gloo and nccl alike
    return gathered if is_main() else None


def _gather(obj: Any) -> list[Any]:
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


# ------------------------------------------------------------------------------------------ the model
def wrap(model: torch.nn.Module, device: torch.device, find_unused_parameters: bool = False) -> torch.nn.Module:
    """DistributedDataParallel over ``model`` in several processes; ``model`` itself in one.

    DDP registers the parameters that require gradients *now*: call it while every parameter that may
    ever train does (fine-tuning freezes groups later, per epoch, and passes ``find_unused_parameters``
    so frozen parameters are skipped; DDP leaves the gradient of a globally unused parameter untouched,
    None, so the optimizer does not move it).
    """
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused_parameters)


def no_sync(model: torch.nn.Module, skip: bool) -> contextlib.AbstractContextManager:
    """DDP's no_sync (no gradient all-reduce in this backward) when ``skip``; nothing otherwise."""
    if skip and hasattr(model, "no_sync"):
        return cast(Any, model).no_sync()
    return contextlib.nullcontext()


def scale_gradients(params: list[torch.nn.Parameter], factor: float) -> None:
    grads = [p.grad for p in params if p.grad is not None]
    if grads and factor != 1.0:
        torch._foreach_mul_(grads, factor)


# ------------------------------------------------------------------------------------------ the data
def batch_size_of(batch: Any) -> int:
    """Examples (or LM columns) in a batch: dim 1 of a time-major tensor, dim 0 of a per-example vector."""
    for t in _tensors(batch):
        return t.size(1) if t.dim() >= 2 else t.size(0)
    raise TypeError(f"no tensor in batch of type {type(batch).__name__}")


def _tensors(batch: Any) -> Iterator[torch.Tensor]:
    items = (getattr(batch, f.name) for f in dataclasses.fields(batch)) if dataclasses.is_dataclass(batch) else batch
    return (t for t in items if isinstance(t, torch.Tensor))


def slice_batch(batch: Any, start: int, stop: int) -> Any:
    """Examples ``start:stop`` of a batch: every batch kind here is time-major (``(time, batch, ...)``) with
    per-example vectors (lengths, class labels) of shape ``(batch,)``; slicing keeps the padded length, so
    each example is computed exactly as in the whole batch."""

    def cut(t: Any) -> Any:
        if not isinstance(t, torch.Tensor):
            return t
        return t[:, start:stop] if t.dim() >= 2 else t[start:stop]

    if dataclasses.is_dataclass(batch):
        fields = {f.name: cut(getattr(batch, f.name)) for f in dataclasses.fields(batch)}
        return dataclasses.replace(cast(Any, batch), **fields)
    return type(batch)(cut(t) for t in batch)


def shard_bounds(size: int, parts: int, index: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of part ``index`` when ``size`` rows are cut into ``parts`` near-equal parts
    (the first ``size % parts`` parts get one more)."""
    base, extra = divmod(size, parts)
    start = index * base + min(index, extra)
    return start, start + base + (1 if index < extra else 0)


def micro_batches(
    batch: Any, accumulate: int, rank_: int | None = None, world: int | None = None
) -> list[tuple[Any, bool]]:
    """This rank's ``accumulate`` micro-batches of a global batch, each with whether it counts (see the
    module docstring: an empty slice becomes a zero-weight copy of the first example)."""
    world = world_size() if world is None else world
    rank_ = rank() if rank_ is None else rank_
    if world == 1 and accumulate == 1:
        return [(batch, True)]
    size, parts = batch_size_of(batch), world * accumulate
    out = []
    for j in range(accumulate):
        start, stop = shard_bounds(size, parts, rank_ * accumulate + j)
        out.append((slice_batch(batch, start, stop), True) if stop > start else (slice_batch(batch, 0, 1), False))
    return out


def eval_shard(batch: Any) -> Any | None:
    """This rank's part of an evaluation batch (None if it has none); sums are all-reduced afterwards."""
    world = world_size()
    if world == 1:
        return batch
    start, stop = shard_bounds(batch_size_of(batch), world, rank())
    return slice_batch(batch, start, stop) if stop > start else None
