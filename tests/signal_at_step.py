"""Run the real ``seqtune`` CLI and send this process a real signal at a chosen point (for the resume tests).

    python tests/signal_at_step.py <seqtune args...>     with, in the environment:
    SIGNAL_AT_STEP=N      the step
    SIGNAL=SIGTERM        SIGTERM | SIGINT | SIGINT2 (two SIGINTs: the second aborts) | SIGKILL
    SIGNAL_ON=step        step: as the schedule advances in step N (the loop then finishes step N and stops)
                          log: after the train/* metrics line of step N
                          save: right after last.pt of step N is written (e.g. an end-of-epoch checkpoint)

The signal goes through the operating system to the handlers seqtune installs, exactly as a user's Ctrl-C or
``kill`` does; only the moment is chosen here, so a test can compare against an uninterrupted run step by step.
"""
from __future__ import annotations

import os
import signal
import sys

from torch.optim.lr_scheduler import LRScheduler

from seqtune import checkpoint, metrics

STEP = int(os.environ["SIGNAL_AT_STEP"])
WHICH = os.environ.get("SIGNAL", "SIGTERM")
ON = os.environ.get("SIGNAL_ON", "step")


def fire() -> None:
    if WHICH == "SIGINT2":
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
    else:
        os.kill(os.getpid(), getattr(signal, WHICH))


_log, _save = metrics.MetricsLogger.log, checkpoint.save


def log(self, record):
    _log(self, record)
    if ON == "log" and record.get("step") == STEP and any(k.startswith("train/") for k in record):
        fire()


def save(path, payload):
    _save(path, payload)
    if ON == "save" and path.name == "last.pt" and payload["step"] == STEP:
        fire()


_step = LRScheduler.step


def step(self, *args, **kwargs):
    _step(self, *args, **kwargs)
    if ON == "step" and self.last_epoch == STEP:  # once per training step; last_epoch counts them
        fire()


metrics.MetricsLogger.log, checkpoint.save, LRScheduler.step = log, save, step

if __name__ == "__main__":
    from seqtune.cli import main

    main(sys.argv[1:])
