"""Optimizers use PyTorch's fused kernels on CPU/CUDA parameters: the same training to float rounding, and an
optimizer state saved without them (older checkpoints) still loads."""
from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from seqtune.training.optim import build_optimizer, can_fuse


def opt_cfg(name: str, **kw) -> OmegaConf:
    base = {"name": name, "lr": 0.01, "weight_decay": 0.01, "momentum": 0.9, "betas": [0.7, 0.99], "eps": 1e-8}
    return OmegaConf.create({**base, **kw})


def losses(optimizer_factory, steps: int = 150) -> tuple[list[float], list[torch.Tensor]]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(50, 8), nn.Flatten(), nn.Linear(8 * 4, 16), nn.Tanh(), nn.Linear(16, 3))
    opt = optimizer_factory(model)
    g = torch.Generator().manual_seed(1)
    data = [(torch.randint(50, (16, 4), generator=g), torch.randint(3, (16,), generator=g)) for _ in range(4)]
    out = []
    for step in range(steps):
        x, y = data[step % len(data)]  # a few fixed batches: something to learn
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        out.append(loss.item())
    return out, [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_fused_on_cpu_and_the_same_training_as_the_per_tensor_loop(name: str) -> None:
    cfg = opt_cfg(name)
    model = nn.Linear(3, 2)
    assert build_optimizer(cfg, model.parameters()).param_groups[0]["fused"] is True
    groups = [{"params": [model.weight], "lr": 0.1, "name": "a"}, {"params": iter([model.bias]), "name": "b"}]
    opt = build_optimizer(cfg, groups)  # discriminative groups (iterators inside are materialised)
    assert [g["name"] for g in opt.param_groups] == ["a", "b"] and opt.param_groups[1]["params"] == [model.bias]
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[name]
    kw = {"momentum": 0.9} if name == "sgd" else {"betas": (0.7, 0.99), "eps": 1e-8}
    fused, w1 = losses(lambda m: build_optimizer(cfg, m.parameters()))
    plain, w2 = losses(lambda m: cls(m.parameters(), lr=0.01, weight_decay=0.01, foreach=False, **kw))
    assert max(abs(a - b) for a, b in zip(fused, plain)) < 1e-5
    assert fused[-1] < fused[0] - 0.1  # it learns
    for a, b in zip(w1, w2):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_state_saved_by_the_per_tensor_optimizer_loads_and_continues() -> None:
    model = nn.Linear(4, 2)
    old = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(3, 4)).sum().backward()
    old.step()
    new = build_optimizer(opt_cfg("adam", weight_decay=0.0), model.parameters())
    new.load_state_dict(old.state_dict())
    new.step()  # the saved state's own settings win (a resumed run goes on as it started)
    assert int(new.state[model.weight]["step"]) == 2


def test_parameters_off_cpu_and_cuda_or_not_floating_are_not_fused() -> None:
    assert can_fuse([nn.Parameter(torch.zeros(2))])
    assert not can_fuse([nn.Parameter(torch.zeros(2, device="meta"))])
    assert not can_fuse([])
