"""seqtune's own error type.

Raise :class:`SeqtuneError` for every problem a user can fix (a bad config value, a missing or malformed
file, an incompatible checkpoint).  The CLI catches it, prints the message as one clear paragraph and exits
with status 2, without a Python traceback unless ``SEQTUNE_VERBOSE=1`` is set.  Anything else that escapes
is a bug in seqtune and keeps its traceback.
"""

from __future__ import annotations


class SeqtuneError(Exception):
    """A problem the user can fix; the message names the key or file and says how to fix it."""

    exit_code: int = 2


class ConfigError(SeqtuneError):
    """One or more configuration problems, each naming the full key, the bad value and the fix."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        if len(self.problems) == 1:
            msg = self.problems[0]
        else:
            msg = f"{len(self.problems)} configuration problems:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(msg)


class DataError(SeqtuneError):
    """A data file that is missing, empty, undecodable or malformed."""


class CheckpointError(SeqtuneError):
    """A checkpoint that is missing, corrupt, from a newer seqtune or incompatible with the model."""


class TrainingError(SeqtuneError):
    """Training cannot go on (a NaN/Inf loss); the message names the step and the last good checkpoint."""


class Interrupted(SeqtuneError):
    """SIGINT/SIGTERM stopped training after a step; last.pt holds that step.  Exit status 128 + signal number
    (130 for SIGINT, 143 for SIGTERM), as a shell reports a process ended by that signal."""

    def __init__(self, signum: int, step: int, checkpoint: str):
        import signal

        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        self.exit_code = 128 + signum
        super().__init__(f"{signal.Signals(signum).name} received: stopped after step {step}; {checkpoint} holds it.")
