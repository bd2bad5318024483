"""Transfer strategies freeze exactly what they say; discriminative lrs and STLR follow their formulas;
a checkpoint that does not fit the model is an error naming the tensor and both shapes."""

from __future__ import annotations

import math
import re

import pytest
import torch

from seqtune.errors import CheckpointError
from seqtune.heads.classifier import Classifier
from seqtune.models.encoder import Encoder
from seqtune.objectives.base import TaskModel
from seqtune.registry import TRANSFERS
from seqtune.training.optim import slanted_triangular_factor
from seqtune.training.stages import stage_at, total_epochs
from seqtune.training.transfer import (
    discriminative_lrs,
    discriminative_param_groups,
    layer_groups,
    load_matching,
    set_trainable,
)


def make_model(bidirectional: bool = False, layers: int = 3, hidden: int = 8) -> TaskModel:
    enc = Encoder(
        "lstm", vocab_size=30, embedding_size=6, hidden_size=hidden, num_layers=layers, bidirectional=bidirectional
    )
    return TaskModel(enc, Classifier(enc.output_size, ["a", "b", "c"], bidirectional, "concat", hidden_size=5))


def sizes(model: TaskModel, layers: int) -> dict[str, int]:
    """Parameter counts per part, computed from the names (independently of transfer.layer_groups)."""
    out = {"embedding": model.encoder.embedding.weight.numel(), "head": 0}
    for name, p in model.named_parameters():
        m = re.match(r"encoder\.rnn\.\w+_l(\d+)", name)
        if m:
            out[f"l{m.group(1)}"] = out.get(f"l{m.group(1)}", 0) + p.numel()
        elif name.startswith("objective."):
            out["head"] += p.numel()
    return out


def trainable(model: TaskModel) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_each_strategy_trains_exactly_its_groups_at_each_epoch(bidirectional):
    model = make_model(bidirectional)
    s = sizes(model, 3)
    groups = layer_groups(model)
    assert [g for g, _ in groups] == ["embedding", "rnn.l0", "rnn.l1", "rnn.l2", "head"]
    everything = sum(s.values())
    assert everything == sum(p.numel() for p in model.parameters())
    expected = {  # (strategy, epoch) -> trainable parameters, in a plan of 8 epochs (gradual: 2-epoch stages first)
        ("scratch", 1): everything,
        ("full", 1): everything,
        ("full", 8): everything,
        ("frozen", 1): s["head"],
        ("frozen", 8): s["head"],
        ("partial", 1): s["l1"] + s["l2"] + s["head"],  # freeze_layers=1: embedding + l0 frozen
        ("gradual", 1): s["head"],
        ("gradual", 2): s["head"],
        ("gradual", 3): s["head"] + s["l2"],
        ("gradual", 4): s["head"] + s["l2"],
        ("gradual", 5): s["head"] + s["l2"] + s["l1"],
        ("gradual", 6): s["head"] + s["l2"] + s["l1"],
        ("gradual", 7): everything,
        ("gradual", 14): everything,  # fastai's unfreeze: l0 and the embedding together
    }
    for (name, epoch), count in expected.items():
        plan = TRANSFERS.get(name).plan(len(groups), 8, 1, 2)
        assert set_trainable(groups, stage_at(plan, epoch).frozen) == count == trainable(model), (name, epoch)
    assert total_epochs(TRANSFERS.get("gradual").plan(len(groups), 8, 1, 2)) == 3 * 2 + 8
    assert total_epochs(TRANSFERS.get("full").plan(len(groups), 8, 1, 2)) == 8
    # partial with 2 frozen layers; requires_grad flags by name
    set_trainable(groups, stage_at(TRANSFERS.get("partial").plan(len(groups), 8, 2, 0), 1).frozen)
    frozen_names = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen_names == {
        n for n in frozen_names if n == "encoder.embedding.weight" or re.search(r"_l[01](_reverse)?$", n)
    }
    assert any(n.endswith("_l1_reverse") for n in frozen_names) == bidirectional
    assert trainable(model) == s["l2"] + s["head"]


def test_frozen_parameters_do_not_move_in_a_training_step():
    model = make_model()
    groups = layer_groups(model)
    set_trainable(groups, stage_at(TRANSFERS.get("frozen").plan(len(groups), 8, 1, 0), 1).frozen)
    opt = torch.optim.AdamW(discriminative_param_groups(groups, 0.01, 2.6), weight_decay=0.1)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    from seqtune.data.batching import collate
    from seqtune.data.records import Example

    batch = collate([Example([3, 4, 5], 0), Example([6, 7], 2)])
    model(batch).loss.backward()
    opt.step()
    for n, p in model.named_parameters():
        moved = not torch.equal(p, before[n])
        assert moved == n.startswith("objective."), n  # weight decay must not touch frozen tensors either


def test_discriminative_learning_rates_divide_by_the_factor_per_group_below_the_head():
    lrs = discriminative_lrs(5, 0.01, 2.6)
    assert lrs == pytest.approx([0.01 / 2.6**4, 0.01 / 2.6**3, 0.01 / 2.6**2, 0.01 / 2.6, 0.01], rel=1e-12)
    model = make_model()
    pg = discriminative_param_groups(layer_groups(model), 0.01, 2.6)
    assert [g["name"] for g in pg] == ["embedding", "rnn.l0", "rnn.l1", "rnn.l2", "head"]
    assert [g["lr"] for g in pg] == pytest.approx(lrs)
    assert discriminative_lrs(3, 0.5, 1.0) == [0.5, 0.5, 0.5]


def stlr_reference(t: int, T: int, cut_frac: float, ratio: float) -> float:
    """Howard & Ruder (2018), eq. 3, written out independently."""
    cut = math.floor(T * cut_frac)
    p = t / cut if t < cut else 1 - (t - cut) / (cut * (1 / cut_frac - 1))
    return (1 + p * (ratio - 1)) / ratio


def test_slanted_triangular_schedule_matches_the_paper():
    T = 1000
    for t in range(T):
        assert slanted_triangular_factor(t, total_steps=T, cut_frac=0.1, ratio=32) == pytest.approx(
            stlr_reference(t, T, 0.1, 32), abs=1e-12
        )
    assert slanted_triangular_factor(0, total_steps=T, cut_frac=0.1, ratio=32) == pytest.approx(1 / 32)
    assert slanted_triangular_factor(100, total_steps=T, cut_frac=0.1, ratio=32) == 1.0  # the peak at cut
    # through the optimizer: each group's lr is its discriminative base lr times the same factor
    from omegaconf import OmegaConf

    from seqtune.training.optim import build_schedule

    model = make_model()
    opt = torch.optim.SGD(discriminative_param_groups(layer_groups(model), 0.01, 2.6), lr=0.01)
    sched = build_schedule(
        OmegaConf.create(
            {
                "name": "slanted_triangular",
                "warmup_steps": 0,
                "min_lr_ratio": 0.0,
                "decay_start_epoch": 1,
                "gamma": 1.0,
                "cut_frac": 0.1,
                "ratio": 32.0,
            }
        ),
        opt,
        total_steps=200,
        steps_per_epoch=50,
    )
    for step in range(1, 60):
        opt.step()
        sched.step()
        for g, base in zip(opt.param_groups, discriminative_lrs(5, 0.01, 2.6)):
            assert g["lr"] == pytest.approx(base * stlr_reference(step, 200, 0.1, 32), rel=1e-9)
    # rounding of cut never drives the lr below its floor or negative
    assert min(slanted_triangular_factor(t, total_steps=105, cut_frac=0.1, ratio=32) for t in range(106)) >= 1 / 32


@pytest.mark.parametrize(
    "change,tensor,ckpt_shape,model_shape",
    [
        ({"hidden": 12}, "encoder.rnn.weight_ih_l0", (32, 6), (48, 6)),
        ({"layers": 2}, None, None, None),  # fewer layers: the extra checkpoint layer is unused, not an error
        ({"bidirectional": True}, "encoder.rnn.weight_ih_l1", (32, 8), (32, 16)),
    ],
)
def test_mismatched_checkpoint_names_tensor_and_both_shapes(change, tensor, ckpt_shape, model_shape):
    pretrained = make_model(layers=3)
    state = {k: v for k, v in pretrained.state_dict().items() if k.startswith("encoder.")}
    other = make_model(**{**{"layers": 3}, **change})
    if tensor is None:
        report = load_matching(other, state, ("encoder.",), "pre.pt")
        assert any("_l2" in n for n in report.unused) and not any("_l2" in n for n in report.loaded)
        return
    with pytest.raises(CheckpointError) as err:
        load_matching(other, state, ("encoder.",), "pre.pt")
    msg = str(err.value)
    assert f"{tensor}: checkpoint {ckpt_shape}, model {model_shape}" in msg and "pre.pt" in msg


def test_vocabulary_mismatch_is_named():
    small = make_model()
    state = {k: v for k, v in small.state_dict().items() if k.startswith("encoder.")}
    big = TaskModel(Encoder("lstm", 40, 6, 8, 3), Classifier(8, ["a", "b"], False, "last"))
    with pytest.raises(CheckpointError, match=r"encoder\.embedding\.weight: checkpoint \(30, 6\), model \(40, 6\)"):
        load_matching(big, state, ("encoder.",), "pre.pt")


def test_grow_vocab_rows_appends_mean_rows_to_vocabulary_tensors_only():
    import torch

    from seqtune.data.tokenizers import SPECIAL_TOKENS
    from seqtune.training.transfer import grow_vocab_rows

    s = len(SPECIAL_TOKENS)
    emb = torch.arange(10 * 3, dtype=torch.float).reshape(10, 3)
    state = {
        "encoder.embedding.weight": emb,
        "objective.decoder.weight": emb.clone(),
        "objective.decoder.bias": torch.arange(10.0),
        "encoder.rnn.weight_hh_l0": torch.ones(10, 10),
        "objective.decoder.asm.tail.0.1.weight": torch.ones(4, 2),
        "objective.decoder.asm.tail.1.1.weight": torch.arange(6.0).reshape(3, 2),
    }
    grown = grow_vocab_rows(state, 10, 12)
    assert grown["encoder.embedding.weight"].shape == (12, 3)
    assert torch.equal(grown["encoder.embedding.weight"][:10], emb)
    assert torch.allclose(grown["encoder.embedding.weight"][10], emb[s:].mean(0))  # specials excluded from the mean
    assert grown["objective.decoder.bias"].shape == (12,)
    assert torch.equal(grown["encoder.rnn.weight_hh_l0"], state["encoder.rnn.weight_hh_l0"])  # 10 rows, not vocab
    assert grown["objective.decoder.asm.tail.0.1.weight"].shape == (4, 2)  # not the last cluster
    assert grown["objective.decoder.asm.tail.1.1.weight"].shape == (5, 2)  # new tokens join the last cluster


def test_a_model_option_newer_than_the_checkpoint_can_be_set_and_a_typo_cannot():
    from seqtune.errors import ConfigError
    from seqtune.training.transfer import merged_model_config

    old = {"name": "lstm", "embedding_size": 8, "hidden_size": 16, "num_layers": 1, "dropout": 0.1}  # no word_dropout
    merged = merged_model_config(old, {"word_dropout": 0.05, "dropout": 0.5})
    assert merged["word_dropout"] == 0.05 and merged["dropout"] == 0.5 and merged["hidden_size"] == 16
    with pytest.raises(ConfigError, match="unknown config key model.word_dropuot"):
        merged_model_config(old, {"word_dropuot": 0.05})
