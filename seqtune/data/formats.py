"""Plain readers for the file formats seqtune trains on, returning ordinary Python structures.

The dataset builders call these to turn a file on disk into lists of strings (documents, labels,
tokens, tags) or a :class:`TimeSeriesTable` of float32 values; tokenisation, vocabularies and tensors
come later, so nothing here imports torch.  Every problem a user can fix (a missing, empty or
undecodable file, a column that does not exist, a malformed row) raises :class:`~seqtune.errors.DataError`
whose message names the file, the line (and byte offset or column where that helps) and the fix.

Readers:

* :func:`read_text` - a whole file as one string (character- or word-level language modelling).
* :func:`read_lines` - one document per line.
* :func:`read_table` - CSV / TSV / JSON Lines with text and label columns (classification).
* :func:`read_trec` - TREC question classification (``COARSE:fine question text``).
* :func:`read_conll` - CoNLL column files for token tagging, with IOB1 -> IOB2 conversion.
* :func:`read_timeseries_csv` - numeric CSV for forecasting, plus :func:`ett_split` for the ETT protocol.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from seqtune.data.compression import decompress
from seqtune.errors import DataError

__all__ = [
    "TimeSeriesTable",
    "ett_split",
    "read_conll",
    "read_lines",
    "read_table",
    "read_text",
    "read_timeseries_csv",
    "read_trec",
]

# How many bytes either side of an undecodable byte to show in the error message.
_CONTEXT_BYTES = 30


def as_list(value: object) -> list:
    """A list of columns from a list or one column (``dataset.text_columns=sentence`` needs no brackets)."""
    return [value] if isinstance(value, (str, int)) else list(value)  # type: ignore[call-overload]


def _format_suffix(path: str | Path) -> str:
    """The suffix that names the format: ``train.csv.gz`` -> ``.csv`` (a compression suffix is looked through)."""
    p = Path(path)
    if p.suffix.lower() in (".gz", ".bz2", ".xz"):
        p = p.with_suffix("")
    return p.suffix.lower()


def _abs(path: str | Path) -> str:
    # abspath rather than resolve(): the user should see the path they configured, not a symlink target.
    return os.path.abspath(os.fspath(path))


# --------------------------------------------------------------------------------------------------
# Whole files and lines
# --------------------------------------------------------------------------------------------------


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    r"""Read a whole text file and return its contents.

    Raises :class:`DataError` when the file is missing or unreadable, empty (0 bytes or only whitespace),
    the encoding name is unknown, or a byte cannot be decoded; the last names the 1-based line, the byte
    offset and value of the bad byte, and suggests another ``dataset.encoding``.  A UTF-8 byte-order mark
    at the start is dropped, so a CSV saved by a spreadsheet program does not get a header "\ufeffdate"
    (a zero-width character the user cannot see).
    """
    where = _abs(path)
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise DataError(
            f"Cannot read {where}: unknown text encoding {encoding!r}. Set dataset.encoding to a codec name "
            "Python knows, such as utf-8, latin-1 or cp1252."
        ) from None
    try:
        data = decompress(path, Path(path).read_bytes())  # .gz .bz2 .xz: told by their first bytes
    except FileNotFoundError:
        raise DataError(f"Data file not found: expected it at {where}; check the path.") from None
    except IsADirectoryError:
        raise DataError(f"Expected a data file at {where} but it is a directory; check the path.") from None
    except PermissionError:
        raise DataError(f"Cannot read {where}: permission denied; check the file's permissions.") from None
    except OSError as exc:
        raise DataError(f"Cannot read {where}: {exc.strerror or exc}; check the path and the disk.") from None
    if not data:
        raise DataError(f"Data file {where} is empty (0 bytes); put the data in it or point to another file.")
    sniff(where, data[:8], codec.name)
    try:
        text = data.decode(codec.name)
    except UnicodeDecodeError as exc:
        raise DataError(_decode_error_message(where, data, exc, codec.name)) from None
    if codec.name == "utf-8" and text.startswith("\ufeff"):
        text = text[1:]
    # isspace() checks without building a stripped copy of a possibly large string.
    if not text or text.isspace():
        raise DataError(
            f"Data file {where} is empty (it holds only whitespace); put the data in it or point to another file."
        )
    return text


# What a file's first bytes say it is, when that is not text in a single-byte or UTF-8 encoding.
_COMPRESSED = (
    (b"\x1f\x8b", "gzip-compressed", "gunzip -k"),
    (b"BZh", "bzip2-compressed", "bunzip2 -k"),
    (b"\xfd7zXZ\x00", "xz-compressed", "unxz -k"),
    (b"PK\x03\x04", "a zip archive", "unzip"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", "unzstd"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "7z x"),
)
_BOMS = (  # longest first: the UTF-32 LE mark begins with the UTF-16 LE one
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


def sniff(where: str, head: bytes, encoding: str, compressed: bool = True) -> None:
    """A DataError when the first bytes show a compressed file or a UTF-16/32 text that ``encoding`` would read
    as garbage (decoded with latin-1, any bytes "work").  ``compressed=False``: leave gzip, bzip2 and xz to a
    reader that uncompresses them (archives are still named)."""
    for magic, what, tool in _COMPRESSED[0 if compressed else 3 :]:
        if head.startswith(magic):
            raise DataError(
                f"{where} is {what} (its first bytes say so), not text: a text encoding cannot read it. "
                f"Uncompress it first (e.g. `{tool} {Path(where).name}`) and point the dataset at the result."
            )
    try:
        name = codecs.lookup(encoding).name
    except LookupError:  # reported by the reader, with the fix
        return
    for bom, family in _BOMS:
        if head.startswith(bom) and not name.startswith(family.replace("-", "_")) and not name.startswith(family):
            raise DataError(
                f"{where} starts with a {family.upper()} byte-order mark: it is {family.upper()} text, which "
                f"{encoding} would misread. Set dataset.encoding={family} (or convert the file: "
                f"`iconv -f {family.upper()} -t UTF-8`)."
            )
        if head.startswith(bom):
            return


def _decode_error_message(where: str, data: bytes, exc: UnicodeDecodeError, encoding: str) -> str:
    offset = exc.start
    # Counting newlines before the bad byte gives the line without decoding anything.
    line = data.count(b"\n", 0, offset) + 1
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = offset - line_start + 1
    lo = max(line_start, offset - _CONTEXT_BYTES)
    hi = data.find(b"\n", offset)
    hi = min(offset + _CONTEXT_BYTES, len(data) if hi < 0 else hi)
    context = data[lo:hi].decode(encoding, errors="replace")
    sniff(where, data[:8], encoding)  # a compressed or UTF-16/32 file: say that, never "try latin-1"
    suggestion = (
        "set dataset.encoding=latin-1 (or cp1252 for text from Windows programs)"
        if encoding != "latin-1"
        else "set dataset.encoding to the file's real encoding"
    )
    return (
        f"Cannot decode {where} as {encoding}: line {line}, byte offset {offset} (byte {column} of the line) "
        f"holds byte 0x{data[offset]:02X}, which is not valid {encoding} (near {context!r}). "
        f"If the file uses another encoding, {suggestion}; otherwise fix or remove that byte in the file."
    )


def _split_lines(text: str) -> list[str]:
    """Split text into lines on LF, dropping a CR before each LF and the empty piece after a final newline.

    Not str.splitlines: it also splits on form feeds and U+2028, which would shift line numbers away from
    what an editor shows.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def read_lines(path: str | Path, encoding: str = "utf-8", skip_empty: bool = True) -> tuple[list[str], int]:
    """Read one document per line, without the line ending.

    Returns ``(lines, n_dropped)``: with ``skip_empty`` lines that are empty or only whitespace are left out
    and counted in ``n_dropped`` (0 otherwise), so the caller can report how many were skipped.
    """
    lines = _split_lines(read_text(path, encoding))
    if not skip_empty:
        return lines, 0
    kept = [ln for ln in lines if ln and not ln.isspace()]
    return kept, len(lines) - len(kept)


# --------------------------------------------------------------------------------------------------
# Tables: CSV, TSV, JSON Lines
# --------------------------------------------------------------------------------------------------

_CSV_SUFFIXES: dict[str, Literal[",", "\t"]] = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_JSONL_SUFFIXES = {".jsonl", ".json"}


def read_table(
    path: str | Path,
    *,
    text_columns: list[str] | list[int],
    label_column: str | int | None,
    delimiter: Literal[",", "\t"] | None = None,
    has_header: bool = True,
    encoding: str = "utf-8",
    join_with: str = " ",
) -> tuple[list[str], list[str] | None]:
    """Read texts (and labels) from a CSV, TSV or JSON Lines file.

    The format comes from ``delimiter`` when given, otherwise from the suffix: ``.csv`` comma, ``.tsv`` /
    ``.tab`` tab, ``.jsonl`` / ``.json`` one JSON object per line.  Columns are header names, or 0-based
    indices (required when ``has_header`` is false, e.g. AG News ``test.csv``: 0 = class, 1 = title,
    2 = description); in JSON Lines they are keys.  Several text columns are joined with ``join_with``.
    Tab-separated files are read without quote handling, as TSV corpora (GLUE, SST) contain bare ``"``.

    Returns ``(texts, labels)``; ``labels`` is ``None`` when ``label_column`` is ``None``, otherwise the
    label of each row as the string written in the file.  Blank lines are skipped.
    """
    where = _abs(path)
    if not text_columns:
        raise DataError(f"No text columns configured for {where}; set dataset.text_columns to at least one column.")
    suffix = _format_suffix(path)
    if delimiter is None and suffix in _JSONL_SUFFIXES:
        return _read_jsonl(path, where, list(text_columns), label_column, encoding, join_with)
    if delimiter is None:
        if suffix not in _CSV_SUFFIXES:
            raise DataError(
                f"Cannot tell the table format of {where} from its suffix {suffix!r}: use .csv, .tsv, .tab, "
                "or .jsonl, or set dataset.delimiter to ',' or '\\t'."
            )
        delimiter = _CSV_SUFFIXES[suffix]
    if delimiter not in (",", "\t"):
        raise DataError(f"Unsupported delimiter {delimiter!r} for {where}; set dataset.delimiter to ',' or '\\t'.")
    return _read_delimited(path, where, list(text_columns), label_column, delimiter, has_header, encoding, join_with)


def _iter_csv_rows(text: str, where: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(first_line, row)`` for each non-blank row.

    ``first_line`` is 1-based and counts physical lines, so a quoted field spanning lines does not shift
    the numbers of later rows.
    """
    quoting: Literal[0, 1, 2, 3] = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting, strict=True)
    prev = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(
                f"Malformed row in {where} at line {prev + 1}: {exc}. Check the quoting of that row "
                "(fields containing the delimiter or a quote must be quoted, with inner quotes doubled)."
            ) from None
        first = prev + 1
        prev = reader.line_num
        if row and not (len(row) == 1 and not row[0].strip()):
            yield first, row


def _resolve(spec: str | int, header: list[str] | None, n_fields: int, where: str, role: str) -> int:
    """Turn a configured column (name or 0-based index) into an index into each row."""
    if isinstance(spec, bool):  # bool is an int subclass; True as a column is a config slip
        spec = str(spec)
    if header is not None and isinstance(spec, str):
        if spec in header:
            if header.count(spec) > 1:
                raise DataError(
                    f"Column {spec!r} ({role}) appears {header.count(spec)} times in the header of {where}; "
                    "rename the duplicates or select the column by 0-based index."
                )
            return header.index(spec)
        raise DataError(
            f"Column {spec!r} ({role}) not found in {where}; the columns are: "
            f"{', '.join(repr(h) for h in header)}. Fix the column name in the dataset config."
        )
    if header is None and isinstance(spec, str):
        # Values from the command line can arrive as strings; "2" can only mean index 2 without a header.
        if spec.strip().lstrip("-").isdigit():
            spec = int(spec)
        else:
            raise DataError(
                f"Column {spec!r} ({role}) is a name, but {where} is read without a header row "
                f"(has_header=false), so its columns are 0-based indices 0..{n_fields - 1}. Use an index, "
                "or set has_header=true if the first row holds column names."
            )
    index = int(spec)
    if not -n_fields <= index < n_fields:
        names = f" ({', '.join(repr(h) for h in header)})" if header is not None else ""
        raise DataError(
            f"Column index {index} ({role}) does not exist in {where}: rows have {n_fields} columns, "
            f"indices 0..{n_fields - 1}{names}. Fix the column in the dataset config."
        )
    return index % n_fields


def _read_delimited(
    path: str | Path,
    where: str,
    text_columns: list[str | int],
    label_column: str | int | None,
    delimiter: str,
    has_header: bool,
    encoding: str,
    join_with: str,
) -> tuple[list[str], list[str] | None]:
    rows = _iter_csv_rows(read_text(path, encoding), where, delimiter)
    header: list[str] | None = None
    if has_header:
        first = next(rows, None)
        if first is None:
            raise DataError(f"Data file {where} has no rows; put the data in it or point to another file.")
        header = [h.strip() for h in first[1]]
    texts: list[str] = []
    labels: list[str] | None = None if label_column is None else []
    text_idx: list[int] | None = None
    label_idx: int | None = None
    n_fields = 0
    for line, row in rows:
        if text_idx is None:
            # Without a header the first data row fixes how many columns the file has.
            n_fields = len(header) if header is not None else len(row)
            text_idx = [_resolve(c, header, n_fields, where, "text column") for c in text_columns]
            if label_column is not None:
                label_idx = _resolve(label_column, header, n_fields, where, "label column")
        if len(row) > n_fields and any(f.strip() for f in row[n_fields:]):
            raise DataError(
                f"Row at line {line} of {where} has {len(row)} fields but {n_fields} are expected "
                f"(delimiter {delimiter!r}): probably a text holding an unquoted {delimiter!r}. Quote that field "
                '("...", inner quotes doubled), or fix the row; seqtune does not guess which field it belongs to.'
            )
        if len(row) < n_fields:
            raise DataError(
                f"Row at line {line} of {where} has {len(row)} fields but {n_fields} are expected "
                f"(delimiter {delimiter!r}). Fix or remove that row, or check that the delimiter is right."
            )
        texts.append(join_with.join(row[i] for i in text_idx))
        if labels is not None and label_idx is not None:
            labels.append(row[label_idx])
    if text_idx is None:
        raise DataError(
            f"Data file {where} has a header but no data rows; put the data in it or point to another file."
        )
    return texts, labels


def _json_field(value: object, key: str, role: str, line: int, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        # json.dumps writes the value as it appears in the file (true, 3, 0.5), not Python's True.
        return json.dumps(value)
    kind = "null" if value is None else type(value).__name__
    raise DataError(
        f"Line {line} of {where}: the {role} {key!r} is {kind}, expected a string or number. Fix or remove that record."
    )


def _read_jsonl(
    path: str | Path,
    where: str,
    text_columns: list[str | int],
    label_column: str | int | None,
    encoding: str,
    join_with: str,
) -> tuple[list[str], list[str] | None]:
    for col in [*text_columns, *([] if label_column is None else [label_column])]:
        if not isinstance(col, str) or isinstance(col, bool):
            raise DataError(
                f"Column {col!r} for {where} is an index, but JSON Lines records are selected by key; "
                "set the dataset's text/label columns to key names."
            )
    keys = [str(c) for c in text_columns]
    label_key = None if label_column is None else str(label_column)
    texts: list[str] = []
    labels: list[str] | None = None if label_key is None else []
    for line_no, line in enumerate(_split_lines(read_text(path, encoding)), start=1):
        if not line.strip():
            continue
        if line_no == 1 and line.lstrip().startswith("["):
            raise DataError(
                f"{where} holds a JSON array, but JSON Lines (one object per line) is expected. Convert it, "
                "e.g. `jq -c '.[]' in.json > out.jsonl`, and point the dataset at the .jsonl file."
            )
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"Malformed JSON on line {line_no} of {where} (column {exc.colno}): {exc.msg}. Each line must "
                "hold one complete JSON object; fix or remove that line."
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                f"Line {line_no} of {where} holds a JSON {type(record).__name__}, not an object; each line must "
                "be one JSON object whose keys are the columns."
            )
        for key in [*keys, *([] if label_key is None else [label_key])]:
            if key not in record:
                raise DataError(
                    f"Column {key!r} not found on line {line_no} of {where}; the record's keys are: "
                    f"{', '.join(repr(k) for k in record)}. Fix the column name in the dataset config "
                    "or add the key to every record."
                )
        texts.append(join_with.join(_json_field(record[k], k, "text column", line_no, where) for k in keys))
        if labels is not None and label_key is not None:
            labels.append(_json_field(record[label_key], label_key, "label column", line_no, where))
    return texts, labels


# --------------------------------------------------------------------------------------------------
# TREC question classification
# --------------------------------------------------------------------------------------------------


def read_trec(path: str | Path, encoding: str = "latin-1", fine: bool = False) -> tuple[list[str], list[str]]:
    """Read TREC question-classification lines ``COARSE:fine question text``.

    Returns ``(questions, labels)`` with the coarse label (``DESC``, TREC-6) or, with ``fine``, the full
    ``DESC:manner`` label (TREC-50).  The default encoding is latin-1 because the official training file
    holds one 0xF0 byte that is not valid UTF-8.
    """
    where = _abs(path)
    questions: list[str] = []
    labels: list[str] = []
    for line_no, line in enumerate(_split_lines(read_text(path, encoding)), start=1):
        if not line.strip():
            continue
        label, _, question = line.strip().partition(" ")
        coarse, colon, fine_part = label.partition(":")
        if not colon or not coarse or not fine_part or not question.strip():
            raise DataError(
                f"Line {line_no} of {where} is not in TREC format 'COARSE:fine question text' "
                f"(got {line[:60]!r}). Fix that line, or check that this is a TREC .label file."
            )
        questions.append(question.strip())
        labels.append(label if fine else coarse)
    return questions, labels


# --------------------------------------------------------------------------------------------------
# CoNLL token tagging
# --------------------------------------------------------------------------------------------------


def _iob_parts(tag: str) -> tuple[str, str]:
    """Split an IOB tag into (prefix, type); "O" gives ("O", "")."""
    if tag == "O":
        return "O", ""
    prefix, dash, kind = tag.partition("-")
    if dash and prefix in ("B", "I") and kind:
        return prefix, kind
    return "", ""


def _starts_entity_with_i(prev: str, tag: str) -> bool:
    """True when ``tag`` is I-X and the previous tag is not part of an X entity: only IOB1 allows that."""
    prefix, kind = _iob_parts(tag)
    if prefix != "I":
        return False
    prev_prefix, prev_kind = _iob_parts(prev)
    return prev_prefix == "O" or prev_kind != kind


def read_conll(
    path: str | Path,
    *,
    token_column: int = 0,
    tag_column: int = -1,
    encoding: str = "utf-8",
    scheme: Literal["iob1", "iob2", "auto"] = "auto",
    to_scheme: Literal["iob2"] | None = "iob2",
) -> tuple[list[list[str]], list[list[str]]]:
    """Read a CoNLL-style column file into ``(sentences, tags)``, each a list of per-sentence lists.

    One token per line with whitespace-separated columns, a blank line between sentences, ``-DOCSTART-``
    lines skipped.  ``token_column`` / ``tag_column`` are 0-based (negative counts from the end).

    With ``to_scheme="iob2"`` the tags are returned in IOB2 (every entity starts with ``B-``).  IOB1 input
    (CoNLL-2003's original files, where ``I-`` starts an entity and ``B-`` only separates two touching
    entities of the same type) is converted: an ``I-X`` whose previous tag is ``O``, the sentence start or
    another type becomes ``B-X``.  ``scheme="auto"`` treats the file as IOB1 when such an ``I-X`` occurs
    anywhere; ``scheme="iob2"`` rejects one.  ``to_scheme=None`` returns the tags as written, for tag
    columns that are not IOB (POS tags).
    """
    where = _abs(path)
    # Checked before reading so a typo in the config fails fast, not after parsing a large file.
    if to_scheme not in ("iob2", None):
        raise DataError(f"Unknown target tag scheme {to_scheme!r} for {where}; use iob2 or null.")
    if scheme not in ("iob1", "iob2", "auto"):
        raise DataError(f"Unknown tag scheme {scheme!r} for {where}; use iob1, iob2 or auto.")
    needed = max(
        token_column + 1 if token_column >= 0 else -token_column, tag_column + 1 if tag_column >= 0 else -tag_column
    )
    sentences: list[list[str]] = []
    tags: list[list[str]] = []
    first_lines: list[int] = []  # line of each sentence's first token, for error messages after reading
    words: list[str] = []
    labels: list[str] = []
    start = 0
    lines = _split_lines(read_text(path, encoding))
    # A sentinel blank line flushes the last sentence when the file does not end with one.
    for line_no, line in enumerate([*lines, ""], start=1):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                sentences.append(words)
                tags.append(labels)
                first_lines.append(start)
                words, labels = [], []
            continue
        if len(fields) < needed:
            raise DataError(
                f"Line {line_no} of {where} has {len(fields)} column(s) but the token column {token_column} and "
                f"tag column {tag_column} need at least {needed}: {line[:60]!r}. Fix that line, or set "
                "token_column / tag_column to match the file."
            )
        if not words:
            start = line_no
        words.append(fields[token_column])
        labels.append(fields[tag_column])
    if not sentences:
        raise DataError(f"No sentences found in {where}; it holds only blank or -DOCSTART- lines.")
    if to_scheme is None:
        return sentences, tags
    _check_iob(tags, first_lines, where)
    if scheme == "auto":
        scheme = (
            "iob1"
            if any(_starts_entity_with_i(sent[i - 1] if i else "O", sent[i]) for sent in tags for i in range(len(sent)))
            else "iob2"
        )
    if scheme == "iob2":
        for sent, first in zip(tags, first_lines, strict=True):
            for i, tag in enumerate(sent):
                if _starts_entity_with_i(sent[i - 1] if i else "O", tag):
                    raise DataError(
                        f"Line {first + i} of {where}: tag {tag!r} starts an entity, which IOB2 does not allow "
                        "(entities start with B-). The file looks like IOB1; set scheme=iob1 or scheme=auto."
                    )
        return sentences, tags
    return sentences, [_iob1_to_iob2(sent) for sent in tags]


def _iob1_to_iob2(sent: list[str]) -> list[str]:
    """Rewrite each I-X that starts an entity as B-X; B-X and continuing I-X stay as they are."""
    return [
        "B" + tag[1:] if _starts_entity_with_i(sent[i - 1] if i else "O", tag) else tag for i, tag in enumerate(sent)
    ]


def _check_iob(tags: list[list[str]], first_lines: list[int], where: str) -> None:
    for sent, first in zip(tags, first_lines, strict=True):
        for i, tag in enumerate(sent):
            if _iob_parts(tag)[0] == "":
                raise DataError(
                    f"Line {first + i} of {where}: tag {tag!r} is not an IOB tag (O, B-TYPE or I-TYPE), so it "
                    "cannot be converted to IOB2. Check tag_column, or set to_scheme=null to keep tags as written."
                )


# --------------------------------------------------------------------------------------------------
# Time series
# --------------------------------------------------------------------------------------------------


@dataclass
class TimeSeriesTable:
    """A numeric table read from a CSV, one row per time step in file order.

    ``columns`` names the columns of ``values`` (float32, shape ``(rows, len(columns))``); the target, if
    any, is ``columns[target_index]``.  ``timestamps`` holds the timestamp cell of each row as written, or
    is empty when the file has no timestamp column.
    """

    timestamps: list[str]
    columns: list[str]
    values: np.ndarray
    target_index: int | None


def _parse_float(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    # NaN / inf parse fine but would poison normalisation statistics and losses without any error.
    return value if math.isfinite(value) else None


def read_timeseries_csv(
    path: str | Path,
    *,
    timestamp_column: str | None = "date",
    feature_columns: list[str] | None = None,
    target_column: str | None = None,
    encoding: str = "utf-8",
) -> TimeSeriesTable:
    """Read a CSV with a header row into a :class:`TimeSeriesTable`.

    ``feature_columns=None`` takes every column except the timestamp whose first-row value is numeric
    (text columns such as a station id are left out).  ``target_column``, when given and not one of the
    features, is appended last.  Every selected cell must be a finite number; an empty, non-numeric, NaN
    or infinite cell raises :class:`DataError` naming the line and column.
    """
    where = _abs(path)
    rows = _iter_csv_rows(read_text(path, encoding), where, ",")
    first = next(rows, None)
    if first is None:
        raise DataError(f"Data file {where} has no rows; put the data in it or point to another file.")
    header = [h.strip() for h in first[1]]
    data = list(rows)
    if not data:
        raise DataError(
            f"Data file {where} has a header but no data rows; put the data in it or point to another file."
        )
    n_fields = len(header)
    ts_idx = (
        None if timestamp_column is None else _resolve(timestamp_column, header, n_fields, where, "timestamp column")
    )
    if feature_columns is None:
        line, row = data[0]
        if len(row) < n_fields:
            _raise_short_row(where, line, len(row), n_fields)
        names = [h for i, h in enumerate(header) if i != ts_idx and _parse_float(row[i]) is not None]
        if not names:
            raise DataError(
                f"No numeric columns found in {where} (first data row, line {line}); the columns are: "
                f"{', '.join(repr(h) for h in header)}. Set dataset.feature_columns explicitly."
            )
    else:
        names = list(feature_columns)
    target_index: int | None = None
    if target_column is not None:
        if target_column not in names:
            names.append(target_column)
        target_index = names.index(target_column)
    idx = [
        _resolve(name, header, n_fields, where, "feature column" if i != target_index else "target column")
        for i, name in enumerate(names)
    ]
    values = np.empty((len(data), len(idx)), dtype=np.float32)
    timestamps: list[str] = []
    for r, (line, row) in enumerate(data):
        if len(row) < n_fields:
            _raise_short_row(where, line, len(row), n_fields)
        for c, i in enumerate(idx):
            value = _parse_float(row[i])
            if value is None:
                raise DataError(
                    f"Line {line} of {where}, column {header[i]!r}: {row[i]!r} is not a finite number. Fill or "
                    "drop missing values in the file, or leave that column out of dataset.feature_columns."
                )
            values[r, c] = value
        if ts_idx is not None:
            timestamps.append(row[ts_idx])
    return TimeSeriesTable(timestamps=timestamps, columns=names, values=values, target_index=target_index)


def _raise_short_row(where: str, line: int, got: int, expected: int) -> None:
    raise DataError(
        f"Row at line {line} of {where} has {got} fields but the header has {expected}. Fix or remove that row."
    )


def ett_split(n_rows: int, freq: Literal["h", "15min"], lookback: int = 0) -> tuple[slice, slice, slice]:
    """Row slices (train, validation, test) of the standard ETT protocol: 12 / 4 / 4 months of 30 days.

    Hourly: train ``[0, 8640)``, validation ``[8640, 11520)``, test ``[11520, 14400)``; 15-minute data
    has 4x as many rows per month.  Rows after month 20 are unused, as in the Informer / Autoformer code.

    ``lookback`` moves the validation and test starts back by that many rows.  The literature's data
    loaders do this (``border1 = start - seq_len``) so that the first validation / test window has its
    full history of ``seq_len`` inputs taken from the end of the previous split, and every target step
    of the 4-month period is forecast; pass the model's input length to reproduce published numbers.
    Only targets, never history, must come from the evaluated split, so this is not leakage.
    """
    if freq == "h":
        per_month = 30 * 24
    elif freq == "15min":
        per_month = 30 * 24 * 4
    else:
        raise DataError(f"Unknown ETT frequency {freq!r}; use 'h' (ETTh1/ETTh2) or '15min' (ETTm1/ETTm2).")
    train_end, val_end, test_end = 12 * per_month, 16 * per_month, 20 * per_month
    if n_rows < test_end:
        raise DataError(
            f"The ETT split with freq={freq!r} needs at least {test_end} rows (20 months of 30 days), but the "
            f"file has {n_rows}. Check that the file is a complete ETT file and that freq matches it "
            "('h' for ETTh*, '15min' for ETTm*)."
        )
    if not 0 <= lookback <= train_end:
        raise DataError(
            f"ETT lookback must be between 0 and {train_end} rows (the train split), got {lookback}; "
            "set it to the model's input length."
        )
    return slice(0, train_end), slice(train_end - lookback, val_end), slice(val_end - lookback, test_end)
