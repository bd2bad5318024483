"""Send the running ``seqtune`` process a real signal at a chosen point (for the resume tests).

In a subprocess (the real exit status)::

    SIGNAL_AT_STEP=N SIGNAL=SIGTERM python tests/signal_at_step.py <seqtune args...>

In the test process (``monkeypatch.setattr(*patch)`` for each of ``hooks(step, signal, on)``), with the CLI
called in-process.  ``signal``: SIGTERM | SIGINT | SIGINT2 (two SIGINTs: the second aborts) | SIGKILL, or KILL9 in
process (a BaseException that unwinds the way the process would vanish: nothing more is written).  ``on``:

    step   as the schedule advances in step N (the loop then finishes step N and stops)
    log    after the train/* metrics line of step N
    save   right after last.pt of step N is written (e.g. an end-of-epoch checkpoint)
    eval   in the middle of the first evaluation pass after step N (before its second batch)
    test   before the (N+2)-th evaluation batch after best.pt is loaded for the test (N=0: the test evaluation's
           second batch; fine-tuning's prediction passes come after it)

The signal goes through the operating system to the handlers seqtune installs, exactly as a user's Ctrl-C or
``kill`` does; only the moment is chosen here, so a test can compare against an uninterrupted run step by step.
"""
from __future__ import annotations

import os
import signal
import sys
from typing import Any, Callable

from torch.optim.lr_scheduler import LRScheduler

from seqtune.training import checkpoint, signals
from seqtune.loggers import metrics


class Killed(BaseException):
    """In-process stand-in for SIGKILL."""


def hooks(step: int, which: str = "SIGTERM", on: str = "step") -> list[tuple[Any, str, Callable]]:
    def fire() -> None:
        if which == "KILL9":
            raise Killed(step)
        if which == "SIGINT2":
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        else:
            os.kill(os.getpid(), getattr(signal, which))

    _log, _save, _step = metrics.MetricsLogger.log, checkpoint.save, LRScheduler.step
    _load, _check = checkpoint.load, signals.check_stop
    armed = {"batches": -1}  # evaluation batches seen since armed (-1: not armed)
    at = 2 + (step if on == "test" else 0)

    def check_stop():  # called before every evaluation batch of a run
        if armed["batches"] >= 0:
            armed["batches"] += 1
            if armed["batches"] == at:
                armed["batches"] = -1
                fire()
        _check()

    def load(path, *args, **kwargs):
        if on == "test" and getattr(path, "name", "") == "best.pt":  # train_and_test, right before the test pass
            armed["batches"] = 0
        return _load(path, *args, **kwargs)

    def log(self, record):
        _log(self, record)
        if on == "log" and record.get("step") == step and any(k.startswith("train/") for k in record):
            fire()

    def save(path, payload):
        _save(path, payload)
        if on == "save" and path.name == "last.pt" and payload["step"] == step:
            fire()

    def step_(self, *args, **kwargs):
        _step(self, *args, **kwargs)
        if on == "step" and self.last_epoch == step:  # once per training step; last_epoch counts them
            fire()
        if on == "eval" and self.last_epoch == step:
            armed["batches"] = 0

    return [(metrics.MetricsLogger, "log", log), (checkpoint, "save", save), (LRScheduler, "step", step_),
            (checkpoint, "load", load), (signals, "check_stop", check_stop)]


if __name__ == "__main__":
    for target, name, fn in hooks(int(os.environ["SIGNAL_AT_STEP"]), os.environ.get("SIGNAL", "SIGTERM"),
                                  os.environ.get("SIGNAL_ON", "step")):
        setattr(target, name, fn)
    from seqtune.cli import main

    main(sys.argv[1:])
