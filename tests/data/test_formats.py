"""Tests for seqtune.data.formats on tiny files written to tmp_path.

One optional test checks the real public datasets and is skipped when the shared data folder is absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from seqtune.data.formats import (
    TimeSeriesTable,
    ett_split,
    read_conll,
    read_lines,
    read_table,
    read_text,
    read_timeseries_csv,
    read_trec,
)
from seqtune.errors import DataError


def write(path: Path, content: str | bytes, encoding: str = "utf-8") -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode(encoding))
    return path


# --------------------------------------------------------------------------- read_text / read_lines


def test_read_text_returns_contents(tmp_path: Path) -> None:
    f = write(tmp_path / "a.txt", "héllo\nworld\n")
    assert read_text(f) == "héllo\nworld\n"


def test_read_text_drops_utf8_bom(tmp_path: Path) -> None:
    f = write(tmp_path / "bom.txt", b"\xef\xbb\xbfdate,x\n")
    assert read_text(f) == "date,x\n"


def test_read_text_bad_byte_names_file_line_offset_and_encoding(tmp_path: Path) -> None:
    # Line 3, bad byte 0xF0 at byte offset len("ok\nfine\nsister") = 14.
    f = write(tmp_path / "bad.label", b"ok\nfine\nsister\xf0city\n")
    with pytest.raises(DataError) as info:
        read_text(f)
    msg = str(info.value)
    assert "bad.label" in msg
    assert "line 3" in msg
    assert "byte offset 14" in msg
    assert "0xF0" in msg
    assert "encoding" in msg
    assert "latin-1" in msg
    # The same bytes decode fine with the suggested encoding.
    assert read_text(f, encoding="latin-1").endswith("sisterðcity\n")


def test_read_text_missing_file_gives_absolute_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "train.txt"
    with pytest.raises(DataError) as info:
        read_text(missing)
    assert str(missing.absolute()) in str(info.value)
    assert "check the path" in str(info.value)


@pytest.mark.parametrize("content", [b"", b"  \n\t\n"])
def test_read_text_empty_file(tmp_path: Path, content: bytes) -> None:
    f = write(tmp_path / "empty.txt", content)
    with pytest.raises(DataError, match="empty"):
        read_text(f)


def test_read_text_unknown_encoding(tmp_path: Path) -> None:
    f = write(tmp_path / "a.txt", "x")
    with pytest.raises(DataError, match="unknown text encoding"):
        read_text(f, encoding="no-such-codec")


def test_read_text_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="directory"):
        read_text(tmp_path)


def test_read_lines_skips_and_counts_empty(tmp_path: Path) -> None:
    f = write(tmp_path / "docs.txt", "first doc\r\n\n   \nsecond doc \nthird\n")
    lines, dropped = read_lines(f)
    assert lines == ["first doc", "second doc ", "third"]
    assert dropped == 2
    all_lines, none_dropped = read_lines(f, skip_empty=False)
    assert all_lines == ["first doc", "", "   ", "second doc ", "third"]
    assert none_dropped == 0


def test_read_lines_without_final_newline(tmp_path: Path) -> None:
    f = write(tmp_path / "docs.txt", "a\nb")
    assert read_lines(f) == (["a", "b"], 0)


# --------------------------------------------------------------------------- read_table


def test_read_table_headerless_csv_joins_columns(tmp_path: Path) -> None:
    # AG News layout: class, title, description; quoted fields with a comma and doubled quotes.
    f = write(
        tmp_path / "test.csv",
        '"3","Fears for pension","Unions say, they are ""disappointed"""\n'
        '"4","Race is On","A second\\team of rocketeers"\n',
    )
    texts, labels = read_table(f, text_columns=[1, 2], label_column=0, has_header=False)
    assert texts == ['Fears for pension Unions say, they are "disappointed"', "Race is On A second\\team of rocketeers"]
    assert labels == ["3", "4"]


def test_read_table_csv_with_header_by_name(tmp_path: Path) -> None:
    f = write(tmp_path / "data.csv", "id,text,label\n1,hello world,pos\n\n2,bad day,neg\n")
    texts, labels = read_table(f, text_columns=["text"], label_column="label")
    assert texts == ["hello world", "bad day"]
    assert labels == ["pos", "neg"]
    texts, labels = read_table(f, text_columns=["text", "id"], label_column=None, join_with=" | ")
    assert texts == ["hello world | 1", "bad day | 2"]
    assert labels is None


def test_read_table_tsv_inferred_and_keeps_bare_quotes(tmp_path: Path) -> None:
    f = write(tmp_path / "train.tsv", 'sentence\tlabel\nit \'s a "charming" film\t1\n" bad\t0\n')
    texts, labels = read_table(f, text_columns=["sentence"], label_column="label")
    assert texts == ['it \'s a "charming" film', '" bad']
    assert labels == ["1", "0"]


def test_read_table_jsonl(tmp_path: Path) -> None:
    records = [{"title": "A", "body": "first", "label": 2}, {"title": "B", "body": "second", "label": "x"}]
    f = write(tmp_path / "d.jsonl", "\n".join(json.dumps(r) for r in records) + "\n\n")
    texts, labels = read_table(f, text_columns=["title", "body"], label_column="label")
    assert texts == ["A first", "B second"]
    assert labels == ["2", "x"]


def test_read_table_missing_column_lists_available(tmp_path: Path) -> None:
    f = write(tmp_path / "data.csv", "id,text,label\n1,hello,pos\n")
    with pytest.raises(DataError) as info:
        read_table(f, text_columns=["sentence"], label_column="label")
    msg = str(info.value)
    assert "data.csv" in msg
    assert "'sentence'" in msg
    for col in ("'id'", "'text'", "'label'"):
        assert col in msg


def test_read_table_missing_index_without_header(tmp_path: Path) -> None:
    f = write(tmp_path / "test.csv", '"1","t","d"\n')
    with pytest.raises(DataError, match=r"indices 0\.\.2"):
        read_table(f, text_columns=[1, 3], label_column=0, has_header=False)


def test_read_table_name_without_header_is_rejected(tmp_path: Path) -> None:
    f = write(tmp_path / "test.csv", '"1","t","d"\n')
    with pytest.raises(DataError, match="has_header"):
        read_table(f, text_columns=["title"], label_column=0, has_header=False)


def test_read_table_short_row_names_line(tmp_path: Path) -> None:
    f = write(tmp_path / "data.csv", 'text,label\nok,1\n"multi\nline",2\nshort\n')
    with pytest.raises(DataError) as info:
        read_table(f, text_columns=["text"], label_column="label")
    msg = str(info.value)
    assert "data.csv" in msg
    assert "line 5" in msg


def test_read_table_malformed_jsonl_names_line(tmp_path: Path) -> None:
    f = write(tmp_path / "d.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": \n')
    with pytest.raises(DataError) as info:
        read_table(f, text_columns=["text"], label_column="label")
    assert "d.jsonl" in str(info.value)
    assert "line 2" in str(info.value)


def test_read_table_jsonl_missing_key_lists_keys(tmp_path: Path) -> None:
    f = write(tmp_path / "d.jsonl", '{"text": "a", "label": 1}\n{"txt": "b", "label": 0}\n')
    with pytest.raises(DataError) as info:
        read_table(f, text_columns=["text"], label_column="label")
    msg = str(info.value)
    assert "line 2" in msg
    assert "'txt'" in msg
    assert "'label'" in msg


def test_read_table_unknown_suffix(tmp_path: Path) -> None:
    f = write(tmp_path / "data.txt", "a,b\n")
    with pytest.raises(DataError, match="delimiter"):
        read_table(f, text_columns=[0], label_column=None, has_header=False)
    assert read_table(f, text_columns=[0], label_column=1, has_header=False, delimiter=",") == (["a"], ["b"])


# --------------------------------------------------------------------------- read_trec


def test_read_trec_latin1_coarse_and_fine(tmp_path: Path) -> None:
    f = write(
        tmp_path / "train.label",
        "DESC:manner How did serfdom develop ?\nLOC:city Which city has a sister\xf0city ?\n",
        encoding="latin-1",
    )
    questions, labels = read_trec(f)
    assert questions == ["How did serfdom develop ?", "Which city has a sisterðcity ?"]
    assert labels == ["DESC", "LOC"]
    assert read_trec(f, fine=True)[1] == ["DESC:manner", "LOC:city"]


def test_read_trec_bad_line(tmp_path: Path) -> None:
    f = write(tmp_path / "train.label", "DESC:manner How ?\nnolabel here\n")
    with pytest.raises(DataError, match="Line 2"):
        read_trec(f)


# --------------------------------------------------------------------------- read_conll

CONLL_IOB1 = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- O O

Germany NNP I-NP I-LOC
and CC O O
France NNP I-NP B-LOC
Spain NNP I-NP I-LOC
Inc NNP I-NP I-ORG
"""


def test_read_conll_iob1_to_iob2(tmp_path: Path) -> None:
    f = write(tmp_path / "eng.train", CONLL_IOB1)
    sentences, tags = read_conll(f)
    assert sentences == [
        ["EU", "rejects", "German", "call"],
        ["Peter", "Blackburn"],
        ["Germany", "and", "France", "Spain", "Inc"],
    ]
    assert tags == [
        ["B-ORG", "O", "B-MISC", "O"],
        ["B-PER", "I-PER"],
        # B-LOC separates two touching LOC entities and stays; I-ORG after a LOC starts a new entity.
        ["B-LOC", "O", "B-LOC", "I-LOC", "B-ORG"],
    ]
    assert read_conll(f, scheme="iob1") == (sentences, tags)


def test_read_conll_keeps_tags_and_other_columns(tmp_path: Path) -> None:
    f = write(tmp_path / "eng.train", CONLL_IOB1)
    _, raw = read_conll(f, to_scheme=None)
    assert raw[0] == ["I-ORG", "O", "I-MISC", "O"]
    _, pos = read_conll(f, tag_column=1, to_scheme=None)
    assert pos[1] == ["NNP", "NNP"]


def test_read_conll_iob2_input_unchanged(tmp_path: Path) -> None:
    text = "EU B-ORG\nrejects O\n\nPeter B-PER\nBlackburn I-PER\n"
    f = write(tmp_path / "train.txt", text)
    assert read_conll(f) == ([["EU", "rejects"], ["Peter", "Blackburn"]], [["B-ORG", "O"], ["B-PER", "I-PER"]])
    assert read_conll(f, scheme="iob2")[1] == [["B-ORG", "O"], ["B-PER", "I-PER"]]


def test_read_conll_declared_iob2_rejects_iob1(tmp_path: Path) -> None:
    f = write(tmp_path / "eng.train", CONLL_IOB1)
    with pytest.raises(DataError, match=r"Line 3 .*scheme=iob1"):
        read_conll(f, scheme="iob2")


def test_read_conll_too_few_columns(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.conll", "EU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\nlonely\n")
    with pytest.raises(DataError) as info:
        read_conll(f, tag_column=3)
    assert "bad.conll" in str(info.value)
    assert "Line 4" in str(info.value)


def test_read_conll_non_iob_tags_need_to_scheme_none(tmp_path: Path) -> None:
    f = write(tmp_path / "pos.conll", "EU NNP\nrejects VBZ\n")
    with pytest.raises(DataError, match="to_scheme=null"):
        read_conll(f)


# --------------------------------------------------------------------------- time series

TS_CSV = """date,HUFL,station,OT
2016-07-01 00:00:00,5.8,a,30.5
2016-07-01 01:00:00,5.6,a,27.7
2016-07-01 02:00:00,-1.5e-1,b,27.0
"""


def test_read_timeseries_csv_numeric_columns_and_target(tmp_path: Path) -> None:
    f = write(tmp_path / "ett.csv", TS_CSV)
    table = read_timeseries_csv(f)
    assert isinstance(table, TimeSeriesTable)
    assert table.columns == ["HUFL", "OT"]  # the text column "station" is not numeric
    assert table.values.dtype == np.float32
    assert table.values.shape == (3, 2)
    np.testing.assert_allclose(table.values[:, 0], [5.8, 5.6, -0.15], rtol=1e-6)
    assert table.timestamps == ["2016-07-01 00:00:00", "2016-07-01 01:00:00", "2016-07-01 02:00:00"]
    assert table.target_index is None

    table = read_timeseries_csv(f, feature_columns=["OT", "HUFL"], target_column="OT")
    assert table.columns == ["OT", "HUFL"]
    assert table.target_index == 0
    table = read_timeseries_csv(f, feature_columns=["HUFL"], target_column="OT")
    assert table.columns == ["HUFL", "OT"]
    assert table.target_index == 1
    np.testing.assert_allclose(table.values[:, 1], [30.5, 27.7, 27.0], rtol=1e-6)


def test_read_timeseries_csv_without_timestamp(tmp_path: Path) -> None:
    f = write(tmp_path / "s.csv", "x,y\n1,2\n3,4\n")
    table = read_timeseries_csv(f, timestamp_column=None)
    assert table.timestamps == []
    assert table.columns == ["x", "y"]
    assert table.values.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_read_timeseries_csv_missing_column_lists_available(tmp_path: Path) -> None:
    f = write(tmp_path / "ett.csv", TS_CSV)
    with pytest.raises(DataError) as info:
        read_timeseries_csv(f, target_column="oil")
    msg = str(info.value)
    assert "ett.csv" in msg
    assert "'oil'" in msg
    assert "'HUFL'" in msg
    assert "'OT'" in msg


@pytest.mark.parametrize("cell", ["abc", "", "nan"])
def test_read_timeseries_csv_bad_cell_names_line_and_column(tmp_path: Path, cell: str) -> None:
    f = write(tmp_path / "ett.csv", f"date,HUFL,OT\nt0,1.0,2.0\nt1,{cell},3.0\n")
    with pytest.raises(DataError) as info:
        read_timeseries_csv(f)
    msg = str(info.value)
    assert "ett.csv" in msg
    assert "Line 3" in msg
    assert "'HUFL'" in msg


def test_ett_split_hourly_and_15min() -> None:
    train, val, test = ett_split(17420, "h")
    assert (train, val, test) == (slice(0, 8640), slice(8640, 11520), slice(11520, 14400))
    rows = np.arange(17420)
    assert [len(rows[s]) for s in (train, val, test)] == [8640, 2880, 2880]
    train, val, test = ett_split(69680, "15min", lookback=96)
    assert train == slice(0, 34560)
    assert val == slice(34560 - 96, 46080)
    assert test == slice(46080 - 96, 57600)


def test_ett_split_too_short() -> None:
    with pytest.raises(DataError, match="14400"):
        ett_split(10000, "h")


# --------------------------------------------------------------------------- real data (optional)


def _shared_data() -> Path:
    env = os.environ.get("SEQTUNE_SHARED_DATA")
    # The repository root's sibling shared/data: parents[2] is the repo root, parents[3] its parent.
    root = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"
    if not root.is_dir():
        pytest.skip(f"shared data folder {root} is absent (set SEQTUNE_SHARED_DATA to run this test)")
    return root


def test_real_datasets_have_published_sizes() -> None:
    root = _shared_data()
    table = read_timeseries_csv(root / "ett" / "ETTh1.csv", target_column="OT")
    assert table.values.shape == (17420, 7)
    assert table.target_index == 6
    rows = np.arange(len(table.values))
    assert [len(rows[s]) for s in ett_split(len(rows), "h")] == [8640, 2880, 2880]

    sentences, tags = read_conll(root / "conll2003" / "iob2" / "train.txt")
    assert len(sentences) == 14041
    assert sum(len(s) for s in sentences) == 203621
    # The original IOB1 file with -DOCSTART- lines converts to exactly the published IOB2 copy.
    assert read_conll(root / "conll2003" / "eng.train") == (sentences, tags)

    questions, labels = read_trec(root / "trec" / "train_5500.label")
    assert len(questions) == 5452
    assert len(set(labels)) == 6
    with pytest.raises(DataError, match="line 66"):
        read_trec(root / "trec" / "train_5500.label", encoding="utf-8")
