"""The speed switches train for real through `seqtune pretrain`: bf16 autocast, the fused loss and its textbook
fallback, malloc tuning on and off.  Losses must be finite and falling; fused and textbook fp32 runs agree."""
import json
import math

import pytest
from hydra import compose, initialize_config_module

from seqtune.commands import pretrain
from seqtune.config.schema import register_configs


def _run(tmp_path, name, *overrides):
    register_configs()
    with initialize_config_module("seqtune.conf", version_base="1.3"):
        cfg = compose("pretrain", overrides=["debug=smoke", "trainer.max_steps=30", "trainer.log_interval=10",
                                             "optimizer.lr=0.01", "optimizer.schedule.warmup_steps=0", *overrides])
    run_dir = tmp_path / name
    summary = pretrain.run(cfg, run_dir)
    lines = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [l["train/loss"] for l in lines if "train/loss" in l]
    return summary, losses


@pytest.mark.parametrize("overrides", [
    ("trainer.precision=bf16",),
    ("trainer.precision=bf16", "objective.fused_loss=false"),
    ("trainer.tune_malloc=false",),
])
def test_switch_trains(tmp_path, overrides):
    summary, losses = _run(tmp_path, "run", *overrides)
    assert len(losses) == 3 and all(math.isfinite(l) for l in losses)
    assert losses[-1] < losses[0]
    assert math.isfinite(summary["val/loss"])


def test_fused_and_textbook_agree(tmp_path):
    fused, _ = _run(tmp_path, "fused")
    textbook, _ = _run(tmp_path, "textbook", "objective.fused_loss=false")
    assert fused["val/loss"] == pytest.approx(textbook["val/loss"], rel=1e-4)


@pytest.mark.slow  # inductor compiles C++ kernels: about a minute on 2 CPU cores
def test_compiled_model_trains_like_the_eager_one(tmp_path):
    # dropout off: inductor draws its random numbers differently from eager PyTorch (torch._inductor.config.fallback_random)
    eager, eager_losses = _run(tmp_path, "eager", "objective.fused_loss=false", "model.dropout=0")
    compiled, compiled_losses = _run(tmp_path, "compiled", "objective.fused_loss=false", "model.dropout=0",
                                     "trainer.compile=true")
    assert compiled_losses == pytest.approx(eager_losses, rel=1e-4)
    assert compiled["test/loss"] == pytest.approx(eager["test/loss"], rel=1e-4)
    # the checkpoint keeps plain parameter names (nn.Module.compile, not an _orig_mod wrapper)
    import torch
    keys = torch.load(tmp_path / "compiled" / "checkpoints" / "best.pt", weights_only=True)["model"].keys()
    assert not any("_orig_mod" in k for k in keys)
