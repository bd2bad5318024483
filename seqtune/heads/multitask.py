"""``transfer=multitask``: train the task head and keep training the checkpoint's own pretraining objective.

    loss = task_loss + lambda(step) * aux_loss

The pretraining objective (the *auxiliary* task) is rebuilt from the checkpoint -- its config, tokenizer and
data facts -- with its trained weights (a language model's decoder, a forecaster's head), and shares the task
model's encoder.  Its loss is computed on the inputs of the task's own batch (no second data stream).  Which
objectives can do that is in their specs (``multitask``; text tasks take token objectives, a regressor numeric
ones); how one reads a task batch is its ``task_loss(encoder, batch)`` where it has one (clm: the next token of
the texts, padding not scored; forecast: the first H_pretrain steps of the regressor's targets), else its own
step on the batch (mlm, autoencoder, denoising: the token ids; bilm: the token ids with the batch's lengths and
characters; masked_values: the look-back window, or a classifier's padded series).

``transfer.aux_schedule``: ``constant`` (lambda = aux_weight) or ``linear_decay`` (lambda = aux_weight * (1 -
step / total_steps): the auxiliary task fades out by the last step).  Metrics: the head's own (``loss`` stays
the task loss, so monitors and summaries mean the same as in the other strategies) plus ``task_loss``,
``aux_loss`` and ``aux_weight``.  In a checkpoint the head's tensors are ``objective.head.*``; evaluate and
predict keep only those (:func:`task_state`).
"""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import OmegaConf
from torch import nn

from seqtune.data.records import SeriesFacts
from seqtune.errors import CheckpointError, ConfigError
from seqtune.models.encoder import Encoder, State
from seqtune.objectives import build_objective
from seqtune.objectives.base import StepOutput
from seqtune.registry import OBJECTIVES


def aux_weight(schedule: str, weight: float, step: int, total_steps: int) -> float:
    """lambda at optimizer step ``step`` (0-based) of ``total_steps``."""
    if schedule == "constant":
        return weight
    return weight * max(0.0, 1.0 - step / max(total_steps, 1))


class Multitask(nn.Module):
    """The task head plus the pretraining objective; the loop sees one objective with the head's metrics."""

    head: Any
    aux: Any

    def __init__(self, head: nn.Module, aux: nn.Module, aux_name: str, weight: float, schedule: str, total_steps: int):
        super().__init__()
        self.head, self.aux = head, aux
        self.aux_name, self.weight, self.schedule, self.total_steps = aux_name, weight, schedule, total_steps
        self.step = 0  # training steps taken (saved in checkpoints through get_extra_state)
        self.name, self.task, self.labels = head.name, head.task, head.labels
        self.default_monitor = head.default_monitor

    def aux_loss(self, encoder: Encoder, batch: Any) -> torch.Tensor:
        """The objective's ``task_loss(encoder, batch)`` where it has one (how it reads a task's batch), else its
        own step's loss on the batch."""
        task_loss = getattr(self.aux, "task_loss", None)
        return task_loss(encoder, batch) if task_loss is not None else self.aux(encoder, batch, None).loss

    def forward(self, encoder: Encoder, batch: Any, state: State | None = None) -> StepOutput:
        out = self.head(encoder, batch, state)
        lam = aux_weight(self.schedule, self.weight, self.step, self.total_steps)
        if self.training:
            self.step += 1
        aux = self.aux_loss(encoder, batch)
        n = out.count
        sums = {
            **out.sums,
            "task_loss": out.loss.detach() * n,
            "aux_loss": aux.detach() * n,
            "aux_weight": torch.tensor(lam * n),
        }
        return StepOutput(out.loss + lam * aux, out.state, sums, n)

    def predict(self, encoder: Encoder, batch: Any) -> torch.Tensor:
        return self.head.predict(encoder, batch)

    def summarize(self, means: dict[str, float]) -> dict[str, float]:
        extra = {k: means[k] for k in ("task_loss", "aux_loss", "aux_weight")}
        return {**self.head.summarize({k: v for k, v in means.items() if k not in extra}), **extra}

    def get_extra_state(self) -> dict[str, int]:
        return {"step": self.step}

    def set_extra_state(self, state: dict[str, int]) -> None:
        self.step = int(state["step"])


def build_multitask(
    source: dict,
    source_path: str,
    encoder: Encoder,
    tokenizer,
    head: nn.Module,
    weight: float,
    schedule: str,
    total_steps: int,
    series: SeriesFacts | None,
) -> tuple[Multitask, str]:
    """The pretraining objective of checkpoint ``source`` on ``encoder``, with its weights; (wrapper, a log line)."""
    name = source.get("objective")
    reads = encoder.input_kind  # tokens (text), or numeric (a regressor's windows, a classifier's series)
    fits = [n for n in OBJECTIVES.names() if OBJECTIVES.get(n).multitask and OBJECTIVES.get(n).input == reads]
    if name not in fits:
        raise ConfigError(
            f"transfer=multitask trains the checkpoint's pretraining objective on the task's batches, "
            f"but {source_path} was pretrained with objective={name!r}, which cannot read "
            f"{'text' if reads == 'tokens' else 'numeric series'}; for head={head.name} it must be one "
            f"of {', '.join(fits)}. Use transfer=full instead."
        )
    info = source.get("data") or None
    if name == "forecast" and series is not None and info is not None:
        if info["horizon"] > series.horizon or info["target_index"] != series.target_index:
            raise ConfigError(
                f"transfer=multitask: the checkpoint forecasts {info['horizon']} steps of target "
                f"column index {info['target_index']}, the regressor {series.horizon} steps of "
                f"{series.target_index}; the auxiliary forecast reads the task's targets, so its "
                "horizon must be <= head.horizon and dataset.target_column the same."
            )
    aux = build_objective(OmegaConf.create(source["config"]), encoder, tokenizer, info)
    prefix = "objective."
    state = {k[len(prefix) :]: v for k, v in source["model"].items() if k.startswith(prefix)}
    missing, unexpected = aux.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{source_path}: the {name} objective's tensors do not fit the rebuilt objective "
            f"(missing {missing}, unexpected {unexpected}); was the checkpoint written by another "
            "seqtune version? Use transfer=full instead."
        )
    line = (
        f"transfer=multitask: pretraining objective {name} rebuilt from the checkpoint, {len(state)} tensors "
        f"loaded ({', '.join(state) or 'none'}); aux_weight {weight}, {schedule}"
    )
    return Multitask(head, aux, name, weight, schedule, total_steps), line


def task_state(ckpt: dict) -> dict[str, torch.Tensor]:
    """A fine-tuned checkpoint's weights as a plain encoder + head model has them (multitask: drop the aux part)."""
    state = ckpt["model"]
    if ckpt.get("transfer") != "multitask":
        return state
    head = "objective.head."
    return {
        **{k: v for k, v in state.items() if k.startswith("encoder.")},
        **{"objective." + k[len(head) :]: v for k, v in state.items() if k.startswith(head)},
    }
