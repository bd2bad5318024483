#!/usr/bin/env python
"""The counts of the schema-driven config sweep (tests/test_config_values.py): keys covered, values tried, how
each was answered, and how many bad values the commands accepted without the value rules (config/values.py)::

    python scripts/config_fuzz_counts.py          # about a minute on 2 CPU cores

"without the rules" runs the same sweep with ``value_problems`` answering nothing: every value that is then
accepted although a number key can never take it (NaN, infinity, a count past 2**31, a wrong type) would have
reached torch (a traceback, a hang, or a run with NaN learning rates).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import test_config_values as sweep  # noqa: E402


def run_sweep(baselines) -> tuple[int, Counter, list[str]]:
    counts: Counter[str] = Counter()
    keys: set[str] = set()
    bad: list[str] = []
    for command, overrides, cfg in baselines:
        for key, current in sweep.leaves(cfg):
            if isinstance(current, bool) or key in keys:
                continue
            keys.add(key)
            for value in sweep._values_for(current):
                try:
                    outcome = sweep.attempt(command, cfg, key, value)
                except Exception as exc:  # noqa: BLE001 - without the rules, a rule may trip over the value
                    outcome = "exception"
                    bad.append(f"{command}: {key}={value!r} -> {type(exc).__name__}")
                counts[outcome] += 1
                if outcome == "accepted" and sweep._always_bad(key, current, value):
                    bad.append(f"{command} {' '.join(overrides)}: {key}={value!r} accepted")
    return len(keys), counts, bad


def main() -> None:
    baselines = sweep.compose_baselines(sweep.compose_roots())
    n, counts, bad = run_sweep(baselines)
    print(f"with the value rules:    {n} keys, {sum(counts.values())} values: {dict(counts)}; bad accepted: {len(bad)}")
    with (
        mock.patch("seqtune.training.validation.value_problems", lambda *a, **k: []),
        mock.patch.object(sweep, "value_problems", lambda *a, **k: []),
    ):
        n, counts, bad = run_sweep(baselines)
    print(
        f"without the value rules: {n} keys, {sum(counts.values())} values: {dict(counts)}; bad accepted or "
        f"crashing: {len(bad)}"
    )
    for line in bad[:40]:
        print("  ", line)


if __name__ == "__main__":
    main()
