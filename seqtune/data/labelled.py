"""Labelled data for fine-tuning: text classification here, token tagging in ``tagging.py``.

``load_labelled(dataset_cfg, tokenizer=None)`` is what fine-tuning calls::

    data = load_labelled(cfg.dataset, tokenizer=pretrained_tokenizer)   # LabelledData
    data.train[0]          # Example(tokens=[...ids...], label=3)
    data.labels            # ["ABBR", "DESC", ...]; label id i is data.labels[i]; saved with the run
    batches = BucketBatches(data.train, batch_size=32, shuffle=True, seed=0, device=device)

Each labelled *format* registers a reader in DATASETS that returns a :class:`RawLabelled` (strings as in the
files).  :func:`finish_splits` then makes the splits every format shares: official splits where they exist,
otherwise stratified, seeded validation/test splits carved from train, and the low-resource subsets
``train_limit`` (N examples, stratified) and ``labels_per_class`` (N per class).  Subsets are seeded by
``dataset.split_seed`` alone, per class, so "100 labels" is the same 100 examples in every run and the
50-label subset is contained in the 100-label one.

The label vocabulary comes from the full training split (or a fixed order the dataset gives); a label in
validation or test data that training never had raises a DataError naming it, its file and the known labels.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from seqtune.data.catalog import dataset_file
from seqtune.data.formats import read_table, read_text, read_trec
from seqtune.data.synthetic import generate_sentences
from seqtune.data.text import RawSplits
from seqtune.data.tokenizers import EOS_ID, Tokenizer, fit_tokenizer, settings_from_config
from seqtune.errors import ConfigError, DataError
from seqtune.registry import DATASETS

Task = Literal["classification", "tagging"]


@dataclass
class RawSplit:
    """One split as read: texts (classification) or token lists (tagging), and labels or tag lists."""

    inputs: list
    labels: list
    source: str  # the file (or generator) it came from, for error messages


@dataclass
class RawLabelled:
    task: Task
    train: RawSplit
    valid: RawSplit | None  # None: carved from train
    test: RawSplit | None  # None: carved from train
    notes: list[str] = field(default_factory=list)
    unlabelled: list[str] = field(default_factory=list)  # extra text for language-model stages (IMDB unsup)
    label_order: list[str] | None = None  # fixed label vocabulary (else sorted training labels)


@dataclass
class Example:
    tokens: list[int]  # token ids, at least one
    label: int | list[int]  # class id, or one tag id per token
    words: list[str] | None = None  # tagging: the token strings (spelled for character features, even if <unk>)


@dataclass
class LabelledData:
    train: list[Example]
    valid: list[Example]
    test: list[Example]
    labels: list[str]  # label (or tag) vocabulary; id i <-> labels[i]
    tokenizer: Tokenizer
    task: Task
    notes: list[str]

    @property
    def label_to_index(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}


# --------------------------------------------------------------------------------------------- splits
def _class_groups(labels: list) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label if isinstance(label, str) else "", []).append(i)
    return dict(sorted(groups.items()))


def _permuted(indices: list[int], seed: int, tag: str) -> list[int]:
    # A string seed is hashed deterministically (sha512) by random.Random: stable across runs and machines.
    out = list(indices)
    random.Random(f"{seed}:{tag}").shuffle(out)
    return out


def stratified_split(labels: list, fraction: float, seed: int, tag: str) -> tuple[list[int], list[int]]:
    """Indices (kept, carved): about ``fraction`` of each class carved out, seeded; both in file order."""
    carved: list[int] = []
    for label, idx in _class_groups(labels).items():
        k = round(fraction * len(idx))
        carved += _permuted(idx, seed, f"{tag}:{label}")[:k]
    chosen = set(carved)
    return [i for i in range(len(labels)) if i not in chosen], sorted(carved)


def stratified_subset(labels: list, seed: int, limit: int | None = None, per_class: int | None = None) -> list[int]:
    """Indices of a seeded subset: ``per_class`` examples of each class and/or ``limit`` in all, stratified.

    Each class is walked in its own fixed permutation, so smaller subsets are prefixes of larger ones.
    """
    groups = {label: _permuted(idx, seed, f"subset:{label}") for label, idx in _class_groups(labels).items()}
    if per_class is not None:
        groups = {label: idx[:per_class] for label, idx in groups.items()}
    if limit is not None:
        total = sum(len(idx) for idx in groups.values())
        if limit < total:
            # Proportional quotas, largest remainders first (ties by label), so they sum to exactly `limit`.
            exact = {label: limit * len(idx) / total for label, idx in groups.items()}
            quota = {label: int(x) for label, x in exact.items()}
            for label in sorted(exact, key=lambda c: (-(exact[c] - quota[c]), c))[: limit - sum(quota.values())]:
                quota[label] += 1
            groups = {label: idx[: quota[label]] for label, idx in groups.items()}
    return sorted(i for idx in groups.values() for i in idx)


def _take(split: RawSplit, indices: list[int], source: str | None = None) -> RawSplit:
    return RawSplit([split.inputs[i] for i in indices], [split.labels[i] for i in indices], source or split.source)


def finish_splits(raw: RawLabelled, ds) -> tuple[RawSplit, RawSplit, RawSplit, RawSplit, list[str]]:
    """(full train, train, valid, test, notes): carve missing splits, then apply the low-resource options."""
    notes = list(raw.notes)
    seed = int(ds.get("split_seed", 0))
    # Tagging has no per-example class: carve and subsample uniformly (one pseudo-class).
    strata = (lambda s: s.labels) if raw.task == "classification" else (lambda s: [""] * len(s.labels))
    train, valid, test = raw.train, raw.valid, raw.test
    for name, frac in (("test", ds.get("test_fraction", 0.1)), ("valid", ds.get("valid_fraction", 0.1))):
        if (test if name == "test" else valid) is not None:
            continue
        kept, carved = stratified_split(strata(train), frac, seed, name)
        if not carved or not kept:
            raise DataError(f"cannot carve a {name} split ({frac:.0%}) from the {len(train.labels)} training "
                            f"examples of {train.source}; give dataset.{name}, or use more data.")
        part = _take(train, carved, f"{train.source} ({name} part carved from train)")
        train = _take(train, kept)
        test, valid = (part, valid) if name == "test" else (test, part)
        notes.append(f"{name} split carved from train: {len(carved):,} examples "
                     f"({frac:.0%}{', stratified by label' if raw.task == 'classification' else ''}, split_seed {seed})")
    full_train = train
    limit, per_class = ds.get("train_limit"), ds.get("labels_per_class")
    if per_class is not None and raw.task != "classification":
        raise ConfigError("dataset.labels_per_class applies to classification only (a tagging example has many "
                          "labels); use dataset.train_limit to keep N training sentences.")
    if limit is not None or per_class is not None:
        keep = stratified_subset(strata(train), seed, limit, per_class)
        train = _take(train, keep)
        what = " and ".join(x for x in (f"{per_class} per class" if per_class else "",
                                        f"at most {limit} in all" if limit else "") if x)
        notes.append(f"low-resource training subset: {len(keep):,} of {len(full_train.labels):,} examples "
                     f"({what}, stratified, split_seed {seed})")
    return full_train, train, valid, test, notes


# ------------------------------------------------------------------------------------------ loading
def _check_labels(split: RawSplit, index: dict[str, int], labels: list[str], what: str) -> None:
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
        raise ConfigError(f"dataset.format={ds.format!r} ({ds.name}) is {kind} data without labels; fine-tuning "
                          "needs a labelled format: table, trec, imdb, conll or synthetic_topics.")
    full_train, train, valid, test, notes = finish_splits(raw, ds)
    if labels is None:
        if raw.label_order is not None:
            labels = list(raw.label_order)
        elif raw.task == "classification":
            labels = sorted(set(full_train.labels))
        else:
            labels = sorted({t for tags in full_train.labels for t in tags})
    index = {label: i for i, label in enumerate(labels)}
    what = "label" if raw.task == "classification" else "tag"
    for split in (train, valid, test):
        _check_labels(split, index, labels, what)

    if tokenizer is None:
        settings = settings_from_config(ds.tokenizer)
        if raw.task == "classification":
            tokenizer = fit_tokenizer(settings, ["\n".join(_one_line(t) for t in train.inputs)])
        else:
            from seqtune.data.tagging import check_tagging_tokenizer

            check_tagging_tokenizer(settings.kind)
            tokenizer = fit_tokenizer(settings, ["\n".join(" ".join(s) for s in train.inputs)])
    max_length = ds.get("max_length")
    skipped: dict[str, int] = {}  # split -> examples without any text (skipped)
    truncated: dict[str, int] = {}  # split -> examples cut to dataset.max_length

    def examples(name: str, split: RawSplit) -> list[Example]:
        out = []
        if raw.task == "classification":
            for text, label in zip(split.inputs, split.labels):
                ids = tokenizer.encode(_one_line(text)) if text.strip() else []
                if not ids or ids == [EOS_ID]:  # an empty or blank document carries nothing to learn from
                    skipped[name] = skipped.get(name, 0) + 1
                    continue
                if max_length is not None and len(ids) > max_length:
                    ids, truncated[name] = ids[:max_length], truncated.get(name, 0) + 1
                out.append(Example(ids, index[label]))
        else:
            from seqtune.data.tagging import encode_tokens

            for words, tags in zip(split.inputs, split.labels):
                ids = encode_tokens(tokenizer, words)
                if max_length is not None and len(ids) > max_length:
                    ids, truncated[name] = ids[:max_length], truncated.get(name, 0) + 1
                out.append(Example(ids, [index[t] for t in tags][: len(ids)], list(words[: len(ids)])))
        if not out:
            raise DataError(f"the {name} split ({split.source}) has no example with any text; put data in it or "
                            f"point dataset.{name} to another file.")
        return out

    data = LabelledData(examples("train", train), examples("valid", valid), examples("test", test), labels,
                        tokenizer, raw.task, notes)
    for name, n in skipped.items():
        data.notes.append(f"{name}: {n:,} example(s) with empty text skipped")
    for name, n in truncated.items():
        data.notes.append(f"{name}: {n:,} example(s) truncated to dataset.max_length={max_length} tokens")
    return data


def _one_line(text: str) -> str:
    # One example is one line: the word tokenizers add <eos> per line, and documents must not be split.
    return " ".join(text.splitlines()) if "\n" in text or "\r" in text else text


@dataclass
class _Folder:
    """A stand-in dataset config for :func:`dataset_file`: a folder under the data directory (catalogued files
    there are checked and fetched as usual)."""

    folder: str

    def get(self, key: str, default=None):
        return default


def lm_splits(raw: RawLabelled, ds) -> RawSplits:
    """A labelled dataset as language-model text: labels ignored, the test split never read.

    Train = the training texts (plus the dataset's unlabelled texts, e.g. IMDB's 50,000), valid = the
    validation texts.  The labelled test split stays unseen, so the LM "test" numbers are on validation text.
    """
    _full, _train, valid, _test, notes = finish_splits(raw, ds)
    train = _full  # every training text, also where fine-tuning will use a low-resource subset of the labels

    def lines(split_inputs: list) -> str:
        if raw.task == "tagging":
            return "\n".join(" ".join(s) for s in split_inputs) + "\n"
        return "\n".join(_one_line(t) for t in split_inputs) + "\n"

    train_text = lines(train.inputs) + "".join(_one_line(t) + "\n" for t in raw.unlabelled)
    extra = [dataset_file(_Folder(Path(f).parent.as_posix()), Path(f).name, "dataset.unlabelled_text")
             for f in ds.get("unlabelled_text") or []]
    train_text += "".join(read_text(path, ds.get("encoding", "utf-8")) for path in extra)
    valid_text = lines(valid.inputs)
    notes = [n for n in notes if not n.startswith("low-resource")] + [
        f"labelled dataset read as text: labels ignored, {len(train.inputs):,} train + "
        f"{len(raw.unlabelled):,} unlabelled documents{''.join(f' + {p}' for p in extra)}; the labelled test split "
        f"is not used, so LM 'test' metrics are computed on the {len(valid.inputs):,} validation documents"]
    return RawSplits(train_text, valid_text, valid_text, notes)


# -------------------------------------------------------------------------------------------- formats
def _read_split(ds, name: str, reader) -> RawSplit | None:
    file = ds.get(name)
    if file is None:
        return None
    path = dataset_file(ds, file, f"dataset.{name}")
    inputs, labels = reader(path)
    return RawSplit(inputs, labels, str(path))


@DATASETS.register("table")
def table_splits(ds) -> RawLabelled:
    def reader(path: Path) -> tuple[list[str], list[str]]:
        texts, labels = read_table(path, text_columns=list(ds.text_columns), label_column=ds.label_column,
                                   delimiter=ds.delimiter, has_header=ds.has_header, encoding=ds.encoding,
                                   join_with=ds.join_with)
        if ds.label_names:
            names = dict(ds.label_names)
            labels = [names.get(label, label) for label in labels]
        return texts, labels

    splits = {name: _read_split(ds, name, reader) for name in ("train", "valid", "test")}
    order = list(dict(ds.label_names).values()) if ds.label_names else None
    return RawLabelled("classification", splits["train"], splits["valid"], splits["test"], label_order=order)


@DATASETS.register("trec")
def trec_splits(ds) -> RawLabelled:
    def reader(path: Path) -> tuple[list[str], list[str]]:
        return read_trec(path, encoding=ds.encoding, fine=ds.fine)

    splits = {name: _read_split(ds, name, reader) for name in ("train", "valid", "test")}
    return RawLabelled("classification", splits["train"], splits["valid"], splits["test"],
                       notes=[f"TREC-{50 if ds.fine else 6} labels"])


@DATASETS.register("synthetic_topics")
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
    return RawLabelled("classification", split(ds.train_docs, s), split(ds.valid_docs, s + 1),
                       split(ds.test_docs, s + 2), notes=[f"built-in topic documents, seed {ds.seed}"])


@DATASETS.register("imdb")
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
                raise DataError(f"dataset.{key}: folder {sub} is missing; the IMDB layout is "
                                "aclImdb/{train,test}/{pos,neg}/*.txt. Re-extract aclImdb_v1.tar.gz there.")
            for f in sorted(sub.glob("*.txt")):
                texts.append(read_text(f, ds.encoding))
                labels.append(label)
        return RawSplit(texts, labels, str(base / rel))

    train, valid, test = read_dir(ds.train, "train"), read_dir(ds.valid, "valid"), read_dir(ds.test, "test")
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
        raise DataError(f"could not extract {archive} into {folder}: {exc}. Delete the archive so it is "
                        "downloaded again, or extract it there by hand.") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
