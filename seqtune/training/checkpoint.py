"""Self-describing checkpoints: one dict, written atomically, read without unpickling objects.

Every value is a tensor or a plain Python container, so ``torch.load(weights_only=True)`` reads it.  The entries
are named once, in :class:`Key` (the file format: a renamed entry would orphan every checkpoint written
before).  The config and the tokenizer are enough to rebuild the model:
``inference.rebuild_pretrained(ckpt)`` / ``inference.rebuild_finetuned(ckpt)``.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqtune import __version__
from seqtune.data.cache import pid_alive
from seqtune.errors import CheckpointError


class Key:
    """The entries of a checkpoint dict."""

    MODEL = "model"  # state dict of the unwrapped module (not compiled, not DDP)
    OPTIMIZER = "optimizer"
    SCHEDULER = "scheduler"
    STEP = "step"  # optimizer steps taken
    EPOCH = "epoch"  # 1-based epoch in progress
    BATCH_IN_EPOCH = "batch_in_epoch"  # batches of that epoch already done
    BEST_VALUE = "best_value"  # best monitored validation value so far, and its step
    BEST_STEP = "best_step"
    METRICS = "metrics"  # validation metrics at that step
    RNG = "rng"  # torch, CUDA, numpy, python
    LOOP = "loop"  # the rest of the loop's state (LoopState: log window, carried BPTT state, counters)
    CONFIG = "config"  # the resolved config of the run
    TOKENIZER = "tokenizer"  # its dict (None for numeric input)
    OBJECTIVE = "objective"  # pretraining: the objective's name; fine-tuning: the head's
    DATA = "data"  # plain facts of the objective's data path a later stage needs (a series' normaliser, ...)
    INIT_FROM = "init_from"  # pretraining continued from this checkpoint (init_from=), or None
    HEAD = "head"  # fine-tuning only: head name, label (or target) names, task, transfer strategy, series facts
    LABELS = "labels"
    TASK = "task"
    TRANSFER = "transfer"
    SERIES = "series"
    DATA_FILES = "data_files"  # {dataset.<key>: {path, size, mtime_ns, blake2b}}: what the run read (resume checks)
    VERSION = "seqtune_version"


def rng_state() -> dict[str, Any]:
    np_state: tuple[Any, ...] = np.random.get_state(legacy=True)  # type: ignore[assignment]
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
        "python": _to_lists(random.getstate()),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(gauss)))
    random.setstate(_to_tuples(state["python"]))


def _to_lists(x: Any) -> Any:
    return [_to_lists(v) for v in x] if isinstance(x, (tuple, list)) else x


def _to_tuples(x: Any) -> Any:
    return tuple(_to_tuples(v) for v in x) if isinstance(x, list) else x


def save(path: Path, payload: dict[str, Any]) -> None:
    """Write to a temporary file beside ``path``, fsync, ``os.replace``, fsync the folder: a crash (even
    ``kill -9``) at any moment leaves either the old file or the new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            torch.save({**payload, Key.VERSION: __version__}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except (OSError, RuntimeError) as exc:  # torch.save reports a failed write (disk full) as a RuntimeError
        if isinstance(exc, RuntimeError) and "writ" not in str(exc):
            raise
        raise _write_failed(path, exc) from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_failed(path: Path, exc: BaseException) -> CheckpointError:
    """A checkpoint that could not be written (disk full, quota, read-only): the file and the free space."""
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2**20:,.0f} MiB free there"
    except OSError:
        free = "free space unknown"
    reason = getattr(exc, "strerror", None) or str(exc).strip().splitlines()[-1]
    kept = f"the previous {path.name} is intact" if path.exists() else f"no {path.name} had been written before"
    return CheckpointError(
        f"cannot write the checkpoint {path} ({reason}; {free}); {kept}. Free some space (or move the run with "
        "output_root / hydra.run.dir to a larger disk), then go on with resume=<run dir>."
    )


def replace_with(src: Path, dst: Path) -> None:
    """Make ``dst`` a copy of the finished checkpoint ``src``, atomically (a hard link where the file system
    allows it: no second write; ``save`` never rewrites a file in place, so the two names cannot diverge)."""
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, dst)
        _fsync_dir(dst.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform (Windows); the rename itself is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete ``.<name>.tmp-<pid>`` files that a killed process left behind (its pid no longer runs)."""
    removed = []
    for tmp in folder.glob(".*.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split(".")[:3] if p.isdigit())


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint safely; every failure is a CheckpointError that names the file and the fix."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint not found: {path}. Give the path of a .pt file under a run's checkpoints/ folder."
        )
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, random bytes, a pickle with objects in it, ...
        found = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)", str(exc))
        if found:
            raise CheckpointError(
                f"refusing to read checkpoint {path}: it holds a pickled Python object ({found.group(1)}), and "
                "seqtune reads checkpoints with torch.load(weights_only=True), which never unpickles objects because "
                "that can run arbitrary code. A seqtune checkpoint holds only tensors and plain values; use one "
                "written by seqtune (checkpoints/best.pt or last.pt of a run)."
            ) from exc
        # torch's own text suggests weights_only=False, which is exactly what must not be done with such a file.
        text = str(exc).strip()
        first = type(exc).__name__ if not text or "weights_only" in text else text.splitlines()[0]
        raise CheckpointError(
            f"cannot read checkpoint {path}: it is truncated, corrupted or not a seqtune checkpoint ({first}). "
            "Use another checkpoint (checkpoints/best.pt or last.pt of the run) or re-create it."
        ) from exc
    if not isinstance(ckpt, dict) or Key.MODEL not in ckpt or Key.VERSION not in ckpt:
        raise CheckpointError(
            f"{path} is a PyTorch file but not a seqtune checkpoint (no 'model'/'seqtune_version' entries)."
        )
    problems = [p for key in ckpt if key in ENTRY_TYPES and (p := _entry_problem(ckpt, key))]
    if problems:
        raise CheckpointError(f"{path} is not a checkpoint seqtune can read: {'; '.join(problems)}. {_REMAKE}.")
    if _version_tuple(ckpt[Key.VERSION]) > _version_tuple(__version__):
        raise CheckpointError(
            f"{path} was written by seqtune {ckpt[Key.VERSION]}, newer than this seqtune {__version__}. "
            "Upgrade seqtune (pip install -U seqtune) to read it."
        )
    return ckpt


_NUMBER = (int, float)
# The type of every entry seqtune reads (None: the entry may be null).  ``load`` checks each entry a file has;
# ``require`` checks that the entries a command reads are there.
ENTRY_TYPES: dict[str, tuple[type | None, ...]] = {
    Key.MODEL: (dict,),
    Key.OPTIMIZER: (dict,),
    Key.SCHEDULER: (dict,),
    Key.STEP: (int,),
    Key.EPOCH: (int,),
    Key.BATCH_IN_EPOCH: (int,),
    Key.BEST_VALUE: (*_NUMBER, None),
    Key.BEST_STEP: (int,),
    Key.METRICS: (dict,),
    Key.RNG: (dict,),
    Key.LOOP: (dict,),
    Key.CONFIG: (dict,),
    Key.TOKENIZER: (dict, None),
    Key.OBJECTIVE: (str, None),
    Key.DATA: (dict, None),
    Key.INIT_FROM: (str, None),
    Key.HEAD: (str,),
    Key.LABELS: (list,),
    Key.TASK: (str,),
    Key.SERIES: (dict, None),
    Key.DATA_FILES: (dict, None),
    Key.VERSION: (str,),
}
_REMAKE = "Use a checkpoint a seqtune run wrote (its checkpoints/best.pt or last.pt), or re-create it"


def _entry_problem(ckpt: dict[str, Any], key: str) -> str | None:
    if key not in ckpt:
        return f"entry {key!r} is missing"
    allowed = ENTRY_TYPES[key]
    value = ckpt[key]
    if value is None and None in allowed:
        return None
    if isinstance(value, bool) or not isinstance(value, tuple(t for t in allowed if t is not None)):
        names = " or ".join("null" if t is None else t.__name__ for t in allowed)
        return f"entry {key!r} is a {type(value).__name__}, not a {names}"
    return None


def require(ckpt: dict[str, Any], path: str | Path, entries: tuple[str, ...], config: tuple[str, ...] = ()) -> None:
    """The entries a command reads, and the sections of the run's config it reads: present and of their type,
    else one CheckpointError naming each."""
    problems = [p for key in entries if (p := _entry_problem(ckpt, key))]
    cfg = ckpt.get(Key.CONFIG)
    if config and isinstance(cfg, dict):
        problems += [f"its config has no {s!r} section" for s in config if not isinstance(cfg.get(s), dict)]
    if problems:
        raise CheckpointError(f"{path} is not a checkpoint seqtune can use here: {'; '.join(problems)}. {_REMAKE}.")


def load_weights(model: torch.nn.Module, state: dict[str, Any], source: str | Path) -> None:
    """``model.load_state_dict(state)``, but a checkpoint whose tensors do not fit the model it describes (an edited
    or mixed-up file: vocabulary, sizes, layers or direction differ) is a CheckpointError naming the tensors."""
    own = model.state_dict()
    problems = [
        f"{n}: checkpoint {tuple(t.shape)}, model {tuple(own[n].shape)}"
        for n, t in state.items()
        if n in own and hasattr(t, "shape") and own[n].shape != t.shape
    ]
    missing = [n for n in own if n not in state]
    unexpected = [n for n in state if n not in own]
    if missing:
        problems.append(f"missing from the checkpoint: {', '.join(missing[:8])}{', ...' if len(missing) > 8 else ''}")
    if unexpected:
        problems.append(f"not in the model: {', '.join(unexpected[:8])}{', ...' if len(unexpected) > 8 else ''}")
    if problems:
        raise CheckpointError(
            f"the weights in {source} do not fit the model its own config and tokenizer describe: "
            + "; ".join(problems)
            + ". The file was edited or assembled from different runs; use the run's own "
            "checkpoints/best.pt or last.pt, or re-create it."
        )
    model.load_state_dict(state)
