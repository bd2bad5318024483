"""Transfer: which checkpoint, which weights load, which layers train in which epoch, and at what learning rate.

The model is cut into *layer groups*, bottom to top: the embedding, each RNN layer (both directions of a
bidirectional layer together: ``weight_ih_l1`` and ``weight_ih_l1_reverse``), and the head.  A strategy (the
``transfer`` group, registry TRANSFERS) says whether pretrained weights load and how many bottom groups are
frozen in a given epoch, a pure function of the epoch so a resumed run restores its stage:

    scratch   no loading, nothing frozen            (the same architecture from random weights: the baseline)
    full      load, nothing frozen
    frozen    load, everything but the head frozen  (feature extraction / linear probe)
    partial   load, the embedding and the bottom ``freeze_layers`` RNN layers frozen
    gradual   load, epoch e trains the top e groups (ULMFiT's gradual unfreezing: the head alone first)
    multitask load, nothing frozen, and the checkpoint's own pretraining objective keeps training alongside the
              head: loss = task + lambda * pretraining loss (``multitask.py``; ``transfer.aux_weight/aux_schedule``)

Discriminative learning rates (ULMFiT): group ``d`` levels below the head trains at ``lr / lr_factor**d``.
Usage in ``finetune.py``::

    groups = layer_groups(model)                          # [("embedding", [...]), ("rnn.l0", [...]), ..., ("head", [...])]
    optimizer = build_optimizer(cfg.optimizer, discriminative_param_groups(groups, lr, factor))
    strategy = TRANSFERS.get(name)
    trainable = set_trainable(groups, strategy.frozen_groups(len(groups), epoch, freeze_layers))
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from seqtune.errors import CheckpointError, ConfigError
from seqtune.registry import TRANSFERS

ParamGroups = list[tuple[str, list[nn.Parameter]]]


# ------------------------------------------------------------------------------------------ strategies
@dataclass(frozen=True)
class Strategy:
    loads_checkpoint: bool
    frozen_groups: Callable[[int, int, int], int]  # (num_groups, epoch 1-based, freeze_layers) -> bottom groups frozen
    describe: str
    auxiliary: bool = False  # the pretraining objective is rebuilt from the checkpoint and trained alongside (multitask)


TRANSFERS.register("scratch")(Strategy(False, lambda n, e, k: 0, "random initialisation, everything trains"))
TRANSFERS.register("full")(Strategy(True, lambda n, e, k: 0, "pretrained encoder, everything trains"))
TRANSFERS.register("frozen")(Strategy(True, lambda n, e, k: n - 1, "pretrained encoder frozen, the head trains"))
TRANSFERS.register("partial")(Strategy(True, lambda n, e, k: min(n - 1, 1 + k),
                                       "embedding and the bottom freeze_layers RNN layers frozen"))
TRANSFERS.register("gradual")(Strategy(True, lambda n, e, k: max(0, n - e),
                                       "one more layer group trains each epoch, from the head down"))
TRANSFERS.register("multitask")(Strategy(True, lambda n, e, k: 0, "pretrained encoder, everything trains, plus "
                                         "lambda x the pretraining objective's loss", auxiliary=True))


def layer_groups(model: nn.Module) -> ParamGroups:
    """(name, parameters) bottom to top: embedding, rnn.l0 .. rnn.l{L-1}, head (a TaskModel's ``objective``).

    A numeric-input encoder's input projection is its "embedding" group; under transfer=multitask the head group
    holds the pretraining objective's parameters too (a tied decoder counted once, in the embedding group).
    """
    encoder = model.encoder
    groups: ParamGroups = [("embedding", encoder.input_parameters())]  # with the character CNN, if any
    by_layer: dict[int, list[nn.Parameter]] = {}
    for name, p in encoder.rnn.named_parameters():
        layer = int(re.search(r"_l(\d+)", name).group(1))  # weight_ih_l0, bias_hh_l1_reverse, ...
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


def discriminative_lrs(num_groups: int, lr: float, factor: float) -> list[float]:
    """ULMFiT's discriminative fine-tuning: eta^{l-1} = eta^l / factor, from the top group (lr) down."""
    return [lr / factor ** (num_groups - 1 - i) for i in range(num_groups)]


def discriminative_param_groups(groups: ParamGroups, lr: float, factor: float) -> list[dict]:
    """Optimizer param groups, one per layer group (frozen ones included: they get no gradient, so no update)."""
    lrs = discriminative_lrs(len(groups), lr, factor)
    return [{"params": ps, "lr": g_lr, "name": name} for (name, ps), g_lr in zip(groups, lrs) if ps]


# ------------------------------------------------------------------------------------------ checkpoints
def find_latest(output_root: str | Path, kind: str) -> Path | None:
    """Newest ``checkpoints/best.pt`` of a ``kind`` run (pretrain: no labels.json; finetune: labels.json)."""
    root = Path(output_root)
    found = []
    for best in root.glob("**/checkpoints/best.pt"):
        run = best.parent.parent
        if (run / "labels.json").exists() == (kind == "finetune"):
            found.append((best.stat().st_mtime, str(best), best))
    return max(found)[2] if found else None


def resolve_checkpoint(spec: str, output_root: str | Path, kind: str, key: str) -> tuple[Path, str]:
    """``spec`` (a .pt file, a run directory, or latest) -> (checkpoint path, a line saying how it was chosen)."""
    if spec == "latest":
        path = find_latest(output_root, kind)
        if path is None:
            make = ("seqtune pretrain   (the built-in corpus, about 2 minutes on a CPU)" if kind == "pretrain"
                    else "seqtune finetune")
            raise CheckpointError(
                f"{key}=latest but there is no {kind} run with checkpoints/best.pt under {Path(output_root).resolve()}. "
                f"Make one first with `{make}`, or give {key}=path/to/checkpoints/best.pt (or a run directory)"
                + (", or train from random weights with transfer=scratch." if kind == "pretrain" else ".")
            )
        return path, f"{key}=latest: newest {kind} run under {output_root}/ is {path.parent.parent}"
    path = Path(spec)
    if path.is_dir():
        path = path / "checkpoints" / "best.pt"
    return path, f"{key}: {path}"


@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)  # in the model, not taken from the checkpoint
    unused: list[str] = field(default_factory=list)  # in the checkpoint, not in the model (e.g. the LM decoder)

    def lines(self) -> str:
        def names(xs: list[str]) -> str:
            return ", ".join(xs) if xs else "none"

        return (f"loaded from checkpoint ({len(self.loaded)} tensors): {names(self.loaded)}\n"
                f"initialised fresh ({len(self.fresh)} tensors): {names(self.fresh)}\n"
                f"in the checkpoint but not used ({len(self.unused)} tensors): {names(self.unused)}")


def load_matching(model: nn.Module, state: dict[str, torch.Tensor], prefixes: tuple[str, ...], source: str) -> LoadReport:
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
            return "bidirectional" if any(n.startswith("encoder.") and "_reverse" in n for n in names) else "unidirectional"

        if direction(state) != direction(own):
            mismatched.append(f"direction: checkpoint {direction(state)}, model {direction(own)} "
                              "(model.bidirectional)")
    if mismatched:
        raise CheckpointError(
            f"checkpoint {source} does not fit the model: " + "; ".join(mismatched) + ". The vocabulary, embedding "
            "size, hidden size, number of layers and direction must match the pretrained encoder: remove the "
            "+model.* overrides that change them (the architecture is read from the checkpoint), or use transfer=scratch."
        )
    report.fresh = [n for n in own if n not in report.loaded]
    model.load_state_dict({n: state[n] for n in report.loaded}, strict=False)
    return report


def merged_model_config(checkpoint_model: dict, overrides: dict) -> dict:
    """The checkpoint's architecture with the user's ``model`` overrides on top (unknown keys are errors)."""
    unknown = sorted(set(overrides) - set(checkpoint_model))
    if unknown:
        raise ConfigError([f"unknown config key model.{k}; the checkpoint's model has: {', '.join(checkpoint_model)}."
                           for k in unknown])
    return {**checkpoint_model, **overrides}
