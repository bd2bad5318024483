"""Scores per token (text) or per time step (numeric series) for one prediction, with Captum.

Both methods look at the model through one place, the encoder's input layer:

- text: the output of ``encoder.embedding``.  The forward function takes embeddings ``(batch, time, emb)`` and
  runs the real encoder and head with a forward hook that puts them in place of the embedding layer's output,
  so packing, pooling and bidirectional reading are exactly those of prediction.  A token's score is the sum of
  its embedding's attributions (Integrated Gradients) or the output drop when its embedding is replaced by the
  baseline's (occlusion).
- numeric series: the window of normalised values ``(lookback, features)`` that the regressor reads.  Its
  ``input_projection`` and the window layout before it (``subtract_last``, channel-independent series,
  segments) are linear, so Integrated Gradients on the raw window with a zero baseline gives the same total per
  step as Integrated Gradients on the projection's output with the projected zero window as baseline, and the
  scores land on real time steps even when the encoder reads segments or one channel at a time.

Baselines (what "absent" means): text ``pad`` (every position the ``<pad>`` embedding, a zero vector) or
``unk`` (every position ``<unk>``'s embedding); series: a window at the training mean (zeros after the run's
z-scoring).  The explained output is the softmax probability of the target class, or a regressor's forecast of
the target column averaged over the horizon (normalised scale).  Integrated Gradients' completeness error,
``|sum(scores) - (f(x) - f(baseline))| / |f(x) - f(baseline)|``, is reported per example; while it exceeds the
tolerance the number of steps is doubled, up to ``MAX_REFINE`` times the configured number, and the steps
used are reported too.

The model must be in eval mode (no dropout): attributions of a random function are noise.  RNN backward in
eval mode is not supported by cuDNN, so on a GPU the attribution runs with cuDNN switched off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

from seqtune.data.batching import LabelledBatch
from seqtune.data.tokenizers import PAD_ID, UNK_ID
from seqtune.errors import SeqtuneError
from seqtune.objectives.base import TaskModel

Method = Literal["integrated_gradients", "occlusion"]
Baseline = Literal["pad", "unk"]
METHODS: tuple[str, ...] = ("integrated_gradients", "occlusion")
BASELINES: dict[str, int] = {"pad": PAD_ID, "unk": UNK_ID}
INSTALL_HINT = 'pip install "seqtune[explain]"'
MAX_REFINE = 16  # Integrated Gradients: at most this many times the configured steps (50 -> 800)


@dataclass
class Explanation:
    """One input's attribution: scores sum (IG) to ``output - baseline_output`` up to ``completeness_error``."""

    scores: list[float]  # one per token or time step
    output: float  # f(x): target-class probability, or mean forecast of the target column
    baseline_output: float  # f(baseline)
    completeness_error: float | None  # relative; None for occlusion (no such property)
    steps: int | None  # Integrated Gradients: points on the path used (after refinement)
    feature_scores: list[list[float]] | None = None  # series: (steps, features)


def captum_attr():
    """``captum.attr``, or a clear error naming the extra that installs it."""
    try:
        from captum import attr
    except ImportError:
        raise SeqtuneError(
            f"seqtune explain needs Captum, an optional extra that is not installed: {INSTALL_HINT} "
            "(or pip install captum), then run the command again."
        ) from None
    return attr


def class_probabilities(model: TaskModel, embedded: torch.Tensor) -> torch.Tensor:
    """embeddings (batch, time, emb), put in place of the embedding layer's output -> (batch, classes) probs."""
    encoder, head = model.encoder, model.objective
    time_major = embedded.transpose(0, 1)  # (time, batch, emb)
    steps, batch = time_major.shape[:2]
    placeholder = torch.full((steps, batch), PAD_ID, dtype=torch.long, device=embedded.device)  # never read
    lengths = torch.full((batch,), steps, dtype=torch.long, device=embedded.device)
    handle = encoder.embedding.register_forward_hook(lambda _module, _args, _out: time_major)
    try:
        logits = head.logits(encoder, LabelledBatch(placeholder, lengths, lengths))  # (batch, classes)
    finally:
        handle.remove()
    return logits.softmax(-1)


def forecast_means(model: TaskModel, windows: torch.Tensor) -> torch.Tensor:
    """windows (batch, lookback, features) normalised -> (batch, targets): forecast averaged over the horizon."""
    return model.objective.predict(model.encoder, windows.transpose(0, 1)).mean(0)


def explain_text(
    model: TaskModel, ids: list[int], target: int, method: Method, baseline: Baseline, steps: int, tolerance: float
) -> Explanation:
    """One encoded text -> a score per token for the probability of class ``target``."""
    device = _device_in_eval_mode(model)
    tokens = torch.tensor([ids], dtype=torch.long, device=device)  # (1, time)
    with torch.no_grad():
        embedded = model.encoder.embedding(tokens)  # (1, time, emb)
        reference = model.encoder.embedding(torch.full_like(tokens, BASELINES[baseline]))  # (1, time, emb)

    def forward(e: torch.Tensor) -> torch.Tensor:  # embeddings (batch, time, emb) -> probs (batch, classes)
        return class_probabilities(model, e)

    result = _attribute(forward, embedded, reference, target, method, steps, tolerance)
    result.feature_scores = None  # per embedding dimension: meaningless to a reader
    return result


def explain_window(
    model: TaskModel, window: torch.Tensor, target: int, method: Method, steps: int, tolerance: float
) -> Explanation:
    """One normalised window (lookback, features) -> a score per time step for the mean forecast of ``target``."""
    device = _device_in_eval_mode(model)
    values = window.to(device).unsqueeze(0)  # (1, lookback, features)

    def forward(w: torch.Tensor) -> torch.Tensor:  # windows (batch, lookback, features) -> (batch, targets)
        return forecast_means(model, w)

    return _attribute(forward, values, torch.zeros_like(values), target, method, steps, tolerance)


def _device_in_eval_mode(model: TaskModel) -> torch.device:
    if model.training:  # dropout would make every evaluation on the path a different function
        raise ValueError("attribution needs the model in eval mode (model.eval()): dropout makes the output random")
    return next(model.parameters()).device


def _attribute(
    forward: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    reference: torch.Tensor,
    target: int,
    method: Method,
    steps: int,
    tolerance: float,
) -> Explanation:
    """inputs/reference (1, positions, width) -> scores per position, with f(x) and f(reference)."""
    attr = captum_attr()
    cudnn_off = inputs.device.type == "cuda"  # cuDNN's RNN backward needs training mode (dropout on)
    with torch.backends.cudnn.flags(enabled=not cudnn_off):
        with torch.no_grad():
            output, base_output = (float(forward(t)[0, target]) for t in (inputs, reference))
        error: float | None = None  # occlusion has no completeness property
        used: int | None = None
        if method == "integrated_gradients":
            per_element, error, used = _integrated_gradients(
                attr, forward, inputs, reference, target, steps, tolerance, output - base_output
            )
        else:  # each element of a position's window carries the whole output drop of occluding that position
            width = inputs.size(-1)
            drops = attr.Occlusion(forward).attribute(
                inputs,
                sliding_window_shapes=(1, width),
                strides=(1, width),
                baselines=reference,
                target=target,
                perturbations_per_eval=inputs.size(1),
            )
            per_element = drops[0].detach() / width  # (positions, width)
    return Explanation(per_element.sum(-1).cpu().tolist(), output, base_output, error, used, per_element.cpu().tolist())


def _integrated_gradients(
    attr,
    forward: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    reference: torch.Tensor,
    target: int,
    steps: int,
    tolerance: float,
    change: float,
) -> tuple[torch.Tensor, float, int]:
    """Integrated Gradients with ``steps`` points, doubled (up to ``MAX_REFINE`` times as many) while the
    completeness error exceeds ``tolerance``: a saturated LSTM or softmax can switch within a short stretch of
    the path, which a fixed grid misses.  -> (per-element attributions (positions, width), error, steps used)."""
    method = attr.IntegratedGradients(forward)
    limit = steps * MAX_REFINE
    while True:
        grads, delta = method.attribute(
            inputs, baselines=reference, target=target, n_steps=steps, return_convergence_delta=True
        )
        error = abs(float(delta[0])) / max(abs(change), 1e-12)  # |sum - (f(x) - f(base))| / |f(x) - f(base)|
        if error <= tolerance or tolerance <= 0 or steps * 2 > limit:
            return grads[0].detach(), error, steps
        steps *= 2
