"""``seqtune <command> [hydra overrides and flags]``: a thin dispatcher over Hydra entry points.

Each command picks its config root under ``conf/`` (shipped in the package as ``seqtune.conf``) and hands the
rest of argv to Hydra, so every Hydra flag works: ``--help``, ``--cfg job``, ``--info``, ``-m``, ``a.b=c``,
``+x=y``.  User-fixable problems (:class:`~seqtune.errors.SeqtuneError`) are printed as one paragraph and
exit with status 2; set ``SEQTUNE_VERBOSE=1`` to see the traceback as well.
"""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Callable

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from seqtune import __version__
from seqtune.config import register_configs
from seqtune.errors import SeqtuneError

CONFIG_PATH = "pkg://seqtune.conf"

COMMANDS: dict[str, str] = {
    "pretrain": "pretrain an encoder with a self-supervised objective (causal LM by default) on unlabelled text",
    "finetune": "fine-tune a pretrained encoder with a task head (classifier, tagger) on labelled data",
    "evaluate": "score a fine-tuned checkpoint on a split of its dataset (metrics JSON)",
    "predict": "label texts from a file or stdin with a fine-tuned checkpoint (JSON Lines)",
    "generate": "sample text from a language-model checkpoint (prompt, length, temperature, top-k)",
}


def _report(exc: SeqtuneError) -> None:
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    if os.environ.get("SEQTUNE_VERBOSE"):
        console.print(traceback.format_exc(), markup=False)
    console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
    console.print("(set SEQTUNE_VERBOSE=1 for the full traceback)", style="dim")


def _run_task(command: str, cfg: DictConfig) -> float | None:
    """Run one job; return the value Hydra sweepers optimise (None if the config names none)."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        if command == "pretrain":
            from seqtune import pretrain

            summary = pretrain.run(cfg, run_dir)
        elif command == "finetune":
            from seqtune import finetune

            summary = finetune.run(cfg, run_dir)
        elif command in ("evaluate", "predict", "generate"):
            import importlib

            summary = importlib.import_module(f"seqtune.{command}").run(cfg)
        else:  # pragma: no cover - COMMANDS and this table are kept together
            raise AssertionError(command)
    except SeqtuneError as exc:
        _report(exc)
        sys.exit(exc.exit_code)
    value = summary.get("val/loss")
    return value if isinstance(value, float) else None


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="pretrain")
def _pretrain(cfg: DictConfig) -> float | None:
    return _run_task("pretrain", cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="finetune")
def _finetune(cfg: DictConfig) -> float | None:
    return _run_task("finetune", cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="evaluate")
def _evaluate(cfg: DictConfig) -> float | None:
    return _run_task("evaluate", cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="predict")
def _predict(cfg: DictConfig) -> float | None:
    return _run_task("predict", cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="generate")
def _generate(cfg: DictConfig) -> float | None:
    return _run_task("generate", cfg)


_ENTRY_POINTS: dict[str, Callable[[], object]] = {
    "pretrain": _pretrain, "finetune": _finetune, "evaluate": _evaluate, "predict": _predict, "generate": _generate,
}


def _usage() -> str:
    width = max(len(c) for c in COMMANDS)
    lines = [
        f"seqtune {__version__}: pretrain recurrent networks (RNN, LSTM, GRU) on unlabelled sequences and transfer them.",
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
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return
    if args[0] in ("-V", "--version"):
        print(f"seqtune {__version__}")
        return
    command, rest = args[0], args[1:]
    if command not in _ENTRY_POINTS:
        print(f"seqtune: unknown command {command!r}; valid commands are: {', '.join(COMMANDS)}.\n", file=sys.stderr)
        print(_usage(), file=sys.stderr)
        sys.exit(2)
    register_configs()
    # Hydra reads sys.argv itself; argv[0] only names the program in its messages.
    sys.argv = [f"seqtune {command}", *rest]
    _ENTRY_POINTS[command]()


if __name__ == "__main__":
    main()
