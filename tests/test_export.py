"""`seqtune export`: safetensors weights that rebuild the same model, and ONNX outputs equal to PyTorch's."""
from __future__ import annotations

import json

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
