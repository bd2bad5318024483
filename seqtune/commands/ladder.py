"""``seqtune ladder``: is pretraining worth it on *my* data, and from how many labels?

    seqtune ladder dataset=trec transfer.checkpoint=runs/lm_trec
    seqtune ladder dataset=table dataset.train=reviews.csv transfer.checkpoint=runs/lm ladder.budgets=[50,200,all]

Runs ``seqtune finetune`` once per label budget x transfer strategy x seed, each in its own run directory under
``<ladder.out>/runs/<strategy>_<budget>_s<seed>`` (a finished run is kept, so a stopped ladder goes on where it
stopped), then writes what ``seqtune report`` writes for that folder (report.csv, report.md, budget.png) and
prints, for every budget, the test metric per strategy (mean ± std over seeds) and how far the best pretrained
strategy is from training from scratch (also written as markdown to verdict.md, with the fewest classes any run
predicted: a run that predicts one class is named in a warning).

Every argument that does not start with ``ladder.`` is a ``seqtune finetune`` override given to every run. A
budget N becomes ``dataset.label_budget=N``: N labelled examples in all, stratified and the same N in every run,
with the validation split carved out of them (``dataset.valid_fraction``), so a run never sees more labels than
its budget; ``all`` is the whole labelled training pool with the dataset's own validation split.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from seqtune.errors import ConfigError, SeqtuneError

DEFAULTS = {
    "budgets": "100,500,1000,all",
    "strategies": "scratch,full,gradual",
    "seeds": "1,2,3",
    "metric": "test/acc",
    "jobs": "1",
    "out": "",
}
HELP = {
    "budgets": "label budgets, e.g. [100,500,all] (all: the whole labelled pool)",
    "strategies": "transfer strategies; scratch is the baseline the others are compared with",
    "seeds": "trainer.seed of each run (initialisation, dropout, batch order)",
    "metric": "summary.json key compared (test/acc; test/f1 for a tagger; test/mse for a regressor)",
    "jobs": "runs at a time (each gets cpus/jobs threads)",
    "out": "folder of the ladder (default: <output_root>/<date>/<time>_ladder)",
}


@dataclass
class Ladder:
    budgets: list[str]
    strategies: list[str]
    seeds: list[int]
    metric: str
    jobs: int
    out: Path
    overrides: list[str] = field(default_factory=list)  # given to every finetune run

    def runs(self) -> list[tuple[str, str, int]]:
        return [(s, b, seed) for b in self.budgets for s in self.strategies for seed in self.seeds]


def _items(value: str) -> list[str]:
    return [v.strip() for v in value.strip().strip("[]").split(",") if v.strip()]


def parse(argv: list[str]) -> Ladder:
    """``ladder.<key>=<value>`` arguments are the ladder's own; the rest are finetune overrides."""
    settings, overrides = dict(DEFAULTS), []
    for arg in argv:
        key, eq, value = arg.partition("=")
        if not key.startswith("ladder."):
            overrides.append(arg)
            continue
        name = key[len("ladder.") :]
        if name not in DEFAULTS or not eq:
            raise ConfigError(
                f"unknown ladder setting {arg!r}; the ladder's keys are: "
                + ", ".join(f"ladder.{k}" for k in DEFAULTS)
                + " (seqtune ladder --help)."
            )
        settings[name] = value
    problems = []
    budgets = _items(settings["budgets"])
    for b in budgets:
        if b != "all" and not (b.isdigit() and int(b) > 1):
            problems.append(f"ladder.budgets: {b!r} is not a number of labelled examples (> 1) or 'all'.")
    seeds = _items(settings["seeds"])
    if not seeds or not all(s.lstrip("-").isdigit() for s in seeds):
        problems.append(f"ladder.seeds={settings['seeds']!r} must be integers, e.g. ladder.seeds=[1,2,3].")
    strategies = _items(settings["strategies"])
    if not strategies:
        problems.append("ladder.strategies is empty; e.g. ladder.strategies=[scratch,full,gradual].")
    if not settings["jobs"].isdigit() or int(settings["jobs"]) < 1:
        problems.append(f"ladder.jobs={settings['jobs']!r} must be a positive integer.")
    for arg in overrides:
        key = arg.partition("=")[0].lstrip("+~")
        if key in ("transfer", "transfer.name", "trainer.seed", "dataset.label_budget", "hydra.run.dir"):
            problems.append(
                f"{arg!r}: the ladder sets {key} for each run; choose them with ladder.strategies, "
                "ladder.seeds and ladder.budgets."
            )
    if problems:
        raise ConfigError(problems)
    out = Path(settings["out"]) if settings["out"] else _default_out(overrides)
    return Ladder(
        budgets, strategies, [int(s) for s in seeds], settings["metric"], int(settings["jobs"]), out, overrides
    )


def _default_out(overrides: list[str]) -> Path:
    root = next((a.split("=", 1)[1] for a in overrides if a.startswith("output_root=")), "outputs")
    return Path(root) / datetime.now().strftime("%Y-%m-%d") / datetime.now().strftime("%H-%M-%S_ladder")


def check_overrides(ladder: Ladder) -> None:
    """Compose the finetune config once with the ladder's overrides (and each strategy), so that a typo fails
    here, with the usual message, before any run starts."""
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from seqtune.config.schema import register_configs

    register_configs()
    with initialize_config_module("seqtune.conf", version_base="1.3"):
        numeric = [f"dataset.label_budget={b}" for b in ladder.budgets if b != "all"][:1]
        for strategy in ladder.strategies:
            try:
                compose("finetune", overrides=[*ladder.overrides, f"transfer={strategy}", *numeric])
            except (HydraException, OmegaConfBaseException) as exc:
                raise ConfigError(
                    f"seqtune finetune {' '.join(ladder.overrides)} transfer={strategy}: {str(exc).splitlines()[0]}"
                ) from None


def run_dir(ladder: Ladder, strategy: str, budget: str, seed: int) -> Path:
    return ladder.out / "runs" / f"{strategy}_{budget}_s{seed}"


def finetune_command(ladder: Ladder, strategy: str, budget: str, seed: int) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "seqtune",
        "finetune",
        *ladder.overrides,
        f"transfer={strategy}",
        f"trainer.seed={seed}",
        "trainer.progress=quiet",
        f"hydra.run.dir={run_dir(ladder, strategy, budget, seed)}",
    ]
    return cmd + ([f"dataset.label_budget={budget}"] if budget != "all" else [])


def run_all(ladder: Ladder, console: Console) -> None:
    """The runs not finished yet, ``ladder.jobs`` at a time; the first failure stops the ladder (exit 2)."""
    todo = [r for r in ladder.runs() if not (run_dir(ladder, *r) / "summary.json").exists()]
    done = len(ladder.runs()) - len(todo)
    console.print(f"ladder: {len(ladder.runs())} runs ({done} already finished) in {ladder.out}", markup=False)
    threads = str(max(1, (os.cpu_count() or 1) // ladder.jobs))
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", threads)}
    running: list[tuple[tuple[str, str, int], subprocess.Popen, float]] = []
    while todo or running:
        while todo and len(running) < ladder.jobs:
            job = todo.pop(0)
            run_dir(ladder, *job).mkdir(parents=True, exist_ok=True)
            proc = subprocess.Popen(
                finetune_command(ladder, *job), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
            )
            running.append((job, proc, time.perf_counter()))
        time.sleep(0.2)
        for item in [r for r in running if r[1].poll() is not None]:
            running.remove(item)
            (strategy, budget, seed), proc, t0 = item
            stderr = proc.stderr.read() if proc.stderr else ""
            if proc.returncode != 0:
                for _, other, _ in running:
                    other.terminate()
                raise SeqtuneError(
                    f"ladder: the run {strategy} budget {budget} seed {seed} failed (exit "
                    f"{proc.returncode}):\n{stderr.strip()[-2000:]}\nFix the overrides and run the "
                    f"same command again with ladder.out={ladder.out}: finished runs are kept."
                )
            done += 1
            console.print(
                f"  [{done}/{len(ladder.runs())}] {strategy} budget {budget} seed {seed}: "
                f"{time.perf_counter() - t0:.0f} s",
                markup=False,  # "[3/12]" is text
            )


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {std:.3f}"


def results(ladder: Ladder) -> dict[str, dict[str, list[float]]]:
    """budget -> strategy -> the metric of each finished seed."""
    import json

    table: dict[str, dict[str, list[float]]] = {b: {s: [] for s in ladder.strategies} for b in ladder.budgets}
    for strategy, budget, seed in ladder.runs():
        summary = run_dir(ladder, strategy, budget, seed) / "summary.json"
        if summary.exists():
            value = json.loads(summary.read_text(encoding="utf-8")).get(ladder.metric)
            if isinstance(value, (int, float)):
                table[budget][strategy].append(float(value))
    return table


def fewest_classes(ladder: Ladder) -> tuple[int, str] | None:
    """The fewest distinct classes any finished run predicted on its test split, and that run (a classifier)."""
    import json

    fewest: tuple[int, str] | None = None
    for strategy, budget, seed in ladder.runs():
        summary = run_dir(ladder, strategy, budget, seed) / "summary.json"
        if summary.exists():
            n = json.loads(summary.read_text(encoding="utf-8")).get("test/predicted_classes")
            if isinstance(n, int) and (fewest is None or n < fewest[0]):
                fewest = (n, f"{strategy}_{budget}_s{seed}")
    return fewest


def verdict_markdown(ladder: Ladder, table: dict[str, dict[str, list[float]]]) -> str:
    """The verdict table as markdown (verdict.md), with the fewest classes any run predicted."""
    lower_better = ladder.metric.split("/")[-1] in ("loss", "mse", "mae", "ppl")
    baseline = "scratch" in ladder.strategies
    head = ["labels", *ladder.strategies, *(["best - scratch"] if baseline else [])]
    lines = [
        f"{ladder.metric}, mean ± std over seeds {','.join(map(str, ladder.seeds))}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---:|" * len(head),
    ]
    for budget, per in table.items():
        row = [budget, *(_cell(per[s]) for s in ladder.strategies)]
        if baseline:
            row.append(_gain(per, lower_better))
        lines.append("| " + " | ".join(row) + " |")
    fewest = fewest_classes(ladder)
    if fewest is not None:
        lines += ["", f"fewest classes predicted on the test split by any run: {fewest[0]} ({fewest[1]})"]
    return "\n".join(lines) + "\n"


def verdict_table(ladder: Ladder, table: dict[str, dict[str, list[float]]]) -> Table:
    """Budgets down, strategies across, and the best pretrained strategy minus scratch (mean difference)."""
    lower_better = ladder.metric.split("/")[-1] in ("loss", "mse", "mae", "ppl")
    out = Table(title=f"{escape(ladder.metric)}, mean ± std over seeds {','.join(map(str, ladder.seeds))}")
    out.add_column("labels", justify="right")
    for s in ladder.strategies:
        out.add_column(escape(s), justify="right")
    baseline = "scratch" in ladder.strategies
    if baseline:
        out.add_column("best - scratch", justify="right")
    for budget, per in table.items():
        row = [budget, *(_cell(per[s]) for s in ladder.strategies)]
        if baseline:
            row.append(_gain(per, lower_better))
        out.add_row(*row)
    return out


def _gain(per: dict[str, list[float]], lower_better: bool) -> str:
    means = {s: statistics.fmean(v) for s, v in per.items() if v}
    if "scratch" not in means or len(means) < 2:
        return "-"
    pick = min if lower_better else max
    best = pick((s for s in means if s != "scratch"), key=lambda s: means[s])
    diff = means[best] - means["scratch"]
    return f"{diff:+.3f} ({escape(best)})"


def write_report(ladder: Ladder, console: Console) -> None:
    """``seqtune report`` on the ladder's runs (report.csv, report.md, budget.png in the ladder's folder)."""
    cmd = [
        sys.executable,
        "-m",
        "seqtune",
        "report",
        str(ladder.out / "runs"),
        "--x",
        "dataset.label_budget",
        "--group",
        "transfer",
        "--metric",
        ladder.metric,
        "--metrics",
        ladder.metric,
        "--out",
        str(ladder.out),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        console.print(f"seqtune report failed (the table below is complete): {escape(res.stderr.strip()[-500:])}")


def main(argv: list[str]) -> None:
    if argv and argv[0] in ("-h", "--help"):
        print(
            __doc__
            + "\nladder settings (ladder.<key>=<value>):\n"
            + "\n".join(f"  ladder.{k:<11} {HELP[k]} (default: {v or 'see above'})" for k, v in DEFAULTS.items())
        )
        return
    console = Console(highlight=False)
    ladder = parse(argv)
    check_overrides(ladder)
    run_all(ladder, console)
    write_report(ladder, console)
    table = results(ladder)
    console.print(verdict_table(ladder, table))
    (ladder.out / "verdict.md").write_text(verdict_markdown(ladder, table), encoding="utf-8")
    fewest = fewest_classes(ladder)
    if fewest is not None and fewest[0] == 1:
        console.print(f"warning: {fewest[1]} predicts one class for the whole test split (see its finetune.log)")
    console.print(f"runs, verdict.md, report.md and budget.png in {escape(str(ladder.out))}")
