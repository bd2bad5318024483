"""README's "Bring your own data" section, run as written: every command between the byod markers, in a fresh
folder, in one bash with `set -e` (the first failing command fails the test)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def byod_script() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"<!-- byod:start -->\n```bash\n(.*?)```\n<!-- byod:end -->", text, re.S)
    assert section, "README.md lost its byod markers"
    return section.group(1)


def test_the_section_names_every_format_it_promises():
    script = byod_script()
    for option in ("text", "table", "class_files", "class_folders", "conll", "timeseries"):
        assert f"dataset={option}" in script, option
    assert "seqtune predict" in script and ".gz" in script


@pytest.mark.slow  # ten commands, each a smoke-sized run: one to two minutes on 2 loaded cores
def test_bring_your_own_data_runs_as_written(tmp_path):
    (tmp_path / "scripts").symlink_to(ROOT / "scripts")  # the section's first line, as in a fresh clone
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    res = subprocess.run(["bash", "-euo", "pipefail", "-c", byod_script()], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    predictions = [json.loads(ln) for ln in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 5 and {p["label"] for p in predictions} <= {"good", "bad"}
    for run in ("lm", "reviews", "files", "folders", "tags", "forecast", "regressor"):
        assert (tmp_path / "runs" / run / "summary.json").is_file(), run
    assert "gzip-compressed" in (tmp_path / "runs" / "lm" / "pretrain.log").read_text()
    assert (tmp_path / "runs" / "reviews" / "export" / "model.safetensors").is_file()
