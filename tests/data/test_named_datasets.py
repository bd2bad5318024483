"""Named datasets: every shipped dataset config composes; catalogued files download from a mirror on 127.0.0.1,
are verified and cached; a wrong checksum and a missing file without network give clear errors; the real
datasets (when the shared data folder is present) load with their published sizes."""
from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from seqtune.config.rules import dataset_problems
from seqtune.config.schema import ImdbDatasetConfig, TextDatasetConfig, TrecDatasetConfig, register_configs
from seqtune.data import catalog
from seqtune.data.download import RemoteFile
from seqtune.data.labelled import load_labelled
from seqtune.data.text import load_lm_corpus
from seqtune.errors import DataError
from seqtune.registry import DATASETS

from ._helpers import make_cfg, shared_data

CONF = Path(__file__).resolve().parents[2] / "conf" / "dataset"
NEEDS = {"text": ["dataset.train=x.txt"], "table": ["dataset.train=x.csv"], "conll": ["dataset.train=x.conll"],
         "timeseries": ["dataset.file=x.csv"]}


def test_every_dataset_config_composes() -> None:
    register_configs()
    names = sorted(p.stem for p in CONF.glob("*.yaml"))
    assert {"ptb", "ptb_char", "wikitext2", "tinyshakespeare", "trec", "trec50", "ag_news", "imdb", "conll2003",
            "etth1", "etth2", "ettm1", "ettm2", "synthetic", "synthetic_topics"} <= set(names)
    with initialize_config_module("seqtune.conf", version_base="1.3"):
        for name in names:
            cfg = compose("pretrain", overrides=[f"dataset={name}", *NEEDS.get(name, [])])
            assert cfg.dataset.format in DATASETS, name
            assert dataset_problems(cfg.dataset) == [], name


def toy_catalog(monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes], folder: str = "toy") -> None:
    monkeypatch.setitem(catalog.CATALOG, folder, [
        RemoteFile(name, f"https://example.invalid/{name}", hashlib.sha256(data).hexdigest())
        for name, data in files.items()])


def test_named_text_dataset_downloads_from_mirror_verifies_and_caches(tmp_path, loopback, monkeypatch) -> None:
    base, served = loopback
    files = {f"{s}.txt": ("hello world\n" * 30).encode() for s in ("train", "valid", "test")}
    (served / "toy").mkdir()
    for name, data in files.items():
        (served / "toy" / name).write_bytes(data)
    toy_catalog(monkeypatch, files)
    cfg = make_cfg(TextDatasetConfig, name="toy", format="text", folder="toy", train="train.txt",
                   valid="valid.txt", test="test.txt", mirror=base)
    corpus = load_lm_corpus(cfg)
    assert corpus.train.numel() == 90
    cached = tmp_path / "data-dir" / "toy" / "train.txt"
    assert cached.read_bytes() == files["train.txt"]
    # Offline from now on: the cached, verified files are used.
    cfg.mirror, cfg.download = "http://127.0.0.1:9", False
    assert load_lm_corpus(cfg).train.numel() == 90
    # A cached file that changed is refused.
    cached.write_bytes(b"tampered\n" * 30)
    with pytest.raises(DataError, match="Checksum mismatch for cached file"):
        load_lm_corpus(cfg)


def test_wrong_checksum_is_rejected_and_nothing_is_saved(tmp_path, loopback) -> None:
    base, served = loopback
    (served / "trec").mkdir()
    (served / "trec" / "train_5500.label").write_bytes(b"DESC:def What is a fake ?\n")
    cfg = make_cfg(TrecDatasetConfig, name="trec", format="trec", folder="trec", train="train_5500.label",
                   test="TREC_10.label", mirror=base)
    with pytest.raises(DataError, match="Checksum mismatch after downloading .*train_5500.label"):
        load_labelled(cfg)
    assert not (tmp_path / "data-dir" / "trec").exists()


def test_missing_file_without_network_says_what_to_put_where(tmp_path) -> None:
    cfg = make_cfg(TrecDatasetConfig, name="trec", format="trec", folder="trec", train="train_5500.label",
                   test="TREC_10.label", download=False)
    with pytest.raises(DataError) as info:
        load_labelled(cfg)
    msg = str(info.value)
    assert str(tmp_path / "data-dir" / "trec" / "train_5500.label") in msg
    assert "9e4c8bdcaffb96ed61041bd64b564183d52793a8e91d84fc3a8646885f466ec3" in msg
    assert "https://cogcomp.seas.upenn.edu/Data/QA/QC/train_5500.label" in msg and "SEQTUNE_DATA_DIR" in msg
    cfg.download, cfg.mirror = True, "http://127.0.0.1:9"  # nothing listens on port 9: a failed download
    with pytest.raises(DataError, match=r"Could not download http://127.0.0.1:9/trec/train_5500.label .*Put the file"):
        load_labelled(cfg)
    assert not (tmp_path / "data-dir" / "trec").exists()


def imdb_archive() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        def add(name: str, text: str) -> None:
            data = text.encode()
            info = tarfile.TarInfo(f"aclImdb/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for split in ("train", "test"):
            for i in range(10):
                add(f"{split}/pos/{i}_9.txt", f"A great movie number {i}.<br />Loved it!")
                add(f"{split}/neg/{i}_2.txt", f"A terrible movie number {i}. Boring.")
        for i in range(7):
            add(f"train/unsup/{i}_0.txt", f"Unlabelled review {i} about a film.")
    return buf.getvalue()


def test_imdb_archive_layout_and_unlabelled_reviews(tmp_path, loopback, monkeypatch) -> None:
    base, served = loopback
    archive = imdb_archive()
    (served / "imdb").mkdir()
    (served / "imdb" / "aclImdb_v1.tar.gz").write_bytes(archive)
    toy_catalog(monkeypatch, {"aclImdb_v1.tar.gz": archive}, folder="imdb")
    cfg = make_cfg(ImdbDatasetConfig, name="imdb", format="imdb", folder="imdb", mirror=base,
                   valid_fraction=0.2, tokenizer={"kind": "basic_english"})
    data = load_labelled(cfg)
    assert data.labels == ["neg", "pos"]
    assert (len(data.train), len(data.valid), len(data.test)) == (16, 4, 20)
    assert "<br" not in data.tokenizer.itos and "loved" in data.tokenizer.itos
    assert (tmp_path / "data-dir" / "imdb" / "aclImdb" / "train" / "unsup").is_dir()
    corpus = load_lm_corpus(cfg)
    assert "unlabelled" in corpus.tokenizer.itos  # the 50,000-review folder feeds language modelling
    assert any("7 unlabelled" in n for n in corpus.notes)


# ------------------------------------------------------------------------------------------ real data
REAL = shared_data()
needs_real = pytest.mark.skipif(REAL is None, reason="shared data folder (../shared/data) not present")


@needs_real
def test_real_datasets_have_published_sizes(monkeypatch) -> None:
    monkeypatch.setenv("SEQTUNE_DATA_DIR", str(REAL))
    register_configs()

    def ds(name: str):
        with initialize_config_module("seqtune.conf", version_base="1.3"):
            return compose("pretrain", overrides=[f"dataset={name}", "dataset.download=false"]).dataset

    ptb = load_lm_corpus(ds("ptb"))
    assert (ptb.train.numel(), ptb.valid.numel(), ptb.test.numel()) == (929589, 73760, 82430)
    trec = load_labelled(ds("trec"))
    assert (len(trec.train) + len(trec.valid), len(trec.test), len(trec.labels)) == (5452, 500, 6)
    conll = load_labelled(ds("conll2003"))
    assert (len(conll.train), len(conll.valid), len(conll.test), len(conll.labels)) == (14041, 3250, 3453, 9)
