"""``seqtune finetune``: put a task head on a pretrained encoder and train it; readable top to bottom.

seed -> checkpoint (architecture and tokenizer come from it) -> labelled data, encoded with that tokenizer ->
model (encoder + head; pretrained tensors loaded, the rest fresh, both listed) -> layer groups with
discriminative learning rates -> loop (the transfer strategy sets which groups train at each epoch start;
best.pt by the monitored validation metric, optional early stopping) -> test scores with the best weights
-> summary.json, labels.json, test_predictions.jsonl.  Returns the final metrics.

A text task reads labelled examples (length-bucketed batches); ``head=regressor`` reads windows of a numeric
series (``SeriesFacts``: horizon, targets and the pretrained encoder's input layout, saved in the checkpoint);
``data/finetuning.py`` makes either.  ``transfer=multitask`` wraps the head with the checkpoint's own
pretraining objective (``heads/multitask.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from seqtune.config.rules import model_problems
from seqtune.config.schema import to_plain
from seqtune.data.finetuning import TaskData, load_task_data
from seqtune.data.fingerprint import dataset_paths, fingerprint
from seqtune.data.records import SeriesLayout
from seqtune.data.tokenizers import Tokenizer, tokenizer_from_dict
from seqtune.errors import ConfigError
from seqtune.heads import build_head, head_spec
from seqtune.heads.multitask import build_multitask
from seqtune.models.encoder import build_encoder
from seqtune.objectives.base import TaskModel
from seqtune.registry import TRANSFERS
from seqtune.training import checkpoint, distributed, resume
from seqtune.training.checkpoint import Key
from seqtune.training.diagnostics import collapse_warning, predicted_counts, unk_warning
from seqtune.training.inference import evaluate_and_predict, predict_examples, prediction_records, score
from seqtune.training.optim import build_optimizer, build_schedule, schedule_factor, schedule_warnings
from seqtune.training.run import (
    RunResult,
    RunSetup,
    after_test,
    best_and_test,
    count_parameters,
    finish_run,
    loop_settings,
    make_display,
    parallel_note,
    skipped,
    start_run,
    train_and_test,
)
from seqtune.training.rundir import resolve_checkpoint
from seqtune.training.stages import Stage, staged_factor, total_epochs
from seqtune.training.transfer import (
    ParamGroups,
    Strategy,
    Unfreezing,
    discriminative_param_groups,
    layer_groups,
    load_matching,
    merged_model_config,
    set_trainable,
)
from seqtune.training.validation import validate_finetune

MINIMISED = ("loss", "mse", "mae")
AUTO_EPOCHS = 8  # trainer.max_epochs=-1: epochs of a run on plenty of data
MIN_MONITOR_EXAMPLES = 100  # trainer.monitor=auto picks best.pt by validation only with at least this many examples
LAYOUT_DEFAULTS = SeriesLayout()
SMOKE_SIZES = ("embedding_size", "hidden_size", "num_layers")  # the model keys conf/debug/smoke.yaml sets


def run(cfg: DictConfig, run_dir: Path) -> dict[str, object]:
    resumed, resume_note = resume.open_checkpoint(cfg.resume, run_dir, cfg=cfg) if cfg.resume else (None, "")
    if resumed is not None:  # the pretrained checkpoint as the run resolved it (latest may point elsewhere now)
        cfg.transfer.checkpoint = resumed[Key.CONFIG]["transfer"]["checkpoint"]
        cfg.model = resumed[Key.CONFIG]["model"]
    validate_finetune(cfg)
    t, tr = cfg.trainer, cfg.transfer
    strategy = TRANSFERS.get(tr.name, key="transfer.name")
    setup = start_run(t, run_dir, first_launch=not cfg.resume)
    notes: list[str] = []  # shown once the display exists

    # ---- checkpoint, data, model (+ pretrained weights), stages, optimizer over the layer groups
    parts = build(cfg, setup, strategy, notes)
    data, head, stages, model, total_steps = parts.data, parts.head, parts.stages, parts.model, parts.total_steps
    monitor = _monitor(t.monitor, head, data)
    settings = loop_settings(
        t,
        cfg.optimizer,
        setup.device,
        max_epochs=total_epochs(stages),
        monitor=monitor,
        monitor_mode="min" if monitor in MINIMISED else "max",
        patience=t.patience,
        patience_from_epoch=stages[-1].first_epoch,
    )
    scheduler = _schedule(cfg.optimizer.schedule, parts.optimizer, stages, total_steps, len(data.train))
    display = make_display(t, setup.run, total_steps, f"finetune {tr.name}")
    for warning in schedule_warnings(cfg.optimizer.schedule, total_steps, len(data.train)):
        display.message(warning)
    unfreezing = Unfreezing(stages, parts.groups, display.message)
    # DDP: frozen layer groups get no gradient
    settings = dataclasses.replace(settings, find_unused_parameters=unfreezing.freezes_any())
    if resumed is not None:
        unfreezing.replay(resumed[Key.EPOCH])
        notes.append(resume_note)
    display.message(_opening(cfg, parts, strategy, notes, setup, monitor))
    meta = _checkpoint_meta(parts.plain, data, head, tr.name)

    # ---- train, then test with the best weights: loss from the loop's evaluation, scores from the predictions
    batches = (data.train, data.valid, data.test)
    one_pass = _OnePassTest(data, t.eval_batch_size, setup.device) if _one_pass_fits(t, data) else None
    result = train_and_test(
        model,
        parts.optimizer,
        scheduler,
        batches,
        settings,
        setup,
        meta,
        display,
        resumed,
        unfreezing.start_epoch,
        test_pass=one_pass,
    )
    checks: dict[str, object] = {}
    if data.labelled is not None:  # text: task scores from predictions (a regressor's mse/mae are the loop's own)
        probs = one_pass.probs if one_pass is not None else None
        scores = functools.partial(_test_scores, model, head, data, t.eval_batch_size, setup, result, probs)
        checks = after_test(scores, result, setup)  # signals honoured in its prediction passes too
    summary = {**_summary(result, data, model, unfreezing, tr.name, parts.pre), **checks}
    if "collapse" in summary:
        display.message(str(summary.pop("collapse")))
    finish_run(setup.run, summary, display, f"finetune {tr.name} {head.name} on {cfg.dataset.name}")
    return summary


def _checkpoint_meta(plain: dict[str, Any], data: TaskData, head: Any, transfer: str) -> dict[str, Any]:
    """What a fine-tuning checkpoint says about itself beside its weights (evaluate and predict rebuild from it)."""
    return {
        Key.CONFIG: plain,
        Key.TOKENIZER: data.tokenizer.to_dict() if data.tokenizer is not None else None,
        Key.OBJECTIVE: head.name,
        Key.HEAD: head.name,
        Key.LABELS: data.labels,
        Key.TASK: data.task,
        Key.TRANSFER: transfer,
        Key.SERIES: data.series.to_dict() if data.series is not None else None,
        Key.DATA_FILES: fingerprint(dataset_paths(plain["dataset"])),
    }


def _summary(
    result: RunResult, data: TaskData, model: TaskModel, unfreezing: Unfreezing, transfer: str, pre: Pretrained
) -> dict[str, object]:
    state = result.state
    return {
        **best_and_test(result),
        "best_step": state.best_step,
        "best_epoch": result.best[Key.EPOCH],
        "steps": state.step,
        "stopped_early": state.stopped_early,
        "train/examples": data.sizes["train"],
        "train/seconds": state.train_seconds,
        "params": count_parameters(model),
        "trainable_params_by_epoch": unfreezing.trainable_by_epoch,
        "transfer": transfer,
        "checkpoint": str(pre.path) if pre.path else None,
        **{f"data/unk_share/{k}": v for k, v in data.unk_shares.items()},
        **skipped(result),
    }


def _resolved_config(cfg: DictConfig, pre: Pretrained, setup: RunSetup) -> dict[str, Any]:
    """The run's config as it ran (the merged architecture, ``latest`` resolved), written to config.yaml."""
    plain = to_plain(cfg)
    plain["model"] = pre.model_cfg
    plain["transfer"]["checkpoint"] = str(pre.path) if pre.path else None
    setup.run.write_text(setup.run.config, OmegaConf.to_yaml(OmegaConf.create(plain)))
    return plain


def _head(cfg: DictConfig, encoder: Any, data: TaskData) -> Any:
    head = build_head(cfg.head, encoder, data.labels, data.series)
    if head.task != data.task:
        raise ConfigError(
            f"head={head.name} is for {head.task}, but dataset {cfg.dataset.name!r} is {data.task} data; "
            f"use head={'tagger' if data.task == 'tagging' else 'classifier'}."
        )
    return head


def _one_pass_fits(t: Any, data: TaskData) -> bool:
    """The test split's loss and predictions can come from one encoder pass: text, float32, the whole split, one
    process (``evaluate_and_predict`` is what ``loop.evaluate`` gives there, tested)."""
    whole = t.limit_eval_batches == -1 and not distributed.active()
    return data.labelled is not None and t.precision == "fp32" and whole


class _OnePassTest:
    """The test evaluation ``train_and_test`` runs on the best weights, keeping the predictions it made on the way."""

    def __init__(self, data: TaskData, batch_size: int, device: torch.device):
        assert data.labelled is not None
        self.examples, self.batch_size, self.device = data.labelled.test, batch_size, device
        self.probs: list[torch.Tensor] | None = None

    def __call__(self, model: TaskModel) -> dict[str, Any]:
        metrics, self.probs = evaluate_and_predict(model, self.examples, self.batch_size, self.device)
        return metrics


def _test_scores(
    model: TaskModel,
    head: Any,
    data: TaskData,
    batch_size: int,
    setup: RunSetup,
    result: RunResult,
    probs: list[torch.Tensor] | None = None,
) -> dict[str, object]:
    """Task scores of the best weights' test predictions (``probs``, or predicted now) into ``result.test``,
    test_predictions.jsonl, and for a classifier how many classes it predicts on validation and test (a collapse
    to one is a warning)."""
    assert data.labelled is not None
    examples = data.labelled.test
    if probs is None:
        probs = predict_examples(model, examples, batch_size, setup.device)
    result.test.update(score(head, examples, probs))
    if setup.run.main:
        with open(setup.run.path / "test_predictions.jsonl", "w", encoding="utf-8") as fh:
            for record in prediction_records(head, probs):
                fh.write(json.dumps(record) + "\n")
    if data.task != "classification":
        return {}
    valid = predicted_counts(predict_examples(model, data.labelled.valid, batch_size, setup.device), data.labels)
    checks: dict[str, object] = {
        "val/predicted_classes": len(valid),
        "test/predicted_classes": len(predicted_counts(probs, data.labels)),
    }
    warning = collapse_warning(valid, len(data.labels), "validation")
    return {**checks, "collapse": warning} if warning else checks


@dataclass
class Parts:
    """What a fine-tuning run trains, built from its config (``build``); also what ``seqtune lr-find`` tests."""

    pre: Pretrained
    data: TaskData
    plain: dict[str, Any]  # the resolved config (config.yaml, and every checkpoint)
    head: Any
    stages: list[Stage]
    model: TaskModel
    groups: ParamGroups
    optimizer: torch.optim.Optimizer
    total_steps: int


def build(cfg: DictConfig, setup: RunSetup, strategy: Strategy, notes: list[str]) -> Parts:
    """The checkpoint (architecture, tokenizer), the data (text encoded with its tokenizer, or a series'
    windows), the model (encoder with the pretrained weights, head; under multitask the pretraining objective),
    the strategy's stages, and the optimizer over the layer groups (discriminative lrs)."""
    pre = _pretrained(cfg, notes)
    data = _task_data(cfg, setup, pre)
    plain = _resolved_config(cfg, pre, setup)
    tok = data.tokenizer
    encoder = build_encoder(OmegaConf.create(pre.model_cfg), tok.vocab_size if tok else 0, getattr(tok, "itos", None))
    head = _head(cfg, encoder, data)
    stages = _plan(cfg, strategy, pre, data)
    epochs, max_steps = total_epochs(stages), cfg.trainer.max_steps
    total_steps = max_steps if max_steps > 0 else epochs * len(data.train)  # max_steps overrides max_epochs
    model = _task_model(TaskModel(encoder, head), strategy, pre, cfg, total_steps, data, notes)
    model.to(setup.device)
    groups = layer_groups(model)
    params = discriminative_param_groups(groups, cfg.optimizer.lr, cfg.transfer.lr_factor)
    return Parts(pre, data, plain, head, stages, model, groups, build_optimizer(cfg.optimizer, params), total_steps)


def lr_find_parts(cfg: DictConfig, setup: RunSetup) -> tuple[TaskModel, torch.optim.Optimizer, Any, list[str]]:
    """``seqtune lr-find finetune``: the run's model, optimizer and training batches with every layer trainable
    (the last stage of any plan), and the lines saying what was built."""
    validate_finetune(cfg)
    notes: list[str] = []
    parts = build(cfg, setup, TRANSFERS.get(cfg.transfer.name, key="transfer.name"), notes)
    set_trainable(parts.groups, parts.stages[-1].frozen)
    return parts.model, parts.optimizer, parts.data.train, notes + parts.data.notes


def _plan(cfg: DictConfig, strategy: Strategy, pre: Pretrained, data: TaskData) -> list[Stage]:
    """The run's stages: the strategy's plan over the run's epochs (the epochs trainer.max_steps takes when it is
    set; else trainer.max_epochs, or -1: planned from the amount of data, at least 8 epochs and trainer.min_steps
    optimizer steps)."""
    t, tr = cfg.trainer, cfg.transfer
    if t.max_steps > 0:
        epochs = math.ceil(t.max_steps / max(1, len(data.train)))
    else:
        epochs = t.max_epochs if t.max_epochs > 0 else auto_epochs(len(data.train), t.min_steps)
    return strategy.plan(pre.model_cfg["num_layers"] + 2, epochs, tr.freeze_layers, tr.stage_epochs)


def auto_epochs(steps_per_epoch: int, min_steps: int) -> int:
    """trainer.max_epochs=-1: 8 epochs, or as many as ``min_steps`` optimizer steps take on little data."""
    return max(AUTO_EPOCHS, math.ceil(min_steps / max(1, steps_per_epoch)))


def _monitor(monitor: str, head: Any, data: TaskData) -> str:
    """trainer.monitor=auto: the validation loss (a classifier; other heads their own metric), when the
    validation split is large enough to rank checkpoints; on fewer than MIN_MONITOR_EXAMPLES the newest weights
    (a few examples would pick a checkpoint by chance)."""
    if monitor != "auto":
        return monitor
    if data.sizes["valid"] < MIN_MONITOR_EXAMPLES:
        return "last"
    return "loss" if head.task == "classification" else head.default_monitor


def _schedule(sched_cfg: Any, optimizer: Any, stages: list[Stage], total_steps: int, steps_per_epoch: int) -> Any:
    """One cycle of the schedule over the run, or one per stage when the plan has several."""
    if len(stages) == 1:
        return build_schedule(sched_cfg, optimizer, total_steps, steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        staged_factor(
            lambda step, total: schedule_factor(sched_cfg, total, steps_per_epoch)(step), stages, steps_per_epoch
        ),
    )


def _opening(cfg: DictConfig, parts: Parts, strategy: Strategy, notes: list[str], setup: RunSetup, monitor: str) -> str:
    """The run's first lines: what was loaded, the data and its notes, the model, the plan, what picks best.pt."""
    t, data = cfg.trainer, parts.data
    lrs = ", ".join(f"{g['name']} {g['lr']:.3g}" for g in parts.optimizer.param_groups)
    if len(parts.stages) == 1:
        plan = f"{parts.stages[0].epochs} epochs"
    else:
        plan = ", ".join(
            f"{'+'.join(n for n, _ in parts.groups[s.frozen :]) if s.frozen else 'all'} {s.epochs} "
            f"epoch{'s' if s.epochs > 1 else ''}"
            for s in parts.stages
        )
    picks = (
        f"best.pt is the newest weights ({data.sizes['valid']:,} validation examples are too few to pick a "
        "checkpoint by; trainer.monitor=loss to do it anyway)"
        if monitor == "last"
        else f"best.pt by val/{monitor}"
    )
    warning = unk_warning(data.unk_shares, str(parts.pre.path) if parts.pre.path else None, cfg.dataset.name)
    return (
        f"run dir {setup.run.path}\n"
        + "\n".join(notes)
        + "".join(f"\n  note: {n}" for n in data.notes)
        + _describe(cfg, data, parts.pre, parts.head, parts.model, setup)
        + f"; transfer={cfg.transfer.name} ({strategy.describe}); lr per group: {lrs}; {parts.total_steps:,} steps "
        f"({plan}); {picks}"
        + parallel_note(t.batch_size, t.accumulate_grad_batches)
        + (f"\n{warning}" if warning else "")
    )


@dataclass
class Pretrained:
    """What fine-tuning takes from the pretraining checkpoint (nothing but the config's model for scratch)."""

    source: dict[str, Any] | None  # the checkpoint dict
    path: Path | None
    tokenizer: Tokenizer | None
    model_cfg: dict[str, Any]  # the checkpoint's architecture with the run's model.* overrides


def _pretrained(cfg: DictConfig, notes: list[str]) -> Pretrained:
    """The architecture and tokenizer (also for scratch: the same model, random weights); checked by the
    model rules."""
    source, path, tokenizer = None, None, None
    model_cfg = to_plain(cfg.model)
    if cfg.transfer.checkpoint is not None:
        path, how = resolve_checkpoint(cfg.transfer.checkpoint, cfg.output_root, "pretrain", "transfer.checkpoint")
        notes.append(how)
        source = checkpoint.load(path)
        checkpoint.require(source, path, (Key.MODEL, Key.CONFIG), config=("model",))
        if cfg.get("smoke"):  # debug=smoke shrinks new models only: a pretrained encoder keeps its sizes
            shrunk = sorted(k for k in SMOKE_SIZES if k in model_cfg)
            model_cfg = {k: v for k, v in model_cfg.items() if k not in SMOKE_SIZES}
            if shrunk:
                notes.append(
                    f"debug=smoke: the checkpoint's {', '.join(shrunk)} kept (a pretrained encoder cannot shrink)"
                )
        model_cfg = merged_model_config(source[Key.CONFIG]["model"], model_cfg)
        if source.get(Key.TOKENIZER):
            tokenizer = tokenizer_from_dict(source[Key.TOKENIZER])
            notes.append(
                f"architecture and tokenizer ({tokenizer.kind}, {tokenizer.vocab_size:,} tokens) from the "
                "checkpoint; dataset.tokenizer is not used"
            )
        else:
            notes.append(
                f"architecture from the checkpoint (numeric input, {model_cfg.get('num_features')} values per step)"
            )
    problems = model_problems(OmegaConf.create(model_cfg))
    if problems:
        raise ConfigError(problems)
    return Pretrained(source, path, tokenizer, model_cfg)


def series_layout(head_cfg: Any, source_objective: dict[str, Any] | None) -> SeriesLayout:
    """How a regressor reads a window: ``head.*`` if set, else the pretraining objective's setting, else
    ``LAYOUT_DEFAULTS``."""
    return SeriesLayout(
        **{
            k: head_cfg[k] if head_cfg[k] is not None else (source_objective or {}).get(k, default)
            for k, default in dataclasses.asdict(LAYOUT_DEFAULTS).items()
        }
    )


def _task_data(cfg: DictConfig, setup: RunSetup, pre: Pretrained) -> TaskData:
    """The task's batches and labels (labels.json, and tokenizer.json or data.json, written); a series must fit
    the encoder's input width."""
    t, run = cfg.trainer, setup.run
    reads = head_spec(cfg.head.name).reads
    layout = (
        series_layout(cfg.head, pre.source[Key.CONFIG].get("objective") if pre.source else None)
        if reads == "series"
        else LAYOUT_DEFAULTS
    )
    data = load_task_data(
        cfg.dataset,
        reads,
        (t.batch_size, t.eval_batch_size),
        t.seed,
        setup.device,
        tokenizer=pre.tokenizer,
        layout=layout,
        horizon=cfg.head.get("horizon"),
    )
    if data.series_encoding is not None:
        _check_series_width(data.width, pre, cfg.dataset.segment_length, data.series_encoding["channels"])
        run.write_json(run.data, data.series_encoding)
    elif data.series is not None:
        series, model_cfg = data.series, pre.model_cfg
        if not model_cfg.get("num_features"):  # no checkpoint: the width comes from the layout
            model_cfg["num_features"] = series.width
        if model_cfg.get("input") != "numeric" or model_cfg["num_features"] != series.width:
            raise ConfigError(
                f"head=regressor feeds the encoder {series.width} values per step (head.channel_independent="
                f"{series.layout.channel_independent}, head.segment_length={series.layout.segment_length}, "
                f"{series.num_columns} columns), but the encoder reads model.input={model_cfg.get('input')!r} with "
                f"model.num_features={model_cfg.get('num_features')}; use a checkpoint pretrained on numeric series "
                "(objective=forecast or masked_values) and leave head.channel_independent/segment_length at null."
            )
        run.write_json(run.data, series.to_dict())
    else:
        if pre.model_cfg.get("input") == "numeric":
            where = ", from the checkpoint" if pre.source else ""
            raise ConfigError(
                f"the encoder reads numeric values (model.input=numeric{where}), "
                f"but dataset {cfg.dataset.name!r} (format {cfg.dataset.format}) is text; a table column of numbers is "
                "still text. Give labelled series as dataset=ucr (label, then the values; dataset.train=your.tsv), "
                "or use a checkpoint pretrained on text."
            )
        assert data.tokenizer is not None  # text is read with a tokenizer
        distributed.same_on_all_ranks(
            json.dumps([data.tokenizer.to_dict(), data.labels], sort_keys=True), "tokenizer or label set"
        )
        run.write_json(run.tokenizer, data.tokenizer.to_dict())
    run.write_json(run.labels, data.labels, indent=1)
    return data


def _check_series_width(width: int, pre: Pretrained, segment_length: int, channels: int) -> None:
    """A labelled series feeds ``width`` values per step (``segment_length`` x ``channels``): a numeric encoder of
    that width (scratch: set here)."""
    model_cfg = pre.model_cfg
    if pre.source is None:  # scratch: the architecture follows the data
        model_cfg["input"], model_cfg["num_features"] = "numeric", width
        return
    if model_cfg.get("input") != "numeric" or model_cfg.get("num_features") != width:
        raise ConfigError(
            f"dataset.segment_length={segment_length}{f' x {channels} channels' if channels > 1 else ''} feeds the "
            f"encoder {width} values per step, but the checkpoint's encoder reads model.input="
            f"{model_cfg.get('input')!r} with model.num_features={model_cfg.get('num_features')}; pretrain on series "
            "with the same channels and dataset.segment_length (objective=masked_values or series_autoencoder, "
            "dataset=ucr), or set it to match."
        )


def _task_model(
    model: TaskModel,
    strategy: Strategy,
    pre: Pretrained,
    cfg: DictConfig,
    total_steps: int,
    data: TaskData,
    notes: list[str],
) -> TaskModel:
    """Pretrained encoder weights loaded (or all fresh for scratch); under multitask the head is wrapped with the
    checkpoint's own pretraining objective (the head's tensors become objective.head.*)."""
    if strategy.loads_checkpoint:
        assert pre.source is not None  # validation: a strategy that loads has transfer.checkpoint
        notes.append(load_matching(model, pre.source[Key.MODEL], ("encoder.",), str(pre.path)).lines())
    else:
        notes.append(f"transfer=scratch: every tensor initialised fresh ({len(model.state_dict())} tensors)")
    if strategy.auxiliary:
        assert pre.source is not None
        tr = cfg.transfer
        multitask, line = build_multitask(
            pre.source,
            str(pre.path),
            model.encoder,
            data.tokenizer,
            model.objective,
            tr.aux_weight,
            tr.aux_schedule,
            total_steps,
            data.series,
        )
        model = TaskModel(model.encoder, multitask)
        notes.append(line)
    return model


def _describe(cfg: DictConfig, data: TaskData, pre: Pretrained, head: Any, model: TaskModel, setup: RunSetup) -> str:
    sizes, m = data.sizes, pre.model_cfg
    what = (
        f"windows (L={data.series.lookback}, H={data.series.horizon}), targets {', '.join(data.labels)}"
        if data.series is not None
        else f"{data.unit}, {len(data.labels)} labels"
    )
    return (
        f"\ndata {cfg.dataset.name}: {sizes['train']:,} / {sizes['valid']:,} / {sizes['test']:,} train/valid/test "
        f"{what}\nmodel {m['name']} {m['num_layers']}x{m['hidden_size']}"
        f"{' bidirectional' if m['bidirectional'] else ''} + {head.name}, {count_parameters(model):,} parameters, "
        f"on {setup.device}"
    )
