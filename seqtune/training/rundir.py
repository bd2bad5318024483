"""The run directory: its files, and what "a run directory" means when a command is given one.

Every ``seqtune pretrain`` / ``finetune`` run writes one directory (the contract README.md lists)::

    run = RunDir(path)
    run.config, run.metrics, run.summary, run.tokenizer, run.labels, run.data, run.environment
    run.checkpoints / run.last / run.best / run.step_file(400)

**One meaning of a run directory.**  Given where a checkpoint is expected (``transfer.checkpoint``,
``init_from``, ``checkpoint=`` of evaluate/predict/generate, ``seqtune export``), a run directory stands for its
checkpoint, :meth:`RunDir.checkpoint`: ``best.pt`` (the weights its summary reports), or ``last.pt`` while it
has no ``best.pt`` yet; ``latest`` is the newest run of the command's kind under ``output_root``
(:func:`resolve_checkpoint`).  ``resume=`` is the one different request: it continues the run itself, from its
newest state (the newest readable of ``last.pt`` and ``step-<N>.pt``, ``resume.open_checkpoint``).

Nothing here imports torch: the CLI and ``seqtune report`` read run directories too.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from seqtune.errors import CheckpointError, SeqtuneError

RunKind = Literal["pretrain", "finetune"]
_STEP_FILE = re.compile(r"step-(\d+)\.pt")


@dataclass(frozen=True)
class RunDir:
    path: Path
    main: bool = True  # data-parallel ranks other than 0 read the run but write nothing (write_* do nothing)

    # ---- files of the contract
    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    @property
    def tokenizer(self) -> Path:
        return self.path / "tokenizer.json"

    @property
    def labels(self) -> Path:
        return self.path / "labels.json"

    @property
    def data(self) -> Path:
        return self.path / "data.json"

    @property
    def environment(self) -> Path:
        return self.path / "environment.json"

    @property
    def hydra(self) -> Path:
        return self.path / ".hydra"

    @property
    def lock_file(self) -> Path:
        return self.path / ".lock"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pt"

    def step_file(self, step: int) -> Path:
        return self.checkpoints / f"step-{step}.pt"

    # ---- what the directory holds
    @property
    def kind(self) -> RunKind:
        """A fine-tuning run writes labels.json; a pretraining run does not."""
        return "finetune" if self.labels.exists() else "pretrain"

    def is_finished(self) -> bool:
        return self.summary.is_file()

    def is_run(self) -> bool:
        """A directory a seqtune command launched (Hydra's record of the launch is there)."""
        return (self.hydra / "overrides.yaml").is_file()

    def step_checkpoints(self) -> list[tuple[int, Path]]:
        """``checkpoints/step-<N>.pt`` files as (N, path), oldest first."""
        if not self.checkpoints.is_dir():
            return []
        found = [
            (int(m.group(1)), p) for p in self.checkpoints.glob("step-*.pt") if (m := _STEP_FILE.fullmatch(p.name))
        ]
        return sorted(found)

    def checkpoint(self) -> Path:
        """The checkpoint this run stands for: best.pt, else last.pt (best.pt's path when neither exists, so
        that loading it names the file that is missing)."""
        return self.last if not self.best.exists() and self.last.exists() else self.best

    def lock(self) -> None:
        """Hold the run's advisory lock for the life of this process (the OS releases it when the process dies,
        even by kill -9): one process at a time writes a run.  A second one is a RunLocked error naming the
        holder.  Taking it again in the same process is a no-op; ranks other than 0 write nothing and take none."""
        if self.main:
            _lock(self.path)

    def write_text(self, file: Path, text: str) -> None:
        if self.main:
            file.write_text(text, encoding="utf-8")

    def write_json(self, file: Path, obj: Any, indent: int | None = None) -> None:
        self.write_text(file, json.dumps(obj, indent=indent))

    @classmethod
    def of_checkpoint(cls, path: Path) -> RunDir | None:
        """The run a checkpoint file belongs to (None when it does not lie in a run's checkpoints/ folder)."""
        return cls(path.parent.parent) if path.parent.name == "checkpoints" else None


# ------------------------------------------------------------------------------------------ the lock
class RunLocked(SeqtuneError):
    """Another process holds the run directory's lock."""


_HELD: dict[str, int] = {}  # resolved run path -> the open descriptor that holds its lock


def _lock(path: Path) -> None:
    key = str(path.resolve())
    if key in _HELD:
        return
    try:
        import fcntl
    except ImportError:  # not POSIX (Windows): no advisory locks; one writer per run is then the user's care
        return
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "another process"
        os.close(fd)
        raise RunLocked(
            f"the run directory {path} is in use by {holder}: one process at a time writes a run. Wait for it "
            "to finish (or stop it: it then writes last.pt), then resume; a re-queued job that finds its run "
            "busy should not start a second copy."
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(
        fd, f"pid {os.getpid()} on {socket.gethostname()} (since {time.strftime('%Y-%m-%d %H:%M:%S')})\n".encode(), 0
    )
    _HELD[key] = fd


def release_locks() -> None:
    """Let go of every run lock this process holds (the end of a command; the OS would at exit anyway)."""
    while _HELD:
        _, fd = _HELD.popitem()
        os.close(fd)  # closing the descriptor releases its flock


# ------------------------------------------------------------------------------------------ resolution
def find_latest(output_root: str | Path, kind: RunKind) -> Path | None:
    """Newest ``checkpoints/best.pt`` of a ``kind`` run under ``output_root``."""
    found = []
    for best in Path(output_root).glob("**/checkpoints/best.pt"):
        if RunDir(best.parent.parent).kind == kind:
            found.append((best.stat().st_mtime, str(best), best))
    return max(found)[2] if found else None


def resolve_checkpoint(spec: str, output_root: str | Path, kind: RunKind, key: str) -> tuple[Path, str]:
    """``spec`` (a .pt file, a run directory, or latest) -> (checkpoint path, a line saying how it was chosen)."""
    if spec == "latest":
        path = find_latest(output_root, kind)
        if path is None:
            make = (
                "seqtune pretrain` (the built-in corpus, about 2 minutes on a CPU)"
                if kind == "pretrain"
                else "seqtune finetune`"
            )
            raise CheckpointError(
                f"{key}=latest but there is no {kind} run with checkpoints/best.pt under "
                f"{Path(output_root).resolve()}. "
                f"Make one first with `{make}, or give {key}=path/to/checkpoints/best.pt (or a run directory)"
                + (
                    ", or train from random weights without a checkpoint: transfer=scratch "
                    "transfer.checkpoint=null +model=lstm (or gru, rnn)."
                    if kind == "pretrain"
                    else "."
                )
            )
        return path, f"{key}=latest: newest {kind} run under {output_root}/ is {path.parent.parent}"
    path = Path(spec)
    if path.is_dir():
        path = RunDir(path).checkpoint()
    return path, f"{key}: {path}"
