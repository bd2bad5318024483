"""Labelled data: every format on tiny files, label vocabularies, carved splits, low-resource subsets, errors."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from seqtune.config.schema import ConllDatasetConfig, SyntheticTopicsDatasetConfig, TableDatasetConfig, TrecDatasetConfig
from seqtune.data.labelled import load_labelled
from seqtune.data.splits import stratified_subset
from seqtune.errors import ConfigError, DataError

from ._helpers import make_cfg

ROWS = [("good film", "loved it", "pos"), ("bad film", "hated it", "neg"), ("fine film", "it was ok", "pos"),
        ("dull plot", "slept", "neg")] * 10


def table_cfg(train: Path, **kw):
    fields = {"name": "tab", "format": "table", "train": str(train), "text_columns": ["title", "body"],
              "label_column": "label", **kw}
    return make_cfg(TableDatasetConfig, **fields)


def test_csv_tsv_jsonl_join_columns_and_map_labels(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("title,body,label\n" + "".join(f"{a},{b},{c}\n" for a, b, c in ROWS))
    tsv = tmp_path / "t.tsv"
    tsv.write_text("title\tbody\tlabel\n" + "".join(f"{a}\t{b}\t{c}\n" for a, b, c in ROWS))
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text("".join(json.dumps({"title": a, "body": b, "label": c}) + "\n" for a, b, c in ROWS))
    results = []
    for f in (csv, tsv, jsonl):
        data = load_labelled(table_cfg(f))
        assert data.task == "classification" and data.labels == ["neg", "pos"]
        assert len(data.train) + len(data.valid) + len(data.test) == len(ROWS)
        assert len(data.test) == 4 and len(data.valid) == 4  # 10% of each class, carved
        tok = data.tokenizer
        first = [e for e in data.train if tok.decode(e.tokens).startswith("good film loved it")]
        assert first and all(e.label == data.label_to_index["pos"] for e in first)
        results.append([(e.tokens, e.label) for e in data.train])
    assert results[0] == results[1] == results[2]  # same rows, same seeded split, same ids


def test_label_names_fix_the_order_and_headerless_indices(tmp_path: Path) -> None:
    f = tmp_path / "ag.csv"
    f.write_text("".join(f'"{1 + i % 2}","title {i}","desc {i}"\n' for i in range(40)))
    cfg = table_cfg(f, has_header=False, text_columns=[1, 2], label_column=0,
                    label_names={"1": "World", "2": "Sports"})
    data = load_labelled(cfg)
    assert data.labels == ["World", "Sports"]
    assert Counter(e.label for e in data.train) == {0: 16, 1: 16}


def test_unknown_label_in_test_names_label_file_and_known_labels(tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    train.write_text("title,body,label\n" + "".join(f"{a},{b},{c}\n" for a, b, c in ROWS))
    test = tmp_path / "test.csv"
    test.write_text("title,body,label\nodd,row,meh\n")
    with pytest.raises(DataError) as info:
        load_labelled(table_cfg(train, test=str(test)))
    msg = str(info.value)
    assert "'meh'" in msg and "test.csv" in msg and "neg, pos" in msg


def test_missing_column_missing_file_and_empty_file(tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    train.write_text("title,text,label\nx,y,z\n")
    with pytest.raises(DataError, match=r"Column 'body' \(text column\) not found .*'title', 'text', 'label'"):
        load_labelled(table_cfg(train))
    with pytest.raises(DataError, match=r"dataset.train: file not found: .*absent.csv"):
        load_labelled(table_cfg(tmp_path / "absent.csv"))
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_labelled(table_cfg(empty))


def test_bad_bytes_suggest_the_encoding_option(tmp_path: Path) -> None:
    f = tmp_path / "mr.tsv"
    f.write_bytes(b"title\tbody\tlabel\n" + b"".join(f"{a}\t{b}\t{c}\n".encode() for a, b, c in ROWS)
                  + b"caf\xe9 film\tnice\tpos\n")
    with pytest.raises(DataError) as info:
        load_labelled(table_cfg(f))
    msg = str(info.value)
    assert "mr.tsv" in msg and f"line {len(ROWS) + 2}" in msg and "byte offset" in msg
    assert "dataset.encoding" in msg
    data = load_labelled(table_cfg(f, encoding="cp1252"))
    assert len(data.train) + len(data.valid) + len(data.test) == len(ROWS) + 1


def test_low_resource_subsets_are_stratified_seeded_and_nested() -> None:
    labels = ["a"] * 60 + ["b"] * 30 + ["c"] * 10
    ten = stratified_subset(labels, seed=3, per_class=10)
    assert Counter(labels[i] for i in ten) == {"a": 10, "b": 10, "c": 10}
    assert set(stratified_subset(labels, seed=3, per_class=5)) <= set(ten)
    assert stratified_subset(labels, seed=3, per_class=10) == ten
    assert stratified_subset(labels, seed=4, per_class=10) != ten
    twenty = stratified_subset(labels, seed=3, limit=20)
    assert len(twenty) == 20 and Counter(labels[i] for i in twenty) == {"a": 12, "b": 6, "c": 2}


def test_train_limit_and_labels_per_class_through_the_loader(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("title,body,label\n" + "".join(f"{a} {i},{b},{c}\n" for i, (a, b, c) in enumerate(ROWS)))
    full = load_labelled(table_cfg(f))
    per_class = load_labelled(table_cfg(f, labels_per_class=3))
    assert Counter(e.label for e in per_class.train) == {0: 3, 1: 3}
    assert [e.label for e in per_class.test] == [e.label for e in full.test]  # evaluation splits unchanged
    assert len(per_class.test) == len(full.test) and len(per_class.valid) == len(full.valid)
    limited = load_labelled(table_cfg(f, train_limit=5), tokenizer=full.tokenizer)
    assert len(limited.train) == 5 and limited.tokenizer is full.tokenizer
    assert any("low-resource" in n for n in limited.notes)


def test_trec_coarse_and_fine(tmp_path: Path) -> None:
    f = tmp_path / "train.label"
    f.write_bytes(b"".join(f"{c}:{fine} What is thing {i} ?\n".encode() for i in range(20)
                           for c, fine in (("DESC", "def"), ("HUM", "ind"), ("LOC", "city")))
                  + b"LOC:city Which sister\xf0city ?\n")
    cfg = make_cfg(TrecDatasetConfig, name="trec", format="trec", train=str(f), test=str(f))
    assert load_labelled(cfg).labels == ["DESC", "HUM", "LOC"]
    cfg.fine = True
    assert load_labelled(cfg).labels == ["DESC:def", "HUM:ind", "LOC:city"]
    cfg.encoding = "utf-8"
    with pytest.raises(DataError, match="0xF0.*latin-1"):
        load_labelled(cfg)


def test_synthetic_topics_is_seeded_and_balanced_enough() -> None:
    cfg = make_cfg(SyntheticTopicsDatasetConfig, name="st", format="synthetic_topics", train_docs=200,
                   valid_docs=40, test_docs=40)
    a, b = load_labelled(cfg), load_labelled(cfg)
    assert a.labels == ["food", "music", "space", "sports"]
    assert [(e.tokens, e.label) for e in a.train] == [(e.tokens, e.label) for e in b.train]
    assert (len(a.train), len(a.valid), len(a.test)) == (200, 40, 40)
    assert min(Counter(e.label for e in a.train).values()) > 25
    words = a.tokenizer.decode(a.train[0].tokens).split()
    assert 1 <= words.count(".") <= 3  # 1..3 sentences per document


CONLL = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
"""


def test_conll_tagging_converts_iob1_and_pads_with_ignore_index(tmp_path: Path) -> None:
    f = tmp_path / "eng.train"
    f.write_text(CONLL * 5)
    cfg = make_cfg(ConllDatasetConfig, name="c", format="conll", train=str(f), valid=str(f), test=str(f),
                   tag_column=3)
    data = load_labelled(cfg)
    assert data.task == "tagging"
    assert data.labels == ["B-MISC", "B-ORG", "B-PER", "I-PER", "O"]
    first = data.test[0]
    assert [data.labels[t] for t in first.label] == ["B-ORG", "O", "B-MISC", "O", "O"]
    assert len(first.tokens) == len(first.label) == 5
    assert data.tokenizer.decode(first.tokens) == "EU rejects German call ."
    with pytest.raises(ConfigError, match="labels_per_class applies to classification only"):
        cfg.labels_per_class = 2
        load_labelled(cfg)
    cfg.labels_per_class = None
    cfg.tokenizer.kind = "bpe"
    with pytest.raises(ConfigError, match="cannot be used for tagging"):
        load_labelled(cfg)


def test_text_format_has_no_labels(tmp_path: Path) -> None:
    from seqtune.config.schema import TextDatasetConfig

    f = tmp_path / "a.txt"
    f.write_text("some text\n" * 1000)
    with pytest.raises(ConfigError, match="without labels"):
        load_labelled(make_cfg(TextDatasetConfig, name="t", format="text", train=str(f)))
