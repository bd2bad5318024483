"""kill -9 safety: kill a small `seqtune pretrain` run with SIGKILL at random moments, resume it every time.

    python scripts/kill_loop.py                      # 20 kills, then the run completes; about 5 minutes on 2 CPU cores
    python scripts/kill_loop.py --kills 5 --seed 1 --out /tmp/kill_loop

1. A reference run of the same config, uninterrupted (``<out>/reference``).
2. ``--kills`` times: start the run (``resume=auto`` once a run directory exists under ``<out>/runs``), wait a
   random time, SIGKILL it.  After each kill every checkpoint file must load (``weights_only``) and the newest
   step must never go back; the next launch must say it resumes from exactly that newest checkpoint.
3. One last launch runs to the end; its metrics.jsonl (every line but the tokens/s figure), summary and final
   weights must equal the reference run's.

One line per iteration and a summary; exit status 0 when every check held.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from seqtune.training import checkpoint
from seqtune.errors import CheckpointError

CONFIG = [
    "dataset.train_sentences=2000", "dataset.valid_sentences=200", "dataset.test_sentences=200",
    "model.embedding_size=32", "model.hidden_size=64", "model.num_layers=1", "model.dropout=0.2",
    "trainer.batch_size=16", "trainer.bptt=20", "trainer.eval_batch_size=8", "trainer.max_epochs=100",
    "trainer.max_steps=2500", "trainer.log_interval=10", "trainer.checkpoint_every=25", "trainer.keep_checkpoints=2",
    "trainer.device=cpu", "trainer.progress=log", "optimizer.lr=0.003",
]
RESUMED = re.compile(r"resuming (\S+) from (\S+) \(step (\d+),")
STARTED = re.compile(r"^model .* steps \(", re.M)  # the last line of the run's header: training starts next


def launch(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as fh:
        return subprocess.Popen([sys.executable, "-m", "seqtune", "pretrain", *args], stdout=fh,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)


def run_dirs(root: Path) -> list[Path]:
    return sorted(p.parent.parent for p in root.glob("**/.hydra/overrides.yaml"))


def check_checkpoints(run: Path | None) -> tuple[int | None, int, list[str]]:
    """(newest checkpoint step or None, checkpoint files read, problems): every checkpoint must load."""
    if run is None or not (run / "checkpoints").is_dir():
        return None, 0, []
    newest, files, problems = None, 0, []
    for path in sorted((run / "checkpoints").glob("*.pt")):
        try:
            ckpt = checkpoint.load(path)
        except CheckpointError as exc:
            problems.append(f"{path.name}: {exc}")
            continue
        files += 1
        if path.name != "best.pt":
            newest = ckpt["step"] if newest is None else max(newest, ckpt["step"])
    return newest, files, problems


def comparable(run: Path) -> tuple[list[dict], dict, dict]:
    lines = [{k: v for k, v in json.loads(line).items() if k != "train/tokens_per_s"}
             for line in (run / "metrics.jsonl").read_text().splitlines()]
    summary = {k: v for k, v in json.loads((run / "summary.json").read_text()).items()
               if k not in ("train/tokens_per_s", "train/seconds")}
    return lines, summary, torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-delay", type=float, default=5.0,
                    help="a kill in training comes up to this many seconds after the launch reported its start")
    ap.add_argument("--startup-kills", type=float, default=0.25,
                    help="share of kills at a random moment of the start-up (imports, data, resuming) instead")
    ap.add_argument("--out", type=Path, default=Path("outputs/kill_loop"))
    ap.add_argument("--no-reference", action="store_true", help="skip the uninterrupted run and the final comparison")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    shutil.rmtree(a.out, ignore_errors=True)
    runs_root = a.out / "runs"
    a.out.mkdir(parents=True)

    if not a.no_reference:
        t0 = time.time()
        proc = launch([*CONFIG, f"hydra.run.dir={a.out / 'reference'}"], a.out / "reference.log")
        if proc.wait() != 0:
            print(f"reference run failed: see {a.out / 'reference.log'}")
            return 1
        print(f"reference run: {time.time() - t0:.1f} s, uninterrupted", flush=True)

    failures: list[str] = []
    resumed_from: list[int] = []
    expected: int | None = None  # newest checkpoint step on disk before a launch
    completed_early = False
    startup = 10.0  # seconds, measured on each launch that reports its start
    for i in range(1, a.kills + 1):
        existing = run_dirs(runs_root)
        args = [*CONFIG, f"output_root={runs_root}"] + (["resume=auto"] if existing else [])
        log = a.out / f"launch-{i:02d}.log"
        proc = launch(args, log)
        t0 = time.time()
        # The start-up (imports, data, finding and loading the checkpoint) takes seconds and more on a loaded
        # machine: wait for the launch to report it is training, then kill at a random moment of the training;
        # some kills land in the start-up itself, at a random fraction of the last start-up's duration.
        during_startup = rng.random() < a.startup_kills
        fraction, delay = rng.random(), rng.uniform(0.2, a.max_delay)
        if during_startup:
            time.sleep(fraction * startup)
        else:
            while proc.poll() is None and not STARTED.search(log.read_text(errors="replace")):
                time.sleep(0.05)
            startup = time.time() - t0
            time.sleep(delay)
        delay = time.time() - t0
        if proc.poll() is not None:  # it finished (or failed) before the kill
            completed_early = proc.returncode == 0
            if proc.returncode != 0:
                failures.append(f"launch {i} exited {proc.returncode} before the kill: {log}")
            print(f"kill {i:2d}/{a.kills}: the run ended first (exit {proc.returncode})", flush=True)
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        text = log.read_text(errors="replace")
        m = RESUMED.search(text)
        if m:
            resumed_from.append(int(m.group(3)))
            what = f"resumed from step {m.group(3)} ({Path(m.group(2)).name})"
            if expected is None or int(m.group(3)) != expected:
                failures.append(f"launch {i} resumed from step {m.group(3)}, the newest checkpoint was {expected}")
        elif "no checkpoint had been written" in text:
            what = "restarted from step 0 (no checkpoint yet)"
            if expected is not None:
                failures.append(f"launch {i} restarted from 0 though step {expected} was saved")
        elif existing:
            what = "killed before it reported where it resumed"
        else:
            what = "first launch"
        run = (run_dirs(runs_root) or [None])[-1]
        newest, files, problems = check_checkpoints(run)
        failures += [f"after kill {i}: {p}" for p in problems]
        if expected is not None and (newest is None or newest < expected):
            failures.append(f"after kill {i}: the newest checkpoint went back from step {expected} to {newest}")
        tmp = len(list((run / "checkpoints").glob(".*.tmp-*"))) if run and (run / "checkpoints").is_dir() else 0
        expected = newest
        print(f"kill {i:2d}/{a.kills} after {delay:4.1f} s{' (start-up)' if during_startup else ''}: {what}; now {files} checkpoint file(s) all readable"
              f"{'' if not problems else ' NOT: ' + '; '.join(problems)}, newest step {newest}"
              + (f", {tmp} torn temporary file(s) left (removed on resume)" if tmp else ""), flush=True)

    if not completed_early:
        log = a.out / "launch-final.log"
        proc = launch([*CONFIG, f"output_root={runs_root}", "resume=auto"], log)
        rc = proc.wait()
        m = RESUMED.search(log.read_text(errors="replace"))
        if rc != 0:
            failures.append(f"the final launch exited {rc}: {log}")
        elif m and int(m.group(3)) != expected:
            failures.append(f"the final launch resumed from step {m.group(3)}, the newest checkpoint was {expected}")
        print(f"final launch: {'resumed from step ' + m.group(3) if m else 'started'}, exit {rc}", flush=True)
    run = run_dirs(runs_root)[-1]
    finished = (run / "summary.json").is_file()
    if not finished:
        failures.append(f"{run} did not complete")
    same = None
    if finished and not a.no_reference:
        la, sa, wa = comparable(a.out / "reference")
        lb, sb, wb = comparable(run)
        same = la == lb and sa == sb and all(torch.equal(wa[k], wb[k]) for k in wa)
        if not same:
            failures.append("the killed-and-resumed run differs from the reference run")
    print(f"\nsummary: {a.kills} SIGKILLs, {len(resumed_from)} launches reported resuming from the newest checkpoint "
          f"(steps {', '.join(map(str, resumed_from))}); run completed: {finished}; "
          + ("" if same is None else f"metrics, summary and final weights identical to the uninterrupted run: {same}; ")
          + f"failures: {len(failures)}", flush=True)
    for f in failures:
        print("  FAIL", f)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
