#!/usr/bin/env python
"""The catalogue of bad inputs: run each through the real CLI in a temporary folder, print docs/errors.md.

Every case is one ``seqtune ...`` command line run in a scratch folder that holds small generated files, one tiny
pretraining run (``pre/``), one tiny fine-tuning run (``ft/``) and checkpoints damaged on purpose.  For each the
table gives the input, the command, the first sentence of what seqtune prints and the exit status, as measured
in that run, so the page stays true::

    python scripts/error_catalogue.py > docs/errors.md          # about 3 minutes on 2 CPU cores
    python scripts/error_catalogue.py --only empty_file,pickled  # some cases, table only

tests/test_bad_inputs.py runs the same cases (``CASES``, ``prepare``, ``run_case``) and asserts the exit status,
the key phrase, the absence of a traceback, and that nothing written before was damaged.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

# A tiny model and a few steps: every command that gets past validation finishes in seconds.
SMOKE = ("debug=smoke",)
# The labelled task of the fine-tuning cases: three CSV files, two labels told apart by one word.
TABLE = ("dataset=table", "dataset.train=train.csv", "dataset.valid=valid.csv", "dataset.test=test.csv")
FINETUNE = ("finetune", "transfer=full", "transfer.checkpoint=pre", *TABLE)


def finetune_from(checkpoint: str, *extra: str) -> tuple[str, ...]:
    return ("finetune", "transfer=full", f"transfer.checkpoint={checkpoint}", *TABLE, *extra)


@dataclass(frozen=True)
class Case:
    """One bad input: the command after ``seqtune``, what must appear in its output, the exit status."""

    id: str
    input: str  # what is wrong, as the table's first column says it
    args: tuple[str, ...]
    phrase: str  # the key phrase of the message (searched in stdout, stderr and the run's log file)
    status: int = 2
    cwd: str = "."  # folder (under the scratch folder) the command runs in
    setup: Callable[[Path], None] | None = None  # makes the case's files, given the scratch folder
    stdin: str | None = None
    untouched: tuple[str, ...] = ()  # files that must be byte-for-byte the same after the command
    absent: tuple[str, ...] = ()  # paths that must not exist afterwards (nothing executed, nothing written)
    needs_cpu_only: bool = False  # the case is only bad on a machine without a GPU
    notes: dict = field(default_factory=dict, compare=False)


# --------------------------------------------------------------------------------------------- files
WORDS = "the a cook singer dog cat sees likes bread song park red small big".split()


def _sentences(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(" ".join(rng.choices(WORDS, k=rng.randint(3, 8))) + " .\n" for _ in range(n))


def _table(n: int, seed: int, label_extra: str | None = None) -> str:
    rng = random.Random(seed)
    rows = ["label,text"]
    for _ in range(n):
        label = rng.choice(["pos", "neg"])
        rows.append(f"{label},{' '.join(rng.choices(WORDS, k=rng.randint(3, 7)))} {'good' if label == 'pos' else 'bad'}")
    if label_extra:
        rows.append(f"{label_extra},the cook sees a song")
    return "\n".join(rows) + "\n"


def run_seqtune(args: list[str] | tuple[str, ...], cwd: Path, stdin: str | None = None,
                env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """The real command line (``python -m seqtune`` is the console script's code), one thread."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    full_env.pop("SEQTUNE_VERBOSE", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "seqtune", *args], cwd=cwd, env=full_env, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def prepare(root: Path, runner: Callable[..., subprocess.CompletedProcess] = run_seqtune) -> Path:
    """Fill ``root`` with the data files, a tiny pretraining run ``pre/``, a tiny fine-tuning run ``ft/`` and the
    damaged checkpoints the cases read.  Returns ``root``."""
    import torch  # here, so that `--help` of this script stays fast

    root.mkdir(parents=True, exist_ok=True)
    (root / "corpus.txt").write_text(_sentences(300, 0), encoding="utf-8")
    (root / "empty.txt").write_bytes(b"")
    (root / "latin1.txt").write_bytes("the caf\u00e9 sells bread .\n".encode("latin-1") * 20)
    for name, n, seed in (("train.csv", 120, 1), ("valid.csv", 30, 2), ("test.csv", 30, 3)):
        (root / name).write_text(_table(n, seed), encoding="utf-8")
    (root / "a_file").write_text("this is a file, not a folder\n", encoding="utf-8")
    env = {"SEQTUNE_CACHE_DIR": str(root / "cache")}
    for args in (["pretrain", *SMOKE, "dataset=text", "dataset.train=corpus.txt", "hydra.run.dir=pre"],
                 [*FINETUNE, *SMOKE, "hydra.run.dir=ft"]):
        res = runner(args, root, env=env)
        if res.returncode != 0:
            raise RuntimeError(f"seqtune {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}")
    best = root / "ft" / "checkpoints" / "best.pt"
    ckpt = torch.load(best, weights_only=True)
    torch.save({**ckpt, "seqtune_version": "99.0.0"}, root / "newer.pt")
    data = best.read_bytes()
    (root / "truncated.pt").write_bytes(data[: len(data) // 2])
    rng = random.Random(0)
    (root / "corrupted.pt").write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
    tokenizer = dict(ckpt["tokenizer"])
    tokenizer["itos"] = tokenizer["itos"][:-3]  # a vocabulary that no longer matches the embedding's rows
    torch.save({**ckpt, "tokenizer": tokenizer}, root / "vocab.pt")
    torch.save({**ckpt, "extra": _Payload()}, root / "pickled.pt")
    return root


class _Payload:
    """Unpickling this would create the folder ``PWNED`` in the working directory; seqtune must never do it."""

    def __reduce__(self):
        return (os.mkdir, ("PWNED",))


def _unseen_label_folder(root: Path) -> None:
    """The fine-tuning run's files, except that its test file gained a label the run never saw."""
    folder = root / "changed"
    folder.mkdir(exist_ok=True)
    for name in ("train.csv", "valid.csv"):
        shutil.copy(root / name, folder / name)
    (folder / "test.csv").write_text(_table(30, 3, label_extra="neutral"), encoding="utf-8")


def _blank_documents(root: Path) -> None:
    text = (root / "train.csv").read_text(encoding="utf-8").splitlines()
    text[3:3] = ["pos,", "neg,   ", 'pos,""']  # three rows whose text is empty or blank
    (root / "blank_docs.csv").write_text("\n".join(text) + "\n", encoding="utf-8")
    (root / "only_blank.csv").write_text("label,text\npos,\nneg, \n", encoding="utf-8")


def _bad_series_files(root: Path) -> None:
    """UCR-layout series files: one ragged, one with a word among the values, one line without its label."""
    good = ["1\t0.1\t0.2\t0.3", "2\t0.3\t0.2\t0.1"] * 6
    for name, rows in (("ragged", [*good, "1\t0.1\t0.2"]), ("word", [*good, "2\t0.1\tn/a\t0.3"]),
                       ("nolabel", [*good, "\t0.1\t0.2\t0.3"])):
        (root / f"{name}_TRAIN.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        (root / f"{name}_TEST.tsv").write_text("\n".join(good) + "\n", encoding="utf-8")


def _series_case(name: str) -> tuple[str, ...]:
    return ("pretrain", "dataset=ucr", "dataset.set=null", "dataset.folder=null", f"dataset.train={name}_TRAIN.tsv",
            f"dataset.test={name}_TEST.tsv", "objective=masked_values", *SMOKE)


def _bad_ts_files(root: Path) -> None:
    """Multivariate .ts files (the UEA & UCR archives' format): a case with three dimensions among cases of two, a
    case whose dimensions differ in length, and a test file of three channels for a training file of two."""

    def header(dims: int) -> list[str]:
        return ["@problemName Two", "@univariate false", f"@dimensions {dims}", "@classLabel true a b", "@data"]

    good = header(2) + ["0.1,0.2,0.3:1,2,3:a", "0.3,0.2,0.1:3,2,1:b"] * 6
    files = {
        "dims_TRAIN.ts": [*good, "0.1,0.2,0.3:1,2,3:4,5,6:a"],
        "unequal_TRAIN.ts": [*good, "0.1,0.2:1,2,3:a"],
        "channels_TRAIN.ts": good,
        "channels_TEST.ts": header(3) + ["0.1,0.2,0.3:1,2,3:4,5,6:a", "0.3,0.2,0.1:3,2,1:6,5,4:b"] * 3,
        "dims_TEST.ts": good,
        "unequal_TEST.ts": good,
    }
    for name, rows in files.items():
        (root / name).write_text("\n".join(rows) + "\n", encoding="utf-8")


def _ts_case(name: str, command: str = "pretrain") -> tuple[str, ...]:
    task = ("objective=masked_values",) if command == "pretrain" else ("transfer=scratch", "transfer.checkpoint=null",
                                                                       "+model=gru")
    return (command, "dataset=ucr", "dataset.set=null", "dataset.folder=null", f"dataset.train={name}_TRAIN.ts",
            f"dataset.test={name}_TEST.ts", *task, *SMOKE)


def _bad_predict_input(root: Path) -> None:
    (root / "texts_latin1.txt").write_bytes("the cook sees the caf\u00e9\n".encode("latin-1"))


# --------------------------------------------------------------------------------------------- cases
CASES: list[Case] = [
    Case("missing_file", "missing file", ("pretrain", "dataset=text", "dataset.train=missing.txt", *SMOKE),
         "dataset.train: file not found"),
    Case("empty_file", "empty file", ("pretrain", "dataset=text", "dataset.train=empty.txt", *SMOKE), "is empty (0 bytes)"),
    Case("undecodable", "undecodable bytes (latin-1 file read as UTF-8)",
         ("pretrain", "dataset=text", "dataset.train=latin1.txt", *SMOKE), "set dataset.encoding=latin-1"),
    Case("predict_undecodable", "undecodable bytes in `predict` input",
         ("predict", "checkpoint=ft", "input=texts_latin1.txt"), "which is not valid UTF-8", setup=_bad_predict_input),
    Case("missing_column", "CSV without the configured column",
         (*FINETUNE, "dataset.text_columns=[body]", *SMOKE), "Column 'body' (text column) not found"),
    Case("unseen_label", "label at evaluation that training never saw",
         ("evaluate", "checkpoint=../ft", "split=test"), "label 'neutral' in", cwd="changed",
         setup=_unseen_label_folder),
    Case("blank_documents", "empty documents (rows with blank text) in training data",
         (*FINETUNE[:-3], "dataset.train=blank_docs.csv", "dataset.valid=valid.csv", "dataset.test=test.csv", *SMOKE,
          "hydra.run.dir=runs/blank_documents"),
         "train: 3 example(s) with empty text skipped", status=0, setup=_blank_documents),
    Case("only_blank_documents", "a split whose documents are all empty",
         (*FINETUNE[:-3], "dataset.train=train.csv", "dataset.valid=valid.csv", "dataset.test=only_blank.csv",
          *SMOKE), "the test split", setup=_blank_documents),
    Case("too_long", "sequences longer than the configured maximum",
         (*FINETUNE, "dataset.max_length=4", *SMOKE, "hydra.run.dir=runs/too_long"),
         "train: 120 example(s) truncated to dataset.max_length=4 tokens", status=0),
    Case("unknown_key", "unknown config key (a typo)", ("pretrain", "trainer.max_epoch=1", *SMOKE),
         "unknown config key trainer.max_epoch. Did you mean trainer.max_epochs?"),
    Case("unknown_dataset_key", "unknown dataset key (a typo)",
         ("finetune", *TABLE, "dataset.label_colum=y", *SMOKE), "Did you mean dataset.label_column?"),
    Case("unknown_root_key", "unknown top-level key added with `+`", ("pretrain", "+foo=3", *SMOKE),
         "unknown config key foo"),
    Case("missing_text_train", "`dataset=text` without its file", ("pretrain", "dataset=text", *SMOKE),
         "dataset.train is required of dataset=text"),
    Case("missing_table_train", "`dataset=table` without its file", ("finetune", "dataset=table", *SMOKE),
         "dataset.train is required of dataset=table"),
    Case("ucr_ragged", "labelled series (UCR layout) with a row of another length", _series_case("ragged"),
         "series of different lengths need dataset.variable_length=true", setup=_bad_series_files),
    Case("ucr_not_a_number", "labelled series with a word among the values", _series_case("word"),
         "'n/a' is not a number", setup=_bad_series_files),
    Case("ucr_no_label", "labelled series, a line without its label", _series_case("nolabel"),
         "no label in the first field", setup=_bad_series_files),
    Case("cv_fold_out_of_range", "a cross-validation fold that does not exist",
         (*FINETUNE, "dataset.cv_folds=3", "dataset.cv_fold=3", *SMOKE), "dataset.cv_fold=3 must be one of 0..2"),
    Case("ts_dimensions", "multivariate `.ts` series, a case with another number of dimensions", _ts_case("dims"),
         "3 dimension(s), but the header says 2", setup=_bad_ts_files),
    Case("ts_unequal_dimensions", "multivariate `.ts` series, a case whose dimensions differ in length",
         _ts_case("unequal"), "dimensions of different lengths need dataset.variable_length=true",
         setup=_bad_ts_files),
    Case("ts_channels", "train and test series with different channels", _ts_case("channels", "finetune"),
         "has 3 channel(s) (dimensions) per series, but", setup=_bad_ts_files),
    Case("missing_series_file", "`dataset=timeseries` without its file",
         ("pretrain", "dataset=timeseries", "objective=forecast", *SMOKE), "dataset.file is required of dataset=timeseries"),
    Case("missing_pairs_train", "`dataset=pairs` without its file",
         ("pretrain", "dataset=pairs", "objective=seq2seq", *SMOKE), "dataset.train is required of dataset=pairs"),
    Case("missing_conll_train", "`dataset=conll` without its file",
         ("finetune", "dataset=conll", "head=tagger", *SMOKE), "dataset.train is required of dataset=conll"),
    Case("missing_classes", "`dataset=class_files` without its files", ("finetune", "dataset=class_files", *SMOKE),
         "dataset.classes is required of dataset=class_files"),
    Case("reused_run_dir", "a run directory that already holds a run", ("pretrain", *SMOKE, "hydra.run.dir=pre"),
         "hydra.run.dir=pre already holds a run", untouched=("pre/metrics.jsonl",)),
    Case("added_key", "unknown key added with `+`", ("pretrain", "+trainer.max_epoch=1", *SMOKE),
         "unknown config key trainer.max_epoch. Did you mean trainer.max_epochs?"),
    Case("wrong_type", "value of the wrong type", ("pretrain", "trainer.batch_size=big", *SMOKE),
         "Value 'big' of type 'str' could not be converted to Integer"),
    Case("unknown_name", "unknown registry name", ("pretrain", "model.name=lstmm", *SMOKE),
         "valid names are: gru, lstm, rnn"),
    Case("unknown_option", "unknown config group option", ("pretrain", "optimizer=adamm", *SMOKE),
         "Could not find 'optimizer/adamm'"),
    Case("shape_mismatch", "incompatible checkpoint: sizes",
         # without debug=smoke, which keeps a checkpoint's sizes; the error comes before any training
         (*FINETUNE, "+model.hidden_size=8", "trainer.device=cpu"),
         "does not fit the model: encoder.rnn.weight_ih_l0: checkpoint"),
    Case("direction_mismatch", "incompatible checkpoint: direction",
         (*FINETUNE, *SMOKE, "+model.bidirectional=true"), "direction: checkpoint unidirectional, model bidirectional"),
    Case("vocab_mismatch", "incompatible checkpoint: vocabulary does not match the weights",
         ("evaluate", "checkpoint=vocab.pt"), "encoder.embedding.weight: checkpoint (", untouched=("vocab.pt",)),
    Case("pretrain_for_evaluate", "pretraining checkpoint where a fine-tuned one is needed",
         ("evaluate", "checkpoint=pre"), "is a pretraining checkpoint"),
    Case("newer", "checkpoint from a newer seqtune", ("evaluate", "checkpoint=newer.pt"), "newer than this seqtune"),
    Case("truncated", "truncated checkpoint", ("evaluate", "checkpoint=truncated.pt"), "truncated, corrupted",
         untouched=("truncated.pt",)),
    Case("corrupted", "corrupted checkpoint (random bytes)",
         finetune_from("corrupted.pt", *SMOKE), "truncated, corrupted", untouched=("corrupted.pt",)),
    Case("pickled", "checkpoint holding a pickled Python object", ("evaluate", "checkpoint=pickled.pt"),
         "holds a pickled Python object (posix.mkdir)", absent=("PWNED",)),
    Case("output_dir_file", "run directory where a file exists",
         ("pretrain", *SMOKE, "hydra.run.dir=a_file/run"), "cannot create the run directory", untouched=("a_file",)),
    Case("output_root_file", "output root that is a file", ("pretrain", *SMOKE, "output_root=a_file"),
         "cannot create the run directory", untouched=("a_file",)),
    Case("output_dir_unwritable", "run directory that cannot be created (virtual or read-only filesystem)",
         ("pretrain", *SMOKE, "hydra.run.dir=/proc/seqtune-run"), "cannot create the run directory"),
    Case("predict_output_unwritable", "`predict` output under a file", ("predict", "checkpoint=ft",
         "output=a_file/labels.jsonl"), "output=a_file/labels.jsonl: cannot write it", stdin="the cook sees a song\n",
         untouched=("a_file",)),
    Case("mlm_unidirectional", "mlm on a unidirectional encoder", ("pretrain", "objective=mlm", *SMOKE),
         "needs a bidirectional encoder"),
    Case("bilm_two_layers", "bilm on a two-layer encoder",
         ("pretrain", "objective=bilm", "model.bidirectional=true", *SMOKE, "model.num_layers=2"),
         "objective=bilm (forward and backward LMs) needs a one-layer encoder"),
    Case("tagger_on_classification", "tagger on a classification dataset", (*FINETUNE, "head=tagger", *SMOKE),
         "head=tagger needs token labels"),
    Case("max_steps_zero", "`trainer.max_steps=0`", ("pretrain", *SMOKE, "trainer.max_steps=0"),
         "trainer.max_steps=0 is out of range"),
    Case("hidden_negative", "negative size", ("pretrain", *SMOKE, "model.hidden_size=-1"),
         "model.hidden_size=-1 is out of range"),
    Case("batch_zero", "zero batch size", ("pretrain", *SMOKE, "trainer.batch_size=0"),
         "trainer.batch_size=0 is out of range"),
    Case("no_cuda", "a device that is not there", ("pretrain", *SMOKE, "trainer.device=cuda"),
         "no CUDA device is available", needs_cpu_only=True),
    Case("bad_device", "a device name that does not exist", ("pretrain", *SMOKE, "trainer.device=tpu"),
         "trainer.device='tpu' is not one of auto, cpu, cuda"),
    Case("bad_device_index", "a malformed GPU number", ("evaluate", "checkpoint=ft", "device=cuda:first"),
         "device='cuda:first' is not one of auto, cpu, cuda, cuda:N"),
    Case("explain_pretraining", "`explain` with a pretraining checkpoint", ("explain", "checkpoint=pre"),
         "explain need a fine-tuned one"),
    Case("explain_empty_input", "`explain` with empty input", ("explain", "checkpoint=ft"), "holds no text",
         stdin="\n  \n"),
    Case("explain_unknown_target", "`explain` for a label the model does not have",
         ("explain", "checkpoint=ft", "target=neutral"), "target='neutral' is not one of this checkpoint's labels",
         stdin="the cook sees a song\n"),
    Case("target_injection", "`_target_` override (arbitrary callable)", ("pretrain", *SMOKE, "+model._target_=os.system"),
         "unknown config key model._target_"),
    Case("shell_path", "file path with shell syntax (used as given, never run)",
         ("pretrain", "dataset=text", "dataset.train='$(mkdir PWNED).txt'", *SMOKE), "file not found", absent=("PWNED",)),
]
# Values that reached torch unchecked (issue 15): every leaf is now checked against its range (config/values.py).
CASES += [
    Case("lr_nan", "a non-finite learning rate", ("pretrain", "optimizer.lr=nan", *SMOKE),
         "optimizer.lr=nan is not a finite number"),
    Case("weight_decay_negative", "a negative weight decay", ("pretrain", "optimizer.weight_decay=-0.1", *SMOKE),
         "optimizer.weight_decay=-0.1 is out of range"),
    Case("lr_factor_nan", "a non-finite discriminative lr factor", (*FINETUNE, "transfer.lr_factor=nan", *SMOKE),
         "transfer.lr_factor=nan is not a finite number"),
    Case("label_column_null", "no label column", (*FINETUNE, "dataset.label_column=null", *SMOKE),
         "dataset.label_column=null: name the column"),
    Case("eval_batch_too_big", "an evaluation batch larger than the validation split",
         ("pretrain", "dataset=text", "dataset.train=corpus.txt", "trainer.eval_batch_size=100000", *SMOKE),
         "too few for trainer.eval_batch_size=100000"),
    Case("predict_batch_zero", "`predict batch_size=0`", ("predict", "checkpoint=ft", "input=-", "batch_size=0"),
         "batch_size=0 is out of range", stdin="the cook sees a song\n"),
    Case("generate_temperature_inf", "`generate temperature=inf`", ("generate", "checkpoint=pre", "temperature=inf"),
         "temperature=inf is not a finite number"),
]



def _damaged_checkpoints(root: Path) -> None:
    """Checkpoints that torch reads but that do not hold what seqtune reads, and one whose dataset config names a
    download URL and a folder outside the data directory (it must never be followed)."""
    import torch

    ckpt = torch.load(root / "ft" / "checkpoints" / "best.pt", weights_only=True)
    torch.save({"model": ckpt["model"], "seqtune_version": ckpt["seqtune_version"]}, root / "only_model.pt")
    tokenizer = {k: v for k, v in ckpt["tokenizer"].items() if k != "itos"}
    torch.save({**ckpt, "tokenizer": tokenizer}, root / "no_vocab.pt")
    torch.save({**ckpt, "seqtune_version": 3}, root / "version_int.pt")
    torch.save({**ckpt, "config": {k: v for k, v in ckpt["config"].items() if k != "dataset"}}, root / "no_dataset.pt")
    dataset = {**ckpt["config"]["dataset"], "folder": str(root / "planted" / "ag_news"), "train": "train.csv",
               "valid": None, "test": "test.csv", "download": True, "mirror": "http://127.0.0.1:9/files"}
    torch.save({**ckpt, "config": {**ckpt["config"], "dataset": dataset}}, root / "planted.pt")


# Checkpoints torch reads but seqtune does not understand, and one that names a download (issue 15).
CASES += [
    Case("ckpt_only_model", "checkpoint with only `model` and `seqtune_version`",
         ("export", "only_model.pt"), "entry 'config' is missing", setup=_damaged_checkpoints),
    Case("ckpt_no_vocab", "checkpoint whose tokenizer lost its vocabulary",
         ("evaluate", "checkpoint=no_vocab.pt"), "has no 'itos' entry", setup=_damaged_checkpoints),
    Case("ckpt_version_int", "checkpoint whose version is not a string",
         ("evaluate", "checkpoint=version_int.pt"), "entry 'seqtune_version' is a int, not a str",
         setup=_damaged_checkpoints),
    Case("ckpt_no_dataset", "checkpoint whose config has no dataset",
         ("evaluate", "checkpoint=no_dataset.pt"), "its config has no 'dataset' section", setup=_damaged_checkpoints),
    Case("ckpt_names_a_download", "checkpoint whose dataset config names a URL and a folder",
         ("evaluate", "checkpoint=planted.pt"), "is missing and downloading is turned off", setup=_damaged_checkpoints,
         absent=("planted",)),
]



def _damaged_data(root: Path) -> None:
    import gzip

    corpus = (root / "corpus.txt").read_bytes()
    (root / "corpus_gz.txt").write_bytes(gzip.compress(corpus))  # compressed, without the .gz suffix
    (root / "corpus_zst.txt").write_bytes(b"\x28\xb5\x2f\xfd" + bytes(range(256)) * 4)  # zstd: not read, named
    (root / "corpus_utf16.txt").write_bytes(corpus.decode("utf-8").encode("utf-16"))
    rows = (root / "train.csv").read_text(encoding="utf-8").splitlines()
    rows[5] = rows[5] + ", and more"  # an unquoted comma in the text: one field too many
    (root / "extra_field.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


# Data damaged in ways that used to be read silently, and advice that used to mislead (issue 15).
CASES += [
    Case("csv_extra_field", "CSV row with more fields than the header (an unquoted comma)",
         (*FINETUNE[:-3], "dataset.train=extra_field.csv", "dataset.valid=valid.csv", "dataset.test=test.csv",
          *SMOKE), "Row at line 6 of", setup=_damaged_data),
    Case("zstd_as_latin1", "zstd file (a compression seqtune does not read) with dataset.encoding=latin-1",
         ("pretrain", "dataset=text", "dataset.train=corpus_zst.txt", "dataset.encoding=latin-1", *SMOKE),
         "is zstd-compressed (its first bytes say so)", setup=_damaged_data),
    Case("utf16_input", "UTF-16 text (with its byte-order mark)",
         ("pretrain", "dataset=text", "dataset.train=corpus_utf16.txt", *SMOKE),
         "Set dataset.encoding=utf-16", setup=_damaged_data),
]

BY_ID = {case.id: case for case in CASES}
if len(BY_ID) != len(CASES):  # pragma: no cover - a copy-paste slip in the table above
    raise AssertionError("duplicate case ids")


@dataclass
class Outcome:
    status: int
    output: str  # stdout + stderr + the run's log file, where there is one
    stderr: str


Runner = Callable[..., subprocess.CompletedProcess]


def run_case(case: Case, root: Path, runner: Runner = run_seqtune) -> Outcome:
    """Run one case in ``root`` (made by :func:`prepare`).  ``runner(args, cwd, stdin=, env=)`` runs the command:
    a subprocess here; the tests pass one that calls ``seqtune.cli.main`` in their own process (faster)."""
    if case.setup is not None:
        case.setup(root)
    before = {name: (root / name).read_bytes() for name in case.untouched}
    outputs = root / case.cwd / "outputs"
    folders = set(outputs.glob("*/*")) if outputs.is_dir() else set()
    res = runner(case.args, root / case.cwd, stdin=case.stdin, env={"SEQTUNE_CACHE_DIR": str(root / "cache")})
    output = res.stdout + res.stderr
    run_dir = next((a.split("=", 1)[1] for a in case.args if a.startswith("hydra.run.dir=")), None)
    if run_dir is not None:
        for log in (root / case.cwd / run_dir).glob("*.log"):
            output += log.read_text(encoding="utf-8")
    for name, data in before.items():
        if (root / name).read_bytes() != data:
            output += f"\n[catalogue] {name} was changed by the command"
    if case.status == 2:
        left = (set(outputs.glob("*/*")) if outputs.is_dir() else set()) - folders
        if left:
            output += f"\n[catalogue] run folder left behind: {sorted(left)[0]}"
    for name in case.absent:
        if (root / case.cwd / name).exists():
            output += f"\n[catalogue] {name} exists: the command ran something it should not have"
    return Outcome(res.returncode, output, res.stderr)


def first_sentence(case: Case, outcome: Outcome, root: Path | None = None) -> str:
    """The line that carries the message (seqtune's 'error:' line, Hydra's first line, or the log line)."""
    lines = [ln.strip() for ln in outcome.output.splitlines() if ln.strip()]
    if outcome.status == 0:
        line = next((ln for ln in lines if case.phrase in ln), "")
        return re.sub(r"^\[[^]]*\]\[[^]]*\]\[[^]]*\] - ", "", line).removeprefix("note: ")
    error = next((ln for ln in outcome.stderr.splitlines() if ln.startswith("error: ")), None)
    if error is not None:
        text = error.removeprefix("error: ")
    else:  # Hydra's own composition errors: its first line, the next one if the first is no sentence, a list
        raw = [ln for ln in outcome.stderr.splitlines() if ln.strip()]
        text = raw[0].strip() if raw else ""
        if len(raw) > 1 and not text.endswith("."):
            text += " " + raw[1].strip()
            if text.endswith(":"):
                listed = [ln.strip() for ln in raw[2:] if ln.startswith("\t")]
                listed = listed[: next((i for i, x in enumerate(listed) if "=" in x), len(listed))]
                text += " " + ", ".join(listed)
    if root is not None:  # the scratch folder's name changes from run to run: paths relative to it
        text = text.replace(f"{root}/", "")
    # The first sentence: up to a ". " or ": " break after a reasonable length, keeping paths and keys intact.
    cut = re.search(r"(?<=[a-z0-9)'\]])\. (?=[A-Z(])", text)
    text = text[: cut.start() + 1] if cut else text
    return text if len(text) <= 220 else text[:217] + "..."


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _shell_word(arg: str) -> str:
    """How the argument is typed in a POSIX shell (Hydra's own quotes kept, no expansion by the shell)."""
    if "'" in arg and ("$" in arg or " " in arg):
        return '"' + arg.replace("\\", "\\\\").replace("$", "\\$").replace('"', '\\"') + '"'
    return f"'{arg}'" if "$" in arg or " " in arg else arg


def table(results: list[tuple[Case, Outcome]], root: Path | None = None) -> str:
    rows = ["| input | example command | message (first sentence) | exit status |", "|---|---|---|---|"]
    for case, outcome in results:
        shown = [a for a in case.args if not a.startswith("hydra.run.dir=runs/")]
        command = " ".join(["seqtune", *(_shell_word(a) for a in shown)])
        if case.stdin is not None:
            command = f"echo ... | {command}"
        if case.cwd != ".":
            command = f"(in a folder whose test.csv changed) {command}"
        rows.append(f"| {_cell(case.input)} | `{_cell(command)}` | {_cell(first_sentence(case, outcome, root))} | "
                    f"{outcome.status} |")
    return "\n".join(rows)


HEADER = """# Bad inputs and what seqtune says

Every problem a user can fix ends the command with **exit status 2** and one paragraph on stderr that names the
key or file and says how to fix it, without a Python traceback (set `SEQTUNE_VERBOSE=1` to see one). Nothing
written before is changed: run directories are only created once the config is valid and the directory is
writable, checkpoints are written atomically, and a refused checkpoint is never modified.

Decisions:

- **Empty documents** (a row whose text is empty or blank) in labelled data are **skipped and counted** in the
  run's log per split (`train: 3 example(s) with empty text skipped`); a split with no text at all is an error.
  Blank lines between CSV/JSON Lines records are not records and are ignored. `predict` skips blank input lines
  (each output record carries its line number). Language-model text keeps blank lines as line ends (`<eos>`), as
  PTB/WikiText do; the sentence objectives (autoencoder, denoising) skip empty lines and count them in the log.
- **Sequences longer than the maximum** (`dataset.max_length` for labelled data, `objective.max_length` for the
  sentence and pair objectives) are **truncated and counted** in the log.
- **Security**: checkpoints are read with `torch.load(weights_only=True)`; a file holding a pickled object is
  refused without running it. Configs never instantiate importable objects (there is no `_target_` in any
  component group, and `+model._target_=...` is an unknown key). File paths from configs are opened as given,
  never passed to a shell. Exported weights are safetensors (no pickle).

Generated by `python scripts/error_catalogue.py > docs/errors.md` (each row is a real run; the same cases are the
tests in `tests/test_bad_inputs.py`). Commands run in a folder holding small generated files, a tiny pretraining
run `pre/` and a fine-tuning run `ft/`; `debug=smoke` makes a valid run take seconds.

"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="comma-separated case ids (default: all); prints the table only")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it (default: a temp dir)")
    args = parser.parse_args(argv)
    import torch

    chosen = [BY_ID[i] for i in args.only.split(",") if i] or CASES
    work = args.keep or Path(tempfile.mkdtemp(prefix="seqtune-errors-"))
    try:
        prepare(work)
        results = []
        for case in chosen:
            if case.needs_cpu_only and torch.cuda.is_available():
                print(f"[skip] {case.id}: a GPU is present", file=sys.stderr)
                continue
            outcome = run_case(case, work)
            print(f"[{outcome.status}] {case.id}", file=sys.stderr)
            results.append((case, outcome))
        print(("" if args.only else HEADER) + table(results, work.resolve()))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
