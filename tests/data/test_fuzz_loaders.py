"""Property-based: whatever bytes or shapes a file has, a loader either loads it or raises seqtune's own error.

Never a bare UnicodeDecodeError, csv.Error, IndexError, ValueError or JSONDecodeError that a user would have to
read a traceback for.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqtune.data.formats import read_conll, read_lines, read_table, read_text, read_timeseries_csv, read_trec
from seqtune.errors import SeqtuneError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _write(data: bytes, suffix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="seqtune-fuzz-"))
    path = folder / f"input{suffix}"
    path.write_bytes(data)
    return path


def _loads_or_seqtune_error(fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except SeqtuneError:
        pass


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(data):
    for suffix in (".txt", ".csv", ".tsv", ".jsonl"):
        path = _write(data, suffix)
        _loads_or_seqtune_error(read_text, path)
        _loads_or_seqtune_error(read_lines, path)
        _loads_or_seqtune_error(read_trec, path)
        _loads_or_seqtune_error(read_conll, path)
        _loads_or_seqtune_error(read_timeseries_csv, path)
        _loads_or_seqtune_error(read_table, path, text_columns=["text"], label_column="label")
        _loads_or_seqtune_error(read_table, path, text_columns=[1, 2], label_column=0, has_header=False)


cells = st.text(alphabet=st.sampled_from(list('ab 1.5,"\t\n-:xO')), max_size=8)
rows = st.lists(st.lists(cells, min_size=0, max_size=5), max_size=8)


@FUZZ
@given(rows, st.sampled_from([",", "\t"]))
def test_random_table_shapes(table, delimiter):
    text = "\n".join(delimiter.join(row) for row in [["label", "text", "date"], *table]) + "\n"
    suffix = ".csv" if delimiter == "," else ".tsv"
    path = _write(text.encode(), suffix)
    _loads_or_seqtune_error(read_table, path, text_columns=["text"], label_column="label")
    _loads_or_seqtune_error(read_table, path, text_columns=[0, 1], label_column=2, has_header=False)
    _loads_or_seqtune_error(read_timeseries_csv, path, timestamp_column="date")


conll_line = st.one_of(
    st.just(""), st.just("-DOCSTART- -X- O O"),
    st.lists(st.sampled_from(["EU", "rejects", "B-ORG", "I-PER", "O", "NNP", "I-ORG", "x"]), min_size=1, max_size=5)
    .map(" ".join),
)


@FUZZ
@given(st.lists(conll_line, max_size=20), st.sampled_from(["auto", "iob1", "iob2"]))
def test_random_conll_shapes(lines, scheme):
    path = _write(("\n".join(lines) + "\n").encode(), ".txt")
    _loads_or_seqtune_error(read_conll, path, scheme=scheme)
    _loads_or_seqtune_error(read_conll, path, token_column=0, tag_column=3, scheme=scheme)
