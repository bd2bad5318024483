"""Typed schemas of the config groups, registered in Hydra's ConfigStore; no torch here.

The YAML files under ``conf/`` extend these schemas (``defaults: [/schema/<group>/<name>@_here_]``, and the
roots ``<command>_schema``), so a misspelled key or a value of the wrong type fails when Hydra composes the config,
before a tensor exists, with a message that names the full key.  Enumerated choices are ``Choice`` enums (a value
outside them fails at composition too).  The objective and head groups are typed by their components' own schemas
when a command validates them (``objectives/<name>.py``, ``heads/<name>.py``: a component is one Python file and
one YAML file); the rules that span fields live in ``config/rules.py`` and with the components.

Each default is stated once.  A field that every option (or root) of its group sets has no default here (``MISSING``:
the YAML states it, with the comment a user reads); a field some options leave out has its default here, and no
YAML restates it.  Dataset formats keep their defaults here: a dataset YAML states what it changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf


class Choice(str, Enum):
    """An enumerated config value: compares and prints as its string (``precision == "bf16"``, f-strings, JSON)."""

    __str__ = str.__str__
    __format__ = str.__format__  # type: ignore[assignment]


class InputKind(Choice):
    tokens = "tokens"  # an embedding lookup of token ids
    numeric = "numeric"  # a linear projection of num_features values per step


class Precision(Choice):
    fp32 = "fp32"
    bf16 = "bf16"  # autocast


class Progress(Choice):
    auto = "auto"  # a bar on a terminal, log lines otherwise
    bar = "bar"
    log = "log"
    quiet = "quiet"


class Monitor(Choice):
    auto = "auto"  # the head's own: classifier acc, tagger entity f1, regressor mse
    loss = "loss"
    acc = "acc"
    f1 = "f1"
    mse = "mse"
    mae = "mae"
    last = "last"  # the newest weights (no checkpoint picked by validation)


class CharFeatures(Choice):
    none = "none"
    cnn = "cnn"  # a character CNN per word (Ma & Hovy 2016), concatenated with the word embedding


class InitVocab(Choice):
    keep = "keep"  # init_from's tokenizer as it is
    extend = "extend"  # plus this dataset's words it lacks (ULMFiT's second stage), rows at the mean pretrained row


class AuxSchedule(Choice):
    constant = "constant"  # lambda = transfer.aux_weight
    linear_decay = "linear_decay"  # lambda falls linearly to 0 at the last step


class SeriesSplit(Choice):
    fraction = "fraction"  # train / valid / test by time, dataset.train_fraction and valid_fraction
    ett_h = "ett_h"  # the ETT protocol: 12 / 4 / 4 months of hourly rows
    ett_15min = "ett_15min"  # the same of 15-minute rows


# --------------------------------------------------------------------------------------------- model
@dataclass
class ModelConfig:
    # Every model option (rnn, lstm, gru) states these; its YAML carries the comments.
    name: str = MISSING  # rnn | lstm | gru (the MODELS registry)
    embedding_size: int = MISSING
    hidden_size: int = MISSING
    num_layers: int = MISSING
    dropout: float = MISSING  # on the embedding output, between RNN layers and on the encoder output
    bidirectional: bool = MISSING
    tie_weights: bool = MISSING  # share the input embedding with the output layer (embedding_size == hidden_size)
    init_range: float = MISSING  # uniform(-r, r) initialisation of every weight; 0 keeps PyTorch's defaults
    input: InputKind = MISSING
    num_features: int = 0  # numeric input: values per time step; set from the data by pretrain (0 = not yet known)
    embedding_dropout: float = MISSING  # drop whole embedding rows (words) in training; tokens only
    word_dropout: float = 0.0  # replace word occurrences by <unk> in training (spelling kept); tokens only
    locked_dropout: float = MISSING  # one dropout mask for all time steps between RNN layers
    weight_drop: float = MISSING  # DropConnect on the hidden-to-hidden weights (AWD-LSTM), by a functional call
    # Character-aware words (seqtune/models/chars.py; tagging data spells words that are <unk> in the vocabulary)
    char_features: CharFeatures = MISSING
    char_embedding_size: int = MISSING  # width of a character embedding
    char_filters: int = MISSING  # character-CNN output features per word (kernel width 3, max over the word)


# ------------------------------------------------------------------------------------------- dataset
@dataclass
class TokenizerConfig:
    kind: str = "word"  # char | word | basic_english | bpe | wordpiece | unigram (the TOKENIZERS registry)
    lowercase: bool = False
    max_vocab: int | None = None  # char/word/basic_english: keep the most frequent tokens (specials included)
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
    folder: str | None = None
    encoding: str = "utf-8"
    download: bool = True  # named datasets: fetch a missing file from its canonical URL (sha256-checked)
    mirror: str | None = None  # base URL that replaces the canonical host: <mirror>/<folder>/<file>


@dataclass
class TextDatasetConfig(FileDatasetConfig):
    train: str = MISSING
    valid: str | None = None  # None: carved from the end of train (valid_fraction)
    test: str | None = None  # None: carved from the end of train (test_fraction)
    valid_fraction: float = 0.05
    test_fraction: float = 0.05
    token_cache: bool = True  # tokenise once into a memory-mapped id file under $SEQTUNE_CACHE_DIR


@dataclass
class LabelledDatasetConfig(FileDatasetConfig):
    # Files of the official splits.  valid/test None: carved from train (stratified, seeded by split_seed).
    train: str = MISSING
    valid: str | None = None
    test: str | None = None
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0  # seeds carved splits and the low-resource subsets: same data in every run
    train_limit: int | None = None  # keep N training examples (stratified by label)
    labels_per_class: int | None = None  # keep N training examples per class
    label_budget: int | None = None  # N labelled examples in all (stratified): validation carved from them
    # Cross-validation: the validation split is fold cv_fold of cv_folds stratified folds of the training pool (or
    # of label_budget's N), the other folds train; pretraining on labelled series leaves that fold out too.
    cv_folds: int | None = None  # e.g. 5; sweep the folds with -m dataset.cv_fold=0,1,2,3,4
    cv_fold: int = 0
    max_length: int | None = None  # truncate each example to this many tokens; None: no limit
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
    train_limit: int | None = None
    labels_per_class: int | None = None
    label_budget: int | None = None
    cv_folds: int | None = None  # as LabelledDatasetConfig's
    cv_fold: int = 0
    max_length: int | None = None


@dataclass
class TableDatasetConfig(LabelledDatasetConfig):
    # CSV / TSV / JSON Lines (format from the suffix unless delimiter is set).
    text_columns: Any = field(default_factory=lambda: ["text"])  # names (or 0-based indices), or one; joined
    label_column: Any = "label"
    delimiter: str | None = None  # "," or "\t"; None: from the file suffix
    has_header: bool = True
    join_with: str = " "
    label_names: Any = None  # {as written: name}, e.g. {1: World}; untyped so that an override assigns the mapping


@dataclass
class TrecDatasetConfig(LabelledDatasetConfig):
    fine: bool = False  # false: 6 coarse classes (TREC-6); true: 50 fine classes (TREC-50)
    encoding: str = "latin-1"  # the official train file holds one 0xF0 byte


@dataclass
class ImdbDatasetConfig(LabelledDatasetConfig):
    # The official aclImdb_v1.tar.gz layout: aclImdb/{train,test}/{pos,neg}/*.txt, aclImdb/train/unsup/*.txt
    train: str = "aclImdb/train"
    test: str | None = "aclImdb/test"
    archive: str = "aclImdb_v1.tar.gz"  # downloaded and extracted when aclImdb/ is missing
    unlabelled_for_lm: bool = True  # language-model stages also read the 50,000 unlabelled reviews


@dataclass
class ClassFilesDatasetConfig(LabelledDatasetConfig):
    # One file per class, one example per line (SUBJ, CR, MPQA, rt-polarity); valid/test carved unless test_classes.
    train: str = ""  # unused: the classes' files are the training pool
    classes: Any = MISSING  # {label: file}, e.g. {pos: custrev.pos, neg: custrev.neg} (untyped: assigned whole)
    test_classes: Any = None  # {label: file} of a separate test set; null: carved


@dataclass
class ConllDatasetConfig(LabelledDatasetConfig):
    token_column: int = 0
    tag_column: int = -1
    scheme: str = "auto"  # iob1 | iob2 | auto (how the file is written)
    to_scheme: str | None = "iob2"  # iob2, or null to keep the tags as written (e.g. POS tags)


@dataclass
class TimeSeriesDatasetConfig(FileDatasetConfig):
    file: str = MISSING
    timestamp_column: str | None = "date"
    feature_columns: Any = None  # a list of names, or one name; None: every numeric column
    target_column: str | None = None
    split: SeriesSplit = SeriesSplit.fraction
    train_fraction: float = 0.7
    valid_fraction: float = 0.1
    lookback: int = 96  # L: input steps of a window
    horizon: int = 24  # H: steps to forecast
    normalize: bool = True  # z-score with train-split statistics only


class SeriesNormalize(Choice):
    series = "series"  # each series z-scored by its own mean and std (the UCR archive's convention)
    dataset = "dataset"  # every series by the training file's mean and std
    none = "none"


@dataclass
class UcrDatasetConfig(LabelledDatasetConfig):
    # One series per line: label, then the values (UCR archive .tsv, or .csv); or a .ts file (UEA & UCR archives,
    # uni- or multivariate: seqtune/data/ts_format.py); seqtune/data/series_labels.py.
    train: str | None = None  # type: ignore[assignment]  # your own file; None: dataset.set's <set>/<set>_TRAIN.tsv
    set: str | None = None  # an archive set under dataset.folder: <set>/<set>_{TRAIN,TEST}.tsv, else .ts
    valid_fraction: float = 0.2  # carved from the training file (UCR has train/test only), stratified
    delimiter: str | None = None  # "," or "\t"; None: from the file suffix (.tsv tab, .csv comma)
    variable_length: bool = False  # series of different lengths allowed, and .ts dimensions (padded); else an error
    normalize: SeriesNormalize = SeriesNormalize.series  # z-score each series, all by train's statistics, or none
    segment_length: int = 1  # values per RNN step (segments / patches); the last one padded with its last value
    # Pretraining only: more series files (values after the first field; labels ignored), relative to folder.
    unlabelled_series: list[str] = field(default_factory=list)
    augment_copies: int = 0  # pretraining only: this many warped/scaled/jittered copies of every training series


@dataclass
class PairsDatasetConfig(FileDatasetConfig):
    # Source/target pairs from CSV / TSV / JSON Lines (seq2seq); valid/test None: carved from train (seeded).
    train: str = MISSING
    valid: str | None = None
    test: str | None = None
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    source_column: Any = "source"  # name (or 0-based index)
    target_column: Any = "target"
    delimiter: str | None = None  # "," or "\t"; None: from the file suffix
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
    name: str = MISSING  # constant | linear | cosine | step | slanted_triangular (the SCHEDULES registry)
    warmup_steps: int = 0  # linear warm-up from 0 before the schedule proper
    min_lr_ratio: float = 0.0  # linear/cosine: final lr as a fraction of the peak
    decay_start_epoch: int = 1  # step: multiply the lr by gamma at the start of every epoch after this one
    gamma: float = 0.5  # step: decay factor
    cut_frac: float = 0.1  # slanted_triangular: share of the steps spent raising the lr (Howard & Ruder 2018)
    ratio: float = 32.0  # slanted_triangular: how much smaller the lowest lr is than the peak


@dataclass
class OptimizerConfig:
    name: str = MISSING  # sgd | adam | adamw (the OPTIMIZERS registry)
    lr: float = MISSING  # the peak learning rate (fine-tuning: of the top layer group)
    weight_decay: float = MISSING
    momentum: float = 0.0  # sgd only
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # adam/adamw only
    eps: float = 1e-8  # adam/adamw only
    clip_grad_norm: float = MISSING  # global gradient-norm clipping; 0 = off
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)


# ------------------------------------------------------------------------------------------- trainer
@dataclass
class TrainerConfig:
    # The roots (conf/pretrain.yaml, conf/finetune.yaml) state every trainer value, with its comment.
    max_epochs: int = MISSING
    max_steps: int = MISSING  # -1: no limit (max_epochs decides)
    batch_size: int = MISSING
    bptt: int = MISSING  # truncated back-propagation length (language modelling)
    eval_batch_size: int = MISSING
    eval_interval: int = MISSING  # 0: at the end of every epoch
    limit_eval_batches: int = MISSING  # -1: all
    log_interval: int = MISSING
    seed: int = MISSING
    deterministic: bool = MISSING
    device: str = MISSING  # auto | cpu | cuda | cuda:N (config/rules.py checks it)
    precision: Precision = MISSING
    tune_malloc: bool = MISSING  # Linux/glibc: seqtune/training/runtime.py
    progress: Progress = MISSING
    loggers: list[str] = MISSING  # extra metric backends beside metrics.jsonl (the LOGGERS registry)
    compile: bool = MISSING
    checkpoint_every: int = MISSING  # 0: off
    keep_checkpoints: int = MISSING
    skip_nonfinite: bool = MISSING
    accumulate_grad_batches: int = MISSING
    resume_on_changed_data: bool = False  # resume although a data file changed since the run started


@dataclass
class FinetuneTrainerConfig(TrainerConfig):
    monitor: Monitor = MISSING  # the validation metric that picks best.pt
    patience: int = MISSING  # 0: never stop early
    min_steps: int = MISSING  # max_epochs=-1: at least this many optimizer steps (more epochs on little data)


# ------------------------------------------------------------------------------------------ transfer
@dataclass
class TransferConfig:
    name: str = MISSING  # scratch | full | frozen | partial | gradual | multitask (the TRANSFERS registry)
    checkpoint: str | None = MISSING  # a .pt file, a run directory, or latest; null: no checkpoint (+model=...)
    freeze_layers: int = 1  # partial: the embedding and this many bottom RNN layers stay frozen
    lr_factor: float = 1.0  # discriminative lr: a group d groups below the head trains at lr / lr_factor**d
    aux_weight: float = 0.0  # multitask: lambda, the weight of the pretraining objective's loss
    aux_schedule: AuxSchedule = AuxSchedule.constant  # multitask: how lambda changes over the run
    stage_epochs: int = 0  # gradual: epochs of each stage before the last (0: an eighth of the run's, at least 1)


# ---------------------------------------------------------------------------------------------- roots
@dataclass
class PretrainConfig:
    model: ModelConfig = MISSING
    objective: Any = MISSING  # typed by the objective's own schema when pretrain validates it
    dataset: Any = MISSING
    optimizer: OptimizerConfig = MISSING
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    output_root: str = MISSING
    optimized_metric: str = MISSING
    init_from: str | None = MISSING
    init_vocab: InitVocab = MISSING  # init_from's vocabulary: keep, or extend with this dataset's missing words
    smoke: bool = False  # set by debug=smoke (init_from: the checkpoint's architecture is used as always)
    resume: str | None = MISSING


@dataclass
class FinetuneConfig:
    head: Any = MISSING  # typed by the head's own schema when finetune validates it
    transfer: TransferConfig = MISSING
    dataset: Any = MISSING
    optimizer: OptimizerConfig = MISSING
    trainer: FinetuneTrainerConfig = field(default_factory=FinetuneTrainerConfig)
    model: Any = MISSING  # architecture changes on top of the checkpoint's model; +model=lstm without a checkpoint
    output_root: str = MISSING
    smoke: bool = (
        False  # set by debug=smoke: a loaded checkpoint keeps its sizes (smoke's model.* apply to scratch only)
    )
    optimized_metric: str = MISSING
    resume: str | None = MISSING


@dataclass
class EvaluateConfig:
    checkpoint: str = MISSING
    split: str = MISSING  # train | valid | test
    output: str | None = MISSING
    batch_size: int | None = MISSING
    device: str = MISSING
    output_root: str = MISSING


@dataclass
class PredictConfig:
    checkpoint: str = MISSING
    input: str = MISSING
    output: str = MISSING
    batch_size: int = MISSING
    device: str = MISSING
    output_root: str = MISSING


@dataclass
class ExplainConfig:
    checkpoint: str = MISSING
    input: str = MISSING
    output: str | None = MISSING
    html: str | None = MISSING
    method: str = MISSING  # integrated_gradients | occlusion
    target: str | None = MISSING
    baseline: str = MISSING  # pad | unk (a series: always the training mean)
    steps: int = MISSING
    tolerance: float = MISSING
    top_k: int = MISSING
    device: str = MISSING
    output_root: str = MISSING


@dataclass
class GenerateConfig:
    checkpoint: str = MISSING
    prompt: str = MISSING
    length: int = MISSING
    temperature: float = MISSING
    top_k: int = MISSING
    seed: int = MISSING
    num_samples: int = MISSING
    device: str = MISSING
    output_root: str = MISSING


DATASET_SCHEMAS: dict[str, type] = {  # dataset format -> its schema (a YAML option extends /schema/dataset/<name>)
    "synthetic": SyntheticDatasetConfig,
    "text": TextDatasetConfig,
    "synthetic_topics": SyntheticTopicsDatasetConfig,
    "table": TableDatasetConfig,
    "trec": TrecDatasetConfig,
    "imdb": ImdbDatasetConfig,
    "conll": ConllDatasetConfig,
    "class_files": ClassFilesDatasetConfig,
    "timeseries": TimeSeriesDatasetConfig,
    "ucr": UcrDatasetConfig,
    "pairs": PairsDatasetConfig,
    "synthetic_pairs": SyntheticPairsDatasetConfig,
}


def register_configs() -> None:
    """Put the schemas into Hydra's ConfigStore (idempotent: the store replaces same-named nodes)."""
    cs = ConfigStore.instance()
    for name, node in (
        ("pretrain", PretrainConfig),
        ("finetune", FinetuneConfig),
        ("evaluate", EvaluateConfig),
        ("predict", PredictConfig),
        ("explain", ExplainConfig),
        ("generate", GenerateConfig),
    ):
        cs.store(name=f"{name}_schema", node=node)
    # Group schemas live apart from the groups' options so that `--help` lists only real choices; a YAML
    # option extends its schema with `defaults: [/schema/<group>/<name>@_here_, _self_]`.
    cs.store(group="schema/model", name="model", node=ModelConfig)
    cs.store(group="schema/optimizer", name="optimizer", node=OptimizerConfig)
    cs.store(group="schema/transfer", name="transfer", node=TransferConfig)
    for fmt, schema in DATASET_SCHEMAS.items():
        cs.store(group="schema/dataset", name=fmt, node=schema)


def to_plain(cfg: DictConfig) -> dict:
    """The resolved config as plain Python containers, choices as strings (for checkpoints and JSON)."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False, enum_to_str=True)  # type: ignore[return-value]
