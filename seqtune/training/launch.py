"""How this process was launched: one of several ``torchrun`` processes, or a task of a multi-task submitit job.

Read from the environment only (no torch), so the CLI can tell before importing anything heavy; joining the
process group is ``distributed.init()``.
"""

from __future__ import annotations

import os


def _env_world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "MASTER_ADDR" in os.environ and _env_world() > 1


def in_submitit_tasks() -> bool:
    """Inside a submitit job with several tasks (one process per task): the tasks form the process group."""
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return False
    try:
        from submitit import JobEnvironment
    except ImportError:
        return False
    return JobEnvironment().num_tasks > 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))
