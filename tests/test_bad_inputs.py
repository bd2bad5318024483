"""Every bad input of docs/errors.md through the real command line: exit status 2, the key phrase of the message,
no Python traceback, and nothing written before damaged.

The cases live in scripts/error_catalogue.py (the same list generates docs/errors.md).  Most run through
``seqtune.cli.main`` in this process, which is the console script's code without the interpreter start-up;
the ones that train (exit status 0: skipped and truncated examples are counted in the log) and the checks of
the process's own exit status run ``python -m seqtune`` in a subprocess.
"""
from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seqtune import cli
from seqtune.errors import CheckpointError
from seqtune.training import checkpoint
from tests.conftest import load_script

catalogue = load_script("error_catalogue")

CASES = catalogue.CASES


_INTENDED_MARKUP = re.compile(r"\[(?:/|bold red|bold|red|green|yellow|dim|/[a-z ]*)\]")


def _swallowed(text: str) -> str | None:
    """``text`` as rich prints it with markup on, when that loses characters (a bracketed word taken for a tag)."""
    from rich.text import Text

    expected = _INTENDED_MARKUP.sub("", text).replace("\\[", "[")
    plain = Text.from_markup(text).plain
    return None if plain == expected else f"rich swallowed brackets: {text!r} printed as {plain!r}"


class _PrintedByRich:
    """Every string and table cell the CLI hands to rich with markup on, checked for swallowed brackets."""

    problems: list[str] = []

    @classmethod
    def install(cls, monkeypatch_target) -> None:
        from rich.console import Console
        from rich.table import Table

        original = Console.print

        def checked(self, *objects, **kwargs):
            if kwargs.get("markup", True) is not False:
                for obj in objects:
                    texts = [obj] if isinstance(obj, str) else []
                    if isinstance(obj, Table):
                        texts = [c for col in obj.columns for c in col._cells if isinstance(c, str)]
                        texts += [obj.title] if isinstance(obj.title, str) else []
                    cls.problems += [p for p in map(_swallowed, texts) if p]
            return original(self, *objects, **kwargs)

        monkeypatch_target.setattr(Console, "print", checked)


def run_here(args, cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None):
    """A runner for the catalogue that calls ``seqtune.cli.main`` in this process, as the console script does,
    with the working directory, environment, argv and standard streams of a fresh process, restored afterwards."""
    saved_cwd, saved_env = os.getcwd(), dict(os.environ)
    saved_streams = sys.argv, sys.stdin, sys.stdout, sys.stderr
    out, err = io.StringIO(), io.StringIO()
    try:
        os.chdir(cwd)
        os.environ.pop("SEQTUNE_VERBOSE", None)
        os.environ.update(env or {})
        sys.argv, sys.stdin, sys.stdout, sys.stderr = list(sys.argv), io.StringIO(stdin or ""), out, err
        try:
            cli.main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv, sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        root_logger = logging.getLogger()
        for handler in list(root_logger.handlers):  # Hydra's job logging opened the run's log file: close it
            if isinstance(handler, logging.FileHandler):
                handler.close()
                root_logger.removeHandler(handler)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """Data files, a tiny pretraining run pre/, a tiny fine-tuning run ft/ and damaged checkpoints."""
    return catalogue.prepare(tmp_path_factory.mktemp("bad-inputs"), runner=run_here)


@pytest.fixture(autouse=True)
def _rich_checked(monkeypatch):
    _PrintedByRich.problems = []
    _PrintedByRich.install(monkeypatch)
    yield
    assert not _PrintedByRich.problems, _PrintedByRich.problems


def _check(case, outcome) -> None:
    assert outcome.status == case.status, outcome.output
    assert "pip install 'seqtune'" not in outcome.output and "\\[" not in outcome.output, outcome.output
    assert case.phrase in outcome.output, outcome.output
    assert "Traceback" not in outcome.output, outcome.output
    assert "[catalogue]" not in outcome.output, outcome.output  # a file changed, or something was executed
    if case.status == 2:
        # One paragraph: seqtune's own "error: ..." line, or Hydra's composition message, never a stack of frames.
        assert not re.search(r'^\s*File ".*", line \d+', outcome.stderr, re.M), outcome.stderr


@pytest.mark.parametrize("case", [c for c in CASES if c.status == 2], ids=lambda c: c.id)
def test_bad_input_is_a_clear_error(case, root):
    if case.needs_cpu_only and torch.cuda.is_available():
        pytest.skip("a GPU is present, so trainer.device=cuda is not a bad input here")
    _check(case, catalogue.run_case(case, root, runner=run_here))


@pytest.mark.parametrize("case", [c for c in CASES if c.status == 0], ids=lambda c: c.id)
def test_dropped_and_truncated_examples_are_counted_in_the_log(case, root):
    outcome = catalogue.run_case(case, root, runner=run_here)
    _check(case, outcome)
    log = (root / case.cwd / "runs" / case.id / "finetune.log").read_text(encoding="utf-8")
    assert case.phrase in log
    if case.id == "too_long":  # every split is counted, and the examples really are cut
        assert "valid: 30 example(s) truncated" in log and "test: 30 example(s) truncated" in log
        preds = (root / "runs" / case.id / "test_predictions.jsonl").read_text().splitlines()
        assert len(preds) == 30


@pytest.mark.parametrize("case_id", ["pickled", "output_dir_file"])
def test_exit_status_of_the_real_process(case_id, root):
    """Cases as a user runs them, in their own process: the process itself exits with status 2."""
    case = catalogue.BY_ID[case_id]
    _check(case, catalogue.run_case(case, root))


def test_verbose_shows_the_traceback(root):
    res = run_here(["evaluate", "checkpoint=newer.pt"], root, env={"SEQTUNE_VERBOSE": "1"})
    assert res.returncode == 2
    assert "Traceback" in res.stderr and "CheckpointError" in res.stderr and "newer than this seqtune" in res.stderr


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write into a read-only folder")
def test_read_only_output_folder(root):
    folder = root / "readonly"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o555)
    try:
        res = run_here(["pretrain", "debug=smoke", "hydra.run.dir=readonly/run"], root)
    finally:
        folder.chmod(0o755)
    assert res.returncode == 2 and "cannot create the run directory" in res.stderr and "Traceback" not in res.stderr
    assert list(folder.iterdir()) == []


def test_refused_checkpoint_stays_as_it_was_and_ran_nothing(root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = (root / "pickled.pt").read_bytes()
    with pytest.raises(CheckpointError, match=r"pickled Python object \(posix\.mkdir\)"):
        checkpoint.load(root / "pickled.pt")
    assert not (tmp_path / "PWNED").exists() and (root / "pickled.pt").read_bytes() == data


def test_the_catalogue_covers_every_item_of_the_brief():
    """A guard against a case silently dropped from the list that docs/errors.md is generated from."""
    ids = set(catalogue.BY_ID)
    assert {"missing_file", "empty_file", "undecodable", "missing_column", "unseen_label", "blank_documents",
            "too_long", "unknown_key", "wrong_type", "unknown_name", "shape_mismatch", "direction_mismatch",
            "vocab_mismatch", "newer", "truncated", "corrupted", "pickled", "output_dir_file", "output_dir_unwritable",
            "mlm_unidirectional", "tagger_on_classification", "max_steps_zero", "hidden_negative", "batch_zero",
            "no_cuda", "target_injection", "shell_path"} <= ids


# ------------------------------------------------------------------------------------------- security
PACKAGE = Path(cli.__file__).resolve().parent


def _sources() -> dict[str, str]:
    return {str(p.relative_to(PACKAGE)): p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")}


def test_no_config_can_instantiate_an_importable_object():
    """Components are chosen by registry name; nothing in seqtune turns a user's `_target_` into a call."""
    for name, text in _sources().items():
        assert "instantiate(" not in text and "get_method(" not in text and "get_class(" not in text, name
        assert "_locate(" not in text and "importlib.import_module(cfg" not in text, name


def test_nothing_is_unpickled_or_run_through_a_shell():
    for name, text in _sources().items():
        for call in ("torch.load(", "pickle.load", "allow_pickle=True", "shell=True", "os.system(", "os.popen(",
                     "eval(", "exec("):
            hits = [ln for ln in text.splitlines() if call in ln and not ln.lstrip().startswith(("#", '"', "'"))
                    and "model.eval()" not in ln and ".eval()" not in ln]
            if call == "torch.load(":
                assert all("weights_only=True" in ln for ln in hits), (name, hits)
            else:
                assert not hits, (name, call, hits)


def test_exported_safetensors_hold_no_pickle(root, tmp_path):
    """safetensors: an 8-byte header length, a JSON header, raw tensor bytes; loading it runs no code."""
    from safetensors.torch import load_file

    res = run_here(["export", str(root / "pre"), "--out", str(tmp_path / "exp")], root)
    assert res.returncode == 0, res.stderr
    raw = (tmp_path / "exp" / "model.safetensors").read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    assert raw[8:9] == b"{" and raw[8 + header_len - 1:8 + header_len].strip() in (b"}", b"")
    assert b"\x80\x02" not in raw[:8 + header_len] and b"posix" not in raw  # no pickle protocol, no globals
    tensors = load_file(tmp_path / "exp" / "model.safetensors")
    ckpt = checkpoint.load(root / "pre" / "checkpoints" / "best.pt")
    assert {k: v.shape for k, v in tensors.items()} == {k: v.shape for k, v in ckpt["model"].items()}
