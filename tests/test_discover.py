"""`seqtune ls`: every shipped group and option is listed with its description."""
from __future__ import annotations

from pathlib import Path

from seqtune.commands import ls
from tests.conftest import run_cli

CONF = Path(__file__).resolve().parents[1] / "conf"


def test_groups_match_the_conf_folders_and_have_descriptions():
    found = ls.groups()
    folders = [p for p in CONF.rglob("*") if p.is_dir() and not p.name.startswith("_") and any(p.glob("*.yaml"))]
    assert "hydra/launcher" in {p.relative_to(CONF).as_posix() for p in folders}  # nested groups count too
    for folder in folders:
        assert set(found[folder.relative_to(CONF).as_posix()]) == {f.stem for f in folder.glob("*.yaml")}
    assert all(desc for options in found.values() for desc in options.values()), "a YAML lacks its comment line"
    assert found["model"]["lstm"].startswith("Embedding -> LSTM")


def test_settings_show_what_each_option_sets():
    per_option = ls.settings("optimizer")
    assert per_option["sgd"]["lr"] == "20.0" and per_option["adamw"]["schedule.name"] == "cosine"
    assert "defaults" not in per_option["sgd"]


def test_cli_ls(tmp_path):
    res = run_cli(["ls"], tmp_path)
    assert res.returncode == 0 and "synthetic" in res.stdout and "optimizer" in res.stdout
    res = run_cli(["ls", "model"], tmp_path)
    assert res.returncode == 0 and "hidden_size" in res.stdout and "gru" in res.stdout
    res = run_cli(["ls", "nope"], tmp_path)
    assert res.returncode == 2 and "unknown config group 'nope'" in res.stderr
