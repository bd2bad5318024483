"""The fused decoder + cross-entropy gives the textbook loss and gradients (fp32 to rounding, bf16 to bf16 error)."""
import pytest
import torch
import torch.nn.functional as F

from seqtune.objectives.fused_ce import linear_cross_entropy


def _grads(fn, h, w, b, y, scale=3.0):
    for t in (h, w, b):
        if t is not None:
            t.grad = None
    loss = fn(h, w, b, y)
    (scale * loss if scale != 1.0 else loss).backward()  # 3: a non-unit incoming gradient; 1: the loss itself
    return loss.detach(), [t.grad.clone() for t in (h, w, b) if t is not None]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("chunk_rows", [7, 256])
@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_matches_textbook_fp32(bias, chunk_rows, scale):
    g = torch.Generator().manual_seed(0)
    h = torch.randn(50, 16, generator=g, requires_grad=True)
    w = (0.3 * torch.randn(40, 16, generator=g)).requires_grad_()
    b = torch.randn(40, generator=g, requires_grad=True) if bias else None
    y = torch.randint(40, (50,), generator=g)
    l1, g1 = _grads(lambda *a: linear_cross_entropy(*a, chunk_rows=chunk_rows), h, w, b, y, scale)
    l2, g2 = _grads(lambda h, w, b, y: F.cross_entropy(F.linear(h, w, b), y), h, w, b, y, scale)
    torch.testing.assert_close(l1, l2)
    for a, c in zip(g1, g2):
        torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        torch.testing.assert_close(linear_cross_entropy(h, w, b, y, chunk_rows=chunk_rows), l2)


def test_bf16_autocast_close_and_float32_grads():
    g = torch.Generator().manual_seed(1)
    h = torch.randn(64, 32, generator=g, requires_grad=True)
    w = (0.2 * torch.randn(100, 32, generator=g)).requires_grad_()
    b = torch.zeros(100, requires_grad=True)
    y = torch.randint(100, (64,), generator=g)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        l1, g1 = _grads(linear_cross_entropy, h, w, b, y)
    l2, g2 = _grads(lambda h, w, b, y: F.cross_entropy(F.linear(h, w, b), y), h, w, b, y)
    assert abs(float(l1) - float(l2)) < 0.02 * float(l2)
    for a, c in zip(g1, g2):
        assert a.dtype == torch.float32
        assert float((a - c).norm() / c.norm()) < 0.02
