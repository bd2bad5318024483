"""What a run needs to be reproduced: library versions, machine, git commits, command line; and determinism.

``write_environment(run_dir)`` writes ``environment.json`` into every run directory.  ``set_determinism(True)``
makes PyTorch choose deterministic kernels (``trainer.deterministic=true``), at some cost in speed on GPUs;
``seed_everything(seed)`` seeds python, numpy and torch.
"""

from __future__ import annotations

import json
import os
import platform
import random
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from seqtune import __version__


def _git_commit(folder: Path) -> dict[str, object] | None:
    """HEAD of the git checkout holding ``folder`` (and whether it has uncommitted changes), if there is one."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def describe() -> dict[str, object]:
    versions: dict[str, str | None] = {"seqtune": __version__, "python": platform.python_version()}
    for dist in ("torch", "hydra-core", "omegaconf", "numpy", "tokenizers", "rich"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "versions": versions,
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "command": sys.argv,
        "cwd": os.getcwd(),
        "git": {"cwd": _git_commit(Path.cwd()), "seqtune": _git_commit(Path(__file__).resolve().parent)},
    }


def write_environment(run_dir: Path) -> None:
    (run_dir / "environment.json").write_text(json.dumps(describe(), indent=2) + "\n", encoding="utf-8")


def set_determinism(enabled: bool) -> None:
    if not enabled:
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it for deterministic matmuls
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
