"""The new-user path (issue 14): discovery (`ls`, `cp`, `--config-dir`, `<command> --help`), shell completion in a
real bash, advice for the first mistakes, no stub run folders, a used run directory refused."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seqtune.commands import complete, ls
from seqtune.config.advice import override_typos
from tests.conftest import run_cli


# ------------------------------------------------------------------------------------------ discovery
def test_ls_shows_every_group_without_a_traceback(tmp_path):
    for group in ls.groups():
        res = run_cli(["ls", group], tmp_path)
        assert res.returncode == 0 and "Traceback" not in res.stderr, (group, res.stderr)
    res = run_cli(["ls", "hparams_search"], tmp_path)
    assert "${trainer.seed}" in res.stdout  # shown as written, not resolved (nothing to resolve it against)
    assert "???" in ls.settings("dataset")["table"]["train"]


def test_ls_keeps_bracketed_values():
    per_option = ls.settings("dataset")
    assert per_option["ag_news"]["text_columns"] == "[1, 2]"
    from io import StringIO

    from rich.console import Console

    out = StringIO()
    ls.ls(["dataset"], console=Console(file=out, width=200))
    assert "text_columns=[1, 2]" in out.getvalue()


def test_ls_option_lists_every_key_with_its_meaning(tmp_path):
    rows = {k: (v, m) for k, v, m in ls.option_keys("dataset", "table")}
    assert rows["train"] == ("???", "required")
    assert rows["text_columns"][0] == "['text']" and "joined" in rows["text_columns"][1]
    assert "TOKENIZERS" in rows["tokenizer.kind"][1]
    for option in ("text", "timeseries", "conll", "pairs", "class_files"):
        keys = {k for k, _, _ in ls.option_keys("dataset", option)}
        assert {"name", "format", "tokenizer.kind"} <= keys, option


def test_cp_copies_a_shipped_option_and_config_dir_uses_it(tmp_path):
    res = run_cli(["cp", "dataset/text", "mine/dataset/corpus.yaml"], tmp_path)
    assert res.returncode == 0, res.stderr
    copied = tmp_path / "mine" / "dataset" / "corpus.yaml"
    assert "format: text" in copied.read_text() and "--config-dir mine dataset=corpus" in res.stdout
    assert oct(copied.stat().st_mode & 0o777)
    again = run_cli(["cp", "dataset/text", "mine/dataset/corpus.yaml"], tmp_path)
    assert again.returncode == 2 and "never overwrites" in again.stderr
    assert run_cli(["cp", "dataset/nope", "x.yaml"], tmp_path).returncode == 2
    listed = run_cli(["ls", "--config-dir", "mine", "dataset"], tmp_path)
    assert listed.returncode == 0 and "corpus" in listed.stdout
    (tmp_path / "c.txt").write_text("the cat sees the dog\n" * 200)
    copied.write_text(copied.read_text().replace("train: ???", "train: c.txt"))
    res = run_cli(["pretrain", "--config-dir", "mine", "dataset=corpus", "--cfg", "job"], tmp_path)
    assert res.returncode == 0 and "train: c.txt" in res.stdout


def test_command_help_is_fast_and_imports_neither_torch_nor_hydra():
    code = (
        "import sys; from seqtune import cli\n"
        "for argv in (['--help'], ['pretrain', '--help'], ['finetune', '-h']):\n"
        "    cli.main(argv)\n"
        "assert 'torch' not in sys.modules and 'hydra' not in sys.modules, 'heavy import'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "gru, lstm*, rnn" in res.stdout and "transfer" in res.stdout and "conf/finetune.yaml" in res.stdout


# ------------------------------------------------------------------------------------------ completion
def _complete_in_bash(line: str) -> list[str]:
    """Source the completion script in a real bash and call its function as bash does on Tab."""
    seqtune = shutil.which("seqtune") or str(Path(sys.executable).parent / "seqtune")
    script = (
        f'seqtune() {{ "{seqtune}" "$@"; }}\n'  # the console script of this environment
        'source <(seqtune --completion bash)\n'
        f"COMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}\n"
        'read -ra COMP_WORDS <<< "$COMP_LINE"; COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n'
        '_seqtune_complete; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    res = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return [ln for ln in res.stdout.splitlines() if ln]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_tab_completes_groups_options_and_keys_in_bash():
    assert "model=" in _complete_in_bash("seqtune pretrain mod")
    assert _complete_in_bash("seqtune pretrain model=l") == ["lstm "]  # bash completes the word after '='
    assert _complete_in_bash("seqtune pretrain trainer.max_e") == ["trainer.max_epochs="]
    assert set(_complete_in_bash("seqtune pre")) == {"pretrain ", "predict "}


def test_hydra_completion_flag_gives_seqtunes_script(tmp_path):
    res = run_cli(["pretrain", "-sc", "install=bash"], tmp_path)
    assert res.returncode == 0 and "complete -o nospace -F _seqtune_complete seqtune" in res.stdout
    assert "bashcompinit" in complete.script("zsh")


# ------------------------------------------------------------------------------------------ mistakes
def test_typo_gets_did_you_mean_and_never_the_plus_advice(tmp_path):
    res = run_cli(["pretrain", "trainer.max_epoch=3"], tmp_path)
    assert res.returncode == 2 and "Did you mean trainer.max_epochs?" in res.stderr
    assert "To append to your config use" not in res.stderr and "Traceback" not in res.stderr
    assert override_typos("finetune", ["dataset.text_column=a"])[0].startswith("unknown config key dataset.text_column.")
    assert override_typos("pretrain", ["model=gru", "objective.anything=1", "+x=1", "dataset.train=a"]) == []


@pytest.mark.parametrize("args", [
    ["pretrain", "dataset=text"],
    ["finetune", "dataset=table"],
    ["pretrain", "trainer.batch_size=0"],
    ["pretrain", "+foo=3"],
    ["pretrain", "debug=smoke", "dataset=text", "dataset.train=missing.txt"],  # fails in the reader, after start
])
def test_invalid_command_leaves_no_run_folder(tmp_path, args):
    res = run_cli(args, tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").rglob("*_*")), \
        list((tmp_path / "outputs").rglob("*"))


def test_a_run_directory_that_holds_a_run_is_refused(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "metrics.jsonl").write_text('{"step": 1}\n')
    res = run_cli(["pretrain", "debug=smoke", f"hydra.run.dir={run}"], tmp_path)
    assert res.returncode == 2 and "already holds a run" in res.stderr and f"resume={run}" in res.stderr
    assert (run / "metrics.jsonl").read_text() == '{"step": 1}\n'
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "metrics.jsonl"]


def test_an_existing_folder_of_the_user_is_never_removed(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    res = run_cli(["pretrain", "debug=smoke", "dataset=text", "dataset.train=missing.txt", f"hydra.run.dir={mine}"],
                  tmp_path)
    assert res.returncode == 2 and mine.is_dir()


# ------------------------------------------------------------------------------------------ max_steps
def _pretrain(tmp_path, name, *overrides):
    import json

    from seqtune.commands import pretrain
    from tests.conftest import TINY, compose_config

    cfg = compose_config("pretrain", [*TINY, "trainer.max_epochs=1", *overrides])
    summary = pretrain.run(cfg, tmp_path / name)
    lines = [json.loads(ln) for ln in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
    return summary, lines


def test_max_steps_overrides_max_epochs_and_a_long_warmup_is_a_warning(tmp_path, capsys):
    one_epoch, _ = _pretrain(tmp_path, "epoch")
    per_epoch = one_epoch["steps"]
    asked = 2 * per_epoch + 3
    summary, lines = _pretrain(tmp_path, "steps", f"trainer.max_steps={asked}",
                               f"optimizer.schedule.warmup_steps={asked + 40}")
    assert summary["steps"] == asked  # not capped at max_epochs=1
    assert max(ln.get("epoch", 0) for ln in lines) == 3
    out = capsys.readouterr().out
    assert (f"[warn] optimizer.schedule.warmup_steps={asked + 40} is not shorter than the run ({asked} optimizer "
            "steps)") in out


# ------------------------------------------------------------------------------------------ rich
def test_bracketed_text_survives_rich(capsys, tmp_path):
    from seqtune import cli
    from seqtune.errors import SeqtuneError
    from seqtune.loggers.metrics import Display

    cli._report(SeqtuneError("needs pip install 'seqtune[plot]'; set dataset.text_columns=[title,body]"))
    err = capsys.readouterr().err
    assert "'seqtune[plot]'" in err and "[title,body]" in err
    display = Display("bar", 10, "finetune [x]")
    display.message("[eval] step 3 [warn] kept")
    display.update(3, "[eval] loss 1.0")
    display.close()
    out = capsys.readouterr().out
    assert "[eval] step 3 [warn] kept" in out and "[eval] loss 1.0" in out and "finetune [x]" in out


# ------------------------------------------------------------------------------------------ data in hand
@pytest.mark.parametrize("suffix,compress", [
    (".gz", lambda b: __import__("gzip").compress(b)),
    (".bz2", lambda b: __import__("bz2").compress(b)),
    (".xz", lambda b: __import__("lzma").compress(b)),
])
def test_compressed_files_read_as_they_are(tmp_path, suffix, compress, caplog):
    from seqtune.data.cache import iter_text
    from seqtune.data.formats import read_table, read_text
    from seqtune.data.records import TextSource

    text = "the cat sees the dog\nthe dog likes bread\n" * 50
    path = tmp_path / f"corpus.txt{suffix}"
    path.write_bytes(compress(text.encode()))
    with caplog.at_level("INFO", logger="seqtune"):
        assert read_text(path) == text
    kind = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz"}[suffix]
    assert f"{kind}-compressed" in caplog.text  # the log names the compression
    assert "".join(iter_text(TextSource(str(path), "utf-8"), chunk_bytes=64)) == text  # streamed, as the cache reads
    table = tmp_path / f"t.csv{suffix}"
    table.write_bytes(compress(b"text,label\na b,x\nc d,y\n"))
    assert read_table(table, text_columns=["text"], label_column="label")[1] == ["x", "y"]


def test_a_damaged_compressed_file_is_a_clear_error(tmp_path):
    import gzip

    from seqtune.data.formats import read_text
    from seqtune.errors import DataError

    path = tmp_path / "corpus.txt.gz"
    path.write_bytes(gzip.compress(b"the cat\n" * 100)[:30])
    with pytest.raises(DataError, match="gzip-compressed but does not decompress"):
        read_text(path)


def test_folder_per_class_and_a_single_text_column(tmp_path):
    from seqtune.data.labelled import class_files_splits
    from tests.conftest import compose_config

    for label in ("neg", "pos"):
        (tmp_path / "by_class" / label).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "by_class" / label / f"{i}.txt").write_text(f"{label} review\nnumber {i}\n")
    (tmp_path / "by_class" / "pos" / "empty.txt").write_text("")
    cfg = compose_config("finetune", ["dataset=class_folders", f"dataset.train={tmp_path / 'by_class'}"])
    raw = class_files_splits(cfg.dataset)
    assert sorted(set(raw.train.labels)) == ["neg", "pos"] and len(raw.train.inputs) == 6
    assert "pos review number 0" in raw.train.inputs
    cfg = compose_config("finetune", ["dataset=table", "dataset.train=x.csv", "dataset.text_columns=sentence"])
    assert cfg.dataset.text_columns == "sentence"  # one name, no list syntax needed (read as [sentence])
