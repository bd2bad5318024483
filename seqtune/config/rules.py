"""The rules of the generic config groups, one function per group; no torch and no component imported here.

Every command that uses a group runs its rules (``training/validation.py`` puts them together with the
components' own rules, which live with each objective and head).  Each returns one line per problem, naming the
full key, the bad value and the fix, so that all problems are reported together::

    problems = model_problems(cfg.model) + trainer_problems(cfg.trainer, world_size=1) + ...
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from omegaconf import DictConfig, OmegaConf

DEVICES = ("auto", "cpu", "cuda")


def unknown_keys(node: Any, prefix: str = "") -> list[str]:
    """Keys that no schema declares: Hydra lets ``+key=value`` add them to typed nodes, so look for them here."""
    problems: list[str] = []
    if not isinstance(node, DictConfig):
        return problems
    schema = OmegaConf.get_type(node)
    declared = {f.name for f in dataclasses.fields(schema)} if dataclasses.is_dataclass(schema) else None
    for key in node.keys():
        full = f"{prefix}{key!s}"
        if declared is not None and key not in declared and full != "hydra":
            problems.append(unknown_key(full, declared, prefix))
        elif OmegaConf.is_dict(node._get_node(key)):
            problems += unknown_keys(node[key], f"{full}.")
    return problems


def unknown_key(full: str, declared: set[str], prefix: str) -> str:
    close = difflib.get_close_matches(full[len(prefix) :], sorted(declared), n=1)
    hint = f" Did you mean {prefix}{close[0]}?" if close else f" Valid keys: {', '.join(sorted(declared))}."
    return f"unknown config key {full}.{hint}"


def positive(problems: list[str], key: str, value: float, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        problems.append(
            f"{key}={value} must be {bound}; set {key} to a {'non-negative' if allow_zero else 'positive'} value."
        )


def unit_interval(problems: list[str], key: str, value: float, hint: str = "") -> None:
    """``value`` in [0, 1) (a dropout probability, a share)."""
    if not 0.0 <= value < 1.0:
        problems.append(f"{key}={value} must be in [0, 1){hint}.")


# ------------------------------------------------------------------------------------------- groups
def model_problems(m: DictConfig) -> list[str]:
    """Sizes, dropout probabilities and the input kind (pretrain's model, and fine-tuning's merged one)."""
    problems: list[str] = []
    for key in ("embedding_size", "hidden_size", "num_layers"):
        positive(problems, f"model.{key}", m[key])
    unit_interval(problems, "model.dropout", m.dropout)
    if m.tie_weights and m.embedding_size != m.hidden_size * (2 if m.bidirectional else 1):
        problems.append(
            f"model.tie_weights=true needs model.embedding_size ({m.embedding_size}) equal to model.hidden_size "
            f"({m.hidden_size}); set model.embedding_size={m.hidden_size} or model.tie_weights=false."
        )
    for key in ("embedding_dropout", "word_dropout", "locked_dropout", "weight_drop"):
        unit_interval(problems, f"model.{key}", m.get(key, 0.0), "; set it to 0 to switch it off")
    kind = m.get("input", "tokens")
    if kind not in ("tokens", "numeric"):
        problems.append(f"model.input={kind!r} is not one of tokens, numeric.")
    for key in ("embedding_dropout", "word_dropout"):
        if kind == "numeric" and m.get(key, 0.0) > 0:
            problems.append(
                f"model.{key}={m[key]} acts on token embeddings, but model.input=numeric has none; set model.{key}=0."
            )
    if kind == "numeric" and m.tie_weights:
        problems.append(
            "model.tie_weights=true needs a token embedding, but model.input=numeric; set model.tie_weights=false."
        )
    return problems + char_problems(m)


CHAR_FEATURES = ("none", "cnn")


def char_problems(m: DictConfig) -> list[str]:
    """model.char_features and its sizes (a checkpoint from before them has none: ``none``)."""
    kind = m.get("char_features", "none")
    if kind not in CHAR_FEATURES:
        return [f"model.char_features={kind!r} is not one of {', '.join(CHAR_FEATURES)}."]
    if kind == "none":
        return []
    problems: list[str] = []
    for key in ("char_embedding_size", "char_filters"):
        positive(problems, f"model.{key}", m.get(key, 1))
    if m.get("input", "tokens") != "tokens":
        problems.append(
            f"model.char_features={kind} spells words, but model.input={m.input!r} has none; set "
            "model.char_features=none."
        )
    return problems


def trainer_problems(t: DictConfig, world_size: int) -> list[str]:
    """The trainer section (pretrain and finetune); ``world_size``: processes of a data-parallel run."""
    problems: list[str] = []
    for key in ("batch_size", "bptt", "eval_batch_size", "max_epochs", "log_interval"):
        if not (key == "max_epochs" and t[key] == -1 and "min_steps" in t):  # fine-tuning: -1 plans from the data
            positive(problems, f"trainer.{key}", t[key])
    positive(problems, "trainer.eval_interval", t.eval_interval, allow_zero=True)
    positive(problems, "trainer.checkpoint_every", t.checkpoint_every, allow_zero=True)
    positive(problems, "trainer.keep_checkpoints", t.keep_checkpoints)
    positive(problems, "trainer.accumulate_grad_batches", t.accumulate_grad_batches)
    slices = world_size * t.accumulate_grad_batches
    if t.accumulate_grad_batches > 0 and 0 < t.batch_size < slices:
        problems.append(
            f"trainer.batch_size={t.batch_size} is the global batch, cut into {world_size} "
            f"process(es) x trainer.accumulate_grad_batches={t.accumulate_grad_batches} = {slices} "
            f"micro-batches; set trainer.batch_size to at least {slices} or accumulate fewer batches."
        )
    if t.limit_eval_batches == 0 or t.limit_eval_batches < -1:
        problems.append(
            f"trainer.limit_eval_batches={t.limit_eval_batches} must be a positive number of batches, or -1 for all."
        )
    if t.max_steps == 0 or t.max_steps < -1:
        problems.append(f"trainer.max_steps={t.max_steps} must be a positive number of steps, or -1 for no step limit.")
    problems += device_problems("trainer.device", t.device)
    if "patience" in t:  # fine-tuning's trainer
        positive(problems, "trainer.patience", t.patience, allow_zero=True)
        positive(problems, "trainer.min_steps", t.min_steps)
    return problems


def optimizer_problems(o: DictConfig) -> list[str]:
    problems: list[str] = []
    positive(problems, "optimizer.lr", o.lr)
    positive(problems, "optimizer.clip_grad_norm", o.clip_grad_norm, allow_zero=True)
    s = o.schedule
    if not 0.0 < s.cut_frac < 1.0:
        problems.append(f"optimizer.schedule.cut_frac={s.cut_frac} must be between 0 and 1 (exclusive).")
    if s.ratio < 1.0:
        problems.append(f"optimizer.schedule.ratio={s.ratio} must be >= 1 (the peak lr over the lowest lr).")
    return problems


def device_problems(key: str, device: str) -> list[str]:
    """auto | cpu | cuda | cuda:N, and a GPU that this machine has (torch is asked only for cuda)."""
    name, colon, index = device.partition(":")
    if name not in DEVICES or (colon and not index.isdigit()):
        return [f"{key}={device!r} is not one of auto, cpu, cuda, cuda:N (N: a GPU number, 0 for the first)."]
    if name != "cuda":
        return []
    import torch

    if not torch.cuda.is_available():
        return [
            f"{key}={device} but no CUDA device is available on this machine; "
            f"use {key}=cpu (or auto, which picks the GPU when there is one)."
        ]
    if index and int(index) >= torch.cuda.device_count():
        return [
            f"{key}={device} but this machine has {torch.cuda.device_count()} CUDA device(s), numbered from 0; "
            f"use {key}=cuda:0 (or cuda, or auto)."
        ]
    return []


def dataset_problems(ds: DictConfig) -> list[str]:
    """Value rules of the dataset group (every command that reads data); the tokenizer's rules are its owner's
    (``data/tokenizers.py``: kinds are registry names)."""
    problems: list[str] = []
    for key in ("train_limit", "labels_per_class", "max_length"):
        value = ds.get(key)
        if value is not None and value < 1:
            problems.append(f"dataset.{key}={value} must be a positive number, or null for no limit.")
    for key in ("valid_fraction", "test_fraction", "train_fraction"):
        value = ds.get(key)
        if value is not None and not 0.0 < value < 1.0:
            problems.append(f"dataset.{key}={value} must be between 0 and 1 (exclusive).")
    folds, fold = ds.get("cv_folds"), ds.get("cv_fold", 0)
    if folds is not None and isinstance(fold, int) and not 0 <= fold < folds:
        problems.append(f"dataset.cv_fold={fold} must be one of 0..{folds - 1} (dataset.cv_folds={folds}).")
    return problems


def transfer_problems(tr: DictConfig, model: DictConfig) -> list[str]:
    """``model``: fine-tuning's model overrides (a whole architecture when there is no checkpoint)."""
    problems: list[str] = []
    positive(problems, "transfer.freeze_layers", tr.freeze_layers, allow_zero=True)
    if tr.lr_factor < 1.0:
        problems.append(f"transfer.lr_factor={tr.lr_factor} must be >= 1 (1: one lr for every layer; ULMFiT: 2.6).")
    if tr.checkpoint is None and tr.name != "scratch":
        problems.append(
            f"transfer={tr.name} loads pretrained weights, but transfer.checkpoint=null; give a checkpoint "
            "(a .pt file, a run directory or latest), or use transfer=scratch."
        )
    if tr.checkpoint is None and "name" not in model:
        problems.append("transfer.checkpoint=null leaves no architecture to read: add +model=lstm (or gru, rnn).")
    if tr.aux_weight < 0:
        problems.append(f"transfer.aux_weight={tr.aux_weight} must be >= 0 (the weight of the pretraining loss).")
    positive(problems, "transfer.stage_epochs", tr.stage_epochs, allow_zero=True)
    return problems
