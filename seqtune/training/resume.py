"""Resume an interrupted run exactly, in its own directory: ``resume=<run dir | checkpoint file | auto>``.

Two halves:

* Before Hydra starts (``cli.py``), :func:`prepare_argv` finds the run (``auto``: the newest unfinished run of
  the same command and the same config under ``output_root``), refuses a finished run, checks the user's other
  overrides against the run's own config (only the ``HARMLESS`` keys may change) and rewrites argv to the run's
  original overrides + the harmless ones + ``hydra.run.dir=<run dir>`` + ``hydra.output_subdir=.hydra/resume-<k>``.
  So Hydra composes the original config again, writes into the same directory (the log file is appended to) and
  keeps its record of the first launch in ``.hydra/``.
* In the task (``pretrain.py`` / ``finetune.py``), :func:`open_checkpoint` loads the checkpoint to go on from (the
  newest of ``last.pt`` and ``step-<N>.pt``, or the file given), cuts ``metrics.jsonl`` back to its step and
  removes what a killed process left behind; ``loop.train(..., resume=ckpt)`` does the rest.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from seqtune.data.fingerprint import changed_files, dataset_paths, fingerprint
from seqtune.errors import CheckpointError, ConfigError, SeqtuneError
from seqtune.training import checkpoint, distributed
from seqtune.training.checkpoint import Key
from seqtune.training.rundir import RunDir

# Keys a resumed run may change: they extend or watch the run without changing what it computes step by step.
HARMLESS = (
    "resume",
    "output_root",
    "trainer.max_steps",
    "trainer.max_epochs",
    "trainer.progress",
    "trainer.checkpoint_every",
    "trainer.keep_checkpoints",
    "trainer.skip_nonfinite",
    "trainer.loggers",
    "trainer.resume_on_changed_data",
)
RESUMABLE = ("pretrain", "finetune")
RESUME_ENTRIES = (  # what a resumed loop reads from its checkpoint
    Key.MODEL, Key.OPTIMIZER, Key.SCHEDULER, Key.RNG, Key.LOOP, Key.CONFIG,
    Key.STEP, Key.EPOCH, Key.BATCH_IN_EPOCH, Key.BEST_VALUE, Key.BEST_STEP, Key.METRICS,
)  # fmt: skip
_PRINT_ONLY_FLAGS = ("--cfg", "-c", "--help", "-h", "--hydra-help", "--info", "-i", "--shell-completion", "-sc")


def _key(override: str) -> str:
    """``+a.b=1`` / ``~a.b`` / ``a.b=1`` -> ``a.b``."""
    return override.split("=", 1)[0].lstrip("+~")


def _quote(value: str) -> str:
    """A Hydra override value that keeps any path intact (quoted when it holds characters the grammar parses)."""
    if all(c.isalnum() or c in "/._-:" for c in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out if out or not prefix else {prefix[:-1]: {}}
    return {prefix[:-1]: node}


def _relevant(flat: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in flat.items() if not any(k == h or k.startswith(h + ".") for h in HARMLESS)}


def _compose(command: str, overrides: list[str]) -> dict[str, Any]:
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="seqtune.conf", version_base="1.3"):
        cfg = compose(config_name=command, overrides=overrides)
    return _flat(OmegaConf.to_container(cfg, resolve=False))


def resume_command(command: str, run_dir: Path | str) -> str:
    return f"seqtune {command} resume={shlex.quote(str(run_dir))}"


# ------------------------------------------------------------------------------------------ finding the run
def _job_name(run_dir: Path) -> str | None:
    try:
        hydra_cfg = OmegaConf.load(run_dir / ".hydra" / "hydra.yaml")
        name = OmegaConf.select(hydra_cfg, "hydra.job.name")
        return str(name) if name is not None else None
    except Exception:
        return None


def _launch_dir(run_dir: Path) -> Path | None:
    """The working directory the run was launched from (Hydra's record), if it still exists."""
    try:
        cwd = OmegaConf.select(OmegaConf.load(run_dir / ".hydra" / "hydra.yaml"), "hydra.runtime.cwd")
    except Exception:  # noqa: BLE001 - no record: stay where we are
        return None
    return Path(cwd).resolve() if cwd and Path(cwd).is_dir() else None


def locate(spec: str) -> tuple[Path, Path | None]:
    """``resume=<run dir | checkpoint file>`` -> (run directory, the checkpoint file if one was named)."""
    path = Path(spec)
    if path.is_file():
        run = RunDir.of_checkpoint(path)
        if run is None:
            raise CheckpointError(
                f"resume={spec}: a checkpoint to resume from lies in a run's checkpoints/ folder "
                "(last.pt or step-<N>.pt); give that file or the run directory."
            )
        return run.path, path
    if path.is_dir():
        if not RunDir(path).is_run():
            raise CheckpointError(
                f"resume={spec}: {path} is not a seqtune run directory (no .hydra/overrides.yaml); "
                "give the directory a `seqtune pretrain` or `seqtune finetune` run wrote."
            )
        return path, None
    raise CheckpointError(
        f"resume={spec}: no such run directory or checkpoint file. Give a run directory "
        "(outputs/<date>/<time>_pretrain), one of its checkpoints/*.pt, or resume=auto."
    )


def find_auto(command: str, overrides: list[str]) -> Path:
    """The newest unfinished ``command`` run under output_root whose composed config equals this one's
    (the HARMLESS keys aside)."""
    wanted = _compose(command, [o for o in overrides if _key(o) not in HARMLESS])
    root = Path(
        next(
            (o.split("=", 1)[1] for o in reversed(overrides) if _key(o) == "output_root"),
            _compose(command, [o for o in overrides if _key(o) == "output_root"])["output_root"],
        )
    )
    wanted = _relevant(wanted)
    found, other = [], 0
    for hydra_dir in root.glob("**/.hydra") if root.is_dir() else []:
        run = hydra_dir.parent
        if (
            RunDir(run).is_finished()
            or not RunDir(run).is_run()
            or _job_name(run) != command
            or not (hydra_dir / "config.yaml").is_file()
        ):  # (a launch killed while Hydra wrote its record)
            continue
        try:
            theirs = _relevant(_flat(OmegaConf.to_container(OmegaConf.load(hydra_dir / "config.yaml"), resolve=False)))
        except Exception:
            continue
        if theirs == wanted:
            found.append(((hydra_dir / "config.yaml").stat().st_mtime, str(run), run))
        else:
            other += 1
    if not found:
        raise CheckpointError(
            f"resume=auto: no unfinished {command} run with this config under {root.resolve()}"
            + (f" ({other} unfinished run(s) there have another config)" if other else "")
            + ". Pass the same overrides as the run you want to continue, or name it: resume=<run dir>; "
            "or start a new run without resume=."
        )
    return max(found)[2]


# ------------------------------------------------------------------------------------------ CLI half
def prepare_argv(command: str, args: list[str]) -> list[str]:
    """Rewrite ``seqtune <command>`` arguments that hold ``resume=...`` (see the module docstring)."""
    overrides = [a for a in args if "=" in a and not a.startswith("-")]
    specs = [o.split("=", 1)[1] for o in overrides if _key(o) == "resume"]
    if not specs or specs[-1] in ("", "null") or command not in RESUMABLE:
        return args
    if any(a in _PRINT_ONLY_FLAGS for a in args):
        return args  # --cfg/--help only print
    if "-m" in args or "--multirun" in args:
        raise ConfigError(
            "resume= continues one run; it cannot be combined with -m/--multirun. Resume each job "
            "of a sweep with its own directory: seqtune {command} resume=multirun/<date>/<time>/<n>."
        )
    spec = specs[-1]
    task = [o for o in overrides if _key(o) != "resume" and not _key(o).startswith("hydra.")]
    hydra_overrides = [
        o for o in overrides if _key(o).startswith("hydra.") and _key(o) not in ("hydra.run.dir", "hydra.output_subdir")
    ]
    passthrough = [a for a in args if a not in overrides]
    if spec == "auto":
        run_dir = find_auto(command, task)
        target = run_dir
        print(f"resume=auto: the newest unfinished {command} run with this config is {run_dir}", flush=True)
    else:
        run_dir, ckpt_file = locate(spec)
        target = ckpt_file or run_dir
    job = _job_name(run_dir)
    if job is not None and job != command:
        raise ConfigError(
            f"resume={spec}: {run_dir} is a `seqtune {job}` run; resume it with `{resume_command(job, run_dir)}`."
        )
    if RunDir(run_dir).is_finished():
        hint = (
            f"To train it further, start a new run from its weights: seqtune pretrain init_from={run_dir}"
            if command == "pretrain"
            else "Start a new run (without resume=) to train again."
        )
        raise SeqtuneError(
            f"resume={spec}: the run {run_dir} has finished (its summary.json is written), so there is "
            f"nothing to resume. {hint}"
        )
    RunDir(run_dir, main=distributed.is_main()).lock()  # before anything in it changes; held until the command ends
    launch = _launch_dir(run_dir)
    if launch is not None and launch != Path.cwd().resolve():  # relative paths of the run mean what they meant
        run_dir, target = run_dir.resolve(), Path(target).resolve()
        os.chdir(launch)
        print(f"resume: working in {launch}, where the run was launched (its relative paths are relative to it)")
    original = OmegaConf.to_container(OmegaConf.load(run_dir / ".hydra" / "overrides.yaml"))
    assert isinstance(original, list)
    original = [str(o) for o in original if _key(str(o)) != "resume"]
    changed = [o for o in task if _key(o) not in HARMLESS]
    if changed:  # only what the user asked for now counts, compared on the composed configs
        keys = {_key(o) for o in changed}
        before = _relevant(_compose(command, original))
        after = _relevant(_compose(command, [o for o in original if _key(o) not in keys] + changed))
        conflicts = sorted(k for k in set(before) | set(after) if before.get(k, "<absent>") != after.get(k, "<absent>"))
        if conflicts:
            changes = "; ".join(
                f"{k}={after.get(k, '<absent>')} (the run has {before.get(k, '<absent>')})" for k in conflicts
            )
            raise ConfigError(
                f"resume={spec} continues the run with its own config, but these overrides change it: {changes}. "
                f"Only {', '.join(HARMLESS[1:])} may differ on resume; drop the others, or start a new run "
                "without resume=."
            )
    extend = [o for o in task if _key(o) in HARMLESS]
    extend_keys = {_key(o) for o in extend}
    k = 1
    while (run_dir / ".hydra" / f"resume-{k}").exists():
        k += 1
    return [
        *passthrough,
        *[o for o in original if _key(o) not in extend_keys],
        *extend,
        *hydra_overrides,
        f"resume={_quote(str(target))}",
        f"hydra.run.dir={_quote(str(run_dir))}",
        f"hydra.output_subdir={_quote(f'.hydra/resume-{k}')}",
    ]


# ------------------------------------------------------------------------------------------ task half
def _truncate_metrics(run_dir: Path, step: int) -> int:
    """Drop metrics.jsonl records after ``step`` (written after the checkpoint, replayed now); returns how many."""
    path = RunDir(run_dir).metrics
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line torn by a kill
            dropped += 1
            continue
        if record.get("step", 0) <= step:
            kept.append(line)
        else:
            dropped += 1
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    os.replace(tmp, path)
    return dropped


def open_checkpoint(
    spec: str, run_dir: Path, map_location: Any = "cpu", cfg: Any = None
) -> tuple[dict[str, Any] | None, str]:
    """The checkpoint to resume ``run_dir`` from (None: none written yet, start at step 0) and a line saying which.

    Data-parallel: rank 0 alone chooses it and makes the run one timeline (files are deleted and rewritten); the
    other ranks then read last.pt, which holds the chosen state, or raise rank 0's error."""
    if not distributed.active():
        return _open_checkpoint(spec, run_dir, map_location, cfg)
    outcome: tuple[Any, ...] | None = None
    if distributed.is_main():
        try:
            ckpt, note = _open_checkpoint(spec, run_dir, map_location, cfg)
            outcome = ("ok", ckpt is not None)
        except SeqtuneError as exc:
            outcome = ("error", exc)
            raise
        finally:
            distributed.broadcast_object(outcome if outcome is not None else ("error", None))
        return ckpt, note
    outcome = distributed.broadcast_object(None)
    if outcome[0] == "error":
        raise outcome[1] if outcome[1] is not None else SeqtuneError("rank 0 could not open the checkpoint")
    return (checkpoint.load(RunDir(run_dir).last, map_location=map_location) if outcome[1] else None), ""


def _open_checkpoint(
    spec: str, run_dir: Path, map_location: Any = "cpu", cfg: Any = None
) -> tuple[dict[str, Any] | None, str]:
    """open_checkpoint in one process (or on rank 0).

    ``spec`` is a checkpoint file (used as given) or the run directory (the newest of last.pt and step-<N>.pt;
    if last.pt cannot be read, the newest readable step checkpoint).  ``cfg``: the run's config; its data files
    are checked against the checkpoint's fingerprint before anything in the run changes.
    """
    run = RunDir(run_dir)
    if run.is_finished():
        raise SeqtuneError(
            f"resume={spec}: the run {run_dir} has finished (summary.json is written); nothing to resume."
        )
    removed = checkpoint.remove_stale_temporaries(run.checkpoints) if run.checkpoints.is_dir() else []
    notes = [f"removed {len(removed)} unfinished temporary file(s) a killed process left"] if removed else []
    path = Path(spec)
    ckpt: dict[str, Any] | None
    chosen: Path | None
    if path.is_file():
        ckpt, chosen, tried = checkpoint.load(path, map_location=map_location), path, 1
    else:
        ckpt, chosen, tried = _newest_readable(run, map_location, notes)
    if ckpt is not None and Key.LOOP not in ckpt:
        raise CheckpointError(
            f"resume={spec}: {chosen} was written by a seqtune without exact resume "
            "(no 'loop' entry); continue from its weights with init_from= instead."
        )
    if ckpt is not None:
        checkpoint.require(ckpt, str(chosen), RESUME_ENTRIES, config=("model",))
        if cfg is not None:
            check_data(ckpt, cfg)  # before anything in the run changes
    if ckpt is None:
        if tried:
            raise CheckpointError(f"resume={spec}: no checkpoint of {run_dir} can be read ({'; '.join(notes)}).")
        dropped = _truncate_metrics(run_dir, -1)
        return None, "; ".join(
            [
                *notes,
                f"resuming {run_dir}: no checkpoint had been written, starting again from "
                f"step 0 in the same directory ({dropped} metrics lines dropped)",
            ]
        )
    assert chosen is not None
    notes += one_timeline(run, ckpt, chosen, spec, map_location)
    dropped = _truncate_metrics(run_dir, ckpt[Key.STEP])
    notes.append(
        f"resuming {run_dir} from {chosen} (step {ckpt[Key.STEP]}, epoch {ckpt[Key.EPOCH]}, batch "
        f"{ckpt[Key.BATCH_IN_EPOCH]} of the epoch)" + (f"; {dropped} metrics lines after it dropped" if dropped else "")
    )
    return ckpt, "; ".join(notes)


def one_timeline(run: RunDir, ckpt: dict[str, Any], chosen: Path, spec: str, map_location: Any) -> list[str]:
    """Make the run describe one history: the one that leads to ``ckpt``.  Resuming from an older checkpoint
    abandons what came after it: later step files are deleted, last.pt becomes ``chosen``, and a best.pt written
    after it is replaced by the best checkpoint of this history (refused, with nothing changed, when that file is
    gone).  Returns what was discarded, for the log."""
    step, best_step = ckpt[Key.STEP], ckpt[Key.BEST_STEP]
    notes: list[str] = []
    best_source: Path | None = None
    if run.best.is_file() and chosen != run.best:
        written = checkpoint.load(run.best, map_location=map_location)[Key.STEP]
        if written > step and ckpt[Key.BEST_VALUE] is None:  # no validation yet in this history: no best.pt
            best_source = run.best  # removed below; the next validation writes this history's own
            notes.append(f"best.pt (step {written}, abandoned) removed: step {step}'s history had no validation yet")
        elif written > step:
            files = {n: p for n, p in run.step_checkpoints()} | {step: chosen}
            best_source = files.get(best_step)
            if best_source is None:
                raise CheckpointError(
                    f"resume={spec}: {chosen} is step {step}, but {run.best} is from step {written}, a later "
                    f"history that this resume abandons, and the best checkpoint of step {step}'s history (step "
                    f"{best_step}) is no longer on disk. Nothing was changed. Resume from a checkpoint at or after "
                    f"step {written} (resume={run.path}), or start a new run from these weights: init_from={chosen}."
                )
            notes.append(f"best.pt (step {written}, abandoned) replaced by the best of this history, step {best_step}")
    later = [(n, p) for n, p in run.step_checkpoints() if n > step]
    for _, p in later:  # an abandoned later history: never "newest" again
        p.unlink(missing_ok=True)
    if later:
        notes.append(f"abandoned step checkpoint(s) {', '.join(str(n) for n, _ in later)} deleted")
    if best_source == run.best:
        run.best.unlink()
    elif best_source is not None:
        checkpoint.replace_with(best_source, run.best)
    if chosen != run.last and run.checkpoints.is_dir():
        checkpoint.replace_with(chosen, run.last)  # last.pt: the newest state of this history, from now on
    return notes


def check_data(ckpt: dict[str, Any] | None, cfg: Any) -> None:
    """A resumed run reads the data it started with: files whose content changed since (by the fingerprint the
    checkpoint keeps) are an error naming them, unless ``trainer.resume_on_changed_data=true``."""
    saved = (ckpt or {}).get(Key.DATA_FILES)
    if not saved or cfg.trainer.get("resume_on_changed_data", False):
        return
    changed = changed_files(saved, fingerprint(dataset_paths(cfg.dataset)))
    if changed:
        raise CheckpointError(
            f"resume={cfg.resume}: the data changed since the run started: {'; '.join(changed)}. Resuming would "
            "train on other data than the steps before it. Restore the file(s), or go on with the new data "
            "anyway: trainer.resume_on_changed_data=true (the run then mixes two versions of its data)."
        )


def _newest_readable(
    run: RunDir, map_location: Any, notes: list[str]
) -> tuple[dict[str, Any] | None, Path | None, int]:
    """The newest readable of last.pt and the step checkpoints (a step file newer than last.pt: killed between
    writing it and refreshing last.pt); (checkpoint, its path, files tried).  Unreadable ones go into ``notes``."""
    ckpt, chosen, tried = None, None, 0
    if run.last.is_file():
        tried += 1
        try:
            ckpt, chosen = checkpoint.load(run.last, map_location=map_location), run.last
        except CheckpointError as exc:
            notes.append(f"skipped {run.last}: {exc}")
    for n, p in reversed(run.step_checkpoints()):
        if ckpt is not None and n <= ckpt[Key.STEP]:
            break
        tried += 1
        try:
            return checkpoint.load(p, map_location=map_location), p, tried
        except CheckpointError as exc:
            notes.append(f"skipped {p}: {exc}")
    return ckpt, chosen, tried
