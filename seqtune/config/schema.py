"""Typed schemas for every config group, registered in Hydra's ConfigStore.

The YAML files under ``conf/`` extend these schemas (``defaults: [/schema/<group>/<name>@_here_]``, and the
roots ``pretrain_schema``), so a misspelled key or a value of the wrong type fails when Hydra composes the config,
before a tensor exists, with a message that names the full key.  Rules that span several fields (a tied
decoder needs equal embedding and hidden sizes; causal LM needs a unidirectional encoder) are checked once in
:func:`validate`, which reports every problem together.
"""
from __future__ import annotations

import dataclasses
import difflib
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
    input: str = "tokens"  # tokens (embedding lookup) | numeric (linear projection of num_features values per step)
    num_features: int = 0  # numeric input: values per time step; set from the data by pretrain (0 = not yet known)
    embedding_dropout: float = 0.0  # drop whole embedding rows (words) in training (Gal & Ghahramani); tokens only
    locked_dropout: float = 0.0  # one dropout mask for all time steps between RNN layers (runs the stack layer by layer)
    weight_drop: float = 0.0  # DropConnect on the hidden-to-hidden weights (AWD-LSTM), by a functional call
    # Character-aware words: none | cnn (a character CNN per word, Ma & Hovy 2016, concatenated with the word
    # embedding; tagging data spells words that are <unk> in the vocabulary too). seqtune/models/chars.py
    char_features: str = "none"
    char_embedding_size: int = 30  # width of a character embedding
    char_filters: int = 50  # character-CNN output features per word (kernel width 3, max over the word)


# ----------------------------------------------------------------------------------------- objective
@dataclass
class ObjectiveConfig:
    name: str = MISSING  # clm | mlm | bilm | autoencoder | denoising | seq2seq | forecast | masked_values (OBJECTIVES)


@dataclass
class ClmObjectiveConfig(ObjectiveConfig):
    # Output layer + cross-entropy computed together in row chunks, gradients on the way (objectives/fused_ce.py):
    # the same maths as the textbook ops, without the (tokens x vocabulary) logits buffers. false: the textbook ops.
    fused_loss: bool = True


@dataclass
class MlmObjectiveConfig(ObjectiveConfig):
    mask_rate: float = 0.15  # share of tokens chosen for prediction
    mask_token_rate: float = 0.8  # of the chosen: replaced by <mask>
    random_token_rate: float = 0.1  # of the chosen: replaced by a random token (the rest keep their token)


@dataclass
class BilmObjectiveConfig(ObjectiveConfig):
    # Adaptive-softmax cluster boundaries over the frequency-sorted vocabulary (Grave et al. 2017): the head holds
    # the most frequent cutoffs[0] words; cutoffs at or past the vocabulary size are dropped (none left: a plain softmax).
    cutoffs: list[int] = field(default_factory=lambda: [1000, 10000])


@dataclass
class DecoderObjectiveConfig(ObjectiveConfig):
    # A decoder RNN (same cell as the encoder) reads the encoder's summary of the input, teacher-forced.
    decoder_layers: int = 1
    decoder_embedding_size: int = 0  # 0: the encoder's model.embedding_size
    max_length: int = 64  # sentences/sources/targets are truncated to this many tokens (counted in the log)


@dataclass
class DenoisingObjectiveConfig(DecoderObjectiveConfig):
    mask_rate: float = 0.15  # share of input tokens replaced by <mask>
    delete_rate: float = 0.1  # share of input tokens deleted
    span_length: int = 3  # tokens per span for span shuffling
    shuffle_distance: float = 2.0  # a span moves at most this many spans away (0: no shuffling)


@dataclass
class ForecastObjectiveConfig(ObjectiveConfig):
    head: str = "direct"  # direct (one linear map to all H steps) | autoregressive (roll out one step at a time)
    channel_independent: bool = True  # each column is its own univariate series (PatchTST/SegRNN); false: multivariate
    subtract_last: bool = True  # subtract the window's last value and add it back to the forecast (SegRNN)
    segment_length: int = 1  # read the look-back in segments of this many steps, one RNN step each (SegRNN); 1: per step


@dataclass
class MaskedValuesObjectiveConfig(ObjectiveConfig):
    mask_rate: float = 0.4  # share of time steps masked (tsai MVP default)
    span_length: int = 5  # mean length of a masked span, in time steps
    channel_independent: bool = False  # true: mask and reconstruct each column as its own series


# ------------------------------------------------------------------------------------------- dataset
@dataclass
class TokenizerConfig:
    kind: str = "word"  # char | word | basic_english | bpe | wordpiece | unigram (the TOKENIZERS registry)
    lowercase: bool = False
    max_vocab: Optional[int] = None  # char/word/basic_english: keep the most frequent tokens (specials included)
    min_freq: int = 1  # rarer tokens become <unk> (bpe/wordpiece: minimum pair frequency)
    add_eos: bool = True  # an <eos> token at every line end (the classic word-LM convention)
    vocab_size: int = 8000  # bpe | wordpiece | unigram: size of the trained vocabulary (specials included)


@dataclass
class DatasetConfig:
    name: str = MISSING  # label shown in logs and reports
    format: str = MISSING  # synthetic | synthetic_topics | text | table | trec | imdb | conll | timeseries (DATASETS)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)


@dataclass
class SyntheticDatasetConfig(DatasetConfig):
    # A deterministic corpus from a small probabilistic grammar (seqtune/data/synthetic.py).
    train_sentences: int = 20000
    valid_sentences: int = 2000
    test_sentences: int = 2000
    seed: int = 0


@dataclass
class FileDatasetConfig(DatasetConfig):
    # Folder holding the files; a relative folder is looked up under the data directory
    # ($SEQTUNE_DATA_DIR, else ~/.cache/seqtune/data).  None: file paths are taken as given (relative to cwd).
    folder: Optional[str] = None
    encoding: str = "utf-8"
    download: bool = True  # named datasets: fetch a missing file from its canonical URL (sha256-checked)
    mirror: Optional[str] = None  # base URL that replaces the canonical host: <mirror>/<folder>/<file>


@dataclass
class TextDatasetConfig(FileDatasetConfig):
    train: str = MISSING
    valid: Optional[str] = None  # None: carved from the end of train (valid_fraction)
    test: Optional[str] = None  # None: carved from the end of train (test_fraction)
    valid_fraction: float = 0.05
    test_fraction: float = 0.05
    token_cache: bool = True  # tokenise once into a memory-mapped id file under $SEQTUNE_CACHE_DIR


@dataclass
class LabelledDatasetConfig(FileDatasetConfig):
    # Files of the official splits.  valid/test None: carved from train (stratified, seeded by split_seed).
    train: str = MISSING
    valid: Optional[str] = None
    test: Optional[str] = None
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0  # seeds carved splits and the low-resource subsets: same data in every run
    train_limit: Optional[int] = None  # keep N training examples (stratified by label)
    labels_per_class: Optional[int] = None  # keep N training examples per class
    max_length: Optional[int] = None  # truncate each example to this many tokens; None: no limit
    # Language-model stages only (seqtune pretrain on this dataset): text files whose lines join the training
    # text, relative to the data directory (e.g. [wikitext-2/train.txt]); fine-tuning never reads them.
    unlabelled_text: list[str] = field(default_factory=list)


@dataclass
class SyntheticTopicsDatasetConfig(DatasetConfig):
    # Documents of 1..max_sentences sentences of one topic from the built-in grammar; label = topic.
    train_docs: int = 2000
    valid_docs: int = 300
    test_docs: int = 300
    max_sentences: int = 3
    seed: int = 0
    split_seed: int = 0
    train_limit: Optional[int] = None
    labels_per_class: Optional[int] = None
    max_length: Optional[int] = None


@dataclass
class TableDatasetConfig(LabelledDatasetConfig):
    # CSV / TSV / JSON Lines (format from the suffix unless delimiter is set).
    text_columns: list[Any] = field(default_factory=lambda: ["text"])  # names (or 0-based indices); joined
    label_column: Any = "label"
    delimiter: Optional[str] = None  # "," or "\t"; None: from the file suffix
    has_header: bool = True
    join_with: str = " "
    label_names: Optional[dict[str, str]] = None  # rename labels as written in the file (e.g. "1" -> World)


@dataclass
class TrecDatasetConfig(LabelledDatasetConfig):
    fine: bool = False  # false: 6 coarse classes (TREC-6); true: 50 fine classes (TREC-50)
    encoding: str = "latin-1"  # the official train file holds one 0xF0 byte


@dataclass
class ImdbDatasetConfig(LabelledDatasetConfig):
    # The official aclImdb_v1.tar.gz layout: aclImdb/{train,test}/{pos,neg}/*.txt, aclImdb/train/unsup/*.txt
    train: str = "aclImdb/train"
    test: Optional[str] = "aclImdb/test"
    archive: str = "aclImdb_v1.tar.gz"  # downloaded and extracted when aclImdb/ is missing
    unlabelled_for_lm: bool = True  # language-model stages also read the 50,000 unlabelled reviews


@dataclass
class ConllDatasetConfig(LabelledDatasetConfig):
    token_column: int = 0
    tag_column: int = -1
    scheme: str = "auto"  # iob1 | iob2 | auto (how the file is written)
    to_scheme: Optional[str] = "iob2"  # iob2, or null to keep the tags as written (e.g. POS tags)


@dataclass
class TimeSeriesDatasetConfig(FileDatasetConfig):
    file: str = MISSING
    timestamp_column: Optional[str] = "date"
    feature_columns: Optional[list[str]] = None  # None: every numeric column
    target_column: Optional[str] = None
    split: str = "fraction"  # fraction (train/valid/test by time) | ett_h | ett_15min (12/4/4 months)
    train_fraction: float = 0.7
    valid_fraction: float = 0.1
    lookback: int = 96  # L: input steps of a window
    horizon: int = 24  # H: steps to forecast
    normalize: bool = True  # z-score with train-split statistics only


@dataclass
class PairsDatasetConfig(FileDatasetConfig):
    # Source/target pairs from CSV / TSV / JSON Lines (seq2seq); valid/test None: carved from train (seeded).
    train: str = MISSING
    valid: Optional[str] = None
    test: Optional[str] = None
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    source_column: Any = "source"  # name (or 0-based index)
    target_column: Any = "target"
    delimiter: Optional[str] = None  # "," or "\t"; None: from the file suffix
    has_header: bool = True


@dataclass
class SyntheticPairsDatasetConfig(DatasetConfig):
    # Generated source/target pairs of symbol sequences (seq2seq without files): reverse | sort | copy.
    task: str = "reverse"
    num_symbols: int = 20  # distinct symbols s0..s{n-1}
    min_length: int = 3
    max_length: int = 12
    train_pairs: int = 20000
    valid_pairs: int = 1000
    test_pairs: int = 1000
    seed: int = 0


# ----------------------------------------------------------------------------------------- optimizer
@dataclass
class ScheduleConfig:
    name: str = "constant"  # constant | linear | cosine | step (the SCHEDULES registry)
    warmup_steps: int = 0  # linear warm-up from 0 before the schedule proper
    min_lr_ratio: float = 0.0  # linear/cosine: final lr as a fraction of the peak
    decay_start_epoch: int = 1  # step: multiply the lr by gamma at the start of every epoch after this one
    gamma: float = 0.5  # step: decay factor
    cut_frac: float = 0.1  # slanted_triangular: share of the steps spent raising the lr (Howard & Ruder 2018)
    ratio: float = 32.0  # slanted_triangular: how much smaller the lowest lr is than the peak


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
    limit_eval_batches: int = -1  # evaluate on the first N batches of valid/test only; -1 = all (debug runs)
    log_interval: int = 50  # steps between metric lines in metrics.jsonl and the progress display
    seed: int = 1234
    deterministic: bool = False  # deterministic kernels only (reproducible on GPU, somewhat slower)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    tune_malloc: bool = True  # Linux/glibc: raise malloc's mmap/trim thresholds (seqtune/training/runtime.py); no-op elsewhere
    progress: str = "auto"  # auto (bar on a terminal, log lines otherwise) | bar | log | quiet
    loggers: list[str] = field(default_factory=list)  # extra metric backends beside metrics.jsonl: tensorboard
    compile: bool = False  # torch.compile the task model (the RNN itself is a graph break: embedding, decoder, loss compile)
    checkpoint_every: int = 0  # also write checkpoints/step-<N>.pt (and refresh last.pt) every N steps; 0 = off
    keep_checkpoints: int = 2  # step checkpoints kept (the newest); older ones are deleted
    skip_nonfinite: bool = False  # a NaN/Inf loss or gradient skips the batch (counted) instead of stopping the run
    accumulate_grad_batches: int = 1  # micro-batches per optimizer step in each process (batch_size stays the global batch)


@dataclass
class FinetuneTrainerConfig(TrainerConfig):
    # validation metric that picks best.pt: auto (classifier: acc, tagger: f1, regressor: mse) | loss | acc | f1 | mse | mae
    monitor: str = "auto"
    patience: int = 0  # stop after this many validations without improvement of the monitor; 0 = never stop early


# ------------------------------------------------------------------------------------- head / transfer
@dataclass
class HeadConfig:
    name: str = MISSING  # classifier | tagger | regressor (the HEADS registry)
    pooling: str = "concat"  # classifier: last | mean | max | concat (ULMFiT: last, max and mean side by side)
    hidden_size: int = 0  # a hidden layer (ReLU) before the output layer; 0 = none
    dropout: float = 0.1  # on the head's input (and after its hidden layer)
    # regressor only (numeric series): steps to forecast (null: dataset.horizon) and how a window is read;
    # null: the checkpoint objective's setting (forecast, masked_values), else true / true / 1.
    horizon: Optional[int] = None
    channel_independent: Optional[bool] = None  # each column its own univariate series
    subtract_last: Optional[bool] = None  # subtract the window's last value, add it back to the forecast
    segment_length: Optional[int] = None  # steps per RNN step (SegRNN segments)
    # tagger only: a CRF output layer (Viterbi decoding, transition rules of the tag scheme: auto | iob2 | iobes |
    # none; auto reads the scheme from the tag names, B-/I- tags as IOB2, which is what seqtune converts to).
    crf: bool = False
    crf_scheme: str = "auto"


@dataclass
class TransferConfig:
    name: str = MISSING  # scratch | full | frozen | partial | gradual (the TRANSFERS registry)
    checkpoint: Optional[str] = "latest"  # a .pt file, a run directory, or latest (newest pretraining run under output_root)
    freeze_layers: int = 1  # partial: the embedding and this many bottom RNN layers stay frozen
    lr_factor: float = 1.0  # discriminative lr: a group d groups below the head trains at lr / lr_factor**d
    aux_weight: float = 0.0  # multitask: lambda, the weight of the pretraining objective's loss (0 elsewhere)
    aux_schedule: str = "constant"  # multitask: constant | linear_decay (lambda falls linearly to 0 at the last step)


# ---------------------------------------------------------------------------------------------- root
@dataclass
class PretrainConfig:
    model: ModelConfig = MISSING
    objective: Any = MISSING
    dataset: Any = MISSING
    optimizer: OptimizerConfig = MISSING
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    output_root: str = "outputs"  # runs go to <output_root>/<date>/<time>_<command>/
    optimized_metric: str = "val/loss"  # summary.json key a sweep optimises and its end-of-sweep table shows
    init_from: Optional[str] = None  # continue from a checkpoint (.pt, run directory or latest): weights, architecture, tokenizer
    smoke: bool = False  # set by debug=smoke (init_from: the checkpoint's architecture is used as always)
    resume: Optional[str] = None  # continue an interrupted run exactly, in its own directory: run dir, .pt file or auto


@dataclass
class FinetuneConfig:
    head: HeadConfig = MISSING
    transfer: TransferConfig = MISSING
    dataset: Any = MISSING
    optimizer: OptimizerConfig = MISSING
    trainer: FinetuneTrainerConfig = field(default_factory=FinetuneTrainerConfig)
    # Architecture changes on top of the checkpoint's model (normally none: +model.dropout=0.3); with
    # transfer.checkpoint=null the whole architecture (+model=lstm).
    model: Any = field(default_factory=dict)
    output_root: str = "outputs"
    smoke: bool = False  # set by debug=smoke: a loaded checkpoint keeps its sizes (smoke's model.* apply to scratch only)
    optimized_metric: str = "val/acc"  # summary.json key a sweep optimises and its end-of-sweep table shows
    resume: Optional[str] = None  # continue an interrupted run exactly, in its own directory: run dir, .pt file or auto


@dataclass
class EvaluateConfig:
    checkpoint: str = "latest"  # a fine-tuned .pt file or run directory; latest: newest fine-tuning run under output_root
    split: str = "test"  # train | valid | test of the dataset saved with the run
    output: Optional[str] = None  # also write the metrics JSON to this file
    batch_size: Optional[int] = None  # None: the run's trainer.eval_batch_size (the batches of its own evaluation)
    device: str = "auto"
    output_root: str = "outputs"


@dataclass
class PredictConfig:
    checkpoint: str = "latest"  # a fine-tuned .pt file or run directory; latest: newest fine-tuning run under output_root
    input: str = "-"  # text file, one example per line (tagging: whitespace-separated tokens); - = stdin
    output: str = "-"  # JSON Lines file; - = stdout
    batch_size: int = 64
    device: str = "auto"
    output_root: str = "outputs"


@dataclass
class GenerateConfig:
    checkpoint: str = "latest"  # a language-model .pt file or run directory; latest: newest pretraining run
    prompt: str = ""  # text to continue; empty: start at a line boundary
    length: int = 30  # tokens to generate
    temperature: float = 1.0  # 0 = greedy (argmax)
    top_k: int = 0  # sample among the k most likely tokens; 0 = all
    seed: int = 0
    num_samples: int = 1
    device: str = "auto"
    output_root: str = "outputs"


def register_configs() -> None:
    """Put the schemas into Hydra's ConfigStore (idempotent: the store replaces same-named nodes)."""
    cs = ConfigStore.instance()
    cs.store(name="pretrain_schema", node=PretrainConfig)
    for name, node in (("finetune", FinetuneConfig), ("evaluate", EvaluateConfig), ("predict", PredictConfig),
                       ("generate", GenerateConfig)):
        cs.store(name=f"{name}_schema", node=node)
    cs.store(group="schema/head", name="head", node=HeadConfig)
    cs.store(group="schema/transfer", name="transfer", node=TransferConfig)
    # Group schemas live apart from the groups' options so that `--help` lists only real choices; a YAML
    # option extends its schema with `defaults: [/schema/<group>/<name>@_here_, _self_]`.
    cs.store(group="schema/model", name="model", node=ModelConfig)
    cs.store(group="schema/objective", name="objective", node=ObjectiveConfig)
    for name, node in (("clm", ClmObjectiveConfig), ("mlm", MlmObjectiveConfig), ("bilm", BilmObjectiveConfig),
                       ("decoder", DecoderObjectiveConfig),
                       ("denoising", DenoisingObjectiveConfig), ("forecast", ForecastObjectiveConfig),
                       ("masked_values", MaskedValuesObjectiveConfig)):
        cs.store(group="schema/objective", name=name, node=node)
    cs.store(group="schema/optimizer", name="optimizer", node=OptimizerConfig)
    for name, node in (("synthetic", SyntheticDatasetConfig), ("text", TextDatasetConfig),
                       ("synthetic_topics", SyntheticTopicsDatasetConfig), ("table", TableDatasetConfig),
                       ("trec", TrecDatasetConfig), ("imdb", ImdbDatasetConfig), ("conll", ConllDatasetConfig),
                       ("timeseries", TimeSeriesDatasetConfig), ("pairs", PairsDatasetConfig),
                       ("synthetic_pairs", SyntheticPairsDatasetConfig)):
        cs.store(group="schema/dataset", name=name, node=node)


# ----------------------------------------------------------------------------------- cross-field rules
_DEVICES = ("auto", "cpu", "cuda")
_PRECISIONS = ("fp32", "bf16")
_PROGRESS = ("auto", "bar", "log", "quiet")


def unknown_keys(node: Any, prefix: str = "") -> list[str]:
    """Keys that no schema declares: Hydra lets ``+key=value`` add them to typed nodes, so look for them here."""
    problems: list[str] = []
    if not isinstance(node, DictConfig):
        return problems
    schema = OmegaConf.get_type(node)
    declared = {f.name for f in dataclasses.fields(schema)} if dataclasses.is_dataclass(schema) else None
    for key in node.keys():
        full = f"{prefix}{key}"
        if declared is not None and key not in declared and full != "hydra":
            close = difflib.get_close_matches(str(key), sorted(declared), n=1)
            hint = f" Did you mean {prefix}{close[0]}?" if close else f" Valid keys: {', '.join(sorted(declared))}."
            problems.append(f"unknown config key {full}.{hint}")
        elif OmegaConf.is_dict(node._get_node(key)):
            problems += unknown_keys(node[key], f"{full}.")
    return problems


def _positive(problems: list[str], key: str, value: float, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        problems.append(f"{key}={value} must be {bound}; set {key} to a {'non-negative' if allow_zero else 'positive'} value.")


def trainer_problems(t: DictConfig, o: DictConfig) -> list[str]:
    """Rules of the trainer and optimizer sections, shared by pretrain and finetune."""
    problems: list[str] = []
    for key in ("batch_size", "bptt", "eval_batch_size", "max_epochs", "log_interval"):
        _positive(problems, f"trainer.{key}", t[key])
    _positive(problems, "trainer.eval_interval", t.eval_interval, allow_zero=True)
    _positive(problems, "trainer.checkpoint_every", t.checkpoint_every, allow_zero=True)
    _positive(problems, "trainer.keep_checkpoints", t.keep_checkpoints)
    _positive(problems, "trainer.accumulate_grad_batches", t.accumulate_grad_batches)
    from seqtune.training import distributed

    slices = distributed.world_size() * t.accumulate_grad_batches
    if t.accumulate_grad_batches > 0 and 0 < t.batch_size < slices:
        problems.append(f"trainer.batch_size={t.batch_size} is the global batch, cut into {distributed.world_size()} "
                        f"process(es) x trainer.accumulate_grad_batches={t.accumulate_grad_batches} = {slices} "
                        f"micro-batches; set trainer.batch_size to at least {slices} or accumulate fewer batches.")
    if t.limit_eval_batches == 0 or t.limit_eval_batches < -1:
        problems.append(f"trainer.limit_eval_batches={t.limit_eval_batches} must be a positive number of batches, or -1 for all.")
    if t.max_steps == 0 or t.max_steps < -1:
        problems.append(f"trainer.max_steps={t.max_steps} must be a positive number of steps, or -1 for no step limit.")
    _positive(problems, "optimizer.lr", o.lr)
    _positive(problems, "optimizer.clip_grad_norm", o.clip_grad_norm, allow_zero=True)
    s = o.schedule
    if not 0.0 < s.cut_frac < 1.0:
        problems.append(f"optimizer.schedule.cut_frac={s.cut_frac} must be between 0 and 1 (exclusive).")
    if s.ratio < 1.0:
        problems.append(f"optimizer.schedule.ratio={s.ratio} must be >= 1 (the peak lr over the lowest lr).")
    problems += device_problems("trainer.device", t.device)
    if t.precision not in _PRECISIONS:
        problems.append(f"trainer.precision={t.precision!r} is not one of {', '.join(_PRECISIONS)}.")
    if t.progress not in _PROGRESS:
        problems.append(f"trainer.progress={t.progress!r} is not one of {', '.join(_PROGRESS)}.")
    from seqtune.loggers import logger_problems  # here: the loggers import the metrics display (rich)

    problems += logger_problems("trainer.loggers", list(t.loggers))
    return problems


def device_problems(key: str, device: str) -> list[str]:
    name, colon, index = device.partition(":")
    if name not in _DEVICES or (colon and not index.isdigit()):
        return [f"{key}={device!r} is not one of auto, cpu, cuda, cuda:N (N: a GPU number, 0 for the first)."]
    if name == "cuda" and not torch.cuda.is_available():
        return [f"{key}={device} but no CUDA device is available on this machine; "
                f"use {key}=cpu (or auto, which picks the GPU when there is one)."]
    if name == "cuda" and index and int(index) >= torch.cuda.device_count():
        return [f"{key}={device} but this machine has {torch.cuda.device_count()} CUDA device(s), numbered from 0; "
                f"use {key}=cuda:0 (or cuda, or auto)."]
    return []


def model_problems(m: DictConfig) -> list[str]:
    problems: list[str] = []
    for key in ("embedding_size", "hidden_size", "num_layers"):
        _positive(problems, f"model.{key}", m[key])
    if not 0.0 <= m.dropout < 1.0:
        problems.append(f"model.dropout={m.dropout} must be in [0, 1).")
    problems += char_problems(m)
    if m.tie_weights and m.embedding_size != m.hidden_size * (2 if m.bidirectional else 1):
        problems.append(
            f"model.tie_weights=true needs model.embedding_size ({m.embedding_size}) equal to model.hidden_size "
            f"({m.hidden_size}); set model.embedding_size={m.hidden_size} or model.tie_weights=false."
        )
    return problems


def validate(cfg: DictConfig) -> None:
    """Check the rules that span fields; raise one ConfigError listing every problem found."""
    problems: list[str] = unknown_keys(cfg)
    m = cfg.model
    problems += model_problems(m)
    if cfg.objective.name == "clm" and m.bidirectional:
        problems.append(
            "objective=clm (causal language model) cannot use a bidirectional encoder: the backward direction "
            "would see the tokens it must predict. Set model.bidirectional=false, or use a masked objective."
        )
    problems += objective_problems(cfg)
    problems += trainer_problems(cfg.trainer, cfg.optimizer)
    problems += dataset_problems(cfg.dataset)
    if problems:
        raise ConfigError(problems)


_HEAD_TASKS = {"classifier": "classification", "tagger": "tagging", "regressor": "regression"}
_POOLINGS = ("last", "mean", "max", "concat")
_MONITORS = ("auto", "loss", "acc", "f1", "mse", "mae")
_AUX_SCHEDULES = ("constant", "linear_decay")
_CRF_SCHEMES = ("auto", "iob2", "iobes", "none")


def validate_finetune(cfg: DictConfig) -> None:
    """The finetune rules that need no data or checkpoint; one ConfigError listing every problem."""
    problems: list[str] = unknown_keys(cfg)
    h, tr, t = cfg.head, cfg.transfer, cfg.trainer
    if h.pooling not in _POOLINGS:
        problems.append(f"head.pooling={h.pooling!r} is not one of {', '.join(_POOLINGS)}.")
    if not 0.0 <= h.dropout < 1.0:
        problems.append(f"head.dropout={h.dropout} must be in [0, 1).")
    _positive(problems, "head.hidden_size", h.hidden_size, allow_zero=True)
    _positive(problems, "transfer.freeze_layers", tr.freeze_layers, allow_zero=True)
    if tr.lr_factor < 1.0:
        problems.append(f"transfer.lr_factor={tr.lr_factor} must be >= 1 (1: one lr for every layer; ULMFiT: 2.6).")
    if tr.checkpoint is None and tr.name != "scratch":
        problems.append(f"transfer={tr.name} loads pretrained weights, but transfer.checkpoint=null; give a checkpoint "
                        "(a .pt file, a run directory or latest), or use transfer=scratch.")
    if tr.checkpoint is None and "name" not in cfg.model:
        problems.append("transfer.checkpoint=null leaves no architecture to read: add +model=lstm (or gru, rnn).")
    if t.monitor not in _MONITORS:
        problems.append(f"trainer.monitor={t.monitor!r} is not one of {', '.join(_MONITORS)}.")
    _positive(problems, "trainer.patience", t.patience, allow_zero=True)
    task = _HEAD_TASKS.get(h.name)
    fmt = cfg.dataset.get("format")
    if task == "tagging" and fmt != "conll":
        problems.append(f"head=tagger needs token labels, but dataset.format={fmt!r} labels whole texts; use a conll "
                        "dataset (dataset=conll2003) or head=classifier.")
    if task == "classification" and fmt == "conll":
        problems.append("head=classifier needs one label per text, but dataset.format='conll' labels every token; "
                        "use head=tagger.")
    if task == "regression" and fmt not in _NUMERIC_FORMATS:
        problems.append(f"head=regressor forecasts numeric values, but dataset.format={fmt!r} is text; use a numeric "
                        "time-series dataset (dataset=etth1, or dataset=timeseries dataset.file=your.csv), or "
                        "head=classifier / head=tagger for text.")
    if task in ("classification", "tagging") and fmt in _NUMERIC_FORMATS:
        problems.append(f"head={h.name} reads text, but dataset.format={fmt!r} is a numeric series; use head=regressor.")
    if h.get("crf") and h.name != "tagger":
        problems.append(f"head.crf=true is a tagger's output layer, but head={h.name}; use head=tagger or head.crf=false.")
    if h.get("crf_scheme", "auto") not in _CRF_SCHEMES:
        problems.append(f"head.crf_scheme={h.crf_scheme!r} is not one of {', '.join(_CRF_SCHEMES)}.")
    if h.horizon is not None and h.horizon < 1:
        problems.append(f"head.horizon={h.horizon} must be >= 1 (steps to forecast), or null for dataset.horizon.")
    if h.segment_length is not None and h.segment_length < 1:
        problems.append(f"head.segment_length={h.segment_length} must be >= 1, or null for the checkpoint's setting.")
    if tr.aux_weight < 0:
        problems.append(f"transfer.aux_weight={tr.aux_weight} must be >= 0 (the weight of the pretraining loss).")
    if tr.aux_schedule not in _AUX_SCHEDULES:
        problems.append(f"transfer.aux_schedule={tr.aux_schedule!r} is not one of {', '.join(_AUX_SCHEDULES)}.")
    problems += trainer_problems(t, cfg.optimizer)
    problems += dataset_problems(cfg.dataset)
    if problems:
        raise ConfigError(problems)


_NUMERIC_OBJECTIVES = ("forecast", "masked_values")  # read numeric series (model.input=numeric)
_NUMERIC_FORMATS = ("timeseries",)
_PAIR_FORMATS = ("pairs", "synthetic_pairs")  # source/target pairs: seq2seq only


def objective_problems(cfg: DictConfig) -> list[str]:
    """Rules between the objective, the model and the dataset; one line per problem, each with its fix."""
    problems: list[str] = []
    m, o, ds = cfg.model, cfg.objective, cfg.dataset
    name, fmt = o.name, ds.format
    for key in ("embedding_dropout", "locked_dropout", "weight_drop"):
        if not 0.0 <= m[key] < 1.0:
            problems.append(f"model.{key}={m[key]} must be in [0, 1); set it to 0 to switch it off.")
    if m.input not in ("tokens", "numeric"):
        problems.append(f"model.input={m.input!r} is not one of tokens, numeric.")
    if m.input == "numeric" and m.embedding_dropout > 0:
        problems.append(f"model.embedding_dropout={m.embedding_dropout} drops token embeddings, but model.input=numeric "
                        "has none; set model.embedding_dropout=0.")
    if m.input == "numeric" and m.tie_weights:
        problems.append("model.tie_weights=true needs a token embedding, but model.input=numeric; set model.tie_weights=false.")
    if name == "bilm" and (not m.bidirectional or m.num_layers != 1):
        problems.append(f"objective=bilm (forward and backward LMs) needs a one-layer bidirectional encoder, but "
                        f"model.bidirectional={m.bidirectional} and model.num_layers={m.num_layers}: a second layer "
                        "would show the forward LM the token it predicts. Set model.bidirectional=true model.num_layers=1.")
    if name == "bilm" and (any(c < 1 for c in o.cutoffs) or list(o.cutoffs) != sorted(set(o.cutoffs))):
        problems.append(f"objective.cutoffs={list(o.cutoffs)} must be positive word counts in increasing order.")
    if name == "mlm" and not m.bidirectional:
        problems.append("objective=mlm (masked language model) needs a bidirectional encoder to see both sides of each "
                        "masked token; set model.bidirectional=true.")
    if name in _NUMERIC_OBJECTIVES:
        if fmt not in _NUMERIC_FORMATS:
            problems.append(f"objective={name} needs a numeric time-series dataset, but dataset.format={fmt!r}; use "
                            "dataset=etth1 (or another format: timeseries dataset).")
        if m.input != "numeric":
            problems.append(f"objective={name} reads numeric values, but model.input={m.input!r}; set model.input=numeric.")
    else:
        if m.input != "tokens":
            problems.append(f"objective={name} reads tokens, but model.input={m.input!r}; set model.input=tokens.")
        if fmt in _NUMERIC_FORMATS:
            problems.append(f"objective={name} reads text, but dataset.format={fmt!r} is numeric; use objective=forecast "
                            "or objective=masked_values, or a text dataset.")
    if (name == "seq2seq") != (fmt in _PAIR_FORMATS):
        if name == "seq2seq":
            problems.append(f"objective=seq2seq needs source/target pairs, but dataset.format={fmt!r}; use "
                            "dataset=reversal (format: synthetic_pairs) or dataset=pairs with a TSV file.")
        else:
            problems.append(f"dataset.format={fmt!r} holds source/target pairs, which only objective=seq2seq reads; "
                            "set objective=seq2seq or choose a text dataset.")
    if name == "mlm":
        if not 0.0 < o.mask_rate < 1.0:
            problems.append(f"objective.mask_rate={o.mask_rate} must be between 0 and 1 (exclusive), e.g. 0.15.")
        if o.mask_token_rate < 0 or o.random_token_rate < 0 or o.mask_token_rate + o.random_token_rate > 1.0:
            problems.append(f"objective.mask_token_rate ({o.mask_token_rate}) + objective.random_token_rate "
                            f"({o.random_token_rate}) must be non-negative and sum to at most 1 (BERT: 0.8 + 0.1).")
    if name == "denoising":
        for key in ("mask_rate", "delete_rate"):
            if not 0.0 <= o[key] < 1.0:
                problems.append(f"objective.{key}={o[key]} must be in [0, 1).")
        if o.span_length < 1 or o.shuffle_distance < 0:
            problems.append(f"objective.span_length={o.span_length} must be >= 1 and objective.shuffle_distance="
                            f"{o.shuffle_distance} >= 0.")
    if name in ("autoencoder", "denoising", "seq2seq"):
        if o.decoder_layers < 1 or o.max_length < 2 or o.decoder_embedding_size < 0:
            problems.append(f"objective.decoder_layers={o.decoder_layers} must be >= 1, objective.max_length="
                            f"{o.max_length} >= 2 and objective.decoder_embedding_size >= 0 (0: model.embedding_size).")
    if name == "forecast":
        if o.head not in ("direct", "autoregressive"):
            problems.append(f"objective.head={o.head!r} is not one of direct, autoregressive.")
        elif o.head == "autoregressive" and m.bidirectional:
            problems.append("objective.head=autoregressive rolls the encoder forward one step at a time, which a "
                            "bidirectional encoder cannot do; set model.bidirectional=false or objective.head=direct.")
        elif o.head == "autoregressive" and not o.channel_independent and ds.get("target_column") is not None:
            problems.append(f"objective.head=autoregressive feeds each forecast back as the next input, so it must "
                            f"forecast every column, but dataset.target_column={ds.target_column!r}; set "
                            "dataset.target_column=null or objective.channel_independent=true.")
    if name == "forecast" and o.segment_length != 1:
        lookback = ds.get("lookback")
        if o.segment_length < 1 or (lookback is not None and lookback % o.segment_length):
            problems.append(f"objective.segment_length={o.segment_length} must be >= 1 and divide dataset.lookback "
                            f"({lookback}); e.g. objective.segment_length=12 for lookback 96 or 336.")
        if o.head == "autoregressive":
            problems.append(f"objective.segment_length={o.segment_length} reads segments, but objective.head="
                            "autoregressive feeds back single steps; set objective.segment_length=1 or objective.head=direct.")
    if name == "masked_values" and (not 0.0 < o.mask_rate < 1.0 or o.span_length < 1):
        problems.append(f"objective.mask_rate={o.mask_rate} must be between 0 and 1 (exclusive) and "
                        f"objective.span_length={o.span_length} >= 1.")
    return problems


_CHAR_FEATURES = ("none", "cnn")


def char_problems(m: DictConfig) -> list[str]:
    """The rules of model.char_features and its sizes (pretrain and finetune alike)."""
    kind = m.get("char_features", "none")
    if kind not in _CHAR_FEATURES:
        return [f"model.char_features={kind!r} is not one of {', '.join(_CHAR_FEATURES)}."]
    if kind == "none":
        return []
    problems: list[str] = []
    for key in ("char_embedding_size", "char_filters"):
        _positive(problems, f"model.{key}", m.get(key, 1))
    if m.get("input", "tokens") != "tokens":
        problems.append(f"model.char_features={kind} spells words, but model.input={m.input!r} has none; set "
                        "model.char_features=none.")
    return problems


def dataset_problems(ds: DictConfig) -> list[str]:
    """Value rules of the dataset group (shared by every command that reads data); one line per problem."""
    from seqtune.registry import TOKENIZERS
    import seqtune.data.tokenizers  # noqa: F401  (registers the tokenizer kinds)

    problems: list[str] = []
    tok = ds.get("tokenizer")
    if tok is not None:
        if tok.min_freq < 1:
            problems.append(f"dataset.tokenizer.min_freq={tok.min_freq} must be >= 1.")
        if tok.kind not in TOKENIZERS:
            problems.append(f"dataset.tokenizer.kind={tok.kind!r} is not one of {', '.join(TOKENIZERS.names())}.")
        elif tok.kind in ("bpe", "wordpiece", "unigram") and tok.vocab_size <= 6:
            problems.append(f"dataset.tokenizer.vocab_size={tok.vocab_size} must exceed the 6 special tokens.")
    for key in ("train_limit", "labels_per_class", "max_length"):
        value = ds.get(key)
        if value is not None and value < 1:
            problems.append(f"dataset.{key}={value} must be a positive number, or null for no limit.")
    for key in ("valid_fraction", "test_fraction", "train_fraction"):
        value = ds.get(key)
        if value is not None and not 0.0 < value < 1.0:
            problems.append(f"dataset.{key}={value} must be between 0 and 1 (exclusive).")
    return problems


def to_plain(cfg: DictConfig) -> dict:
    """The resolved config as plain Python containers (for checkpoints and JSON)."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)  # type: ignore[return-value]
