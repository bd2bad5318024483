"""objective.softmax=adaptive: exact, normalised log-probabilities; the same distribution in training, evaluation,
generation and export (ONNX included); clear errors for settings that cannot work."""
from __future__ import annotations

import json
import math

import pytest
import torch

from seqtune.errors import ConfigError
from seqtune.models.encoder import Encoder
from seqtune.objectives.adaptive import AdaptiveSoftmax, check_cutoffs, default_cutoffs
from seqtune.objectives.clm import CausalLM
from tests.conftest import TINY, compose_config, read_jsonl, run_cli


def test_default_cutoffs_follow_the_frequency_ranked_split():
    assert default_cutoffs(33278) == [2000, 10000]  # WikiText-2
    assert default_cutoffs(10000) == [2000]  # PTB
    assert default_cutoffs(267735) == [2000, 10000, 50000]  # WikiText-103: no small remainder cluster
    assert default_cutoffs(5_000_000) == [2000, 10000, 50000, 250000]
    assert default_cutoffs(100) == [25]  # too small to gain: one head of a quarter and one cluster
    assert check_cutoffs([], 33278) == [2000, 10000] and check_cutoffs([5, 9], 10) == [5, 9]


@pytest.mark.parametrize("cutoffs", [[3], [10, 40, 90], [1]])
def test_log_probabilities_normalise_and_match_the_training_loss(cutoffs):
    torch.manual_seed(0)
    out = AdaptiveSoftmax(hidden_size=12, vocab_size=100, cutoffs=cutoffs, div_value=2.0)
    hidden = 3 * torch.randn(5, 4, 12)  # (time, batch, hidden): large logits, a real test of the normalisation
    logp = out.log_prob(hidden)  # (5, 4, 100)
    assert logp.shape == (5, 4, 100)
    torch.testing.assert_close(logp.logsumexp(-1), torch.zeros(5, 4), atol=1e-5, rtol=0)
    assert float(logp.detach().max()) < 0
    # every token is reachable, and the loss the trainer minimises is exactly the NLL of these log-probabilities
    targets = torch.arange(20) * 5  # covers the head and every cluster
    flat = hidden.reshape(20, 12)
    nll = -out.log_prob(flat).gather(1, targets[:, None]).mean()
    torch.testing.assert_close(out.loss(flat, targets), nll)
    torch.testing.assert_close(out.log_prob(flat), out.asm.log_prob(flat))  # PyTorch's own full distribution


def test_bf16_autocast_keeps_the_loss_and_log_probabilities_float32():
    # trainer.precision=bf16 runs the step under autocast: PyTorch's adaptive module failed there (a bf16 cluster
    # output copied into its float32 buffer), for the causal LM and for the biLM of the tagging recipe.
    from seqtune.objectives.bilm import BidirectionalLM

    torch.manual_seed(0)
    out = AdaptiveSoftmax(hidden_size=12, vocab_size=100, cutoffs=[10, 40], div_value=2.0)
    hidden, targets = torch.randn(20, 12), torch.arange(20) * 5
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, logp = out.loss(hidden, targets), out.log_prob(hidden)
    assert loss.dtype == logp.dtype == torch.float32
    torch.testing.assert_close(loss, out.loss(hidden, targets))  # the softmax itself is not run in bf16
    torch.testing.assert_close(logp.logsumexp(-1), torch.zeros(20), atol=1e-5, rtol=0)
    enc = Encoder("lstm", vocab_size=60, embedding_size=8, hidden_size=16, num_layers=1, bidirectional=True)
    bilm = BidirectionalLM(enc, cutoffs=[10, 30])
    tokens = torch.randint(4, 60, (9, 3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        step = bilm(enc, (tokens, tokens), None)  # an LM batch: (input, target); the biLM reads the input
    assert step.loss.dtype == torch.float32 and math.isfinite(float(step.loss.detach()))
    step.loss.backward()
    assert all(p.grad is not None for p in bilm.softmax.parameters())


def test_empty_batch_gives_zero_not_nan():
    out = AdaptiveSoftmax(8, 50, [10])
    h = torch.randn(0, 8, requires_grad=True)
    loss = out.loss(h, torch.zeros(0, dtype=torch.long))
    assert float(loss.detach()) == 0.0
    loss.backward()


def test_causal_lm_scores_are_the_distribution_its_loss_uses():
    torch.manual_seed(1)
    enc = Encoder("lstm", vocab_size=60, embedding_size=8, hidden_size=16, num_layers=1)
    lm = CausalLM(enc, tie_weights=False, adaptive_cutoffs=[10, 30]).eval()
    tokens = torch.randint(60, (7, 3))
    out = lm(enc, (tokens[:-1], tokens[1:]), None)
    scores = lm.predict(enc, tokens[:-1])  # (6, 3, 60)
    torch.testing.assert_close(scores.softmax(-1).sum(-1), torch.ones(6, 3))
    nll = -scores.log_softmax(-1).gather(2, tokens[1:, :, None]).mean()
    torch.testing.assert_close(out.loss, nll)
    assert not hasattr(lm, "decoder") and any(k.startswith("adaptive.asm.tail") for k in lm.state_dict())


def test_multitask_auxiliary_loss_skips_padding_with_adaptive_softmax():
    from seqtune.data.tokenizers import PAD_ID
    from seqtune.objectives.clm import clm_loss

    torch.manual_seed(2)
    enc = Encoder("lstm", vocab_size=40, embedding_size=8, hidden_size=16, num_layers=1)
    lm = CausalLM(enc, tie_weights=False, adaptive_cutoffs=[8]).eval()
    tokens = torch.randint(6, 40, (6, 2))
    padded = torch.cat([tokens, torch.full((3, 2), PAD_ID)])  # (9, 2): three padded steps
    torch.testing.assert_close(clm_loss(lm, enc, padded), clm_loss(lm, enc, tokens))


def test_bad_settings_are_clear_errors():
    cfg = compose_config("pretrain", ["objective.softmax=adaptive", "objective.cutoffs=[50,20]",
                                      "objective.div_value=0.5", "model.tie_weights=true", "model.embedding_size=64",
                                      "model.hidden_size=64"])
    from seqtune.training.validation import validate_pretrain as validate

    with pytest.raises(ConfigError) as err:
        validate(cfg)
    msg = str(err.value)
    assert "objective.cutoffs=[50, 20] must be strictly increasing" in msg
    assert "objective.div_value=0.5 must be >= 1" in msg
    assert "model.tie_weights=true shares the embedding" in msg
    cfg = compose_config("pretrain", ["objective.softmax=sampled"])
    with pytest.raises(ConfigError, match="objective.softmax='sampled' is not one of full, adaptive"):
        validate(cfg)
    with pytest.raises(ConfigError, match=r"objective.cutoffs=\[10, 200\] must be strictly increasing token ranks "
                                          r"between 1 and the vocabulary size minus one \(99\)"):
        check_cutoffs([10, 200], 100)


def test_pretrain_generate_and_onnx_export_with_adaptive_softmax(tmp_path):
    pytest.importorskip("onnxruntime", reason="the 'export' extra is not installed")
    run = tmp_path / "run"
    res = run_cli(["pretrain", *TINY, "objective.softmax=adaptive", "objective.cutoffs=[12,30]",
                   f"hydra.run.dir={run}"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    train = [r["train/loss"] for r in read_jsonl(run / "metrics.jsonl") if "train/loss" in r]
    assert sum(train[-2:]) / 2 < sum(train[:2]) / 2 - 0.3, train
    summary = json.loads((run / "summary.json").read_text())
    vocab = len(json.loads((run / "tokenizer.json").read_text())["itos"])
    assert 2 < summary["test/ppl"] < vocab and math.isclose(summary["val/ppl"], math.exp(summary["val/loss"]))
    res = run_cli(["generate", f"checkpoint={run}", "prompt=the", "length=6", "temperature=0.8", "seed=3"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("the") and len(res.stdout.split()) >= 4
    res = run_cli(["export", str(run), "--out", str(tmp_path / "exp"), "--onnx"], tmp_path)
    assert res.returncode == 0, res.stderr
    meta = json.loads((tmp_path / "exp" / "export.json").read_text())
    assert meta["onnx_max_abs_diff"] < 1e-4
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "exp" / "model.onnx"), providers=["CPUExecutionProvider"])
    logp = session.run(None, {"tokens": np.random.default_rng(0).integers(0, vocab, (11, 3))})[0]
    assert logp.shape == (11, 3, vocab)
    np.testing.assert_allclose(np.exp(logp).sum(-1), 1.0, atol=1e-4)  # ONNX output: normalised log-probabilities


def test_vocabulary_smaller_than_the_cutoffs_fails_before_training(tmp_path):
    res = run_cli(["pretrain", *TINY, "objective.softmax=adaptive", "objective.cutoffs=[12,100000]",
                   f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert res.returncode == 2
    assert "objective.cutoffs=[12, 100000] must be strictly increasing token ranks between 1 and the vocabulary size" \
        in res.stderr and "Traceback" not in res.stderr


def test_init_from_keeps_the_checkpoints_adaptive_softmax_with_an_extended_vocabulary(tmp_path):
    """A second stage (init_from=..., init_vocab=extend) without repeating objective.*: the checkpoint's softmax,
    its resolved default cutoffs and div_value are used; new words go to the last tail cluster; it trains and
    its log-probabilities normalise over the grown vocabulary.  A key given on the command line stays."""
    import yaml

    from seqtune.data.synthetic import generate_sentences
    from seqtune.training.inference import rebuild_pretrained

    stage1 = tmp_path / "stage1"
    res = run_cli(["pretrain", *TINY, "objective.softmax=adaptive", "objective.div_value=2.0",
                   "objective.fused_loss=false", f"hydra.run.dir={stage1}"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    cfg1 = yaml.safe_load((stage1 / "config.yaml").read_text())["objective"]
    vocab1 = len(json.loads((stage1 / "tokenizer.json").read_text())["itos"])
    assert cfg1["cutoffs"] == default_cutoffs(vocab1)  # the default split is saved as resolved, not []

    new_words = "zorblax quintary meebles frondish gallivore plimsy drobe kestral".split()
    files = {}
    for i, split in enumerate(("train", "valid", "test")):
        lines = [s.text for s in generate_sentences(120 if split == "train" else 30, 50 + i)]
        lines = [f"{line} {new_words[j % len(new_words)]}" for j, line in enumerate(lines)]
        files[split] = tmp_path / f"{split}.txt"
        files[split].write_text("\n".join(lines) + "\n")
    stage2 = tmp_path / "stage2"
    res = run_cli(["pretrain", "dataset=text", *[f"dataset.{s}={f}" for s, f in files.items()],
                   f"init_from={stage1}", "init_vocab=extend", "objective.fused_loss=true", *TINY[3:],
                   f"hydra.run.dir={stage2}"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"objective.softmax=adaptive, objective.cutoffs={cfg1['cutoffs']}, objective.div_value=2.0" in res.stdout
    assert "init_vocab=extend: 8 tokens of the train split added" in res.stdout
    cfg2 = yaml.safe_load((stage2 / "config.yaml").read_text())["objective"]
    assert (cfg2["softmax"], cfg2["cutoffs"], cfg2["div_value"]) == ("adaptive", cfg1["cutoffs"], 2.0)
    assert cfg2["fused_loss"] is True  # given on the command line: not the checkpoint's false

    ckpt = torch.load(stage2 / "checkpoints" / "best.pt", weights_only=True)
    vocab2 = len(ckpt["tokenizer"]["itos"])
    assert vocab2 == vocab1 + 8 and ckpt["config"]["objective"]["cutoffs"] == cfg1["cutoffs"]
    last_tail = ckpt["model"]["objective.adaptive.asm.tail.0.1.weight"]  # one tail cluster: the last
    assert last_tail.shape[0] == vocab2 - cfg1["cutoffs"][-1]
    train = [r["train/loss"] for r in read_jsonl(stage2 / "metrics.jsonl") if "train/loss" in r]
    summary = json.loads((stage2 / "summary.json").read_text())
    assert all(math.isfinite(x) for x in train) and 1 < summary["test/ppl"] < vocab2
    model = rebuild_pretrained(ckpt, "stage2")
    tokens = torch.randint(vocab2, (9, 3))
    logp = model.objective.predict(model.encoder, tokens)  # (9, 3, vocab2)
    assert logp.shape == (9, 3, vocab2)
    torch.testing.assert_close(logp.logsumexp(-1), torch.zeros(9, 3), atol=1e-5, rtol=0)
