"""``seqtune explain``: a fine-tuned checkpoint + inputs -> a score per token (text) or time step (series) for
each prediction, as coloured terminal lines, JSON Lines (``output=``) and an HTML page (``html=``).

Inputs go through the run's own preprocessing (tokenizer and ``dataset.max_length``; for a series the run's
columns and training normalisation), as in ``seqtune predict``.  The attribution itself is in
``seqtune/explain/attribution.py``, the presentation in ``seqtune/explain/render.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import torch
from omegaconf import DictConfig
from rich.console import Console

from seqtune.data.encoding import encode_input
from seqtune.data.formats import read_timeseries_csv
from seqtune.data.records import SeriesFacts
from seqtune.data.timeseries import Normalizer
from seqtune.data.tokenizers import UNK_ID, Tokenizer
from seqtune.errors import CheckpointError, ConfigError, DataError
from seqtune.explain.attribution import (
    BASELINES,
    METHODS,
    captum_attr,
    class_probabilities,
    explain_text,
    explain_window,
)
from seqtune.explain.render import (
    Record,
    html_page,
    print_legend,
    print_record,
    top_words,
    top_words_table,
    write_jsonl,
)
from seqtune.objectives.base import TaskModel
from seqtune.training.checkpoint import Key
from seqtune.training.inference import open_run_checkpoint, read_input_lines, rebuild_finetuned


def key_problems(cfg: DictConfig) -> list[str]:
    """Values of explain's own keys that cannot work (reported together, before the checkpoint is read)."""
    problems = []
    if cfg.method not in METHODS:
        problems.append(f"method={cfg.method!r} is not one of {', '.join(METHODS)}.")
    if cfg.baseline not in BASELINES:
        problems.append(f"baseline={cfg.baseline!r} is not one of {', '.join(BASELINES)}.")
    if cfg.steps < 2:
        problems.append(
            f"steps={cfg.steps} must be at least 2 (Integrated Gradients' points on the path; 50 is the default)."
        )
    if not 0 <= cfg.tolerance < 1:
        problems.append(
            f"tolerance={cfg.tolerance} must be in [0, 1) (a relative completeness error; 0: never refine)."
        )
    return problems


def run(cfg: DictConfig) -> dict[str, object]:
    captum_attr()  # without the extra nothing else is worth doing: say so first
    device, path, ckpt = open_run_checkpoint(cfg, "finetune", key_problems(cfg))
    model, tokenizer, labels, run_cfg = rebuild_finetuned(ckpt, str(path))
    task = ckpt[Key.TASK]
    if task == "tagging":
        raise CheckpointError(
            f"{path} is a tagger; seqtune explain takes classifier and regressor checkpoints "
            "(a tagger's scores per entity are not built yet)."
        )
    target = _target_index(cfg.target, labels, task)
    model.to(device).eval()  # no dropout: the explained function must be the deterministic one
    if task == "classification":
        assert tokenizer is not None
        records = _explain_texts(cfg, model, tokenizer, labels, target, run_cfg.dataset.get("max_length"))
    else:
        assert target is not None  # a regressor's default target is its first column
        records = [
            _explain_series(cfg, model, labels, target, SeriesFacts.from_dict(ckpt[Key.SERIES]), run_cfg.dataset)
        ]
    facts = {
        "checkpoint": str(path),
        "method": cfg.method,
        "baseline": _baseline_text(cfg, task),
        "inputs": str(len(records)),
    }
    if cfg.method == "integrated_gradients":
        facts["steps"] = str(cfg.steps)
    top = top_words(records, cfg.top_k) if cfg.top_k > 0 else None
    _emit(cfg, records, facts, top)
    errors = [r.explanation.completeness_error for r in records if r.explanation.completeness_error is not None]
    summary: dict[str, object] = {"explained": len(records)}
    if errors:
        summary.update({"completeness_error_mean": sum(errors) / len(errors), "completeness_error_max": max(errors)})
    if top:
        summary["top_k"] = {label: [[w, round(s, 6), n] for w, s, n in words] for label, words in top.items()}
    return summary


def _target_index(target: str | None, labels: list[str], task: str) -> int | None:
    if target is None:
        return None if task == "classification" else 0
    if target not in labels:
        what = "labels" if task == "classification" else "target columns"
        raise ConfigError(
            f"target={target!r} is not one of this checkpoint's {what}: {', '.join(labels)}; "
            "pick one of them, or leave target unset to explain the predicted label."
        )
    return labels.index(target)


def _baseline_text(cfg: DictConfig, task: str) -> str:
    if task == "regression":
        return "training mean"
    return f"<{cfg.baseline}>"


def _explain_texts(
    cfg: DictConfig,
    model: TaskModel,
    tokenizer: Tokenizer,
    labels: list[str],
    target: int | None,
    max_length: int | None,
) -> list[Record]:
    raw = read_input_lines(cfg.input, "explain")
    numbered = [(i + 1, line) for i, line in enumerate(raw) if line.strip()]
    if not numbered:
        where = "stdin (input=-)" if cfg.input == "-" else f"input={cfg.input}"
        raise DataError(
            f"{where} holds no text ({len(raw)} line(s), all blank); explain reads one example per "
            "line: give a file with text, or pipe some in."
        )
    records = []
    for line_no, text in numbered:
        ids = encode_input(tokenizer, "classification", text)[:max_length] or [UNK_ID]
        with torch.no_grad():
            embedded = model.encoder.embedding(torch.tensor([ids], device=next(model.parameters()).device))
            probs = class_probabilities(model, embedded)[0].cpu()  # (classes,)
        predicted = int(probs.argmax())
        chosen = predicted if target is None else target
        explanation = explain_text(model, ids, chosen, cfg.method, cfg.baseline, cfg.steps, cfg.tolerance)
        records.append(
            Record(
                line_no,
                [tokenizer.itos[i] for i in ids],
                labels[predicted],
                f"{labels[predicted]} p={float(probs[predicted]):.2f}",
                labels[chosen],
                explanation,
                {"text": text, "probs": {n: round(float(p), 6) for n, p in zip(labels, probs)}},
            )
        )
    return records


def _explain_series(
    cfg: DictConfig, model: TaskModel, labels: list[str], target: int, facts: SeriesFacts, ds: DictConfig
) -> Record:
    """The window of the CSV's last ``lookback`` rows, normalised with the run's training statistics."""
    ts, lookback = facts.timeseries, facts.lookback
    if cfg.input == "-":
        raise DataError(
            f"a regressor explains a window of its series: give input=<CSV file> with the columns "
            f"{', '.join(ts['columns'])} (its last {lookback} rows are read); stdin is for text."
        )
    table = read_timeseries_csv(
        cfg.input,
        timestamp_column=ds.timestamp_column,
        feature_columns=None if ds.feature_columns is None else list(ds.feature_columns),
        target_column=ds.target_column,
        encoding=ds.encoding,
    )
    if table.columns != list(ts["columns"]):
        raise DataError(
            f"input={cfg.input} has the columns {', '.join(table.columns)}, but the run was trained on "
            f"{', '.join(ts['columns'])}; give a CSV with the run's columns."
        )
    if len(table.values) < lookback:
        raise DataError(
            f"input={cfg.input} has {len(table.values)} rows, fewer than the run's dataset.lookback "
            f"({lookback}); the window explained is the last {lookback} rows."
        )
    normalizer = Normalizer.from_dict(ts["normalizer"]) if ts["normalizer"] else None
    values = table.values[-lookback:]
    window = torch.from_numpy(normalizer.apply(values) if normalizer else values.astype("float32"))
    explanation = explain_window(model, window, target, cfg.method, cfg.steps, cfg.tolerance)
    column = ts["columns"].index(labels[target])
    mean, std = (float(normalizer.mean[column]), float(normalizer.std[column])) if normalizer else (0.0, 1.0)
    forecast = explanation.output * std + mean  # the original scale
    first = len(table.values) - lookback
    units = table.timestamps[first:] if table.timestamps else [str(first + i + 1) for i in range(lookback)]
    shown = f"{labels[target]} forecast {forecast:.4g} (mean of {facts.horizon} steps)"
    return Record(
        len(table.values),
        units,
        labels[target],
        shown,
        labels[target],
        explanation,
        {
            "input": cfg.input,
            "columns": list(ts["columns"]),
            "forecast_mean": round(forecast, 6),
            "values": [round(float(v), 6) for v in values[:, column]],
        },
    )


@contextmanager
def _opened(path: str, key: str) -> Iterator[IO[str]]:
    if path == "-":
        yield sys.stdout
        return
    try:
        out = open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{key}={path}: cannot write it ({exc.strerror}); give a writable file path.") from None
    with out:
        yield out


def _emit(
    cfg: DictConfig, records: list[Record], facts: dict[str, str], top: dict[str, list[tuple[str, float, int]]] | None
) -> None:
    console = Console(stderr=cfg.output == "-", highlight=False)
    print_legend(console, cfg.method, facts["baseline"])
    for record in records:
        print_record(console, record, cfg.method)
    if top:
        console.print(top_words_table(top, cfg.top_k))
    if cfg.output:
        with _opened(cfg.output, "output") as out:
            write_jsonl(records, cfg.method, out)
    if cfg.html:
        with _opened(cfg.html, "html") as out:
            out.write(html_page(records, f"seqtune explain: {Path(facts['checkpoint']).name}", facts, top))
