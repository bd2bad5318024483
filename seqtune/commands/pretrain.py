"""``seqtune pretrain``: train an encoder with a self-supervised objective; readable top to bottom.

seed -> data (the objective's data path: tokenizer or normaliser fitted on train, saved) -> model (encoder +
objective) -> optimizer and schedule -> loop (validation, best/last checkpoints, metrics.jsonl) -> test
evaluation with the best weights -> summary.json and a summary table.  Returns the final metrics.
Each objective names its data kind (its spec); ``data/pretraining.py`` builds the batches.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from seqtune.config.schema import to_plain
from seqtune.data.fingerprint import dataset_paths, fingerprint
from seqtune.data.pretraining import PretrainData, load_pretrain_data
from seqtune.data.tokenizers import tokenizer_from_dict
from seqtune.objectives import build_model, data_kind
from seqtune.objectives.base import TaskModel
from seqtune.training import checkpoint, distributed, resume
from seqtune.training.checkpoint import Key
from seqtune.training.optim import build_optimizer, build_schedule, schedule_warnings
from seqtune.training.run import (
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
from seqtune.training.runtime import cpu_has_native_bf16
from seqtune.training.transfer import grow_vocab_rows, load_matching
from seqtune.training.validation import validate_pretrain


def run(cfg: DictConfig, run_dir: Path) -> dict[str, float]:
    # resume=: the checkpoint to go on from (its tokenizer and architecture, so nothing is re-derived differently)
    resumed, resume_note = resume.open_checkpoint(cfg.resume, run_dir, cfg=cfg) if cfg.resume else (None, "")
    if resumed is not None:
        _take_architecture(cfg, resumed)
    init = _init_source(cfg) if resumed is None else None  # init_from: its architecture replaces cfg.model
    validate_pretrain(cfg)
    t = cfg.trainer
    setup = start_run(t, run_dir, first_launch=not cfg.resume)
    setup.run.write_text(setup.run.config, OmegaConf.to_yaml(cfg, resolve=True))

    # ---- data (tokenizer / normaliser fitted on the train split only, saved), encoder + objective, optimizer
    data, model, optimizer, init_report = _build(cfg, setup, init, resumed)
    tok = data.tokenizer
    settings = loop_settings(t, cfg.optimizer, setup.device)
    total_steps = settings.total_steps(len(data.train))
    scheduler = build_schedule(cfg.optimizer.schedule, optimizer, total_steps, len(data.train))
    display = make_display(t, setup.run, total_steps, f"pretrain {cfg.objective.name}")
    for warning in schedule_warnings(cfg.optimizer.schedule, total_steps, len(data.train)):
        display.message(warning)
    display.message(
        _describe(cfg, data, model, setup, total_steps, init_report)
        + (f"\n{resume_note}" if resume_note else "")
        + parallel_note(t.batch_size, t.accumulate_grad_batches)
    )
    if setup.device.type == "cpu" and t.precision == "bf16" and not cpu_has_native_bf16():
        display.message(
            "[warn] trainer.precision=bf16 on a CPU without bf16 instructions (AVX-512 BF16/AMX): "
            "bf16 is emulated and much slower than fp32 here; the LSTM/GRU runs in fp32. "
            "Use trainer.precision=fp32 on this machine."
        )
    init_path = init["path"] if init else (resumed or {}).get(Key.INIT_FROM)
    meta = {
        Key.CONFIG: to_plain(cfg),
        Key.TOKENIZER: tok.to_dict() if tok is not None else None,
        Key.OBJECTIVE: cfg.objective.name,
        Key.DATA: data.info,
        Key.INIT_FROM: init_path,
        Key.DATA_FILES: fingerprint(dataset_paths(cfg.dataset)),  # resume checks the files against it
    }

    # ---- train, then test with the best weights
    result = train_and_test(
        model, optimizer, scheduler, (data.train, data.valid, data.test), settings, setup, meta, display, resume=resumed
    )
    state = result.state
    summary: dict[str, Any] = {
        **best_and_test(result),
        **{f"val/{k}": v for k, v in data.baselines.items()},
        "best_step": state.best_step,
        "steps": state.step,
        "train/tokens_per_s": state.train_tokens / max(state.train_seconds, 1e-9),
        "train/seconds": state.train_seconds,
        "params": count_parameters(model),
        **skipped(result),
    }
    if setup.device.type == "cuda":
        summary["train/peak_gpu_mem_mb"] = torch.cuda.max_memory_allocated(setup.device) / 2**20
    if init_path:
        summary["init_from"] = init_path
    finish_run(setup.run, summary, display, f"pretrain {cfg.objective.name} on {cfg.dataset.name}")
    return summary


def _take_architecture(cfg: DictConfig, ckpt: dict[str, Any]) -> None:
    """The checkpoint's ``model`` settings replace ``cfg.model`` (keys the schema knows)."""
    for key, value in ckpt[Key.CONFIG]["model"].items():
        if key in cfg.model:
            cfg.model[key] = value


def _init_source(cfg: DictConfig) -> dict[str, Any] | None:
    """Read ``init_from``: its weights, tokenizer and architecture (which replaces ``cfg.model``, noted in the log)."""
    if cfg.init_from is None:
        return None
    path, how = resolve_checkpoint(cfg.init_from, cfg.output_root, "pretrain", "init_from")
    ckpt = checkpoint.load(path)
    checkpoint.require(ckpt, path, (Key.MODEL, Key.TOKENIZER, Key.CONFIG), config=("model",))
    _take_architecture(cfg, ckpt)
    taken = _take_objective_settings(cfg, ckpt, _command_line_keys())
    shown = f"; objective settings from it: {', '.join(taken)}" if taken else ""
    print(f"{how}; architecture and tokenizer from it, dataset.tokenizer is not used{shown}", flush=True)
    return {Key.MODEL: ckpt[Key.MODEL], Key.TOKENIZER: ckpt[Key.TOKENIZER], "path": str(path)}


def _take_objective_settings(cfg: DictConfig, ckpt: dict[str, Any], explicit: set[str]) -> list[str]:
    """The checkpoint's own settings of its objective (clm: softmax, the resolved cutoffs, div_value) replace
    ``cfg.objective``'s when it continues the same objective, so a second stage need not repeat them; keys
    given on the command line (``explicit``) and keys this objective does not have stay as they are.
    Returns the ``key=value`` pairs taken."""
    if ckpt.get(Key.OBJECTIVE) != cfg.objective.name:
        return []
    taken = []
    for key, value in ckpt[Key.CONFIG].get("objective", {}).items():
        if key == "name" or key not in cfg.objective or f"objective.{key}" in explicit:
            continue
        if cfg.objective[key] != value:
            cfg.objective[key] = value
            taken.append(f"objective.{key}={value}")
    return taken


def _command_line_keys() -> set[str]:
    """The keys of this run's command-line overrides (``a.b=1``, ``+a.b=1`` -> ``a.b``); none outside Hydra."""
    if not HydraConfig.initialized():
        return set()
    overrides = HydraConfig.get().overrides.task
    return {o.lstrip("+~").split("=", 1)[0] for o in overrides}


def _build(
    cfg: DictConfig, setup: RunSetup, init: dict[str, Any] | None, resumed: dict[str, Any] | None
) -> tuple[PretrainData, TaskModel, torch.optim.Optimizer, str]:
    """The objective's data, the model (with init_from's weights: ULMFiT's second stage; a new objective's head
    starts fresh) and its optimizer; the lines saying what init_from loaded."""
    extend = init is not None and cfg.init_vocab == "extend"
    data = _load_data(cfg, setup, resumed or init, extend)
    model = build_model(cfg, data.tokenizer, data.info)
    resolved: dict[str, Any] = getattr(model.objective, "resolved_settings", dict)()
    if resolved:  # e.g. the default cutoffs an adaptive softmax chose: saved as chosen (a later stage reads them)
        cfg.objective.update(resolved)
        setup.run.write_text(setup.run.config, OmegaConf.to_yaml(cfg, resolve=True))
    init_report = ""
    if init:
        weights, before = init[Key.MODEL], tokenizer_from_dict(init[Key.TOKENIZER]).vocab_size if extend else 0
        if extend and data.tokenizer is not None and data.tokenizer.vocab_size > before:
            weights = grow_vocab_rows(weights, before, data.tokenizer.vocab_size)  # new words: the mean row
        init_report = "\n" + load_matching(model, weights, ("encoder.", "objective."), init["path"]).lines()
    model.to(setup.device)
    return data, model, build_optimizer(cfg.optimizer, model.parameters()), init_report


def lr_find_parts(cfg: DictConfig, setup: RunSetup) -> tuple[TaskModel, torch.optim.Optimizer, Any, list[str]]:
    """``seqtune lr-find pretrain``: the run's model, optimizer and training batches, and what was built."""
    init = _init_source(cfg)
    validate_pretrain(cfg)
    data, model, optimizer, init_report = _build(cfg, setup, init, None)
    return model, optimizer, data.train, list(data.notes) + ([init_report.strip()] if init_report else [])


def _load_data(cfg: DictConfig, setup: RunSetup, source: dict[str, Any] | None, extend: bool = False) -> PretrainData:
    """The objective's data path (the tokenizer of ``source``, a checkpoint, if it has one, extended by this
    dataset's words with ``extend``); the fitted tokenizer, data facts and final config go to the run directory."""
    init_tokenizer = tokenizer_from_dict(source[Key.TOKENIZER]) if source and source.get(Key.TOKENIZER) else None
    data = load_pretrain_data(cfg, data_kind(cfg.objective.name), setup.device, init_tokenizer, extend_vocab=extend)
    tok, run = data.tokenizer, setup.run
    if tok is not None:  # every rank fitted its own: they must agree, or the ranks would train different models
        distributed.same_on_all_ranks(json.dumps(tok.to_dict(), sort_keys=True), "tokenizer fitted on the train split")
    if "num_features" in data.info:  # numeric input: the width comes from the data, kept for finetune
        cfg.model.num_features = data.info["num_features"]
    run.write_text(run.config, OmegaConf.to_yaml(cfg, resolve=True))
    if tok is not None:
        run.write_json(run.tokenizer, tok.to_dict())
    if data.info:
        run.write_json(run.data, data.info)
    return data


def _describe(
    cfg: DictConfig, data: PretrainData, model: torch.nn.Module, setup: RunSetup, total_steps: int, init_report: str
) -> str:
    """The run's opening lines: where it writes, the data (and what init_from loaded), the model, the steps."""
    sizes, tok = data.sizes, data.tokenizer
    vocab = (
        f", vocabulary {tok.vocab_size:,} ({tok.kind})"
        if tok is not None
        else f", {data.info.get('num_columns')} columns"
    )
    return (
        f"run dir {setup.run.path}\ndata {cfg.dataset.name}: {sizes['train']:,} / {sizes['valid']:,} / "
        f"{sizes['test']:,} train/valid/test {data.unit}{vocab}"
        + "".join(f"\n  note: {n}" for n in data.notes)
        + init_report
        + f"\nmodel {cfg.model.name} {cfg.model.num_layers}x{cfg.model.hidden_size}, {count_parameters(model):,} "
        f"parameters, on {setup.device}; {total_steps:,} steps ({len(data.train):,} per epoch)"
    )
