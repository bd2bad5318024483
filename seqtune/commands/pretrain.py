"""``seqtune pretrain``: train an encoder with a self-supervised objective; readable top to bottom.

seed -> data (the objective's data path: tokenizer or normaliser fitted on train, saved) -> model (encoder +
objective) -> optimizer and schedule -> loop (validation, best/last checkpoints, metrics.jsonl) -> test
evaluation with the best weights -> summary.json and a summary table.  Returns the final metrics.
Each objective names its data kind (``objectives.DATA_KINDS``); ``data/pretraining.py`` builds the batches.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from seqtune.training import checkpoint, distributed, resume
from seqtune.training.runtime import cpu_has_native_bf16, tune_malloc
from seqtune.config.schema import to_plain, validate
from seqtune.data.pretraining import load_pretrain_data
from seqtune.data.tokenizers import tokenizer_from_dict
from seqtune.training.environment import set_determinism, write_environment
from seqtune.training.loop import LoopSettings, evaluate, train
from seqtune.loggers.metrics import Display, summary_table, write_json
from seqtune.models.encoder import build_encoder
from seqtune.objectives import build_objective, data_kind
from seqtune.objectives.base import TaskModel
from seqtune.training.optim import build_optimizer, build_schedule
from seqtune.training.transfer import load_matching, resolve_checkpoint


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    """``auto``: the GPU if there is one.  In a data-parallel run ``auto`` and ``cuda`` mean the GPU of this
    process's local rank (``cuda:N`` is taken as given)."""
    if name == "auto":
        usable = distributed.gpus_for_every_local_rank() if distributed.active() else torch.cuda.is_available()
        name = "cuda" if usable else "cpu"
    if name == "cuda" and distributed.active():
        return torch.device("cuda", distributed.local_rank())
    return torch.device(name)


def parallel_note(batch_size: int, accumulate: int) -> str:
    """How the global batch is cut (empty in one process without accumulation)."""
    world = distributed.world_size()
    if world == 1 and accumulate == 1:
        return ""
    return (f"\nglobal batch {batch_size} = {world} process(es) x {accumulate} micro-batch(es) of about "
            f"{batch_size / (world * accumulate):.3g}")


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())  # parameters() yields a tied tensor once


def build_model(cfg: DictConfig, tokenizer, info: dict | None = None) -> TaskModel:
    """Encoder + objective as the config describes them (also rebuilds a model from a checkpoint's config,
    tokenizer and ``data`` entry; numeric-input models have no tokenizer)."""
    encoder = build_encoder(cfg.model, tokenizer.vocab_size if tokenizer is not None else 0,
                            getattr(tokenizer, "itos", None))
    return TaskModel(encoder, build_objective(cfg, encoder, tokenizer, info))


def _init_source(cfg: DictConfig) -> dict | None:
    """Read ``init_from``: its weights, tokenizer and architecture (which replaces ``cfg.model``, noted in the log)."""
    if cfg.init_from is None:
        return None
    path, how = resolve_checkpoint(cfg.init_from, cfg.output_root, "pretrain", "init_from")
    ckpt = checkpoint.load(path)
    for key, value in ckpt["config"]["model"].items():
        if key in cfg.model:
            cfg.model[key] = value
    print(f"{how}; architecture and tokenizer from it, dataset.tokenizer is not used", flush=True)
    return {"model": ckpt["model"], "tokenizer": ckpt["tokenizer"], "path": str(path)}


def run(cfg: DictConfig, run_dir: Path) -> dict[str, float]:
    # resume=: the checkpoint to go on from (its tokenizer and architecture, so nothing is re-derived differently)
    resumed, resume_note = resume.open_checkpoint(cfg.resume, run_dir) if cfg.resume else (None, "")
    if resumed is not None:
        for key, value in resumed["config"]["model"].items():
            if key in cfg.model:
                cfg.model[key] = value
    init = _init_source(cfg) if resumed is None else None  # init_from: its architecture replaces cfg.model
    validate(cfg)
    t = cfg.trainer
    if t.tune_malloc:
        tune_malloc()  # before the data and model allocate: large per-step buffers then come from the heap
    seed_everything(t.seed)
    set_determinism(t.deterministic)
    device = pick_device(t.device)
    main = distributed.is_main()  # only rank 0 writes files
    run_dir.mkdir(parents=True, exist_ok=True)
    if main:
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True), encoding="utf-8")
        if not cfg.resume:
            write_environment(run_dir)  # a resumed run keeps the record of its first launch

    # ---- data: the objective's data path; tokenizer / normaliser fitted on the train split only, saved
    source = resumed or init
    init_tokenizer = tokenizer_from_dict(source["tokenizer"]) if source and source.get("tokenizer") else None
    data = load_pretrain_data(cfg, data_kind(cfg.objective.name), device, init_tokenizer)
    tok = data.tokenizer
    if tok is not None:  # every rank fitted its own: they must agree, or the ranks would train different models
        distributed.same_on_all_ranks(json.dumps(tok.to_dict(), sort_keys=True), "tokenizer fitted on the train split")
    if "num_features" in data.info:  # numeric input: the width comes from the data, kept for finetune
        cfg.model.num_features = data.info["num_features"]
    if main:
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True), encoding="utf-8")
    if tok is not None and main:
        (run_dir / "tokenizer.json").write_text(json.dumps(tok.to_dict()), encoding="utf-8")
    if data.info and main:
        (run_dir / "data.json").write_text(json.dumps(data.info), encoding="utf-8")
    train_data, valid_data, test_data = data.train, data.valid, data.test

    # ---- model: encoder + objective
    model = build_model(cfg, tok, data.info)
    init_report = ""
    if init:  # ULMFiT's second stage: continue from the pretrained weights (a new objective's head starts fresh)
        init_report = "\n" + load_matching(model, init["model"], ("encoder.", "objective."), init["path"]).lines()
    model.to(device)
    optimizer = build_optimizer(cfg.optimizer, model.parameters())
    settings = LoopSettings(t.max_epochs, t.max_steps, t.eval_interval, t.log_interval,
                            cfg.optimizer.clip_grad_norm, t.precision, device, t.limit_eval_batches,
                            loggers=tuple(t.loggers), compile=t.compile, checkpoint_every=t.checkpoint_every,
                            keep_checkpoints=t.keep_checkpoints, skip_nonfinite=t.skip_nonfinite,
                            accumulate_grad_batches=t.accumulate_grad_batches)
    total_steps = settings.total_steps(len(train_data))
    scheduler = build_schedule(cfg.optimizer.schedule, optimizer, total_steps, len(train_data))

    display = Display(t.progress if main else "quiet", total_steps, f"pretrain {cfg.objective.name}")
    sizes = data.sizes
    display.message(
        f"run dir {run_dir}\ndata {cfg.dataset.name}: {sizes['train']:,} / {sizes['valid']:,} / {sizes['test']:,} "
        f"train/valid/test {data.unit}"
        + (f", vocabulary {tok.vocab_size:,} ({tok.kind})" if tok is not None else f", {data.info.get('num_columns')} columns")
        + "".join(f"\n  note: {n}" for n in data.notes) + init_report
        + f"\nmodel {cfg.model.name} {cfg.model.num_layers}x{cfg.model.hidden_size}, {count_parameters(model):,} "
        f"parameters, on {device}; {total_steps:,} steps ({len(train_data):,} per epoch)"
        + (f"\n{resume_note}" if resume_note else "")
        + parallel_note(t.batch_size, t.accumulate_grad_batches)
    )
    if device.type == "cpu" and t.precision == "bf16" and not cpu_has_native_bf16():
        display.message("[warn] trainer.precision=bf16 on a CPU without bf16 instructions (AVX-512 BF16/AMX): "
                        "bf16 is emulated and much slower than fp32 here; the LSTM/GRU runs in fp32. "
                        "Use trainer.precision=fp32 on this machine.")
    init_path = init["path"] if init else (resumed or {}).get("init_from")
    meta = {"config": to_plain(cfg), "tokenizer": tok.to_dict() if tok is not None else None,
            "objective": cfg.objective.name, "data": data.info, "init_from": init_path}

    # ---- train
    try:
        state = train(model, optimizer, scheduler, train_data, valid_data, settings, run_dir, meta, display,
                      resume=resumed)
    finally:
        display.close()

    # ---- test with the best weights
    distributed.barrier()  # rank 0 has written best.pt
    best = checkpoint.load(run_dir / "checkpoints" / "best.pt", map_location=device)
    model.load_state_dict(best["model"])
    test = evaluate(model, test_data, device, t.precision, t.limit_eval_batches)
    summary: dict[str, float] = {
        **{f"val/{k}": v for k, v in best["metrics"].items()},
        **{f"test/{k}": v for k, v in test.items()},
        **{f"val/{k}": v for k, v in data.baselines.items()},
        "best_step": state.best_step,
        "steps": state.step,
        "train/tokens_per_s": state.train_tokens / max(state.train_seconds, 1e-9),
        "train/seconds": state.train_seconds,
        "params": count_parameters(model),
    }
    if t.skip_nonfinite:
        summary["train/skipped_batches"] = state.skipped_batches
    if device.type == "cuda":
        summary["train/peak_gpu_mem_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    if init_path:
        summary["init_from"] = init_path
    if main:
        write_json(run_dir / "summary.json", summary)
    if display.mode != "quiet":
        display.console.print(summary_table(summary, f"pretrain {cfg.objective.name} on {cfg.dataset.name}"))
    return summary
