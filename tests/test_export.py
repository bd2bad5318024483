"""`seqtune export`: safetensors weights that rebuild the same model, and ONNX outputs equal to PyTorch's."""
from __future__ import annotations

import json
import os

import pytest
import torch
from omegaconf import OmegaConf
from safetensors.torch import load_model

from seqtune.training import checkpoint
from seqtune.data.tokenizers import tokenizer_from_dict
from seqtune.errors import SeqtuneError
from seqtune.commands.export import InferenceModule, export
from seqtune.objectives import build_model
from tests.conftest import run_cli


def test_safetensors_export_rebuilds_the_same_model(tiny_pretrain_run, tmp_path):
    files = export(tiny_pretrain_run, out=tmp_path / "exp")
    assert {p.name for p in (tmp_path / "exp").iterdir()} == {"model.safetensors", "config.yaml", "tokenizer.json",
                                                                "export.json"}
    cfg = OmegaConf.load(files["config"])
    tok = tokenizer_from_dict(json.loads(files["tokenizer"].read_text()))
    rebuilt = build_model(cfg, tok).eval()
    load_model(rebuilt, str(files["weights"]))
    original = build_model(cfg, tok).eval()
    original.load_state_dict(checkpoint.load(tiny_pretrain_run / "checkpoints" / "best.pt")["model"])
    tokens = torch.randint(0, tok.vocab_size, (9, 3))
    assert torch.equal(InferenceModule(rebuilt)(tokens), InferenceModule(original)(tokens))


def test_onnx_export_matches_pytorch(tiny_pretrain_run, tmp_path):
    pytest.importorskip("onnxruntime", reason="the 'export' extra is not installed")
    res = run_cli(["export", str(tiny_pretrain_run), "--out", str(tmp_path / "exp"), "--onnx"], tmp_path)
    assert res.returncode == 0, res.stderr
    meta = json.loads((tmp_path / "exp" / "export.json").read_text())
    assert meta["onnx_max_abs_diff"] < 1e-4 and "vocab" in meta["output"]
    assert "ONNX output matches PyTorch" in res.stdout


def test_export_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(SeqtuneError, match="has no checkpoints/best.pt or last.pt"):
        export(tmp_path)


# ------------------------------------------------------------------------------ every checkpoint kind
def _kinds(tmp_path, pretrain_run):
    """A tiny fine-tuned run of each head (classifier, tagger, regressor) and a multitask run."""
    import math

    from seqtune.commands import finetune
    from tests.conftest import compose_config

    quick = ["trainer.max_epochs=1", "trainer.max_steps=4", "trainer.device=cpu", "trainer.progress=quiet",
             "trainer.batch_size=8", "trainer.eval_batch_size=8", "optimizer.schedule.warmup_steps=0"]
    scratch = ["transfer=scratch", "transfer.checkpoint=null", "model.embedding_size=8", "model.hidden_size=16",
               "model.num_layers=1", "optimizer=adamw"]
    words = [("the", "O"), ("cook", "B-PER"), ("sees", "O"), ("paris", "B-LOC")]
    conll = "".join("\n".join(f"{w} {t}" for w, t in words[i % 4:] + words[:i % 4]) + "\n\n" for i in range(40))
    (tmp_path / "tags.txt").write_text(conll)
    rows = [f"{math.sin(i / 3):.4f},{math.cos(i / 5):.4f}" for i in range(300)]
    (tmp_path / "series.csv").write_text("a,b\n" + "\n".join(rows) + "\n")
    runs = {
        "classifier": ["dataset.train_docs=80", "dataset.valid_docs=20", "dataset.test_docs=20", *scratch,
                       "+model=lstm"],
        "tagger": ["dataset=conll", f"dataset.train={tmp_path / 'tags.txt'}", "head=tagger", *scratch, "+model=lstm",
                   "model.bidirectional=true"],
        "regressor": ["dataset=timeseries", f"dataset.file={tmp_path / 'series.csv'}", "dataset.timestamp_column=null",
                      "dataset.lookback=12", "dataset.horizon=3", "head=regressor", "head.horizon=3", *scratch,
                      "+model=gru", "model.input=numeric"],
        "multitask": ["dataset.train_docs=80", "dataset.valid_docs=20", "dataset.test_docs=20", "transfer=multitask",
                      f"transfer.checkpoint={pretrain_run}", "transfer.aux_weight=0.5"],
    }
    out = {}
    for name, overrides in runs.items():
        finetune.run(compose_config("finetune", [*overrides, *quick]), tmp_path / name)
        out[name] = tmp_path / name
    return out


@pytest.mark.slow  # four tiny fine-tuning runs and five ONNX exports: about a minute on 2 loaded cores
def test_every_checkpoint_kind_exports_with_onnx_parity_and_readable_files(tiny_pretrain_run, tmp_path):
    pytest.importorskip("onnxruntime", reason="the 'export' extra is not installed")
    old = os.umask(0o077)  # a private umask must not make the export private
    try:
        runs = {"pretrained": tiny_pretrain_run, **_kinds(tmp_path, tiny_pretrain_run)}
        for name, run in runs.items():
            files = export(run, out=tmp_path / f"exp-{name}", onnx=True)
            meta = json.loads(files["meta"].read_text())
            assert meta["onnx_max_abs_diff"] < 1e-4, name
            for path in files.values():
                assert path.stat().st_mode & 0o777 == 0o644, (name, path)
            if name != "pretrained":
                assert json.loads(files["labels"].read_text()), name
    finally:
        os.umask(old)
    assert "classes" in json.loads((tmp_path / "exp-classifier" / "export.json").read_text())["output"]
    assert "lengths" in json.loads((tmp_path / "exp-tagger" / "export.json").read_text())["input"]
