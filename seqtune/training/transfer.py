"""Transfer: which checkpoint, which weights load, which layers train in which epoch, and at what learning rate.

The model is cut into *layer groups*, bottom to top: the embedding, each RNN layer (both directions of a
bidirectional layer together: ``weight_ih_l1`` and ``weight_ih_l1_reverse``), and the head.  A strategy (the
``transfer`` group, registry TRANSFERS) says whether pretrained weights load and plans the run's stages: which
bottom groups are frozen in which epochs (``stages.py``), a pure function of the epoch so a resumed run restores
its stage:

    scratch   no loading, nothing frozen            (the same architecture from random weights: the baseline)
    full      load, nothing frozen
    frozen    load, everything but the head frozen  (feature extraction / linear probe)
    partial   load, the embedding and the bottom ``freeze_layers`` RNN layers frozen
    gradual   load; the head alone, then one more RNN layer per stage, then everything (ULMFiT's gradual
              unfreezing as fastai runs it); each stage its own lr cycle; the last stage as long as ``full``
    multitask load, nothing frozen, and the checkpoint's own pretraining objective keeps training alongside the
              head: loss = task + lambda * pretraining loss (``multitask.py``; ``transfer.aux_weight/aux_schedule``)

Discriminative learning rates (ULMFiT): group ``d`` levels below the head trains at ``lr / lr_factor**d``.
Usage in ``finetune.py``::

    groups = layer_groups(model)  # [("embedding", [...]), ("rnn.l0", [...]), ..., ("head", [...])]
    optimizer = build_optimizer(cfg.optimizer, discriminative_param_groups(groups, lr, factor))
    strategy = TRANSFERS.get(name)
    stages = strategy.plan(len(groups), epochs, freeze_layers, stage_epochs)
    trainable = set_trainable(groups, stage_at(stages, epoch).frozen)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import torch
from torch import nn

from seqtune.config.schema import ModelConfig
from seqtune.data.tokenizers import SPECIAL_TOKENS
from seqtune.errors import CheckpointError, ConfigError
from seqtune.objectives.base import TaskModel
from seqtune.registry import TRANSFERS
from seqtune.training.stages import Stage, gradual_stages, single_stage, stage_at

ParamGroups = list[tuple[str, list[nn.Parameter]]]


# ------------------------------------------------------------------------------------------ strategies
@dataclass(frozen=True)
class Strategy:
    loads_checkpoint: bool
    # (num_groups, epochs, freeze_layers, stage_epochs) -> the stages of the run (stages.py)
    plan: Callable[[int, int, int, int], list[Stage]]
    describe: str
    auxiliary: bool = (
        False  # the pretraining objective is rebuilt from the checkpoint and trained alongside (multitask)
    )


TRANSFERS.register("scratch")(
    Strategy(False, lambda n, e, k, s: single_stage(e, 0), "random initialisation, everything trains")
)
TRANSFERS.register("full")(
    Strategy(True, lambda n, e, k, s: single_stage(e, 0), "pretrained encoder, everything trains")
)
TRANSFERS.register("frozen")(
    Strategy(True, lambda n, e, k, s: single_stage(e, n - 1), "pretrained encoder frozen, the head trains")
)
TRANSFERS.register("partial")(
    Strategy(
        True,
        lambda n, e, k, s: single_stage(e, min(n - 1, 1 + k)),
        "embedding and the bottom freeze_layers RNN layers frozen",
    )
)
TRANSFERS.register("gradual")(
    Strategy(
        True,
        lambda n, e, k, s: gradual_stages(n, e, s),
        "the head alone, then one more RNN layer per stage, then everything; each stage its own lr cycle",
    )
)
TRANSFERS.register("multitask")(
    Strategy(
        True,
        lambda n, e, k, s: single_stage(e, 0),
        "pretrained encoder, everything trains, plus lambda x the pretraining objective's loss",
        auxiliary=True,
    )
)


def layer_groups(model: TaskModel) -> ParamGroups:
    """(name, parameters) bottom to top: embedding, rnn.l0 .. rnn.l{L-1}, head (a TaskModel's ``objective``).

    A numeric-input encoder's input projection is its "embedding" group; under transfer=multitask the head group
    holds the pretraining objective's parameters too (a tied decoder counted once, in the embedding group).
    """
    encoder = model.encoder
    groups: ParamGroups = [("embedding", encoder.input_parameters())]  # with the character CNN, if any
    by_layer: dict[int, list[nn.Parameter]] = {}
    for name, p in encoder.rnn.named_parameters():
        found = re.search(r"_l(\d+)", name)  # weight_ih_l0, bias_hh_l1_reverse, ...
        assert found is not None, name
        layer = int(found.group(1))
        by_layer.setdefault(layer, []).append(p)
    groups += [(f"rnn.l{i}", by_layer[i]) for i in sorted(by_layer)]
    seen = {id(p) for _, ps in groups for p in ps}
    groups.append(("head", [p for p in model.objective.parameters() if id(p) not in seen]))
    return groups


def set_trainable(groups: ParamGroups, frozen: int) -> int:
    """Freeze the bottom ``frozen`` groups, unfreeze the rest; return the number of trainable parameters."""
    for i, (_, params) in enumerate(groups):
        for p in params:
            p.requires_grad_(i >= frozen)
    return sum(p.numel() for _, ps in groups[frozen:] for p in ps)


class Unfreezing:
    """Which layer groups train in each epoch (the strategy's plan of stages), and how many parameters that was.

    ``start_epoch(epoch)`` is the loop's ``on_epoch_start``: it sets ``requires_grad`` for the epoch's stage and
    says which groups train.  A resumed run first calls ``replay(epoch)`` for the epochs before the resumed
    one, so the summary lists every epoch's trainable count.
    """

    def __init__(self, stages: list[Stage], groups: ParamGroups, message: Callable[[str], None]):
        self.stages, self.groups, self.message = stages, groups, message
        self.trainable_by_epoch: dict[int, int] = {}

    def frozen(self, epoch: int) -> int:
        return stage_at(self.stages, epoch).frozen

    def freezes_any(self) -> bool:
        """Whether some stage freezes a group (DDP must then look for unused parameters)."""
        return any(s.frozen > 0 for s in self.stages)

    def start_epoch(self, epoch: int) -> None:
        frozen = self.frozen(epoch)
        self.trainable_by_epoch[epoch] = set_trainable(self.groups, frozen)
        names = ", ".join(name for name, _ in self.groups[frozen:])
        self.message(f"epoch {epoch}: training {names} ({self.trainable_by_epoch[epoch]:,} parameters)")

    def replay(self, resumed_epoch: int) -> None:
        """The stages before ``resumed_epoch`` (a function of the epoch), counted without touching the model."""
        for epoch in range(1, resumed_epoch):
            self.trainable_by_epoch[epoch] = sum(p.numel() for _, ps in self.groups[self.frozen(epoch) :] for p in ps)


def discriminative_lrs(num_groups: int, lr: float, factor: float) -> list[float]:
    """ULMFiT's discriminative fine-tuning: eta^{l-1} = eta^l / factor, from the top group (lr) down."""
    return [lr / factor ** (num_groups - 1 - i) for i in range(num_groups)]


def discriminative_param_groups(groups: ParamGroups, lr: float, factor: float) -> list[dict]:
    """Optimizer param groups, one per layer group (frozen ones included: they get no gradient, so no update)."""
    lrs = discriminative_lrs(len(groups), lr, factor)
    return [{"params": ps, "lr": g_lr, "name": name} for (name, ps), g_lr in zip(groups, lrs) if ps]


# ------------------------------------------------------------------------------------------ checkpoints
@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)  # in the model, not taken from the checkpoint
    unused: list[str] = field(default_factory=list)  # in the checkpoint, not in the model (e.g. the LM decoder)

    def lines(self) -> str:
        def names(xs: list[str]) -> str:
            return ", ".join(xs) if xs else "none"

        return (
            f"loaded from checkpoint ({len(self.loaded)} tensors): {names(self.loaded)}\n"
            f"initialised fresh ({len(self.fresh)} tensors): {names(self.fresh)}\n"
            f"in the checkpoint but not used ({len(self.unused)} tensors): {names(self.unused)}"
        )


def load_matching(
    model: nn.Module, state: dict[str, torch.Tensor], prefixes: tuple[str, ...], source: str
) -> LoadReport:
    """Copy the checkpoint tensors whose names start with ``prefixes`` into ``model``; a shape mismatch is an error.

    A missing tensor (the model has it, the checkpoint does not) stays as initialised and is reported fresh.
    """
    own = model.state_dict()
    report = LoadReport()
    mismatched = []
    for name, tensor in state.items():
        if not name.startswith(prefixes) or name not in own:
            report.unused.append(name)
        elif own[name].shape != tensor.shape:
            mismatched.append(f"{name}: checkpoint {tuple(tensor.shape)}, model {tuple(own[name].shape)}")
        else:
            report.loaded.append(name)
    if "encoder." in prefixes:
        # A unidirectional checkpoint would load into the forward half of a bidirectional encoder (its reverse
        # weights left random) without any shape error on one layer: a changed direction is a mismatch too.
        def direction(names) -> str:
            return (
                "bidirectional"
                if any(n.startswith("encoder.") and "_reverse" in n for n in names)
                else "unidirectional"
            )

        if direction(state) != direction(own):
            mismatched.append(f"direction: checkpoint {direction(state)}, model {direction(own)} (model.bidirectional)")
    if mismatched:
        raise CheckpointError(
            f"checkpoint {source} does not fit the model: " + "; ".join(mismatched) + ". The vocabulary, embedding "
            "size, hidden size, number of layers and direction must match the pretrained encoder: remove the "
            "+model.* overrides that change them (the architecture is read from the checkpoint), or use "
            "transfer=scratch."
        )
    report.fresh = [n for n in own if n not in report.loaded]
    model.load_state_dict({n: state[n] for n in report.loaded}, strict=False)
    return report


def grow_vocab_rows(state: dict[str, torch.Tensor], old_size: int, new_size: int) -> dict[str, torch.Tensor]:
    """A checkpoint's vocabulary-indexed tensors grown from ``old_size`` to ``new_size`` tokens (new tokens are
    appended): the embedding, a full softmax's decoder weight and bias, and an adaptive softmax's last tail
    cluster (where tokens past the last cutoff go).  Each new row is the mean of the pretrained rows, as
    fastai's ``convert_weights`` does for words the pretrained vocabulary lacked.  Other tensors stay as they are."""
    out = dict(state)
    tails = {int(m.group(1)): n for n in state if (m := re.search(r"asm\.tail\.(\d+)\.1\.weight$", n))}
    last_tail = tails[max(tails)] if tails else None

    def grown(tensor: torch.Tensor, skip: int) -> torch.Tensor:
        mean = tensor[skip:].mean(0, keepdim=True)  # (1, ...) over the real tokens
        return torch.cat([tensor, mean.expand(new_size - old_size, *tensor.shape[1:])])

    for name, tensor in state.items():
        vocab_indexed = name.endswith("embedding.weight") or ".decoder." in f".{name}" and ".asm." not in name
        if vocab_indexed and tensor.dim() >= 1 and tensor.size(0) == old_size:
            out[name] = grown(tensor, len(SPECIAL_TOKENS))
        elif name == last_tail:
            out[name] = grown(tensor, 0)
    return out


def merged_model_config(checkpoint_model: dict, overrides: dict) -> dict:
    """The checkpoint's architecture with the user's ``model`` overrides on top (unknown keys are errors).

    A key the model schema has but the checkpoint lacks (an option added after the checkpoint was written, such
    as ``word_dropout``) may be set: the builder's default stands for it otherwise."""
    known = set(checkpoint_model) | {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(
            [
                f"unknown config key model.{k}; the checkpoint's model has: {', '.join(checkpoint_model)}."
                for k in unknown
            ]
        )
    return {**checkpoint_model, **overrides}
