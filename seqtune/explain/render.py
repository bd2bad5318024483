"""How explanations are shown: coloured terminal lines (rich), JSON Lines records, one self-contained HTML page,
and the top-k table of words per class over a file.

A shade's strength is a score's share of the largest absolute score in its own example (green: towards the
target, red: against it), so every example uses the whole scale; the numbers themselves are in the JSONL
records and in each token's tooltip on the page.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from seqtune.data.tokenizers import SPECIAL_TOKENS, UNK
from seqtune.explain.attribution import Explanation

_POSITIVE, _NEGATIVE = (22, 140, 60), (200, 40, 40)  # RGB at full strength: green for, red against
_FAINT = 0.1  # shares below this are left unshaded in the terminal


@dataclass
class Record:
    """One explained input: what it was, what the model said, and the scores."""

    line: int  # line number in the input (series: the last row of the window)
    units: list[str]  # tokens, or the time steps' labels (timestamp or row number)
    prediction: str  # predicted label, or the target column for a forecast
    shown: str  # the prediction as printed: "HUM p=0.93", "OT forecast 1.27 (mean of 24 steps)"
    target: str  # the label (or column) whose output is explained
    explanation: Explanation
    extra: dict = field(default_factory=dict)  # JSON-ready fields kept as they are: text, probs, forecast, values

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The k units with the highest scores (special tokens left out)."""
        pairs = [(u, s) for u, s in zip(self.units, self.explanation.scores) if u not in SPECIAL_TOKENS or u == UNK]
        return sorted(pairs, key=lambda p: -p[1])[:k]


def json_record(record: Record, method: str) -> dict:
    e = record.explanation
    out = {
        "line": record.line,
        **record.extra,
        "prediction": record.prediction,
        "target": record.target,
        "method": method,
        "units": record.units,
        "scores": [round(s, 6) for s in e.scores],
        "output": round(e.output, 6),
        "baseline_output": round(e.baseline_output, 6),
        "completeness_error": None if e.completeness_error is None else round(e.completeness_error, 6),
        "steps": e.steps,
    }
    if e.feature_scores is not None:
        out["feature_scores"] = [[round(v, 6) for v in row] for row in e.feature_scores]
    return out


def write_jsonl(records: Sequence[Record], method: str, out: IO[str]) -> None:
    for record in records:
        out.write(json.dumps(json_record(record, method)) + "\n")


# ----------------------------------------------------------------------------------------------- terminal
def _share(score: float, largest: float) -> float:
    return min(abs(score) / largest, 1.0) if largest > 0 else 0.0


def _blend(rgb: tuple[int, int, int], share: float) -> str:
    r, g, b = (round(255 + (c - 255) * share) for c in rgb)  # white -> full colour
    return f"#{r:02x}{g:02x}{b:02x}"


def shaded_units(record: Record) -> Text:
    """The tokens (or steps) side by side, each on a background shaded by its score; wraps at the width."""
    scores = record.explanation.scores
    largest = max((abs(s) for s in scores), default=0.0)
    text = Text()
    for i, (unit, score) in enumerate(zip(record.units, scores)):
        share = _share(score, largest)
        if unit in SPECIAL_TOKENS and unit != UNK:
            style = "dim"
        elif share < _FAINT:
            style = ""
        else:
            colour = _blend(_POSITIVE if score > 0 else _NEGATIVE, share)
            style = f"{'black' if share < 0.6 else 'white'} on {colour}"
        text.append(unit, style=style)
        if i < len(scores) - 1:
            text.append(" ")
    return text


def print_record(console: Console, record: Record, method: str) -> None:
    """Three lines, each readable at 80 columns: verdict, shaded units, top units with scores."""
    e = record.explanation
    head = Text(f"{record.line:>4}  ", style="bold")
    head.append(record.shown, style="bold cyan")
    if record.target != record.prediction:
        head.append(f"  (explaining {record.target})", style="yellow")
    head.append(f"  f(x)={e.output:.3f} f(base)={e.baseline_output:.3f}", style="dim")
    if e.completeness_error is not None:
        head.append(f"  completeness {e.completeness_error:.1%}, {e.steps} steps", style="dim")
    console.print(head)
    console.print(Text("      ") + shaded_units(record))
    top = ", ".join(f"{u} {s:+.3f}" for u, s in record.top())
    console.print(Text(f"      top: {top}", style="dim"), overflow="fold")


def print_legend(console: Console, method: str, baseline: str) -> None:
    legend = Text()
    legend.append(" for ", style=f"white on {_blend(_POSITIVE, 1.0)}")
    legend.append(" ")
    legend.append(" against ", style=f"white on {_blend(_NEGATIVE, 1.0)}")
    legend.append(f" the explained output · {method} · baseline {baseline}", style="dim")
    console.print(legend)


# ------------------------------------------------------------------------------------------------ top-k
def top_words(records: Sequence[Record], k: int) -> dict[str, list[tuple[str, float, int]]]:
    """Per explained class: the k words with the largest summed score over the inputs -> (word, sum, count).

    Special tokens are left out (``<unk>`` stays: many unknown words pulling one way is worth seeing)."""
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for record in records:
        for unit, score in zip(record.units, record.explanation.scores):
            if unit in SPECIAL_TOKENS and unit != UNK:
                continue
            sums[record.target][unit] += score
            counts[record.target][unit] += 1
    return {
        label: sorted(((w, s, counts[label][w]) for w, s in words.items()), key=lambda t: -t[1])[:k]
        for label, words in sorted(sums.items())
    }


def top_words_table(table: dict[str, list[tuple[str, float, int]]], k: int) -> Table:
    out = Table(title=f"top {k} words per class: summed scores over the inputs")
    out.add_column("class", style="bold cyan")
    out.add_column("words: summed score (occurrences)", overflow="fold")
    for label, words in table.items():
        out.add_row(label, ", ".join(f"{w} {s:+.2f} ({n})" for w, s, n in words))
    return out


# ------------------------------------------------------------------------------------------------- HTML
_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto; max-width: 60em;
       color: #222; line-height: 1.5; padding: 0 1em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
.meta { color: #555; font-size: 0.9em; }
.example { border-top: 1px solid #ddd; padding: 0.6em 0; }
.verdict { font-weight: 600; } .verdict .target { color: #8a5a00; font-weight: 400; }
.numbers, .text { color: #666; font-size: 0.85em; }
.units { margin: 0.3em 0; font-family: ui-monospace, 'SFMono-Regular', Menlo, monospace; }
.units span { padding: 0.1em 0.25em; margin: 0 0.05em; border-radius: 3px; display: inline-block; }
.units span.special { color: #999; }
table { border-collapse: collapse; margin-top: 0.5em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.legend span { padding: 0.1em 0.5em; border-radius: 3px; color: #fff; }
"""


def _html_units(record: Record) -> str:
    scores = record.explanation.scores
    largest = max((abs(s) for s in scores), default=0.0)
    spans = []
    for unit, score in zip(record.units, scores):
        share = _share(score, largest)
        colour = _blend(_POSITIVE if score > 0 else _NEGATIVE, share)
        special = ' class="special"' if unit in SPECIAL_TOKENS and unit != UNK else ""
        ink = "#fff" if share >= 0.6 else "#111"
        spans.append(
            f'<span{special} style="background:{colour};color:{ink}" title="{score:+.4f}">{html.escape(unit)}</span>'
        )
    return " ".join(spans)


def _html_example(record: Record) -> str:
    e = record.explanation
    target = (
        ""
        if record.target == record.prediction
        else f' <span class="target">(explaining {html.escape(record.target)})</span>'
    )
    numbers = f"f(x) = {e.output:.4f}, f(baseline) = {e.baseline_output:.4f}"
    if e.completeness_error is not None:
        numbers += f", completeness error {e.completeness_error:.2%} ({e.steps} steps)"
    top = ", ".join(f"{html.escape(u)} {s:+.3f}" for u, s in record.top())
    text = record.extra.get("text")
    source = f'<div class="text">{html.escape(text)}</div>' if text else ""
    return (
        f'<div class="example"><div class="verdict">line {record.line}: {html.escape(record.shown)}{target}'
        f'</div>{source}<div class="units">{_html_units(record)}</div>'
        f'<div class="numbers">{numbers}; top: {top}</div></div>'
    )


def html_page(
    records: Sequence[Record], title: str, facts: dict[str, str], top: dict[str, list[tuple[str, float, int]]] | None
) -> str:
    """One HTML document with inline CSS and no external asset; every text from the data is escaped."""
    meta = " &middot; ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in facts.items())
    legend = (
        f'<p class="legend">Shade: <span style="background:{_blend(_POSITIVE, 1.0)}">for</span> '
        f'<span style="background:{_blend(_NEGATIVE, 1.0)}">against</span> the explained output, relative to '
        "the largest score of the example; hover a token for its score.</p>"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{meta}</p>',
        legend,
    ]
    if top:
        rows = "".join(
            f"<tr><th>{html.escape(label)}</th><td>"
            + ", ".join(f"{html.escape(w)} {s:+.2f} ({n})" for w, s, n in words)
            + "</td></tr>"
            for label, words in top.items()
        )
        parts.append(
            "<h2>Top words per class</h2><table><tr><th>class</th><th>words: summed score "
            f"(occurrences)</th></tr>{rows}</table>"
        )
    parts.append("<h2>Examples</h2>")
    parts.extend(_html_example(r) for r in records)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
