"""Linear decoder + softmax cross-entropy in one step, a chunk of rows at a time, gradients computed on the way.

For a word LM the output layer dominates a training step (vocabulary 10k against a hidden size of 200).  The
textbook composition ``F.cross_entropy(F.linear(h, W, b), y)`` keeps the logits' log-softmax for backward and
in backward allocates a zero-filled gradient of the same size (``nll_loss``) and the log-softmax gradient:
several (tokens x vocabulary) buffers, 28 MB each for 700 tokens and 10k words, alive at once.  This function
walks the rows in chunks of at most ``CHUNK_ELEMENTS`` logits and, while a chunk's log-probabilities are at
hand, turns them in place into the gradient of the loss (``softmax - onehot``) and multiplies it out into the
gradients of ``h``, ``W`` and ``b``; backward then only scales those.  Same maths, same results to rounding;
one logits-sized buffer at a time, no zero-fill, nothing of vocabulary size kept between forward and backward.
Measured on a 2-core AVX2 CPU (one thread, CPU time): +15% tokens per CPU-second on the word LM step with
glibc's default malloc settings; with ``trainer.tune_malloc`` on, the decoder is matmul-bound and the gain
is within noise (0..+7%).  It is the memory it saves, not the FLOPs.

    loss = linear_cross_entropy(hidden, decoder.weight, decoder.bias, targets)   # mean over rows

Under autocast the matmuls run in the autocast dtype (bf16 on the CPU) and the softmax in float32, as
autocast would do with the unfused ops; gradients come back in float32 like the parameters.
"""

from __future__ import annotations

import torch


def _compute_dtype(device: torch.device) -> torch.dtype | None:
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return None


def _chunk_losses(
    h: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, y: torch.Tensor, rows: int, want_grads: bool
):
    """Sum of losses over all rows and, if asked, the gradients of their *sum* w.r.t. h, w, b (float32)."""
    n = h.size(0)
    total = torch.zeros((), dtype=torch.float32, device=h.device)
    gh = torch.empty(n, h.size(1), dtype=torch.float32, device=h.device) if want_grads else None
    gw = gb = None
    for s in range(0, n, rows):
        hc, yc = h[s : s + rows], y[s : s + rows]
        logits = torch.mm(hc, w.t()).float()  # (rows, vocab), float32 for the softmax
        if b is not None:
            logits += b
        logp = torch.log_softmax(logits, dim=1)  # (rows, vocab); one vectorised kernel
        total -= logp.gather(1, yc.unsqueeze(1)).sum()
        if not want_grads:
            continue
        # d(sum of losses)/d logits = softmax - onehot, computed in place in the log-probabilities buffer
        grad = logp.exp_()
        grad.scatter_add_(1, yc.unsqueeze(1), torch.full_like(yc, -1, dtype=grad.dtype).unsqueeze(1))
        if b is not None:
            gb = grad.sum(0) if gb is None else gb.add_(grad.sum(0))
        g = grad.to(h.dtype)
        assert gh is not None  # want_grads
        if h.dtype == torch.float32:
            torch.mm(g, w, out=gh[s : s + rows])  # (rows, hidden)
        else:
            gh[s : s + rows] = torch.mm(g, w)
        gwc = torch.mm(g.t(), hc)  # (vocab, hidden)
        gw = gwc.float() if gw is None else gw.add_(gwc)
    return total, gh, gw, gb


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, w, b, y, rows: int):
        dtype = _compute_dtype(h.device)
        with torch.autocast(h.device.type, enabled=False):
            hc, wc = (h.to(dtype), w.to(dtype)) if dtype is not None else (h, w)
            total, gh, gw, gb = _chunk_losses(hc, wc, b.float() if b is not None else None, y, rows, True)
        n = max(y.numel(), 1)
        ctx.save_for_backward(gh.div_(n).to(h.dtype), gw.div_(n), gb.div_(n) if gb is not None else None)
        ctx.param_dtypes = (w.dtype, b.dtype if b is not None else None)
        return total / n

    @staticmethod
    def backward(ctx, grad_out):
        gh, gw, gb = ctx.saved_tensors
        wd, bd = ctx.param_dtypes
        return (
            gh * grad_out.to(gh.dtype),
            (gw * grad_out).to(wd),
            (gb * grad_out).to(bd) if gb is not None else None,
            None,
            None,
        )


CHUNK_ELEMENTS = 8 << 20  # logits per chunk (32 MB in float32): the word LM's 700 x 10k rows go in one piece


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    chunk_rows: int | None = None,
) -> torch.Tensor:
    """Mean cross-entropy of ``hidden @ weight.T + bias`` against ``targets``; hidden (N, H), targets (N,)."""
    if chunk_rows is None:
        chunk_rows = max(1, CHUNK_ELEMENTS // weight.size(0))
    if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
        return _LinearCrossEntropy.apply(hidden, weight, bias, targets, chunk_rows)
    dtype = _compute_dtype(hidden.device)
    with torch.autocast(hidden.device.type, enabled=False):
        h, w = (hidden.to(dtype), weight.to(dtype)) if dtype is not None else (hidden, weight)
        total, *_ = _chunk_losses(h, w, bias.float() if bias is not None else None, targets, chunk_rows, False)
    return total / max(targets.numel(), 1)
