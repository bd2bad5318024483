"""``seqtune finetune``: put a task head on a pretrained encoder and train it; readable top to bottom.

seed -> checkpoint (architecture and tokenizer come from it) -> labelled data, encoded with that tokenizer ->
model (encoder + head; pretrained tensors loaded, the rest fresh, both listed) -> layer groups with
discriminative learning rates -> loop (the transfer strategy sets which groups train at each epoch start;
best.pt by the monitored validation metric, optional early stopping) -> test scores with the best weights
-> summary.json, labels.json, test_predictions.jsonl.  Returns the final metrics.

A text task reads labelled examples (length-bucketed batches); ``head=regressor`` reads windows of a numeric
series (``series_facts``: horizon, targets and the pretrained encoder's input layout, saved in the checkpoint).
``transfer=multitask`` wraps the head with the checkpoint's own pretraining objective (``multitask.py``).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from seqtune.training import checkpoint, distributed, resume
from seqtune.config.schema import model_problems, to_plain, validate_finetune
from seqtune.data.batching import BucketBatches
from seqtune.data.labelled import load_labelled
from seqtune.data.timeseries import ForecastWindows, TimeSeriesData, load_timeseries
from seqtune.data.tokenizers import tokenizer_from_dict
from seqtune.errors import ConfigError
from seqtune.heads import build_head
from seqtune.training.inference import prediction_records, predict_examples, score
from seqtune.training.loop import LoopSettings, evaluate, train
from seqtune.loggers.metrics import Display, summary_table, write_json
from seqtune.heads.multitask import build_multitask
from seqtune.models.encoder import build_encoder
from seqtune.objectives.base import TaskModel
from seqtune.training.optim import build_optimizer, build_schedule
from seqtune.training.runtime import tune_malloc
from seqtune.training.environment import set_determinism, write_environment
from seqtune.commands.pretrain import count_parameters, parallel_note, pick_device, seed_everything
from seqtune.registry import TRANSFERS
from seqtune.training.transfer import (discriminative_param_groups, layer_groups, load_matching, merged_model_config,
                              resolve_checkpoint, set_trainable)

MINIMISED = ("loss", "mse", "mae")
LAYOUT_DEFAULTS = {"channel_independent": True, "subtract_last": True, "segment_length": 1}


def series_facts(head_cfg, series: TimeSeriesData, source_objective: dict | None) -> dict:
    """Plain facts a regressor is built from (saved in its checkpoint): horizon, targets, normaliser, and how a
    window is read -- ``head.*`` if set, else the pretraining objective's setting, else ``LAYOUT_DEFAULTS``."""
    targets = list(range(len(series.columns))) if series.target_index is None else [series.target_index]
    std = series.normalizer.std if series.normalizer is not None else [1.0] * len(series.columns)
    layout = {k: head_cfg[k] if head_cfg[k] is not None else (source_objective or {}).get(k, default)
              for k, default in LAYOUT_DEFAULTS.items()}
    return {"horizon": series.horizon, "lookback": series.lookback, "target_index": series.target_index,
            "targets": [series.columns[i] for i in targets], "target_std": [float(std[i]) for i in targets],
            "num_columns": len(series.columns), "timeseries": series.to_dict(), **layout}


def series_width(facts: dict) -> int:
    """Values per RNN step the layout feeds the encoder (its model.num_features)."""
    return (1 if facts["channel_independent"] else facts["num_columns"]) * facts["segment_length"]



SMOKE_SIZES = ("embedding_size", "hidden_size", "num_layers")  # the model keys conf/debug/smoke.yaml sets


def run(cfg: DictConfig, run_dir: Path) -> dict[str, object]:
    resumed, resume_note = resume.open_checkpoint(cfg.resume, run_dir) if cfg.resume else (None, "")
    if resumed is not None:  # the pretrained checkpoint as the run resolved it (latest may point elsewhere now)
        cfg.transfer.checkpoint = resumed["config"]["transfer"]["checkpoint"]
        cfg.model = resumed["config"]["model"]
    validate_finetune(cfg)
    t, tr = cfg.trainer, cfg.transfer
    strategy = TRANSFERS.get(tr.name, key="transfer.name")
    if t.tune_malloc:
        tune_malloc()
    seed_everything(t.seed)
    set_determinism(t.deterministic)
    device = pick_device(t.device)
    main = distributed.is_main()  # only rank 0 writes files
    run_dir.mkdir(parents=True, exist_ok=True)
    if main and not cfg.resume:
        write_environment(run_dir)  # a resumed run keeps the record of its first launch
    notes: list[str] = []  # shown once the display exists

    # ---- checkpoint: the architecture and the tokenizer (also for scratch: the same model, random weights)
    source, ckpt_path, tokenizer = None, None, None
    model_cfg = to_plain(cfg.model)
    if tr.checkpoint is not None:
        ckpt_path, how = resolve_checkpoint(tr.checkpoint, cfg.output_root, "pretrain", "transfer.checkpoint")
        notes.append(how)
        source = checkpoint.load(ckpt_path)
        if cfg.get("smoke"):  # debug=smoke shrinks new models only: a pretrained encoder keeps its sizes
            shrunk = sorted(k for k in SMOKE_SIZES if k in model_cfg)
            model_cfg = {k: v for k, v in model_cfg.items() if k not in SMOKE_SIZES}
            if shrunk:
                notes.append(f"debug=smoke: the checkpoint's {', '.join(shrunk)} kept (a pretrained encoder cannot shrink)")
        model_cfg = merged_model_config(source["config"]["model"], model_cfg)
        if source.get("tokenizer"):
            tokenizer = tokenizer_from_dict(source["tokenizer"])
            notes.append(f"architecture and tokenizer ({tokenizer.kind}, {tokenizer.vocab_size:,} tokens) from the "
                         "checkpoint; dataset.tokenizer is not used")
        else:
            notes.append(f"architecture from the checkpoint (numeric input, {model_cfg.get('num_features')} values "
                         "per step)")
    problems = model_problems(OmegaConf.create(model_cfg))
    if problems:
        raise ConfigError(problems)

    # ---- data: text encoded with the pretrained tokenizer (labels saved), or windows of a numeric series
    series = None
    if cfg.head.name == "regressor":
        ts = load_timeseries(cfg.dataset, cfg.head.horizon)
        series = series_facts(cfg.head, ts, source["config"].get("objective") if source else None)
        if not model_cfg.get("num_features"):  # no checkpoint: the width comes from the layout
            model_cfg["num_features"] = series_width(series)
        if model_cfg.get("input") != "numeric" or model_cfg["num_features"] != series_width(series):
            raise ConfigError(
                f"head=regressor feeds the encoder {series_width(series)} values per step (head.channel_independent="
                f"{series['channel_independent']}, head.segment_length={series['segment_length']}, "
                f"{series['num_columns']} columns), but the encoder reads model.input={model_cfg.get('input')!r} with "
                f"model.num_features={model_cfg.get('num_features')}; use a checkpoint pretrained on numeric series "
                "(objective=forecast or masked_values) and leave head.channel_independent/segment_length at null.")
        labels, task, data_notes = series["targets"], "regression", ts.notes
        batches = [ForecastWindows(part, ts.lookback, ts.horizon, size, shuffle, t.seed, device, ts.target_index)
                   for part, size, shuffle in ((ts.train, t.batch_size, True), (ts.valid, t.eval_batch_size, False),
                                               (ts.test, t.eval_batch_size, False))]
        sizes = [b.num_windows for b in batches]
        if main:
            (run_dir / "data.json").write_text(json.dumps(series), encoding="utf-8")
    else:
        data = load_labelled(cfg.dataset, tokenizer=tokenizer)
        tokenizer, labels, task, data_notes = data.tokenizer, data.labels, data.task, data.notes
        batches = [BucketBatches(part, size, shuffle=shuffle, seed=t.seed if shuffle else 0, device=device)
                   for part, size, shuffle in ((data.train, t.batch_size, True), (data.valid, t.eval_batch_size, False),
                                               (data.test, t.eval_batch_size, False))]
        sizes = [len(data.train), len(data.valid), len(data.test)]
        distributed.same_on_all_ranks(json.dumps([tokenizer.to_dict(), labels], sort_keys=True), "tokenizer or label set")
        if main:
            (run_dir / "tokenizer.json").write_text(json.dumps(tokenizer.to_dict()), encoding="utf-8")
    train_data, valid_data, test_data = batches
    if main:
        (run_dir / "labels.json").write_text(json.dumps(labels, indent=1), encoding="utf-8")
    plain = to_plain(cfg)
    plain["model"] = model_cfg
    plain["transfer"]["checkpoint"] = str(ckpt_path) if ckpt_path else None  # "latest" resolved, for the record
    if main:
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(plain)), encoding="utf-8")

    # ---- model: encoder (+ pretrained weights) and head (+ the pretraining objective under multitask)
    encoder = build_encoder(OmegaConf.create(model_cfg), tokenizer.vocab_size if tokenizer is not None else 0,
                            getattr(tokenizer, "itos", None))
    head = build_head(cfg.head, encoder, labels, series)
    if head.task != task:
        raise ConfigError(f"head={head.name} is for {head.task}, but dataset {cfg.dataset.name!r} is {task} data; "
                          f"use head={'tagger' if task == 'tagging' else 'classifier'}.")
    monitor = head.default_monitor if t.monitor == "auto" else t.monitor
    settings = LoopSettings(t.max_epochs, t.max_steps, t.eval_interval, t.log_interval, cfg.optimizer.clip_grad_norm,
                            t.precision, device, t.limit_eval_batches, monitor,
                            "min" if monitor in MINIMISED else "max", t.patience, tuple(t.loggers), t.compile,
                            t.checkpoint_every, t.keep_checkpoints, t.skip_nonfinite, t.accumulate_grad_batches)
    total_steps = settings.total_steps(len(train_data))
    model = TaskModel(encoder, head)
    if strategy.loads_checkpoint:
        report = load_matching(model, source["model"], ("encoder.",), str(ckpt_path))
        notes.append(report.lines())
    else:
        notes.append(f"transfer=scratch: every tensor initialised fresh ({len(model.state_dict())} tensors)")
    if strategy.auxiliary:  # the head's tensors become objective.head.*, the pretraining objective's objective.aux.*
        multitask, line = build_multitask(source, str(ckpt_path), encoder, tokenizer, head, tr.aux_weight,
                                          tr.aux_schedule, total_steps, series)
        model = TaskModel(encoder, multitask)
        notes.append(line)
    model.to(device)

    # ---- optimizer over layer groups (discriminative lrs), schedule, and the unfreezing plan per epoch
    groups = layer_groups(model)
    optimizer = build_optimizer(cfg.optimizer, discriminative_param_groups(groups, cfg.optimizer.lr, tr.lr_factor))
    freezes = any(strategy.frozen_groups(len(groups), e, tr.freeze_layers) > 0 for e in range(1, t.max_epochs + 1))
    settings = dataclasses.replace(settings, find_unused_parameters=freezes)  # DDP: frozen layer groups get no gradient
    scheduler = build_schedule(cfg.optimizer.schedule, optimizer, total_steps, len(train_data))
    display = Display(t.progress if main else "quiet", total_steps, f"finetune {tr.name}")
    trainable_by_epoch: dict[int, int] = {}

    def on_epoch_start(epoch: int) -> None:
        frozen = strategy.frozen_groups(len(groups), epoch, tr.freeze_layers)
        trainable_by_epoch[epoch] = set_trainable(groups, frozen)
        names = ", ".join(name for name, _ in groups[frozen:])
        display.message(f"epoch {epoch}: training {names} ({trainable_by_epoch[epoch]:,} parameters)")

    if resumed is not None:  # the stages before the resumed epoch, for the summary (a function of the epoch)
        for epoch in range(1, resumed["epoch"]):
            frozen = strategy.frozen_groups(len(groups), epoch, tr.freeze_layers)
            trainable_by_epoch[epoch] = sum(p.numel() for _, ps in groups[frozen:] for p in ps)
        notes.append(resume_note)
    lrs = ", ".join(f"{g['name']} {g['lr']:.3g}" for g in optimizer.param_groups)
    display.message(
        f"run dir {run_dir}\n" + "\n".join(notes) + "".join(f"\n  note: {n}" for n in data_notes)
        + f"\ndata {cfg.dataset.name}: {sizes[0]:,} / {sizes[1]:,} / {sizes[2]:,} train/valid/test "
        + (f"windows (L={series['lookback']}, H={series['horizon']}), targets {', '.join(labels)}" if series else
           f"examples, {len(labels)} labels") + f"\nmodel {model_cfg['name']} {model_cfg['num_layers']}x"
        f"{model_cfg['hidden_size']}{' bidirectional' if model_cfg['bidirectional'] else ''} + {head.name}, "
        f"{count_parameters(model):,} parameters, on {device}; transfer={tr.name} ({strategy.describe}); "
        f"lr per group: {lrs}; {total_steps:,} steps; best.pt by val/{monitor}"
        + parallel_note(t.batch_size, t.accumulate_grad_batches)
    )
    meta = {"config": plain, "tokenizer": tokenizer.to_dict() if tokenizer is not None else None,
            "objective": head.name, "head": head.name, "labels": labels, "task": task, "transfer": tr.name,
            "series": series}

    # ---- train
    try:
        state = train(model, optimizer, scheduler, train_data, valid_data, settings, run_dir, meta, display,
                      resume=resumed, on_epoch_start=on_epoch_start)
    finally:
        display.close()

    # ---- test with the best weights: loss from the loop's evaluation, scores from the predictions
    distributed.barrier()  # rank 0 has written best.pt
    best = checkpoint.load(run_dir / "checkpoints" / "best.pt", map_location=device)
    model.load_state_dict(best["model"])
    test = evaluate(model, test_data, device, t.precision, t.limit_eval_batches)
    if series is None:  # text: task scores from the predictions (a regressor's mse/mae are the loop's own sums)
        probs = predict_examples(model, data.test, t.eval_batch_size, device)
        test.update(score(head, data.test, probs))
    if main and series is None:
        with open(run_dir / "test_predictions.jsonl", "w", encoding="utf-8") as fh:
            for record in prediction_records(head, probs):
                fh.write(json.dumps(record) + "\n")
    summary: dict[str, object] = {
        **{f"val/{k}": v for k, v in best["metrics"].items()},
        **{f"test/{k}": v for k, v in test.items()},
        "best_step": state.best_step, "best_epoch": best["epoch"], "steps": state.step,
        "stopped_early": state.stopped_early, "train/examples": sizes[0],
        "train/seconds": state.train_seconds, "params": count_parameters(model),
        "trainable_params_by_epoch": trainable_by_epoch, "transfer": tr.name,
        "checkpoint": str(ckpt_path) if ckpt_path else None,
    }
    if t.skip_nonfinite:
        summary["train/skipped_batches"] = state.skipped_batches
    if main:
        write_json(run_dir / "summary.json", summary)
    if display.mode != "quiet":
        shown = {k: v for k, v in summary.items() if not isinstance(v, (dict, list))}
        display.console.print(summary_table(shown, f"finetune {tr.name} {head.name} on {cfg.dataset.name}"))
    return summary
