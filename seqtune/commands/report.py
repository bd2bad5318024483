"""``seqtune report <dir>``: compare runs without writing a script.

Reads one run directory or a whole tree of them (a multirun sweep, or ``outputs/``): every folder with a
``summary.json`` (finished) or ``error.txt`` (failed) is a run.  Prints a table of the overrides that differ
between runs against their final metrics, sortable by any metric; writes ``report.csv`` and ``report.md``; and,
with matplotlib installed (``pip install seqtune[plot]``), draws

* ``learning_curves.png``: train and validation loss against step, one colour per run;
* ``budget.png`` (when the runs vary a label budget such as ``dataset.labels_per_class``): a metric against the
  budget, one line per group (e.g. ``transfer.name``), mean ± standard deviation over the remaining overrides
  (seeds), with the same numbers as a table in ``report.md``.

    seqtune report multirun/2026-11-21/10-00-00_finetune --sort test/acc --desc
    seqtune report outputs/ --x dataset.labels_per_class --group transfer.name --metric test/acc
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from seqtune.errors import SeqtuneError

BUDGET_KEYS = ("dataset.label_budget", "dataset.labels_per_class", "dataset.train_limit")
GROUP_KEYS = ("transfer.name", "transfer")


@dataclass
class Run:
    path: Path
    name: str
    status: str  # ok | failed
    overrides: dict[str, str]
    summary: dict[str, float] = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    error: str = ""

    def value(self, key: str) -> str | None:
        """An override's value, else the resolved config's value at that dotted key."""
        if key in self.overrides:
            return self.overrides[key]
        node = self.config
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return None if isinstance(node, dict) else str(node)


def _overrides(run_dir: Path) -> dict[str, str]:
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.exists():
        return {}
    out = {}
    for item in OmegaConf.load(path):
        key, _, value = str(item).partition("=")
        out[key.lstrip("+~")] = value
    return out


def find_runs(root: Path) -> list[Run]:
    if not root.exists():
        raise SeqtuneError(
            f"report: {root} does not exist. Give a run directory or a folder of runs "
            "(e.g. outputs/ or multirun/<date>/<time>_<command>/)."
        )
    candidates = [root] if (root / "summary.json").exists() or (root / "error.txt").exists() else []
    candidates += sorted({p.parent for pattern in ("summary.json", "error.txt") for p in root.rglob(pattern)} - {root})
    runs = []
    for d in candidates:
        name = str(d.relative_to(root)) if d != root else d.name
        config_path = d / "config.yaml"
        config = OmegaConf.to_container(OmegaConf.load(config_path)) if config_path.exists() else {}
        if (d / "summary.json").exists():
            summary = json.loads((d / "summary.json").read_text(encoding="utf-8"))
            runs.append(Run(d, name, "ok", _overrides(d), summary, config))  # type: ignore[arg-type]
        else:
            first = (d / "error.txt").read_text(encoding="utf-8").splitlines()[:1]
            runs.append(Run(d, name, "failed", _overrides(d), {}, config, first[0] if first else "failed"))  # type: ignore[arg-type]
    if not runs:
        raise SeqtuneError(f"report: no runs under {root} (a run is a folder with summary.json or error.txt).")
    return runs


def varying_keys(runs: list[Run]) -> list[str]:
    keys = sorted({k for r in runs for k in r.overrides})
    return [k for k in keys if len({r.overrides.get(k) for r in runs}) > 1]


def default_metrics(runs: list[Run]) -> list[str]:
    keys = [
        k for r in runs for k in r.summary if k.startswith(("val/", "test/")) and isinstance(r.summary[k], (int, float))
    ]
    return list(dict.fromkeys(keys))[:6]


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return "-" if not math.isfinite(v) else f"{v:.4g}"
    return "-" if v is None else str(v)


def budget_table(runs: list[Run], x: str, group: str, metric: str) -> dict[str, dict[float, list[float]]]:
    """group -> budget -> metric values of the finished runs (one per seed or other repeat).

    A run without the budget key (every label) sits at its summary's ``train/examples`` when the budget counts
    all labels (label_budget, train_limit); a per-class budget never mixes with total counts.  Runs on different
    data sets make different lines (``<group> · <dataset>``).
    """
    table: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    datasets = {r.value("dataset.name") for r in runs}
    for r in runs:
        xv: str | float | None = r.value(x)
        value = r.summary.get(metric)
        if xv in (None, "None", "null") and x != "dataset.labels_per_class":
            xv = r.summary.get("train/examples")
        if r.status != "ok" or xv in (None, "None", "null") or value is None:
            continue
        line = r.value(group) or "-"
        table[f"{line} · {r.value('dataset.name')}" if len(datasets) > 1 else line][float(xv)].append(float(value))
    return table


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


# ---------------------------------------------------------------------------------------------- plots
TASK_METRICS = ("acc", "f1", "mse", "mae")  # panels beside the loss, where the runs' validation records have them


def family(r: Run) -> str:
    """What a run's loss measures: its objective (pretraining) or head (fine-tuning), on its dataset.  Runs of
    different families are never drawn on one axis (an LM's loss and a classifier's are not comparable)."""
    cfg = r.config
    task = (cfg.get("head") or {}).get("name") or (cfg.get("objective") or {}).get("name") or "run"
    data = (cfg.get("dataset") or {}).get("name") or "data"
    return f"{task}-{data}"


def _records(r: Run) -> list[dict]:
    path = r.path / "metrics.jsonl"
    if r.status != "ok" or not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _labels(runs: list[Run]) -> dict[str, str]:
    """Run name -> its legend: the overrides that differ between these runs (the run's name when none do)."""
    varying = varying_keys(runs)
    return {r.name: ", ".join(f"{k}={r.overrides.get(k, '-')}" for k in varying) or r.name for r in runs}


def _curve_panel(ax, runs: list[Run], labels: dict[str, str], metric: str) -> None:  # noqa: ANN001 - matplotlib
    """One metric against step: train solid, validation dashed with dots (a single point shows too), a star at
    each run's best checkpoint."""
    for i, r in enumerate(runs):
        records, color = _records(r), f"C{i % 10}"
        for split, style in (("train", "-"), ("val", "--")):
            key = f"{split}/{metric}"
            pts = [(rec["step"], rec[key]) for rec in records if rec.get(key) is not None]
            if pts:
                ax.plot(
                    *zip(*pts),
                    style,
                    marker="o" if split == "val" else None,
                    markersize=3,
                    color=color,
                    linewidth=1,
                    alpha=0.85,
                    label=labels[r.name] if split == ("train" if metric == "loss" else "val") else None,
                )
        best = r.summary.get("best_step")
        val = [(rec["step"], rec[f"val/{metric}"]) for rec in records if rec.get(f"val/{metric}") is not None]
        at_best = [v for step, v in val if step == best]
        if at_best:
            ax.plot([best], [at_best[-1]], "*", color=color, markersize=11, markeredgecolor="black")
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} (solid: train, dashed: validation, star: best.pt)", fontsize=9)


def learning_curves(runs: list[Run], out: Path, name: str) -> Path:
    """``name``: one figure of runs of one family; a loss panel and a panel per task metric they record."""
    import matplotlib.pyplot as plt

    shown = [r for r in runs if _records(r)]
    keys = {k for r in shown for rec in _records(r) for k in rec}
    panels = ["loss", *(m for m in TASK_METRICS if f"val/{m}" in keys)]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    labels = _labels(shown)
    for ax, metric in zip(axes[0], panels):
        _curve_panel(ax, shown, labels, metric)
    if len(shown) <= 12:
        axes[0][0].legend(fontsize=7, title=", ".join(varying_keys(shown)) or None, title_fontsize=7)
    fig.suptitle(f"{family(shown[0]) if shown else name}: {len(shown)} run(s)", fontsize=10)
    fig.tight_layout()
    path = out / name
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def budget_plot(runs: list[Run], out: Path, budget: tuple[str, str, str]) -> Path:
    """budget.png: the metric against the budget, one line per group (and dataset, when the runs have several),
    mean ± std over repeats; the x ticks are the budgets themselves."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    x, group, metric = budget
    fig, ax = plt.subplots(figsize=(7, 5))
    xs_all: set[float] = set()
    for name, per_x in sorted(budget_table(runs, x, group, metric).items()):
        xs = sorted(per_x)
        xs_all.update(xs)
        stats = [_mean_std(per_x[v]) for v in xs]
        ax.errorbar(xs, [m for m, _ in stats], yerr=[s for _, s in stats], marker="o", capsize=3, label=name)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(sorted(xs_all)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(x)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} against {x} (mean ± std over repeats)")
    ax.legend(title=group)
    fig.tight_layout()
    path = out / "budget.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plots(runs: list[Run], out: Path, budget: tuple[str, str, str] | None, group: str | None = None) -> list[Path]:
    """learning_curves.png, or one learning_curves-<family>.png per family when the runs mix objectives, heads or
    data sets; budget.png."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    families: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        families[family(r)].append(r)
    written = []
    for fam, members in sorted(families.items()):
        if any(_records(r) for r in members):
            name = "learning_curves.png" if len(families) == 1 else f"learning_curves-{_slug(fam)}.png"
            written.append(learning_curves(members, out, name))
    if budget:
        written.append(budget_plot(runs, out, budget))
    return written


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def report(
    root: Path,
    sort: str | None = None,
    descending: bool = False,
    metrics: list[str] | None = None,
    budget_x: str | None = None,
    group: str | None = None,
    budget_metric: str | None = None,
    out: Path | None = None,
    console: Console | None = None,
) -> dict[str, Path]:
    console = console or Console(highlight=False)
    runs = find_runs(root)
    out = out or (root if root.is_dir() else root.parent)
    varying = varying_keys(runs)
    metrics = metrics or default_metrics(runs)
    if sort:
        _sort_runs(runs, sort, descending)
        metrics = [sort, *(m for m in metrics if m != sort)]  # the sort key first: always on screen
    header = ["run", *varying, "status", *metrics, "error"]
    rows = [
        [
            r.name,
            *(r.overrides.get(k, "") for k in varying),
            r.status,
            *(_fmt(r.summary.get(m)) for m in metrics),
            r.error,
        ]
        for r in runs
    ]
    title = f"{len(runs)} runs under {root}" + (f", sorted by {sort}" if sort else "")
    table, dropped = _terminal_table(header, rows, metrics, title, console.width)
    console.print(table)
    if dropped:
        console.print(f"(not shown here, in report.md and report.csv: {', '.join(dropped)})", markup=False)

    files = {"csv": out / "report.csv", "md": out / "report.md"}
    _write_csv(files["csv"], runs, varying)
    md = [f"# seqtune report: {root}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    budget_x = budget_x or next((k for k in BUDGET_KEYS if k in varying), None)
    budget = None
    if budget_x:
        group = group or next((k for k in GROUP_KEYS if any(r.value(k) for r in runs)), "run")
        budget = (budget_x, group, budget_metric or sort or (metrics[0] if metrics else "val/loss"))
        md += _budget_markdown(runs, *budget)
    files["md"].write_text("\n".join(md) + "\n", encoding="utf-8")
    try:
        for png in plots(runs, out, budget, budget[1] if budget else None):
            files[png.stem] = png
    except ImportError:
        console.print(
            "plots skipped: matplotlib is not installed (pip install 'seqtune[plot]' to draw "
            "learning_curves.png and budget.png).",
            markup=False,
        )
    console.print("wrote " + ", ".join(str(p) for p in files.values()), markup=False)
    return files


def _terminal_table(
    header: list[str], rows: list[list[str]], metrics: list[str], title: str, width: int
) -> tuple[Table, list[str]]:
    """The table for a terminal of ``width`` columns -> (table, metrics left out).  Columns whose every cell is the
    same (all ok, no error) are dropped; when the overrides that differ would not fit side by side they share one
    column (``key=value`` a line), and only as many metrics as fit are shown.  report.md/.csv keep everything."""
    keep = [i for i, col in enumerate(header) if col == "run" or col in metrics or len({r[i] for r in rows}) > 1]
    overrides = [i for i in keep if header[i] not in metrics and header[i] not in ("run", "status", "error")]
    others = [i for i in keep if i not in overrides]
    combine = len(overrides) > 1 and sum(max(len(header[i]), 6) + 3 for i in keep) > width
    room = max(2, (width - (45 if combine or overrides else 25)) // 11)
    shown_metrics = [m for m in metrics if m in [header[i] for i in keep]][:room]
    dropped = [m for m in metrics if m not in shown_metrics]
    others = [i for i in others if header[i] not in dropped]
    table = Table(title=escape(title))
    table.add_column("run", overflow="fold")
    if combine:
        table.add_column("overrides that differ", overflow="fold")
    for i in others if combine else keep:
        if header[i] != "run" and header[i] not in dropped:
            table.add_column(escape(header[i]), justify="right" if header[i] in metrics else "left", overflow="fold")
    for row in rows:
        cells = [row[0]]
        if combine:
            cells.append("\n".join(f"{header[i]}={row[i]}" for i in overrides if row[i] != ""))
        cells += [row[i] for i in (others if combine else keep) if header[i] != "run" and header[i] not in dropped]
        table.add_row(*(escape(c) for c in cells))  # overrides such as dataset.text_columns=[a,b] are text
    return table, dropped


def _sort_runs(runs: list[Run], sort: str, descending: bool) -> None:
    if not any(sort in r.summary for r in runs):
        raise SeqtuneError(
            f"report: no run has the metric {sort!r} to sort by; metrics present: "
            f"{', '.join(sorted({k for r in runs for k in r.summary}))}."
        )
    missing = math.inf if not descending else -math.inf
    runs.sort(key=lambda r: r.summary.get(sort, missing), reverse=descending)


def _write_csv(path: Path, runs: list[Run], varying: list[str]) -> None:
    """report.csv: every summary key of every run (the table shows a chosen few)."""
    all_keys = sorted({k for r in runs for k in r.summary})
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["run", "status", *varying, *all_keys, "error"])
        for r in runs:
            row = [*(r.overrides.get(k, "") for k in varying), *(r.summary.get(k, "") for k in all_keys)]
            writer.writerow([r.name, r.status, *row, r.error])


def _budget_markdown(runs: list[Run], budget_x: str, group: str, metric: str) -> list[str]:
    """The label-budget table: per group, the metric's mean ± std over runs at each budget."""
    per_group = budget_table(runs, budget_x, group, metric)
    xs = sorted({x for g in per_group.values() for x in g})
    md = [
        "",
        f"## {metric} by {budget_x} (mean ± std, n runs)",
        "",
        "| " + " | ".join([group, *(f"{x:g}" for x in xs)]) + " |",
        "|" + "---|" * (len(xs) + 1),
    ]
    for name, per_x in sorted(per_group.items()):
        cells = [
            f"{m:.4g} ± {s:.2g} (n={len(per_x[x])})"
            for x in xs
            for m, s in [_mean_std(per_x[x]) if per_x.get(x) else (math.nan, math.nan)]
        ]
        md.append("| " + " | ".join([name, *cells]) + " |")
    return md


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(
        prog="seqtune report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("dir", type=Path, help="a run directory, a sweep directory, or any folder of runs")
    p.add_argument("--sort", help="metric to sort the table by (e.g. val/ppl, test/acc)")
    p.add_argument("--desc", action="store_true", help="sort descending (largest first)")
    p.add_argument("--metrics", help="comma-separated summary.json keys to show (default: val/* and test/*)")
    p.add_argument(
        "--x",
        dest="budget_x",
        help="the label-budget key for budget.png (auto: " + " or ".join(BUDGET_KEYS) + " when the runs vary it)",
    )
    p.add_argument("--group", help="key whose values make the lines of budget.png (auto: transfer.name)")
    p.add_argument("--metric", dest="budget_metric", help="metric on the y axis of budget.png")
    p.add_argument("--out", type=Path, help="folder for report.csv/.md and the PNGs (default: the run folder)")
    a = p.parse_args(argv)
    report(
        a.dir, a.sort, a.desc, a.metrics.split(",") if a.metrics else None, a.budget_x, a.group, a.budget_metric, a.out
    )
