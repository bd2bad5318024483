"""Labelled data for fine-tuning: the classification formats (table, trec, imdb, synthetic_topics) and the loader
every labelled format shares (token tagging's ``conll`` reader is in ``tagging.py``).

``load_labelled(dataset_cfg, tokenizer=None)`` is what fine-tuning calls::

    data = load_labelled(cfg.dataset, tokenizer=pretrained_tokenizer)   # LabelledData
    data.train[0]          # Example(tokens=[...ids...], label=3)
    data.labels            # ["ABBR", "DESC", ...]; label id i is data.labels[i]; saved with the run
    batches = BucketBatches(data.train, batch_size=32, shuffle=True, seed=0, device=device)

Each labelled *format* registers a reader in DATASETS that returns a :class:`~seqtune.data.records.RawLabelled`
(strings as in the files); :func:`~seqtune.data.splits.finish_splits` carves missing splits and makes the
low-resource subsets; :func:`~seqtune.data.encoding.encode_input` turns each text into ids.

The label vocabulary comes from the full training split (or a fixed order the dataset gives); a label in
validation or test data that training never had raises a DataError naming it, its file and the known labels.
"""

from __future__ import annotations

import random
from pathlib import Path

from seqtune.data.catalog import dataset_file, read_splits
from seqtune.data.encoding import check_tagging_tokenizer, encode_input, lines_for_fitting
from seqtune.data.formats import as_list, read_lines, read_table, read_text, read_trec
from seqtune.data.records import Example, LabelledData, RawLabelled, RawSplit, RawSplits, Task, dataset_format
from seqtune.data.splits import finish_splits
from seqtune.data.synthetic import generate_sentences
from seqtune.data.tokenizers import EOS_ID, Tokenizer, fit_tokenizer, settings_from_config
from seqtune.errors import ConfigError, DataError
from seqtune.registry import DATASETS


# ------------------------------------------------------------------------------------------ loading
def check_labels(split: RawSplit, index: dict[str, int], labels: list[str], what: str) -> None:
    values = split.labels if what == "label" else (t for tags in split.labels for t in tags)
    for value in values:
        if value not in index:
            shown = ", ".join(labels[:30]) + (", ..." if len(labels) > 30 else "")
            raise DataError(
                f"{what} {value!r} in {split.source} does not occur in the training data, whose {len(labels)} "
                f"{what}s are: {shown}. Fix the {what} in the file, or check that train and evaluation files "
                f"belong to the same dataset (and the same label set, e.g. dataset.fine for TREC)."
            )


def load_labelled(ds, tokenizer: Tokenizer | None = None, labels: list[str] | None = None) -> LabelledData:
    """Read a labelled dataset config into token-id examples.

    ``tokenizer``: use this one (fine-tuning passes the pretrained tokenizer); None fits one on the training
    texts actually used.  ``labels``: a fixed label vocabulary (e.g. the one saved with a run), else taken from
    the dataset.
    """
    raw = DATASETS.get(ds.format, key="dataset.format")(ds)
    if not isinstance(raw, RawLabelled):
        kind = "text" if isinstance(raw, RawSplits) else "numeric"
        raise ConfigError(
            f"dataset.format={ds.format!r} ({ds.name}) is {kind} data without labels; fine-tuning "
            "needs a labelled format: table, trec, imdb, conll or synthetic_topics."
        )
    full_train, train, valid, test, notes = finish_splits(raw, ds)
    labels = label_vocabulary(raw, full_train) if labels is None else labels
    index = {label: i for i, label in enumerate(labels)}
    for split in (train, valid, test):
        check_labels(split, index, labels, "label" if raw.task == "classification" else "tag")
    if tokenizer is None:
        settings = settings_from_config(ds.tokenizer)
        if raw.task == "tagging":
            check_tagging_tokenizer(settings.kind)
        tokenizer = fit_tokenizer(settings, [lines_for_fitting(raw.task, train.inputs)])
    counts: dict[str, dict[str, int]] = {"skipped": {}, "truncated": {}}  # split -> examples
    encoded = [
        encode_split(name, split, tokenizer, raw.task, index, ds.get("max_length"), counts)
        for name, split in (("train", train), ("valid", valid), ("test", test))
    ]
    data = LabelledData(encoded[0], encoded[1], encoded[2], labels, tokenizer, raw.task, notes)
    data.notes += [f"{name}: {n:,} example(s) with empty text skipped" for name, n in counts["skipped"].items()]
    data.notes += [
        f"{name}: {n:,} example(s) truncated to dataset.max_length={ds.get('max_length')} tokens"
        for name, n in counts["truncated"].items()
    ]
    return data


def label_vocabulary(raw: RawLabelled, full_train: RawSplit) -> list[str]:
    """The dataset's fixed label order, else the sorted labels (or tags) of the full training split."""
    if raw.label_order is not None:
        return list(raw.label_order)
    if raw.task == "classification":
        return sorted(set(full_train.labels))
    return sorted({t for tags in full_train.labels for t in tags})


def encode_split(
    name: str,
    split: RawSplit,
    tokenizer: Tokenizer,
    task: Task,
    index: dict[str, int],
    max_length: int | None,
    counts: dict[str, dict[str, int]],
) -> list[Example]:
    """One split's examples (``encode_input``); empty documents are skipped and long ones truncated, both
    counted in ``counts``."""
    out = []
    for value, label in zip(split.inputs, split.labels):
        if task == "classification" and not value.strip():
            ids = []
        else:
            ids = encode_input(tokenizer, task, value)
        if task == "classification" and (not ids or ids == [EOS_ID]):  # nothing to learn from
            counts["skipped"][name] = counts["skipped"].get(name, 0) + 1
            continue
        if max_length is not None and len(ids) > max_length:
            ids, counts["truncated"][name] = ids[:max_length], counts["truncated"].get(name, 0) + 1
        if task == "classification":
            out.append(Example(ids, index[label]))
        else:  # one id per word; the words ride along (spelled by character features, <unk> or not)
            out.append(Example(ids, [index[t] for t in label][: len(ids)], list(value[: len(ids)])))
    if not out:
        raise DataError(
            f"the {name} split ({split.source}) has no example with any text; put data in it or "
            f"point dataset.{name} to another file."
        )
    return out


# -------------------------------------------------------------------------------------------- formats
@dataset_format("table", holds="labelled")
def table_splits(ds) -> RawLabelled:
    def reader(path: Path) -> tuple[list[str], list[str]]:
        texts, labels = read_table(
            path,
            text_columns=as_list(ds.text_columns),
            label_column=ds.label_column,
            delimiter=ds.delimiter,
            has_header=ds.has_header,
            encoding=ds.encoding,
            join_with=ds.join_with,
        )
        if labels is None:
            raise ConfigError(
                f"dataset.label_column=null: {path} has no labels to fine-tune on; name its label column."
            )
        if ds.label_names:
            names = {str(k): str(v) for k, v in dict(ds.label_names).items()}  # keys as the file writes them
            labels = [names.get(label, label) for label in labels]
        return texts, labels

    order = [str(v) for v in dict(ds.label_names).values()] if ds.label_names else None
    return RawLabelled("classification", *read_splits(ds, reader), label_order=order)


@dataset_format("class_files", holds="labelled")
def class_files_splits(ds) -> RawLabelled:
    """One file per class (``dataset.classes: {label: file}``), one example per line, empty lines skipped; or one
    folder per class (a class's entry is a folder, or ``dataset.classes=null`` and ``dataset.train`` is a folder
    whose sub-folders are the classes), one example per file (``dataset=class_folders``)."""

    def read(mapping, key: str) -> tuple[RawSplit, int]:
        texts: list[str] = []
        labels: list[str] = []
        dropped, sources = 0, list[str]()
        for label, file in dict(mapping).items():
            path = dataset_file(ds, str(file), f"{key}.{label}")
            lines, n = _class_examples(path, ds.encoding)
            texts += lines
            labels += [str(label)] * len(lines)
            dropped, sources = dropped + n, [*sources, str(path)]
        return RawSplit(texts, labels, " + ".join(sources)), dropped

    classes = ds.classes if ds.classes is not None else _class_folders(ds, "train")
    test_classes = ds.test_classes
    if test_classes is None and ds.classes is None and ds.get("test"):
        test_classes = _class_folders(ds, "test")
    train, dropped = read(classes, "dataset.classes")
    test, dropped_test = read(test_classes, "dataset.test_classes") if test_classes else (None, 0)
    notes = [f"{n:,} empty line(s) skipped" for n in (dropped + dropped_test,) if n]
    return RawLabelled("classification", train, None, test, notes=notes, label_order=list(dict(classes)))


def _class_folders(ds, key: str) -> dict[str, str]:
    """``dataset.<key>``: a folder with one sub-folder per class -> {class: sub-folder} (hidden ones left out)."""
    if not ds.get(key):
        raise ConfigError(
            f"dataset.{key} is required of dataset={ds.name} (dataset.classes=null): give dataset.{key}=<folder> "
            "holding one sub-folder per class (e.g. reviews/pos/*.txt, reviews/neg/*.txt), or "
            "dataset.classes='{pos: pos.txt, neg: neg.txt}'."
        )
    root = dataset_file(ds, ds[key], f"dataset.{key}")
    subs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []
    if len(subs) < 2:
        raise DataError(
            f"dataset.{key}={root}: expected a folder with one sub-folder per class (at least two), found "
            f"{len(subs)}; lay it out as {root}/<class>/<one example per file>."
        )
    return {p.name: str(p) for p in subs}


def _class_examples(path: Path, encoding: str) -> tuple[list[str], int]:
    """A class's examples: a file's lines, or a folder's files (one example each, line breaks kept as spaces);
    -> (examples, how many empty lines or files were skipped)."""
    if not path.is_dir():
        return read_lines(path, encoding)
    files = sorted(f for f in path.rglob("*") if f.is_file() and not f.name.startswith("."))
    if not files:
        raise DataError(f"{path}: the class folder holds no files; put one example per file in it.")
    texts = [" ".join(_text_or_blank(f, encoding).split()) for f in files]
    kept = [t for t in texts if t]
    return kept, len(texts) - len(kept)


def _text_or_blank(path: Path, encoding: str) -> str:
    try:
        return read_text(path, encoding)
    except DataError as exc:
        if "is empty" in str(exc):
            return ""
        raise


@dataset_format("trec", holds="labelled")
def trec_splits(ds) -> RawLabelled:
    def reader(path: Path) -> tuple[list[str], list[str]]:
        return read_trec(path, encoding=ds.encoding, fine=ds.fine)

    return RawLabelled(
        "classification",
        *read_splits(ds, reader),
        notes=[f"TREC-{50 if ds.fine else 6} labels"],
    )


@dataset_format("synthetic_topics", holds="labelled")
def synthetic_topic_splits(ds) -> RawLabelled:
    """Documents of 1..max_sentences sentences of one topic from the built-in grammar; label = topic."""

    def split(n: int, seed: int) -> RawSplit:
        rng = random.Random(seed)
        sizes = [rng.randint(1, ds.max_sentences) for _ in range(n)]
        # Draw enough sentences, then group consecutive sentences of the same topic into documents.
        by_topic: dict[str, list[str]] = {}
        for s in generate_sentences(sum(sizes) * 5, seed):
            by_topic.setdefault(s.topic, []).append(s.text)
        topics = sorted(by_topic)
        texts, labels = [], []
        for size in sizes:
            topic = topics[rng.randrange(len(topics))]
            pool = by_topic[topic]
            texts.append(" ".join(pool[:size]))
            del pool[:size]
            labels.append(topic)
        return RawSplit(texts, labels, f"synthetic_topics (seed {seed})")

    s = ds.seed * 3 + 100  # distinct from the synthetic LM corpus' seeds
    return RawLabelled(
        "classification",
        split(ds.train_docs, s),
        split(ds.valid_docs, s + 1),
        split(ds.test_docs, s + 2),
        notes=[f"built-in topic documents, seed {ds.seed}"],
    )


@dataset_format("imdb", holds="labelled")
def imdb_splits(ds) -> RawLabelled:
    """The official aclImdb layout: <split>/{pos,neg}/*.txt, and train/unsup/*.txt for language modelling."""
    from hydra.utils import to_absolute_path

    from seqtune.data.catalog import resolve_folder

    base = resolve_folder(ds.folder) or Path(to_absolute_path("."))
    if not (base / ds.train).is_dir():
        _extract_archive(ds, base, base / Path(ds.train).parts[0])

    def read_dir(rel: str | None, key: str) -> RawSplit | None:
        if rel is None:
            return None
        texts, labels = [], []
        for label in ("neg", "pos"):
            sub = base / rel / label
            if not sub.is_dir():
                raise DataError(
                    f"dataset.{key}: folder {sub} is missing; the IMDB layout is "
                    "aclImdb/{train,test}/{pos,neg}/*.txt. Re-extract aclImdb_v1.tar.gz there."
                )
            for f in sorted(sub.glob("*.txt")):
                texts.append(read_text(f, ds.encoding))
                labels.append(label)
        return RawSplit(texts, labels, str(base / rel))

    train, valid, test = read_dir(ds.train, "train"), read_dir(ds.valid, "valid"), read_dir(ds.test, "test")
    assert train is not None  # dataset.train is required (the schema gives aclImdb/train)
    unlabelled: list[str] = []
    unsup = base / ds.train / "unsup"
    if ds.unlabelled_for_lm and unsup.is_dir():
        unlabelled = [read_text(f, ds.encoding) for f in sorted(unsup.glob("*.txt"))]
    return RawLabelled("classification", train, valid, test, unlabelled=unlabelled, label_order=["neg", "pos"])


def _extract_archive(ds, folder: Path, root: Path) -> None:
    """Fetch (verified) and unpack the archive, into a temporary folder renamed into place when complete."""
    import os
    import shutil
    import tarfile

    archive = dataset_file(ds, ds.archive, "dataset.archive")
    tmp = folder / f".extract-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        os.replace(tmp / root.name, root)
    except (tarfile.TarError, OSError) as exc:
        raise DataError(
            f"could not extract {archive} into {folder}: {exc}. Delete the archive so it is "
            "downloaded again, or extract it there by hand."
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
