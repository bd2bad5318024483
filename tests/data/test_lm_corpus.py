"""Language-model corpora: streamed files, the token cache, labelled data as text, LMStream on a memory map."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqtune.config.schema import TextDatasetConfig, TrecDatasetConfig
from seqtune.data import cache
from seqtune.data.batching import LMStream, to_columns
from seqtune.data.cache import iter_text
from seqtune.data.records import TextSource
from seqtune.data.text import load_lm_corpus
from seqtune.errors import ConfigError, DataError
from ._helpers import make_cfg

LINES = ["the cat sat on the mat", "a dog ran in the park", "birds sing at dawn"]


def write_splits(folder: Path, n: int = 60) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, k in (("train", n), ("valid", n // 3), ("test", n // 3)):
        (folder / f"{name}.txt").write_text("\n".join(LINES[i % 3] for i in range(k)) + "\n", encoding="utf-8")


def text_cfg(folder: Path, **kw):
    fields = {"name": "t", "format": "text", "folder": str(folder), "train": "train.txt", "valid": "valid.txt",
              "test": "test.txt", **kw}
    return make_cfg(TextDatasetConfig, **fields)


def test_streamed_corpus_matches_in_memory_encoding_and_is_cached(tmp_path: Path) -> None:
    write_splits(tmp_path / "c")
    corpus = load_lm_corpus(text_cfg(tmp_path / "c"))
    expected = corpus.tokenizer.encode((tmp_path / "c" / "train.txt").read_text())
    assert corpus.train.dtype == torch.int64 and corpus.train.tolist() == expected
    assert corpus.valid.tolist() == corpus.tokenizer.encode((tmp_path / "c" / "valid.txt").read_text())
    # Second load: no tokenisation at all (encode_to_file and the tokenizer fit are not called).
    calls = []
    with pytest.MonkeyPatch.context() as patch:  # its own context: undoing it keeps the isolated cache dir
        patch.setattr(cache, "encode_to_file", lambda *a: calls.append(a) or 0)
        patch.setattr(cache, "fit_tokenizer", lambda *a: calls.append(a))
        again = load_lm_corpus(text_cfg(tmp_path / "c"))
    assert calls == [] and again.train.tolist() == expected
    assert again.tokenizer.to_dict() == corpus.tokenizer.to_dict()
    # A changed file is tokenised again.
    (tmp_path / "c" / "train.txt").write_text("new words here\n" * 40, encoding="utf-8")
    fresh = load_lm_corpus(text_cfg(tmp_path / "c"))
    assert "new" in fresh.tokenizer.itos


def test_chunked_reading_gives_whole_file_and_global_error_position(tmp_path: Path) -> None:
    f = tmp_path / "big.txt"
    body = "".join(f"line {i} é\n" for i in range(500))
    f.write_bytes(body.encode("utf-8") + b"bad \xff byte\n")
    pieces = []
    with pytest.raises(DataError) as info:
        for p in iter_text(TextSource(f), chunk_bytes=64):
            pieces.append(p)
    assert pieces and body.startswith("".join(pieces))  # pieces before the bad one, cut at line ends
    assert all(p.endswith("\n") for p in pieces)
    msg = str(info.value)
    assert "big.txt" in msg and "line 501" in msg
    assert f"byte offset {len(body.encode()) + 4}" in msg and "dataset.encoding" in msg
    assert "".join(iter_text(TextSource(f, "latin-1"), chunk_bytes=64)).endswith("bad \xff byte\n")


def test_missing_and_empty_files_are_clear(tmp_path: Path) -> None:
    write_splits(tmp_path / "c")
    with pytest.raises(DataError, match=r"dataset.valid: file not found: .*nope.txt"):
        load_lm_corpus(text_cfg(tmp_path / "c", valid="nope.txt"))
    (tmp_path / "c" / "test.txt").write_bytes(b"")
    with pytest.raises(DataError, match="test.txt is empty"):
        load_lm_corpus(text_cfg(tmp_path / "c"))


def test_bpe_corpus_through_the_cache(tmp_path: Path) -> None:
    write_splits(tmp_path / "c")
    corpus = load_lm_corpus(text_cfg(tmp_path / "c", tokenizer={"kind": "bpe", "vocab_size": 50}))
    assert corpus.tokenizer.kind == "bpe" and corpus.train.numel() > 0
    assert corpus.train.tolist() == corpus.tokenizer.encode((tmp_path / "c" / "train.txt").read_text())


def test_labelled_dataset_as_text_never_reads_test(tmp_path: Path) -> None:
    d = tmp_path / "trec"
    d.mkdir()
    (d / "train.label").write_text("".join(f"{c}:x question {c.lower()} number {i} ?\n"
                                           for i in range(30) for c in ("DESC", "HUM")), encoding="latin-1")
    (d / "test.label").write_text("DESC:def zebraword in test only ?\n", encoding="latin-1")
    cfg = make_cfg(TrecDatasetConfig, name="trec", format="trec", folder=str(d), train="train.label",
                   test="test.label")
    corpus = load_lm_corpus(cfg)
    assert "zebraword" not in corpus.tokenizer.itos
    assert "question" in corpus.tokenizer.itos and corpus.valid.numel() > 0
    assert any("test split is not used" in n for n in corpus.notes)


def test_timeseries_is_not_text(tmp_path: Path) -> None:
    from seqtune.config.schema import TimeSeriesDatasetConfig

    f = tmp_path / "s.csv"
    f.write_text("date,x\n" + "".join(f"{i},{i}\n" for i in range(50)))
    cfg = make_cfg(TimeSeriesDatasetConfig, name="s", format="timeseries", file=str(f), lookback=2, horizon=1)
    with pytest.raises(ConfigError, match="holds no text"):
        load_lm_corpus(cfg)


def test_lmstream_windows_equal_the_copying_version_on_a_memory_map(tmp_path: Path) -> None:
    ids = torch.arange(1003, dtype=torch.long)
    path = tmp_path / "ids.int64"
    ids.numpy().astype("<i8").tofile(path)
    mapped = cache.open_ids(path, 1003)
    stream = LMStream(mapped, batch_size=7, bptt=10, device=torch.device("cpu"))
    assert stream.columns.data_ptr() == mapped.data_ptr()  # a view: nothing copied
    cols = to_columns(ids, 7)
    got = list(stream.iter_from(0))
    assert len(got) == len(stream)
    for k, (x, y) in enumerate(got):
        s = k * 10
        assert torch.equal(x, cols[s : s + x.size(0)]) and torch.equal(y, cols[s + 1 : s + 1 + x.size(0)])
    assert [torch.equal(a[0], b[0]) for a, b in zip(stream.iter_from(3), got[3:])] == [True] * (len(got) - 3)


def test_cache_stays_in_the_configured_folder(tmp_path: Path) -> None:
    write_splits(tmp_path / "c")
    load_lm_corpus(text_cfg(tmp_path / "c"))
    assert cache.cache_dir() == tmp_path / "token-cache"
    assert len(list((tmp_path / "token-cache").glob("ids-*.int64"))) == 3
