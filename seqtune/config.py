"""Typed schemas for every config group, registered in Hydra's ConfigStore.

The YAML files under ``conf/`` extend these schemas (``defaults: [base_<group>]`` or the root schemas
``pretrain_schema``), so a misspelled key or a value of the wrong type fails when Hydra composes the config,
before a tensor exists, with a message that names the full key.  Rules that span several fields (a tied
decoder needs equal embedding and hidden sizes; causal LM needs a unidirectional encoder) are checked once in
:func:`validate`, which reports every problem together.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from seqtune.errors import ConfigError


# --------------------------------------------------------------------------------------------- model
@dataclass
class ModelConfig:
    name: str = MISSING  # rnn | lstm | gru (the MODELS registry)
    embedding_size: int = 200
    hidden_size: int = 200
    num_layers: int = 2
    dropout: float = 0.0  # on the embedding output, between RNN layers and on the encoder output
    bidirectional: bool = False
    tie_weights: bool = False  # share the input embedding with the output layer (needs embedding_size == hidden_size)
    init_range: float = 0.1  # uniform(-r, r) initialisation of every weight; 0 keeps PyTorch's defaults


# ----------------------------------------------------------------------------------------- objective
@dataclass
class ObjectiveConfig:
    name: str = MISSING  # clm (the OBJECTIVES registry)
    # clm: output layer + cross-entropy computed together in row chunks, gradients on the way (objectives/fused_ce.py);
    # same maths as the textbook ops, without the (tokens x vocabulary) logits buffers.  false: the textbook ops.
    fused_loss: bool = True


# ------------------------------------------------------------------------------------------- dataset
@dataclass
class TokenizerConfig:
    kind: str = "word"  # char | word
    lowercase: bool = False
    max_vocab: Optional[int] = None  # keep the most frequent tokens (specials included); None = no cap
    min_freq: int = 1  # rarer tokens become <unk>
    add_eos: bool = True  # word level: an <eos> token at every line end (the classic word-LM convention)


@dataclass
class DatasetConfig:
    name: str = MISSING  # label shown in logs and reports
    format: str = MISSING  # synthetic | text (the DATASETS registry)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)


@dataclass
class SyntheticDatasetConfig(DatasetConfig):
    # A deterministic corpus from a small probabilistic grammar (seqtune/data/synthetic.py).
    train_sentences: int = 20000
    valid_sentences: int = 2000
    test_sentences: int = 2000
    seed: int = 0


@dataclass
class TextDatasetConfig(DatasetConfig):
    # Folder holding the files; a relative folder is looked up under the data directory
    # ($SEQTUNE_DATA_DIR, else ~/.cache/seqtune/data).  None: file paths are taken as given (relative to cwd).
    folder: Optional[str] = None
    train: str = MISSING
    valid: Optional[str] = None  # None: carved from the end of train (valid_fraction)
    test: Optional[str] = None  # None: carved from the end of train (test_fraction)
    valid_fraction: float = 0.05
    test_fraction: float = 0.05
    encoding: str = "utf-8"


# ----------------------------------------------------------------------------------------- optimizer
@dataclass
class ScheduleConfig:
    name: str = "constant"  # constant | linear | cosine | step (the SCHEDULES registry)
    warmup_steps: int = 0  # linear warm-up from 0 before the schedule proper
    min_lr_ratio: float = 0.0  # linear/cosine: final lr as a fraction of the peak
    decay_start_epoch: int = 1  # step: multiply the lr by gamma at the start of every epoch after this one
    gamma: float = 0.5  # step: decay factor


@dataclass
class OptimizerConfig:
    name: str = MISSING  # sgd | adam | adamw (the OPTIMIZERS registry)
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.0  # sgd only
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # adam/adamw only
    eps: float = 1e-8  # adam/adamw only
    clip_grad_norm: float = 0.0  # global gradient-norm clipping; 0 = off
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)


# ------------------------------------------------------------------------------------------- trainer
@dataclass
class TrainerConfig:
    max_epochs: int = 10
    max_steps: int = -1  # stop after this many optimizer steps; -1 = no limit (max_epochs decides)
    batch_size: int = 32
    bptt: int = 35  # truncated back-propagation length (language modelling)
    eval_batch_size: int = 10
    eval_interval: int = 0  # validate every N steps; 0 = at the end of every epoch
    log_interval: int = 50  # steps between metric lines in metrics.jsonl and the progress display
    seed: int = 1234
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    tune_malloc: bool = True  # Linux/glibc: raise malloc's mmap/trim thresholds (seqtune/_runtime.py); no-op elsewhere
    progress: str = "auto"  # auto (bar on a terminal, log lines otherwise) | bar | log | quiet


# ---------------------------------------------------------------------------------------------- root
@dataclass
class PretrainConfig:
    model: ModelConfig = MISSING
    objective: Any = MISSING
    dataset: Any = MISSING
    optimizer: OptimizerConfig = MISSING
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    output_root: str = "outputs"  # runs go to <output_root>/<date>/<time>_<command>/


def register_configs() -> None:
    """Put the schemas into Hydra's ConfigStore (idempotent: the store replaces same-named nodes)."""
    cs = ConfigStore.instance()
    cs.store(name="pretrain_schema", node=PretrainConfig)
    cs.store(group="model", name="base_model", node=ModelConfig)
    cs.store(group="objective", name="base_objective", node=ObjectiveConfig)
    cs.store(group="dataset", name="base_synthetic", node=SyntheticDatasetConfig)
    cs.store(group="dataset", name="base_text", node=TextDatasetConfig)
    cs.store(group="optimizer", name="base_optimizer", node=OptimizerConfig)


# ----------------------------------------------------------------------------------- cross-field rules
_DEVICES = ("auto", "cpu", "cuda")
_PRECISIONS = ("fp32", "bf16")
_PROGRESS = ("auto", "bar", "log", "quiet")


def validate(cfg: DictConfig) -> None:
    """Check the rules that span fields; raise one ConfigError listing every problem found."""
    problems: list[str] = []
    m, t, o = cfg.model, cfg.trainer, cfg.optimizer

    def positive(key: str, value: float, allow_zero: bool = False) -> None:
        if value < 0 or (value == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            problems.append(f"{key}={value} must be {bound}; set {key} to a {'non-negative' if allow_zero else 'positive'} value.")

    for key in ("embedding_size", "hidden_size", "num_layers"):
        positive(f"model.{key}", m[key])
    for key in ("batch_size", "bptt", "eval_batch_size", "max_epochs", "log_interval"):
        positive(f"trainer.{key}", t[key])
    positive("trainer.eval_interval", t.eval_interval, allow_zero=True)
    if t.max_steps == 0 or t.max_steps < -1:
        problems.append(f"trainer.max_steps={t.max_steps} must be a positive number of steps, or -1 for no step limit.")
    if not 0.0 <= m.dropout < 1.0:
        problems.append(f"model.dropout={m.dropout} must be in [0, 1).")
    positive("optimizer.lr", o.lr)
    positive("optimizer.clip_grad_norm", o.clip_grad_norm, allow_zero=True)
    if m.tie_weights and m.embedding_size != m.hidden_size * (2 if m.bidirectional else 1):
        problems.append(
            f"model.tie_weights=true needs model.embedding_size ({m.embedding_size}) equal to model.hidden_size "
            f"({m.hidden_size}); set model.embedding_size={m.hidden_size} or model.tie_weights=false."
        )
    if cfg.objective.name == "clm" and m.bidirectional:
        problems.append(
            "objective=clm (causal language model) cannot use a bidirectional encoder: the backward direction "
            "would see the tokens it must predict. Set model.bidirectional=false, or use a masked objective."
        )
    if t.device.split(":")[0] not in _DEVICES:
        problems.append(f"trainer.device={t.device!r} is not one of auto, cpu, cuda, cuda:N.")
    elif t.device.startswith("cuda") and not torch.cuda.is_available():
        problems.append(
            f"trainer.device={t.device} but no CUDA device is available on this machine; "
            "use trainer.device=cpu (or auto, which picks the GPU when there is one)."
        )
    if t.precision not in _PRECISIONS:
        problems.append(f"trainer.precision={t.precision!r} is not one of {', '.join(_PRECISIONS)}.")
    if t.progress not in _PROGRESS:
        problems.append(f"trainer.progress={t.progress!r} is not one of {', '.join(_PROGRESS)}.")
    if cfg.dataset.tokenizer.min_freq < 1:
        problems.append(f"dataset.tokenizer.min_freq={cfg.dataset.tokenizer.min_freq} must be >= 1.")
    if problems:
        raise ConfigError(problems)


def to_plain(cfg: DictConfig) -> dict:
    """The resolved config as plain Python containers (for checkpoints and JSON)."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)  # type: ignore[return-value]
