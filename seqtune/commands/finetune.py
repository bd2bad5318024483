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
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from seqtune.config.rules import model_problems
from seqtune.config.schema import to_plain
from seqtune.data.finetuning import TaskData, load_task_data
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
from seqtune.training.inference import predict_examples, prediction_records, score
from seqtune.training.optim import build_optimizer, build_schedule
from seqtune.training.run import (
    RunResult,
    RunSetup,
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
from seqtune.training.transfer import (
    Strategy,
    Unfreezing,
    discriminative_param_groups,
    layer_groups,
    load_matching,
    merged_model_config,
)
from seqtune.training.validation import validate_finetune

MINIMISED = ("loss", "mse", "mae")
LAYOUT_DEFAULTS = SeriesLayout()
SMOKE_SIZES = ("embedding_size", "hidden_size", "num_layers")  # the model keys conf/debug/smoke.yaml sets


def run(cfg: DictConfig, run_dir: Path) -> dict[str, object]:
    resumed, resume_note = resume.open_checkpoint(cfg.resume, run_dir) if cfg.resume else (None, "")
    if resumed is not None:  # the pretrained checkpoint as the run resolved it (latest may point elsewhere now)
        cfg.transfer.checkpoint = resumed[Key.CONFIG]["transfer"]["checkpoint"]
        cfg.model = resumed[Key.CONFIG]["model"]
    validate_finetune(cfg)
    t, tr = cfg.trainer, cfg.transfer
    strategy = TRANSFERS.get(tr.name, key="transfer.name")
    setup = start_run(t, run_dir, first_launch=not cfg.resume)
    notes: list[str] = []  # shown once the display exists

    # ---- checkpoint (architecture, tokenizer) and data: text encoded with its tokenizer, or a series' windows
    pre = _pretrained(cfg, notes)
    data = _task_data(cfg, setup, pre)
    plain = _resolved_config(cfg, pre, setup)

    # ---- model: encoder (+ pretrained weights) and head (+ the pretraining objective under multitask)
    encoder = build_encoder(OmegaConf.create(pre.model_cfg), data.tokenizer.vocab_size if data.tokenizer else 0)
    head = _head(cfg, encoder, data)
    monitor = head.default_monitor if t.monitor == "auto" else t.monitor
    mode = "min" if monitor in MINIMISED else "max"
    settings = loop_settings(t, cfg.optimizer, setup.device, monitor=monitor, monitor_mode=mode, patience=t.patience)
    total_steps = settings.total_steps(len(data.train))
    model = _task_model(TaskModel(encoder, head), strategy, pre, cfg, total_steps, data, notes)
    model.to(setup.device)

    # ---- optimizer over layer groups (discriminative lrs), schedule, and the unfreezing plan per epoch
    groups = layer_groups(model)
    optimizer = build_optimizer(cfg.optimizer, discriminative_param_groups(groups, cfg.optimizer.lr, tr.lr_factor))
    scheduler = build_schedule(cfg.optimizer.schedule, optimizer, total_steps, len(data.train))
    display = make_display(t, setup.run, total_steps, f"finetune {tr.name}")
    unfreezing = Unfreezing(strategy, groups, tr.freeze_layers, display.message)
    # DDP: frozen layer groups get no gradient
    settings = dataclasses.replace(settings, find_unused_parameters=unfreezing.freezes_any(t.max_epochs))
    if resumed is not None:
        unfreezing.replay(resumed[Key.EPOCH])
        notes.append(resume_note)
    lrs = ", ".join(f"{g['name']} {g['lr']:.3g}" for g in optimizer.param_groups)
    display.message(
        f"run dir {setup.run.path}\n"
        + "\n".join(notes)
        + "".join(f"\n  note: {n}" for n in data.notes)
        + _describe(cfg, data, pre, head, model, setup)
        + f"; transfer={tr.name} ({strategy.describe}); lr per group: {lrs}; {total_steps:,} steps; "
        f"best.pt by val/{monitor}" + parallel_note(t.batch_size, t.accumulate_grad_batches)
    )
    meta = _checkpoint_meta(plain, data, head, tr.name)

    # ---- train, then test with the best weights: loss from the loop's evaluation, scores from the predictions
    batches = (data.train, data.valid, data.test)
    result = train_and_test(
        model, optimizer, scheduler, batches, settings, setup, meta, display, resumed, unfreezing.start_epoch
    )
    if data.labelled is not None:  # text: task scores from predictions (a regressor's mse/mae are the loop's own)
        _test_scores(model, head, data.labelled.test, t.eval_batch_size, setup, result)
    summary = _summary(result, data, model, unfreezing, tr.name, pre)
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


def _test_scores(
    model: TaskModel, head: Any, examples: list[Any], batch_size: int, setup: RunSetup, result: RunResult
) -> None:
    """Task scores of the best weights' test predictions (into ``result.test``), and test_predictions.jsonl."""
    probs = predict_examples(model, examples, batch_size, setup.device)
    result.test.update(score(head, examples, probs))
    if setup.run.main:
        with open(setup.run.path / "test_predictions.jsonl", "w", encoding="utf-8") as fh:
            for record in prediction_records(head, probs):
                fh.write(json.dumps(record) + "\n")


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
    if data.series is not None:
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
        assert data.tokenizer is not None  # text is read with a tokenizer
        distributed.same_on_all_ranks(
            json.dumps([data.tokenizer.to_dict(), data.labels], sort_keys=True), "tokenizer or label set"
        )
        run.write_json(run.tokenizer, data.tokenizer.to_dict())
    run.write_json(run.labels, data.labels, indent=1)
    return data


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
        else f"examples, {len(data.labels)} labels"
    )
    return (
        f"\ndata {cfg.dataset.name}: {sizes['train']:,} / {sizes['valid']:,} / {sizes['test']:,} train/valid/test "
        f"{what}\nmodel {m['name']} {m['num_layers']}x{m['hidden_size']}"
        f"{' bidirectional' if m['bidirectional'] else ''} + {head.name}, {count_parameters(model):,} parameters, "
        f"on {setup.device}"
    )
