"""SIGINT/SIGTERM: stop a run at the next safe point, with last.pt written and the resume hint.

``stop_on_signals()`` installs the handlers for a block (training, the test evaluation) and records the signal in a
:class:`StopRequest`; nothing is interrupted where it stands.  The safe points read it:

    after each training step      loop.stop_if_signalled (last.pt of this step, Interrupted)
    between evaluation batches    check_stop() raises EvaluationStopped: the pass is abandoned, nothing of it is
                                  recorded, and the run stops as after its last step; resume evaluates again
    after the test evaluation     run.train_and_test

Data-parallel: a signal reaches the ranks at different moments; every safe point agrees (an all-reduce) so that
all of them stop at the same one.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from seqtune.training import distributed


class EvaluationStopped(Exception):
    """A SIGINT/SIGTERM (agreed by every rank) stopped an evaluation pass between two batches."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class StopRequest:
    """Set by the SIGINT/SIGTERM handler; the loop reads it after each step, evaluations between batches."""

    signum: int | None = None


_OPEN: list[StopRequest] = []  # the requests of the stop_on_signals blocks now open (signals are process-wide)


def check_stop() -> None:
    """Between two evaluation batches (on every rank alike): raise EvaluationStopped when a signal asks to stop.
    Outside a stop_on_signals block (seqtune evaluate, predict) nothing is checked."""
    if _OPEN:
        signum = signal_received(_OPEN[-1])
        if signum is not None:
            raise EvaluationStopped(signum)


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """SIGINT/SIGTERM ask the loop to stop after the current step (it then writes last.pt); a second SIGINT
    aborts at once (KeyboardInterrupt).  Outside the main thread (signals cannot be caught there) a no-op."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum: int, frame: object) -> None:
        if request.signum is not None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            return
        request.signum = signum
        # os.write, not print: a handler may run in the middle of another write to the same stream
        os.write(
            2,
            f"\n{signal.Signals(signum).name}: stopping after the current step (or evaluation batch) and writing "
            "last.pt (Ctrl-C again to abort without saving)\n".encode(),
        )

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    _OPEN.append(request)
    try:
        yield request
    finally:
        _OPEN.remove(request)
        for s, h in previous.items():
            signal.signal(s, h)


def signal_received(stop: StopRequest) -> int | None:
    """The signal to stop on now, if any (data-parallel: the one the ranks agree on, see below)."""
    return stop.signum if distributed.world_size() == 1 else _agreed_signal(stop.signum)


def _agreed_signal(signum: int | None) -> int | None:
    """Data-parallel: a signal reaches the ranks at different moments; they stop after the same step when any
    rank has one (a per-step host-side all-reduce, like the step's example count)."""
    if distributed.all_reduce_int(int(signum is not None)) == 0:
        return None
    return signum if signum is not None else signal.SIGTERM
