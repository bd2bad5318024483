"""``seqtune <command> [hydra overrides and flags]``: a thin dispatcher over Hydra entry points.

Each command picks its config root under ``conf/`` (shipped in the package as ``seqtune.conf``) and hands the
rest of argv to Hydra, so every Hydra flag works: ``--help``, ``--cfg job``, ``--info``, ``-m``, ``a.b=c``,
``+x=y``.  User-fixable problems (:class:`~seqtune.errors.SeqtuneError`) are printed as one paragraph and
exit with status 2; set ``SEQTUNE_VERBOSE=1`` to see the traceback as well.

Data-parallel: ``torchrun --nproc_per_node=N -m seqtune pretrain ...`` runs this in N processes.  They join
the process group before Hydra starts, rank 0 picks the run directory and the others receive it
(:func:`unique_dir`); ranks other than 0 print nothing but errors and write no files.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqtune import __version__
from seqtune.errors import Interrupted, SeqtuneError
from seqtune.training import launch

if TYPE_CHECKING:
    from omegaconf import DictConfig

# Hydra, OmegaConf and rich are imported where they are used: `seqtune --help`, `seqtune <command> --help`,
# `seqtune ls` and completion answer without them (scripts/time_cli.py measures it).

CONFIG_PATH = "pkg://seqtune.conf"

COMMANDS: dict[str, str] = {
    "pretrain": "pretrain an encoder with a self-supervised objective (causal LM by default) on unlabelled text",
    "ls": "list config groups and their options (`seqtune ls <group>` shows each option's settings)",
    "cp": "copy a shipped config out for editing: `seqtune cp dataset/table my/dataset/mine.yaml` (then --config-dir)",
    "report": "compare runs: table of overrides vs metrics, report.csv/.md, learning-curve and label-budget plots",
    "export": "a run's weights as safetensors with its tokenizer and config (and ONNX with --onnx)",
    "finetune": "fine-tune a pretrained encoder with a task head (classifier, tagger, regressor) on labelled data "
    "or a series",
    "ladder": "is pretraining worth it on your data? finetune per label budget x strategy x seed, table and plot",
    "lr-find": "the learning-rate range test for a pretrain or finetune config: lr_find.png and a suggested lr",
    "evaluate": "score a fine-tuned checkpoint on a split of its dataset (metrics JSON)",
    "predict": "label texts from a file or stdin with a fine-tuned checkpoint (JSON Lines)",
    "explain": "which tokens or time steps drove a fine-tuned model's predictions (terminal, JSON Lines, HTML page)",
    "generate": "sample text from a language-model checkpoint (prompt, length, temperature, top-k)",
}
# Commands that are plain functions of argv rather than Hydra entry points.
_PLAIN_COMMANDS = {
    "ls": "seqtune.commands.ls:ls",
    "cp": "seqtune.commands.ls:cp",
    "report": "seqtune.commands.report:main",
    "export": "seqtune.commands.export:main",
    "ladder": "seqtune.commands.ladder:main",
    "lr-find": "seqtune.commands.lr_find:main",
}


def _report(exc: SeqtuneError) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, highlight=False)
    if os.environ.get("SEQTUNE_VERBOSE"):
        console.print(traceback.format_exc(), markup=False)
    console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)  # the message may hold [brackets]
    console.print("(set SEQTUNE_VERBOSE=1 for the full traceback)", style="dim")


class _ClaimedDirs:
    """Run directories this process has claimed: Hydra may resolve ``hydra.run.dir`` more than once, and every
    resolution must give the same answer."""

    by_base: dict[str, str] = {}


_INHERITED_DIRS = "SEQTUNE_RUN_DIRS"  # base -> claimed directory, for the jobs a launcher starts


def unique_dir(base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... : the first that this process creates itself.

    ``os.mkdir`` is atomic, so two runs started in the same second (same timestamp) get different directories
    instead of writing into one.  Used in the root configs as ``${seqtune.unique:...}``.

    The same directory must come out in every process of one run: in a data-parallel run rank 0 claims it
    and broadcasts the name; a job started by the submitit launcher (a new process that resolves the sweep
    directory again) takes the one its launching process claimed, passed on in the environment.
    """
    if base in _ClaimedDirs.by_base:
        return _ClaimedDirs.by_base[base]
    inherited = json.loads(os.environ.get(_INHERITED_DIRS, "{}"))
    if os.environ.get("SUBMITIT_EXECUTOR") and base in inherited:
        _ClaimedDirs.by_base[base] = inherited[base]
        return inherited[base]
    if _group_active():
        distributed = _distributed()
        candidate = distributed.broadcast_object(_claim(base) if distributed.is_main() else None)
        _ClaimedDirs.by_base[base] = candidate
        return candidate
    candidate = _claim(base)
    _ClaimedDirs.by_base[base] = candidate
    os.environ[_INHERITED_DIRS] = json.dumps({**inherited, base: candidate})
    return candidate


def _distributed():  # noqa: ANN202 - the module
    """The data-parallel helpers (they import torch): loaded when a run needs them, so that `seqtune --help`,
    `seqtune <command> --help` and `--cfg job` answer without importing torch."""
    from seqtune.training import distributed

    return distributed


def _group_active() -> bool:
    return "torch.distributed" in sys.modules and _distributed().active()


def _claim(base: str) -> str:
    Path(base).parent.mkdir(parents=True, exist_ok=True)
    candidate, n = base, 1
    while True:
        try:
            os.mkdir(candidate)
            break
        except FileExistsError:
            n += 1
            candidate = f"{base}-{n}"
    return candidate


class OutputDirCheck:
    """Checks, before Hydra makes the run (or sweep) directory, that it can be created and written to.

    Configured under ``hydra.callbacks`` in the roots that write a run directory (pretrain, finetune).  Without
    it a file in the way, a read-only folder or a path that cannot exist ends in Hydra's stack trace; with it the
    command prints one paragraph naming the key and the path, and exits with status 2.  Nothing is written
    except the (empty) directory itself.
    """

    def on_run_start(self, config: DictConfig, **kwargs: object) -> None:
        try:
            _validate_early(config)
        except SeqtuneError as exc:  # before the run directory exists: nothing is left behind
            _report(exc)
            sys.exit(exc.exit_code)
        _check_output_dir(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: object) -> None:
        _check_output_dir(config, "hydra.sweep.dir")

    # The rest of Hydra's callback interface (hydra.experimental.callback.Callback, not subclassed: importing it
    # imports Hydra, which `seqtune --help` does without).
    def on_run_end(self, config: DictConfig, **kwargs: object) -> None: ...

    def on_multirun_end(self, config: DictConfig, **kwargs: object) -> None: ...

    def on_job_start(self, config: DictConfig, **kwargs: object) -> None: ...

    def on_job_end(self, config: DictConfig, job_return: object, **kwargs: object) -> None: ...

    def on_compose_config(self, config: DictConfig, config_name: str | None, overrides: list[str]) -> None: ...


def _validate_early(config: DictConfig) -> None:
    """A single run's config checks, before Hydra creates its run directory (so an invalid command leaves no stub
    folder): missing ``???`` values, the command's own validation, and a run directory that already holds a run.
    A resumed or ``init_from`` run is validated by the command, once the checkpoint has given its architecture."""
    import copy

    from omegaconf import OmegaConf, open_dict

    from seqtune.config.advice import missing_problems
    from seqtune.errors import ConfigError

    task = copy.deepcopy(config)
    with open_dict(task):
        del task["hydra"]
    problems = missing_problems(task)
    if problems:
        raise ConfigError(problems)
    command = str(OmegaConf.select(config, "hydra.job.name", default=""))
    _FreshDir.fresh = False
    if not task.get("resume"):
        _refuse_used_dir(config)
    if task.get("resume") or task.get("init_from"):
        return
    from seqtune.training import validation

    check = {"pretrain": validation.validate_pretrain, "finetune": validation.validate_finetune}.get(command)
    if check is not None:
        check(task)


class _FreshDir:
    """Whether this run's directory is new (claimed by ``seqtune.unique`` or absent before the run): only a new
    directory is ever removed after a failure."""

    fresh = False


def _refuse_used_dir(config: DictConfig) -> None:
    """``hydra.run.dir`` given by hand and already holding a run: appending to its metrics.jsonl would mix two runs.
    Read without resolving: resolving ``${seqtune.unique:...}`` claims a directory."""
    from omegaconf import OmegaConf

    raw = str(OmegaConf.to_container(config.hydra.run, resolve=False).get("dir"))  # type: ignore[union-attr]
    if "seqtune.unique" in raw:
        _FreshDir.fresh = True
        return
    path = Path(str(OmegaConf.select(config, "hydra.run.dir")))
    _FreshDir.fresh = not path.exists()
    held = [name for name in ("metrics.jsonl", "summary.json", "checkpoints") if (path / name).exists()]
    if held:
        raise SeqtuneError(
            f"hydra.run.dir={path} already holds a run ({', '.join(held)}); a second run there would mix its "
            f"metrics with the first. Choose another hydra.run.dir, or continue that run with resume={path}."
        )


_STUB_FILES = {".hydra", ".lock", "environment.json", "config.yaml", "tokenizer.json", "labels.json", "data.json"}


def _remove_stub(run_dir: Path) -> None:
    """A new run that failed before training wrote anything: remove its directory (only Hydra's record, the log and
    the files written before the data), so that it is not taken for an unfinished run by resume=auto."""
    import shutil

    if not (_FreshDir.fresh and run_dir.is_dir()):
        return
    if all(p.name in _STUB_FILES or p.suffix == ".log" for p in run_dir.iterdir()):
        shutil.rmtree(run_dir, ignore_errors=True)
        try:  # the date folder, when this run was its only one
            run_dir.parent.rmdir()
        except OSError:
            pass


def _check_output_dir(config: DictConfig, key: str) -> None:
    from omegaconf import OmegaConf

    shown = key
    try:
        # Resolving may already create folders (${seqtune.unique:...} claims the run directory with mkdir).
        path = Path(str(OmegaConf.select(config, key)))
        shown = f"{key}={path}"
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".seqtune-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except Exception as exc:  # noqa: BLE001 - an OSError, possibly wrapped by OmegaConf's interpolation error
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, OSError):  # OmegaConf wraps a resolver's error
            cause = cause.__cause__ or cause.__context__
        cause = cause or exc
        if isinstance(cause, OSError):
            where = f" ({cause.filename})" if cause.filename else ""
            reason = f"{cause.strerror or cause}{where}"
        else:
            reason = str(cause)
        _report(
            SeqtuneError(
                f"cannot create the run directory {shown}: {reason}. A file is in the way, or the folder is read-only "
                "or does not exist; choose a writable place with hydra.run.dir=<dir> (sweeps: hydra.sweep.dir) or "
                "output_root=<dir>, or move the file away. Nothing was written."
            )
        )
        sys.exit(2)


class _Progress:
    """Whether Hydra got as far as running the task (a failure before it is a config error: exit 2)."""

    task_started = False


def _record_job(job_dir: Path, overrides: list[str], result: object = None) -> None:
    """evaluate/predict/generate write no run directory; in a sweep their job directory gets the overrides and
    the result (summary.json), so that the end-of-sweep table and `seqtune report` read them like any run."""
    from omegaconf import OmegaConf

    (job_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    (job_dir / ".hydra" / "overrides.yaml").write_text(OmegaConf.to_yaml(overrides), encoding="utf-8")
    if result is not None:
        (job_dir / "summary.json").write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")


def _run_task(command: str, cfg: DictConfig) -> float | None:
    """Run one job; return the value Hydra sweepers optimise (None if the config names none)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    _Progress.task_started = True
    distributed = _distributed()
    if distributed.init() and not distributed.is_main():  # the tasks of a submitit job join here
        _quiet_rank()
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    summary: Any
    try:
        if command == "pretrain":
            from seqtune.commands import pretrain

            summary = pretrain.run(cfg, run_dir)
        elif command == "finetune":
            from seqtune.commands import finetune

            summary = finetune.run(cfg, run_dir)
        elif command in ("evaluate", "predict", "explain", "generate"):
            import importlib

            sweeping = hydra_cfg.mode == RunMode.MULTIRUN
            if sweeping:
                _record_job(run_dir, list(hydra_cfg.overrides.task))
            summary = importlib.import_module(f"seqtune.commands.{command}").run(cfg)
            if sweeping:
                _record_job(run_dir, list(hydra_cfg.overrides.task), summary)
        else:  # pragma: no cover - COMMANDS and this table are kept together
            raise AssertionError(command)
    except Interrupted as exc:  # SIGINT/SIGTERM: last.pt written; say how to go on, exit 130/143
        from seqtune.training.resume import resume_command

        print(f"{exc}\nResume with:\n  {resume_command(command, run_dir)}", file=sys.stderr, flush=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:  # a second Ctrl-C: abort at once, nothing more written
        from seqtune.training.resume import resume_command

        print(
            f"\naborted; the newest checkpoint in {run_dir / 'checkpoints'} (if any) is intact. Resume with:\n  "
            f"{resume_command(command, run_dir)}",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(130)
    except Exception as exc:
        if hydra_cfg.mode == RunMode.MULTIRUN:
            # One failed job must not end the sweep: keep its reason in error.txt (the end-of-sweep table shows
            # it) and give the sweeper the worst value for its direction. Hydra's Optuna sweeper stops the whole
            # study on NaN or an exception, but ranks an infinite value last and goes on.
            from seqtune.commands.sweep import record_failure, worst_value

            if isinstance(exc, SeqtuneError):
                _report(exc)
            else:
                traceback.print_exc()
            if distributed.is_main():
                record_failure(run_dir, exc)
            return worst_value(hydra_cfg.sweeper)
        if isinstance(exc, SeqtuneError):
            _report(exc)
            if not cfg.get("resume") and distributed.is_main():
                _remove_stub(run_dir)
            sys.exit(exc.exit_code)
        raise
    value = summary.get(cfg.get("optimized_metric", "val/loss")) if isinstance(summary, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


# The task functions (module level, so that the submitit launcher can pickle them by name); Hydra's decorator is
# applied when a command runs (_entry_point), so that importing this module does not import Hydra.
def _pretrain(cfg: DictConfig) -> float | None:
    return _run_task("pretrain", cfg)


def _finetune(cfg: DictConfig) -> float | None:
    return _run_task("finetune", cfg)


def _evaluate(cfg: DictConfig) -> float | None:
    return _run_task("evaluate", cfg)


def _predict(cfg: DictConfig) -> float | None:
    return _run_task("predict", cfg)


def _explain(cfg: DictConfig) -> float | None:
    return _run_task("explain", cfg)


def _generate(cfg: DictConfig) -> float | None:
    return _run_task("generate", cfg)


_ENTRY_POINTS: dict[str, Callable[[DictConfig], float | None]] = {
    "pretrain": _pretrain,
    "finetune": _finetune,
    "evaluate": _evaluate,
    "predict": _predict,
    "explain": _explain,
    "generate": _generate,
}


def _entry_point(command: str) -> Callable[[], object]:
    import hydra

    return hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name=command)(_ENTRY_POINTS[command])


def _quiet_rank() -> None:
    """Ranks other than 0: nothing on stdout and nothing into the run's log file (errors still reach stderr)."""
    sys.stdout = open(os.devnull, "w")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
            handler.close()


def _usage() -> str:
    width = max(len(c) for c in COMMANDS)
    lines = [
        f"seqtune {__version__}: pretrain recurrent networks (RNN, LSTM, GRU) on unlabelled sequences and transfer "
        "them.",
        "",
        "usage: seqtune <command> [overrides ...] [hydra flags]",
        "",
        "commands:",
        *(f"  {c:<{width}}  {h}" for c, h in COMMANDS.items()),
        "",
        "Every command takes Hydra overrides (key=value, +key=value, group=option) and Hydra's flags:",
        "  seqtune pretrain --help          the command's config groups and options",
        "  seqtune pretrain --cfg job       print the composed config without running",
        "  seqtune pretrain -m trainer.seed=1,2,3   a sweep, one run per value",
        "",
        "Runs are written to outputs/<date>/<time>_<command>/ (metrics.jsonl, summary.json, checkpoints/).",
        'Tab completion: eval "$(seqtune --completion bash)" (or zsh) in your shell\'s rc file.',
    ]
    return "\n".join(lines)


def _completion(args: list[str]) -> bool:
    """``seqtune --completion bash|zsh`` (and Hydra's ``-sc install=bash``): the script; ``seqtune __complete
    LINE``: the candidates for the line up to the cursor (what the script's shell function asks)."""
    from seqtune.commands import complete

    if args[0] == "__complete":
        line = args[1] if len(args) > 1 else "seqtune "
        print("\n".join(complete.candidates(line, list(COMMANDS), list(_ENTRY_POINTS))))
        return True
    shell = None
    if args[0] == "--completion":
        shell = args[1] if len(args) > 1 else "bash"
    for flag in ("-sc", "--shell-completion"):
        if flag in args[:-1]:
            shell = args[args.index(flag) + 1].partition("=")[2] or "bash"
    if shell is None:
        return False
    try:
        print(complete.script(shell), end="")
    except SeqtuneError as exc:
        _report(exc)
        sys.exit(exc.exit_code)
    return True


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return
    if args[0] in ("-V", "--version"):
        print(f"seqtune {__version__}")
        return
    if _completion(args):
        return
    command, rest = args[0], args[1:]
    if command in _PLAIN_COMMANDS:
        import importlib

        module, func = _PLAIN_COMMANDS[command].split(":")
        try:
            getattr(importlib.import_module(module), func)(rest)
        except SeqtuneError as exc:
            _report(exc)
            sys.exit(exc.exit_code)
        return
    if command not in _ENTRY_POINTS:
        print(f"seqtune: unknown command {command!r}; valid commands are: {', '.join(COMMANDS)}.\n", file=sys.stderr)
        print(_usage(), file=sys.stderr)
        sys.exit(2)
    if any(a in ("--help", "-h") for a in rest) and "--hydra-help" not in rest:
        from seqtune.commands.ls import command_help

        print(command_help(command, COMMANDS[command]))
        return
    from seqtune.config.schema import register_configs

    _Progress.task_started = False  # main() may be called more than once in a process (tests, notebooks)
    from seqtune.config.advice import model_overrides_upserted, override_typos

    typos = override_typos(command, rest)
    if typos:  # before Hydra, whose advice for an unknown key is "+key=value" (which fails next)
        from seqtune.errors import ConfigError

        _report(ConfigError(typos))
        sys.exit(2)
    rest = model_overrides_upserted(command, rest)
    register_configs()
    _register_resolver()
    torchrun = launch.launched_by_torchrun()
    if torchrun:
        _distributed().init()  # before Hydra: rank 0's run directory reaches the others through the group
    if any(a.split("=", 1)[0].lstrip("+") == "resume" for a in rest):
        from seqtune.training.resume import prepare_argv

        try:  # resume=: the run's own overrides and directory (before Hydra creates a new one)
            rest = prepare_argv(command, rest)
        except SeqtuneError as exc:
            _report(exc)
            sys.exit(exc.exit_code)
    if torchrun and not _distributed().is_main():
        _quiet_rank()
        rest = [*rest, "hydra.output_subdir=null"]  # Hydra's .hydra/ record: rank 0's only
    # Hydra reads sys.argv itself; argv[0] only names the program in its messages.
    sys.argv = [f"seqtune {command}", *rest]
    try:
        _entry_point(command)()
        if torchrun:  # leave together: a rank that tears the group down while another still talks to it aborts it
            _distributed().barrier()
    except SystemExit as exc:
        # Hydra exits 1 after printing a composition error (unknown key, wrong type, missing option) without a
        # traceback; those are the user's to fix, so they get seqtune's exit status for user errors.
        if exc.code == 1 and not _Progress.task_started:
            sys.exit(2)
        raise
    finally:
        from seqtune.training.rundir import release_locks

        release_locks()
        if "torch.distributed" in sys.modules:
            _distributed().shutdown()


def _register_resolver() -> None:
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("seqtune.unique"):
        OmegaConf.register_new_resolver("seqtune.unique", unique_dir)


# At import too: a submitit job unpickles the task function (importing this module) without running main().  Only
# where OmegaConf is loaded already (a job process), so that `seqtune --help` does not import it.
if "omegaconf" in sys.modules:
    _register_resolver()


if __name__ == "__main__":
    main()
