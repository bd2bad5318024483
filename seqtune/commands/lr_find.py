"""``seqtune lr-find <pretrain|finetune> [overrides]``: which learning rate to train with?

    seqtune lr-find finetune dataset=trec transfer.checkpoint=runs/lm_trec
    seqtune lr-find pretrain dataset=wikitext2 optimizer=adamw lr_find.steps=300

The learning-rate range test (Smith 2015; fastai's ``lr_find``): the command's model, optimizer (with its
discriminative ratios) and training batches, built exactly as ``seqtune <command>`` with the same overrides would
build them, train for ``lr_find.steps`` steps while ``optimizer.lr`` rises exponentially from
``lr_find.start_lr`` to ``lr_find.end_lr`` (fine-tuning: with every layer trainable, as in the last stage of any
transfer strategy).  The test stops once the smoothed loss is four times its lowest value.  It writes
``lr_find.jsonl`` (lr, loss, smoothed loss per step),
``lr_find.png`` and ``summary.json`` to its own run directory (``lr_find.out``, else ``hydra.run.dir``, else
``<output_root>/<date>/<time>_lr_find``) and prints the suggestion and the command line that uses it;
the config it was given is left as it was.

The suggestion is the learning rate where the smoothed loss falls fastest (the steepest descent against log lr,
before the minimum); the minimum's learning rate is shown too (fastai's older rule of thumb: a tenth of it).
"""

from __future__ import annotations

import importlib
import json
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from seqtune.errors import ConfigError, SeqtuneError

COMMANDS = ("pretrain", "finetune")
DEFAULTS = {"steps": "200", "start_lr": "1e-7", "end_lr": "10", "out": ""}


def parse(argv: list[str]) -> tuple[str, dict[str, str], list[str]]:
    """(command, lr_find settings, the command's overrides)."""
    if not argv or argv[0] not in COMMANDS:
        given = repr(argv[0]) if argv else "nothing"
        raise ConfigError(
            f"seqtune lr-find needs the command whose learning rate to find first, {' or '.join(COMMANDS)}; "
            f"got {given}. E.g. seqtune lr-find finetune dataset=trec transfer.checkpoint=<run>"
        )
    settings, overrides = dict(DEFAULTS), []
    for arg in argv[1:]:
        key, eq, value = arg.partition("=")
        if not key.startswith("lr_find."):
            overrides.append(arg)
        elif key[len("lr_find.") :] in DEFAULTS and eq:
            settings[key[len("lr_find.") :]] = value
        else:
            raise ConfigError(
                f"unknown lr-find setting {arg!r}; its keys are: " + ", ".join(f"lr_find.{k}" for k in DEFAULTS) + "."
            )
    problems = []
    try:
        steps, start, end = int(settings["steps"]), float(settings["start_lr"]), float(settings["end_lr"])
        if steps < 20:
            problems.append(f"lr_find.steps={steps} is too few to read a curve from; use at least 20 (default 200).")
        if not 0 < start < end < float("inf"):
            problems.append(f"lr_find.start_lr={start:g} and lr_find.end_lr={end:g} must satisfy 0 < start < end.")
    except ValueError:
        problems.append(
            "lr_find.steps must be an integer and lr_find.start_lr / lr_find.end_lr numbers "
            f"(got {settings['steps']!r}, {settings['start_lr']!r}, {settings['end_lr']!r})."
        )
    if problems:
        raise ConfigError(problems)
    return argv[0], settings, overrides


def compose(command: str, overrides: list[str]):
    """The command's config as ``seqtune <command> <overrides>`` would compose it (errors named the same way)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from seqtune.config.schema import register_configs

    register_configs()
    with initialize_config_module("seqtune.conf", version_base="1.3"):
        try:
            return hydra_compose(command, overrides=overrides)
        except (HydraException, OmegaConfBaseException) as exc:
            raise ConfigError(f"seqtune {command} {' '.join(overrides)}: {str(exc).splitlines()[0]}") from None


def main(argv: list[str]) -> None:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return
    from seqtune.training.lr_range import plot, range_test, suggest
    from seqtune.training.run import loop_settings, start_run

    command, settings, overrides = parse(argv)
    cfg = compose(command, overrides)
    run_dirs = [o.partition("=")[2] for o in overrides if o.startswith("hydra.run.dir=")]
    out = Path(
        settings["out"]
        or (run_dirs[-1] if run_dirs else "")
        or Path(cfg.output_root) / datetime.now().strftime("%Y-%m-%d") / datetime.now().strftime("%H-%M-%S_lr_find")
    )
    console = Console(highlight=False)
    setup = start_run(cfg.trainer, out, first_launch=True)
    model, optimizer, train_data, notes = importlib.import_module(f"seqtune.commands.{command}").lr_find_parts(
        cfg, setup
    )
    for line in notes:
        console.print(escape(line))
    loop = loop_settings(cfg.trainer, cfg.optimizer, setup.device, skip_nonfinite=False)
    steps, start, end = int(settings["steps"]), float(settings["start_lr"]), float(settings["end_lr"])
    console.print(
        f"lr-find: {steps} steps, optimizer.lr from {start:g} to {end:g}, {len(train_data):,} batches per epoch"
    )
    curve = range_test(model, optimizer, train_data, loop, start, end, steps)
    try:
        pick = suggest(curve)
    except ValueError as exc:
        raise SeqtuneError(
            f"lr-find: {exc} before the loss diverged; lower lr_find.start_lr or lr_find.end_lr."
        ) from None
    _write(out, command, curve, pick, overrides)
    try:
        plot(curve, pick, out / "lr_find.png", f"seqtune lr-find {command}: {cfg.dataset.name}")
    except ImportError:
        console.print("no lr_find.png: matplotlib is not installed (pip install 'seqtune\\[plot]')")
    shown = " ".join(
        [
            command,
            *(o for o in overrides if not o.startswith(("optimizer.lr=", "hydra."))),
            f"optimizer.lr={pick.lr:.2g}",
        ]
    )
    console.print(
        f"suggested optimizer.lr={pick.lr:.2g} ({pick.rule}; lowest loss at {pick.minimum:.2g}; "
        f"the test ended: {curve.stopped} after {len(curve.lrs)} steps)"
    )
    console.print(escape(f"  seqtune {shown}"))
    console.print(f"curve, lr_find.png and summary.json in {escape(str(out))}")


def _write(out: Path, command: str, curve, pick, overrides: list[str]) -> None:
    with open(out / "lr_find.jsonl", "w", encoding="utf-8") as fh:
        for lr, loss, smooth in zip(curve.lrs, curve.losses, curve.smoothed):  # centred moving average
            fh.write(json.dumps({"lr": lr, "loss": loss, "smoothed": smooth}) + "\n")
    summary = {
        "suggested_lr": pick.lr,
        "steepest_lr": pick.steepest,
        "minimum_lr": pick.minimum,
        "rule": pick.rule,
        "steps": len(curve.lrs),
        "stopped": curve.stopped,
        "command": command,
        "overrides": overrides,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
