"""Property-based: the dataset loaders (seqtune/data/*) either load a file or raise seqtune's own error.

Where tests/data/test_fuzz_loaders.py feeds the plain readers of formats.py, this feeds the whole path a run
takes from a dataset config: reading, carving splits, label checks, fitting a tokenizer, encoding, windows and
normalisation.  Random bytes and random CSV / TSV / JSON Lines / CoNLL / time-series / pairs shapes go in; the
only acceptable outcomes are a loaded dataset or a :class:`~seqtune.errors.SeqtuneError` (exit status 2 on the
command line, one paragraph, no traceback).  Any other exception is an escape and fails the test.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from seqtune.config.schema import (ConllDatasetConfig, PairsDatasetConfig, TableDatasetConfig, TextDatasetConfig,
                            TimeSeriesDatasetConfig, TrecDatasetConfig)
from seqtune.data.labelled import load_labelled
from seqtune.data.pairs import load_pairs
from seqtune.data.text import load_lm_corpus
from seqtune.data.timeseries import load_timeseries
from seqtune.errors import SeqtuneError
from tests.data._helpers import make_cfg

PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def _no_shared_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQTUNE_CACHE_DIR", str(tmp_path / "cache"))


def _write(data: bytes | str, name: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="seqtune-props-"))
    path = folder / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _loads_or_seqtune_error(load) -> object | None:
    """The loader's result, or None when it raised a SeqtuneError; any other exception propagates (a failure)."""
    try:
        return load()
    except SeqtuneError as exc:
        assert str(exc).strip(), "a SeqtuneError must carry a message"
        return None


# ----------------------------------------------------------------------------------------- the loaders
def load_text(path: Path, kind: str = "word"):
    cfg = make_cfg(TextDatasetConfig, name="t", format="text", train=str(path), token_cache=False,
                   tokenizer={"kind": kind})
    return load_lm_corpus(cfg)


def load_table(path: Path, **fields):
    cfg = make_cfg(TableDatasetConfig, name="t", format="table", train=str(path), **fields)
    return load_labelled(cfg)


def load_trec(path: Path):
    return load_labelled(make_cfg(TrecDatasetConfig, name="t", format="trec", train=str(path)))


def load_conll(path: Path, scheme: str = "auto"):
    return load_labelled(make_cfg(ConllDatasetConfig, name="t", format="conll", train=str(path), scheme=scheme))


def load_series(path: Path, **fields):
    cfg = make_cfg(TimeSeriesDatasetConfig, name="t", format="timeseries", file=str(path), lookback=2, horizon=1,
                   **fields)
    return load_timeseries(cfg)


def load_pair_file(path: Path):
    return load_pairs(make_cfg(PairsDatasetConfig, name="t", format="pairs", train=str(path)), max_length=6)


# -------------------------------------------------------------------------------------------- bytes
@PROPERTY
@given(st.binary(max_size=300), st.sampled_from(["word", "char"]))
def test_text_loader_on_random_bytes(data, kind):
    corpus = _loads_or_seqtune_error(lambda: load_text(_write(data, "train.txt"), kind))
    if corpus is not None:
        assert corpus.train.dtype == torch.long and corpus.train.numel() > 0


@PROPERTY
@given(st.binary(max_size=300), st.sampled_from([".csv", ".tsv", ".jsonl"]))
def test_table_and_pairs_loaders_on_random_bytes(data, suffix):
    path = _write(data, f"train{suffix}")
    _loads_or_seqtune_error(lambda: load_table(path))
    _loads_or_seqtune_error(lambda: load_pair_file(path))


@PROPERTY
@given(st.binary(max_size=300))
def test_trec_conll_and_series_loaders_on_random_bytes(data):
    path = _write(data, "train.txt")
    _loads_or_seqtune_error(lambda: load_trec(path))
    _loads_or_seqtune_error(lambda: load_conll(path))
    csv_path = _write(data, "series.csv")
    _loads_or_seqtune_error(lambda: load_series(csv_path))


# ------------------------------------------------------------------------------------------- shapes
cells = st.text(alphabet=st.sampled_from(list('ab 1.5,"\t-xyO\\')), max_size=6)
rows = st.lists(st.lists(cells, min_size=0, max_size=4), max_size=30)
headers = st.sampled_from([["label", "text"], ["text", "label"], ["label"], ["text"], ["source", "target"],
                           ["label", "text", "label"], []])


@PROPERTY
@given(headers, rows, st.sampled_from([",", "\t"]))
def test_table_and_pairs_loaders_on_random_delimited_shapes(header, body, delimiter):
    text = "\n".join(delimiter.join(r) for r in ([header] if header else []) + body) + "\n"
    path = _write(text, "train.csv" if delimiter == "," else "train.tsv")
    data = _loads_or_seqtune_error(lambda: load_table(path))
    if data is not None:
        assert data.train and data.valid and data.test and data.labels
        assert all(e.tokens and 0 <= e.label < len(data.labels) for e in data.train + data.valid + data.test)
    _loads_or_seqtune_error(lambda: load_table(path, has_header=False, text_columns=[1], label_column=0))
    _loads_or_seqtune_error(lambda: load_pair_file(path))


json_values = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True),
                        st.text(alphabet="ab \n\"", max_size=5), st.lists(st.integers(), max_size=2),
                        st.dictionaries(st.just("k"), st.integers(), max_size=1))
json_records = st.dictionaries(st.sampled_from(["text", "label", "source", "target", "other"]), json_values,
                               max_size=4)
json_lines = st.one_of(json_records.map(json.dumps), st.just(""), st.just("[1, 2]"), st.just("{bad json"),
                       st.just("42"), st.just('"text"'))


@PROPERTY
@given(st.lists(json_lines, max_size=30))
def test_table_and_pairs_loaders_on_random_json_lines(lines):
    path = _write("\n".join(lines) + "\n", "train.jsonl")
    data = _loads_or_seqtune_error(lambda: load_table(path))
    if data is not None:
        assert data.train and data.valid and data.test
    _loads_or_seqtune_error(lambda: load_pair_file(path))


conll_line = st.one_of(
    st.just(""), st.just("-DOCSTART- -X- O O"), st.just("   "),
    st.lists(st.sampled_from(["EU", "rejects", "B-ORG", "I-PER", "O", "NNP", "I-ORG", "B-", "x"]), min_size=1,
             max_size=4).map(" ".join),
)


@PROPERTY
@given(st.lists(conll_line, max_size=40), st.sampled_from(["auto", "iob1", "iob2"]))
def test_conll_loader_on_random_shapes(lines, scheme):
    path = _write("\n".join(lines) + "\n", "train.txt")
    data = _loads_or_seqtune_error(lambda: load_conll(path, scheme))
    if data is not None:
        assert all(len(e.tokens) == len(e.label) for e in data.train + data.valid + data.test)


trec_line = st.one_of(st.just(""), st.just("DESC:manner How do you do ?"), st.just("LOC:city Where ?"),
                      st.just("NUM: x"), st.just(":x y"), st.just("ENTY:animal"), st.text(alphabet="AB: x?", max_size=12))


@PROPERTY
@given(st.lists(trec_line, max_size=40))
def test_trec_loader_on_random_shapes(lines):
    path = _write("\n".join(lines) + "\n", "train.label")
    data = _loads_or_seqtune_error(lambda: load_trec(path))
    if data is not None:
        assert data.train and set(data.labels) <= {"DESC", "LOC", "NUM", "ENTY", "AB", "A", "B"} | set(data.labels)


number = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr), st.integers(-5, 5).map(str),
                   st.sampled_from(["", "x", "nan", "1e400", " 2", "-", "3.4e38", "-3.4e38"]))
series_rows = st.lists(st.lists(number, min_size=0, max_size=4), max_size=40)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # numpy's "mean of empty slice" / overflow: NaN statistics
@PROPERTY
@given(st.sampled_from(["date,a,b", "a,b", "date", "date,a,a", ""]), series_rows,
       st.sampled_from([{}, {"timestamp_column": None}, {"feature_columns": ["b"]}, {"target_column": "a"},
                        {"split": "ett_h"}, {"train_fraction": 0.5, "valid_fraction": 0.5}]))
@example("date,a,b", [["1", "2"]], {})  # a train split of 0 rows: numpy's NaN statistics of an empty slice
@example("date,a,b", [["3.4e38", "1"], ["-3.4e38", "2"]] * 10, {})  # float32 sums overflow to inf
def test_series_loader_on_random_shapes(header, body, fields):
    lines = [header] if header else []
    lines += [",".join([f"2020-01-01 {i:02d}:00", *r]) for i, r in enumerate(body)]
    path = _write("\n".join(lines) + "\n", "series.csv")
    data = _loads_or_seqtune_error(lambda: load_series(path, **fields))
    if data is not None:
        for split in (data.train, data.valid, data.test):
            assert split.size(0) >= 3 and bool(torch.isfinite(split).all())
