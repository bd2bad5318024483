"""The ``.ts`` format of the UEA & UCR archives (Bagnall et al. 2018; sktime and aeon read and write it):
labelled series, univariate or multivariate, one case per line.

``dataset=ucr`` reads a file ending in ``.ts`` with this module (``series_labels.read_series_file`` dispatches
by suffix).  A file is an optional description (``#`` lines), a header of ``@key value`` lines, ``@data``, then
one case per line (``%`` comment lines too, as in ARFF)::

    # two sensors, two gaits
    @problemName Gait
    @timeStamps false
    @missing false
    @univariate false
    @dimensions 2
    @equalLength true
    @seriesLength 4
    @classLabel true walk run
    @data
    0.1,0.2,0.3,0.4:1.0,1.1,1.2,1.3:walk

The dimensions (channels) of a case are separated by ``:``, the values of each by ``,``, the class label last.
Header keys are case-insensitive (files in the wild write ``@timestamps``, ``@dimension``, and older ones
``@multivariate true 12``); ``@problemName`` and ``@missing`` are not needed.  ``?`` and ``NaN`` are missing
values: trailing ones are trimmed (an unequal-length case padded to a common length), inner ones refused.
``@timeStamps true`` files (``(time,value)`` pairs) are refused.  A univariate case is a ``(length,)`` array, a
multivariate one ``(length, channels)``; a case whose dimensions differ in length is padded with each one's last
value under ``dataset.variable_length=true``, else refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqtune.data.formats import read_text
from seqtune.errors import DataError

MISSING = ("?", "nan", "")
COMMENT = ("#", "%")  # % as in ARFF, which some archive files keep
FORMAT_HINT = "dimensions separated by ':', the values of each by ',', the class label last"


@dataclass
class TsHeader:
    """What a file's header says about its cases (None: not said; taken from the first case)."""

    dimensions: int | None = None
    labelled: bool = False  # each case ends with a class label (@classLabel true) or a target (@targetLabel true)
    regression: bool = False  # @targetLabel true: the last field is a number to regress, not a class
    class_labels: list[str] = field(default_factory=list)  # those @classLabel true declares (may be none)
    equal_length: bool | None = None
    series_length: int | None = None
    data_line: int = 0  # the line of @data
    dimensions_line: int = 0  # the line that set ``dimensions`` (a header key, or the first case)


@dataclass
class TsFile:
    series: list[np.ndarray]  # (length,) univariate, (length, channels) multivariate
    labels: list[str] | None  # None: the file holds no labels (@classLabel false)
    header: TsHeader


# ------------------------------------------------------------------------------------------- header
def _bool(value: list[str], path: Path, lineno: int, key: str) -> bool:
    word = value[0].lower() if value else ""
    if word not in ("true", "false"):
        raise DataError(f"{path}, line {lineno}: @{key} needs true or false, not {' '.join(value)!r}.")
    return word == "true"


def _positive(value: list[str], path: Path, lineno: int, key: str) -> int:
    try:
        number = int(value[0])
    except (IndexError, ValueError):
        number = 0
    if number < 1:
        raise DataError(f"{path}, line {lineno}: @{key} needs a whole number >= 1, not {' '.join(value)!r}.")
    return number


def _header_key(head: TsHeader, key: str, value: list[str], path: Path, lineno: int) -> None:
    """One ``@key value`` line into ``head`` (unknown keys, @problemName and @missing are not needed)."""
    if key == "timestamps" and _bool(value, path, lineno, key):
        raise DataError(
            f"{path}, line {lineno}: @timeStamps true (values given as (time,value) pairs) is not read; write the "
            f"values alone, evenly spaced ({FORMAT_HINT}), and set @timeStamps false."
        )
    if key == "univariate" and _bool(value, path, lineno, key):
        head.dimensions, head.dimensions_line = 1, lineno
    elif key in ("dimensions", "dimension"):
        head.dimensions, head.dimensions_line = _positive(value, path, lineno, key), lineno
    elif key == "multivariate":  # the archive's older header: @multivariate true 12
        multi = _bool(value[:1], path, lineno, key)
        head.dimensions = _positive(value[1:], path, lineno, key) if multi else 1
        head.dimensions_line = lineno
    elif key == "equallength":
        head.equal_length = _bool(value, path, lineno, key)
    elif key == "serieslength":
        head.series_length = _positive(value, path, lineno, key)
    elif key == "classlabel":
        head.labelled = _bool(value[:1], path, lineno, key)
        head.class_labels = value[1:] if head.labelled else []
    elif key == "targetlabel" and _bool(value, path, lineno, key):
        head.labelled, head.regression = True, True


def read_header(lines: list[str], path: Path) -> TsHeader:
    """The header up to ``@data``; a data line before it, or no ``@data`` at all, is a DataError."""
    head = TsHeader()
    for lineno, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith(COMMENT):
            continue
        if not text.startswith("@"):
            raise DataError(
                f"{path}, line {lineno}: {text[:40]!r} comes before any @data line; a .ts file is a header of "
                "@key value lines (@problemName, @univariate, @dimensions, @classLabel true <labels>...), then "
                f"@data, then one case per line ({FORMAT_HINT}). Add the @data line above the first case."
            )
        key, *value = text[1:].split()
        if key.lower() == "data":
            head.data_line = lineno
            return head
        _header_key(head, key.lower(), value, path, lineno)
    raise DataError(
        f"{path}: no @data line (read to line {len(lines)}); a .ts file is a header, then @data, then one case "
        f"per line ({FORMAT_HINT})."
    )


# ------------------------------------------------------------------------------------------- cases
def _dimension_values(field_text: str, path: Path | str, lineno: int, dim: int) -> np.ndarray:
    """One dimension's comma-separated values -> float64, trailing missing values (padding) trimmed."""
    fields = field_text.split(",")
    while fields and fields[-1].strip().lower() in MISSING:
        fields = fields[:-1]
    if not fields:
        raise DataError(f"{path}, line {lineno}, dimension {dim}: no values; {FORMAT_HINT}.")
    values = np.empty(len(fields))
    for j, text in enumerate(fields):
        text = text.strip()
        if text.lower() in MISSING:
            raise DataError(
                f"{path}, line {lineno}, dimension {dim}, value {j + 1}: a missing value ({text or 'empty'!r}) "
                "inside the series (only trailing ? padding is allowed); fill it in the file, or drop the case."
            )
        try:
            values[j] = float(text)
        except ValueError:
            raise DataError(
                f"{path}, line {lineno}, dimension {dim}, value {j + 1}: {text[:40]!r} is not a number; "
                f"{FORMAT_HINT}. Fix or remove that line."
            ) from None
    if not np.isfinite(values).all():
        j = int(np.flatnonzero(~np.isfinite(values))[0])
        raise DataError(f"{path}, line {lineno}, dimension {dim}, value {j + 1}: {fields[j].strip()!r} is not finite.")
    return values


def case_values(fields: list[str], path: Path | str, lineno: int, variable_length: bool) -> np.ndarray:
    """The dimension fields of one case -> (length,) or (length, channels); dimensions of different lengths are
    padded with their last value under ``variable_length``, else a DataError names the dimension."""
    dims = [_dimension_values(text, path, lineno, d) for d, text in enumerate(fields, 1)]
    longest = max(len(v) for v in dims)
    for d, values in enumerate(dims, 1):
        if len(values) != len(dims[0]) and not variable_length:
            raise DataError(
                f"{path}, line {lineno}, dimension {d}: {len(values)} values, but dimension 1 has {len(dims[0])}; "
                "dimensions of different lengths need dataset.variable_length=true (each is then padded with its "
                "last value), or give every dimension of a case the same length."
            )
    if len(dims) == 1:
        return dims[0]
    return np.stack([np.concatenate([v, np.full(longest - len(v), v[-1])]) for v in dims], axis=1)


def _numbers(text: str) -> bool:
    """Whether a field reads as a dimension's values (so a case ending with it has no label)."""
    try:
        [float(v) for v in text.split(",") if v.strip().lower() not in MISSING]
    except ValueError:
        return False
    return True


def _fields(line: str, head: TsHeader, path: Path, lineno: int) -> tuple[list[str], str | None]:
    """A data line -> (its dimension fields, its label or None); a wrong count or an empty label is named."""
    if "(" in line:
        raise DataError(
            f"{path}, line {lineno}: (time,value) pairs are not read (timestamped .ts data); write the values "
            f"alone ({FORMAT_HINT}) and set @timeStamps false."
        )
    fields = line.split(":")
    if head.dimensions is None:  # the first case sets it
        head.dimensions, head.dimensions_line = max(1, len(fields) - head.labelled), lineno
    expected = head.dimensions + head.labelled
    if head.labelled and len(fields) == head.dimensions and _numbers(fields[-1]):
        raise DataError(
            f"{path}, line {lineno}: {head.dimensions} dimension(s) and no label after them; the header "
            "(@classLabel true) says every case ends with ':<label>'. Add the label, or remove the line."
        )
    if len(fields) != expected:
        said = "the header says" if head.dimensions_line < head.data_line else "the first case has"
        raise DataError(
            f"{path}, line {lineno}: {len(fields) - head.labelled} dimension(s), but {said} {head.dimensions} "
            f"(line {head.dimensions_line}; {FORMAT_HINT}{'' if head.labelled else ', no label'}). "
            "Fix or remove that line."
        )
    if not head.labelled:
        return fields, None
    label = fields[-1].strip()
    if not label:
        raise DataError(f"{path}, line {lineno}: an empty label after the last ':'; every case ends with its class.")
    if head.class_labels and not head.regression and label not in head.class_labels:
        raise DataError(
            f"{path}, line {lineno}: label {label!r} is not one of those @classLabel declares "
            f"({' '.join(head.class_labels)}); fix the label or the header."
        )
    return fields[:-1], label


def _check_length(length: int, first: tuple[int, int] | None, head: TsHeader, path: Path, lineno: int) -> None:
    """Equal-length cases (unless the header or dataset.variable_length allows otherwise), of @seriesLength."""
    if head.series_length is not None and length != head.series_length:
        raise DataError(
            f"{path}, line {lineno}: {length} values per dimension, but the header says @seriesLength "
            f"{head.series_length}; fix the header, or set dataset.variable_length=true for cases of any length."
        )
    if first is None or length == first[1]:
        return
    raise DataError(
        f"{path}, line {lineno}: {length} values per dimension, but line {first[0]} has {first[1]}; cases of "
        "different lengths need dataset.variable_length=true (or @equalLength false in the header)."
    )


def read_ts_file(path: Path, variable_length: bool = False, encoding: str = "utf-8") -> TsFile:
    """A ``.ts`` file -> its cases, labels and header; a malformed line is a DataError naming file and line."""
    lines = read_text(path, encoding).splitlines()
    head = read_header(lines, path)
    ragged_ok = variable_length or head.equal_length is False
    series: list[np.ndarray] = []
    labels: list[str] = []
    first: tuple[int, int] | None = None  # (line, length) of the first case
    for lineno in range(head.data_line + 1, len(lines) + 1):
        line = lines[lineno - 1].strip()
        if not line or line.startswith(COMMENT):
            continue
        dims, label = _fields(line, head, path, lineno)
        values = case_values(dims, path, lineno, variable_length)
        if not ragged_ok:
            _check_length(len(values), first, head, path, lineno)
        first = first or (lineno, len(values))
        series.append(values)
        labels.append(label or "")
    if not series:
        raise DataError(f"{path}: no cases after @data (line {head.data_line}); one case per line ({FORMAT_HINT}).")
    return TsFile(series, labels if head.labelled else None, head)


def predict_case(line: str, lineno: int, source: str, channels: int, variable_length: bool) -> np.ndarray:
    """A case as ``seqtune predict`` reads it: ``channels`` dimensions separated by ``:``, a label after them
    allowed and ignored."""
    fields = line.split(":")
    if len(fields) == channels + 1:
        fields = fields[:-1]  # a label (or an empty field after a trailing ':')
    if len(fields) != channels:
        raise DataError(
            f"{source}, line {lineno}: {len(fields)} ':'-separated field(s); this model reads {channels} "
            f"dimension(s) per case ({FORMAT_HINT}, the label optional)."
        )
    return case_values(fields, source, lineno, variable_length)
