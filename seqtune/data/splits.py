"""Split logic shared by the readers and loaders: carved validation/test splits and low-resource subsets.

* Text (language modelling): :func:`carve` takes seeded, contiguous chunks of lines out of a training file.
* Labelled data: :func:`finish_splits` makes the splits every labelled format shares: official splits where
  they exist, otherwise stratified, seeded validation/test splits carved from train, and the low-resource
  subsets ``train_limit`` (N examples, stratified) and ``labels_per_class`` (N per class).  Subsets are
  seeded by ``dataset.split_seed`` alone, per class, so "100 labels" is the same 100 examples in every run and
  the 50-label subset is contained in the 100-label one.
* :func:`lm_splits` reads a labelled dataset as language-model text (labels ignored, test never read).
"""

from __future__ import annotations

import random
from typing import Any

from seqtune.data.encoding import lines_for_fitting
from seqtune.data.records import RawLabelled, RawSplit, RawSplits
from seqtune.errors import ConfigError, DataError


def carve(text: str, fraction: float, seed: int, chunk_lines: int = 50) -> tuple[str, str]:
    """Split off about ``fraction`` of the lines as seeded, contiguous chunks of ``chunk_lines`` lines.

    Chunks (rather than single lines) keep the local context that a language model uses; the seed makes the
    split identical in every run.  Returns (kept, carved).
    """
    lines = text.splitlines(keepends=True)
    chunks = [lines[i : i + chunk_lines] for i in range(0, len(lines), chunk_lines)]
    n_carve = max(1, round(fraction * len(chunks))) if len(chunks) > 1 else 0
    if n_carve == 0:
        raise DataError(
            "cannot carve a validation/test split from a training file of a single chunk of lines; "
            "give dataset.valid and dataset.test files, or use a longer training file."
        )
    picked = set(random.Random(seed).sample(range(len(chunks)), n_carve))
    kept = "".join(line for i, c in enumerate(chunks) if i not in picked for line in c)
    carved = "".join(line for i, c in enumerate(chunks) if i in picked for line in c)
    return kept, carved


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


def stratified_folds(labels: list, folds: int, seed: int) -> list[int]:
    """The fold (0..folds-1) of every example: each class in its own seeded permutation, dealt round the folds
    where the previous class stopped, so every fold holds its share of each class and fold sizes differ by <= 1."""
    fold = [0] * len(labels)
    start = 0
    for label, idx in _class_groups(labels).items():
        for j, i in enumerate(_permuted(idx, seed, f"fold:{label}")):
            fold[i] = (start + j) % folds
        start += len(idx)
    return fold


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


def take(split: RawSplit, indices: list[int], source: str | None = None) -> RawSplit:
    return RawSplit([split.inputs[i] for i in indices], [split.labels[i] for i in indices], source or split.source)


def _carve(train: RawSplit, name: str, frac: float, seed: int, stratified: bool) -> tuple[RawSplit, RawSplit, str]:
    """(carved part, the rest of train, a note): ``frac`` of train, seeded (stratified by label), becomes ``name``."""
    kept, carved = stratified_split(train.labels if stratified else [""] * len(train.labels), frac, seed, name)
    if not carved or not kept:
        raise DataError(
            f"cannot carve a {name} split ({frac:.0%}) from the {len(train.labels)} training "
            f"examples of {train.source}; give dataset.{name}, or use more data."
        )
    part = take(train, carved, f"{train.source} ({name} part carved from train)")
    note = (
        f"{name} split carved from train: {len(carved):,} examples "
        f"({frac:.0%}{', stratified by label' if stratified else ''}, split_seed {seed})"
    )
    return part, take(train, kept), note


def _carve_valid(train: RawSplit, ds: Any, seed: int, stratified: bool) -> tuple[RawSplit, RawSplit, str]:
    """(validation split, the rest of train, a note): ``valid_fraction`` of train, or with ``dataset.cv_folds=K``
    fold ``dataset.cv_fold`` of K (cross-validation over the training pool: the other folds train)."""
    folds = ds.get("cv_folds")
    if folds is None:
        return _carve(train, "valid", ds.get("valid_fraction", 0.1), seed, stratified)
    k = int(ds.get("cv_fold", 0))
    which = stratified_folds(train.labels if stratified else [""] * len(train.labels), folds, seed)
    carved = [i for i, f in enumerate(which) if f == k]
    kept = [i for i, f in enumerate(which) if f != k]
    if not carved or not kept:
        raise DataError(
            f"cannot make {folds} cross-validation folds of the {len(train.labels)} training examples of "
            f"{train.source}; use dataset.cv_folds={max(2, len(train.labels))} or fewer."
        )
    note = (
        f"valid split = cross-validation fold {k} of {folds} of train: {len(carved):,} examples "
        f"({'stratified by label, ' if stratified else ''}split_seed {seed}); the other folds train"
    )
    return take(train, carved, f"{train.source} (cross-validation fold {k} of {folds})"), take(train, kept), note


def finish_splits(raw: RawLabelled, ds) -> tuple[RawSplit, RawSplit, RawSplit, RawSplit, list[str]]:
    """(full train, train, valid, test, notes): carve missing splits, then apply the low-resource options.

    ``dataset.label_budget=N`` is the honest low-resource setting: N labelled examples in all (stratified,
    seeded), the validation split carved out of those N (``valid_fraction``) rather than from the rest of the
    pool, and a dataset's own validation file left unused.  ``train_limit``/``labels_per_class`` keep N training
    examples and a validation split from the whole pool."""
    notes = list(raw.notes)
    seed = int(ds.get("split_seed", 0))
    stratified = raw.task == "classification"  # tagging has no per-example class: one pseudo-class
    train, valid, test = raw.train, raw.valid, raw.test
    budget = ds.get("label_budget")
    if test is None:
        test, train, note = _carve(train, "test", ds.get("test_fraction", 0.1), seed, stratified)
        notes.append(note)
    if valid is not None and ds.get("cv_folds") is not None and budget is None:
        notes.append(f"dataset.cv_folds={ds.cv_folds}: the dataset's own validation split is not used")
        valid = None
    if valid is None and budget is None:
        valid, train, note = _carve_valid(train, ds, seed, stratified)
        notes.append(note)
    if budget is not None:
        return _budget_splits(train, valid, test, notes, budget, ds, seed, stratified)
    assert valid is not None  # given or carved above
    full_train = train
    limit, per_class = ds.get("train_limit"), ds.get("labels_per_class")
    if per_class is not None and raw.task != "classification":
        raise ConfigError(
            "dataset.labels_per_class applies to classification only (a tagging example has many "
            "labels); use dataset.train_limit to keep N training sentences."
        )
    if limit is not None or per_class is not None:
        keep = stratified_subset(train.labels if stratified else [""] * len(train.labels), seed, limit, per_class)
        train = take(train, keep)
        what = " and ".join(
            x for x in (f"{per_class} per class" if per_class else "", f"at most {limit} in all" if limit else "") if x
        )
        notes.append(
            f"low-resource training subset: {len(keep):,} of {len(full_train.labels):,} examples "
            f"({what}, stratified, split_seed {seed})"
        )
    return full_train, train, valid, test, notes


def _budget_splits(
    pool: RawSplit,
    official_valid: RawSplit | None,
    test: RawSplit,
    notes: list[str],
    budget: int,
    ds: Any,
    seed: int,
    stratified: bool,
) -> tuple[RawSplit, RawSplit, RawSplit, RawSplit, list[str]]:
    """``label_budget``: N of the pool (stratified), then the validation split carved out of those N."""
    if ds.get("train_limit") is not None or ds.get("labels_per_class") is not None:
        raise ConfigError(
            "dataset.label_budget replaces dataset.train_limit and dataset.labels_per_class; set only one of them."
        )
    if budget > len(pool.labels):
        raise ConfigError(
            f"dataset.label_budget={budget} is more than the {len(pool.labels):,} labelled examples of "
            f"{pool.source}; use at most that many, or leave it unset for all of them."
        )
    if official_valid is not None:
        notes.append(f"dataset.label_budget={budget}: the dataset's own validation split is not used")
    chosen = take(pool, stratified_subset(pool.labels if stratified else [""] * len(pool.labels), seed, budget))
    valid, train, note = _carve_valid(chosen, ds, seed, stratified)
    notes += [
        note,
        f"label budget: {budget:,} of {len(pool.labels):,} labelled examples (stratified, split_seed {seed}): "
        f"{len(train.labels):,} train + {len(valid.labels):,} validation",
    ]
    return pool, train, valid, test, notes


def lm_splits(raw: RawLabelled, ds) -> RawSplits:
    """A labelled dataset as language-model text: labels ignored, the test split never read.

    Train = the training texts (plus the dataset's unlabelled texts, e.g. IMDB's 50,000), valid = the
    validation texts.  The labelled test split stays unseen, so the LM "test" numbers are on validation text.
    """
    _full, _train, valid, _test, notes = finish_splits(raw, ds)
    train = _full  # every training text, also where fine-tuning will use a low-resource subset of the labels

    train_text = lines_for_fitting(raw.task, train.inputs + raw.unlabelled) + "\n"
    valid_text = lines_for_fitting(raw.task, valid.inputs) + "\n"
    notes = [n for n in notes if not n.startswith("low-resource")] + [
        f"labelled dataset read as text: labels ignored, {len(train.inputs):,} train + "
        f"{len(raw.unlabelled):,} unlabelled documents; the labelled test split is not used, so LM 'test' "
        f"metrics are computed on the {len(valid.inputs):,} validation documents"
    ]
    return RawSplits(train_text, valid_text, valid_text, notes)
