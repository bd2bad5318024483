"""``seqtune pretrain``: train an encoder with a self-supervised objective; readable top to bottom.

seed -> data (tokenizer fitted on train, saved) -> model (encoder + objective) -> optimizer and schedule ->
loop (validation, best/last checkpoints, metrics.jsonl) -> test evaluation with the best weights ->
summary.json and a summary table.  Returns the final metrics.
"""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from seqtune import checkpoint
from seqtune.config import to_plain, validate
from seqtune.data.batching import LMStream
from seqtune.data.text import load_lm_corpus, unigram_log_loss
from seqtune.data.tokenizers import tokenizer_from_dict
from seqtune.errors import ConfigError
from seqtune.loop import LoopSettings, evaluate, train
from seqtune.metrics import Display, summary_table, write_json
from seqtune.models.encoder import build_encoder
from seqtune.objectives import build_objective
from seqtune.objectives.base import TaskModel
from seqtune.optim import build_optimizer, build_schedule
from seqtune.transfer import load_matching, resolve_checkpoint


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())  # parameters() yields a tied tensor once


def build_model(cfg: DictConfig, tokenizer) -> TaskModel:
    """Encoder + objective as the config describes them (also rebuilds a model from a checkpoint's config)."""
    encoder = build_encoder(cfg.model, tokenizer.vocab_size)
    return TaskModel(encoder, build_objective(cfg, encoder, tokenizer))


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
    init = _init_source(cfg)  # init_from: the checkpoint's architecture replaces cfg.model before validation
    validate(cfg)
    t = cfg.trainer
    seed_everything(t.seed)
    device = pick_device(t.device)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True), encoding="utf-8")

    # ---- data: tokenizer fitted on the train split only, saved with the run
    corpus = load_lm_corpus(cfg.dataset, tokenizer=tokenizer_from_dict(init["tokenizer"]) if init else None)
    tok = corpus.tokenizer
    (run_dir / "tokenizer.json").write_text(json.dumps(tok.to_dict()), encoding="utf-8")
    sizes = {s: getattr(corpus, s).numel() for s in ("train", "valid", "test")}
    for s, n in sizes.items():
        if n < 2 * t.batch_size:
            raise ConfigError(f"the {s} split of dataset {cfg.dataset.name!r} has only {n} tokens, too few for "
                              f"trainer.batch_size={t.batch_size}; use a smaller batch size or more data.")
    train_data = LMStream(corpus.train, t.batch_size, t.bptt, device)
    valid_data = LMStream(corpus.valid, t.eval_batch_size, t.bptt, device)
    test_data = LMStream(corpus.test, t.eval_batch_size, t.bptt, device)

    # ---- model: encoder + objective
    model = build_model(cfg, tok)
    init_report = ""
    if init:  # ULMFiT's second stage: continue from the pretrained weights (a new objective's head starts fresh)
        init_report = "\n" + load_matching(model, init["model"], ("encoder.", "objective."), init["path"]).lines()
    model.to(device)
    optimizer = build_optimizer(cfg.optimizer, model.parameters())
    settings = LoopSettings(t.max_epochs, t.max_steps, t.eval_interval, t.log_interval,
                            cfg.optimizer.clip_grad_norm, t.precision, device, t.limit_eval_batches)
    total_steps = settings.total_steps(len(train_data))
    scheduler = build_schedule(cfg.optimizer.schedule, optimizer, total_steps, len(train_data))

    display = Display(t.progress, total_steps, f"pretrain {cfg.objective.name}")
    display.message(
        f"run dir {run_dir}\ndata {cfg.dataset.name}: {sizes['train']:,} / {sizes['valid']:,} / {sizes['test']:,} "
        f"train/valid/test tokens, vocabulary {tok.vocab_size:,} ({tok.kind})"
        + "".join(f"\n  note: {n}" for n in corpus.notes) + init_report
        + f"\nmodel {cfg.model.name} {cfg.model.num_layers}x{cfg.model.hidden_size}, {count_parameters(model):,} "
        f"parameters, on {device}; {total_steps:,} steps ({len(train_data):,} per epoch)"
    )
    meta = {"config": to_plain(cfg), "tokenizer": tok.to_dict(), "objective": cfg.objective.name}

    # ---- train
    try:
        state = train(model, optimizer, scheduler, train_data, valid_data, settings, run_dir, meta, display)
    finally:
        display.close()

    # ---- test with the best weights
    best = checkpoint.load(run_dir / "checkpoints" / "best.pt", map_location=device)
    model.load_state_dict(best["model"])
    test = evaluate(model, test_data, device, t.precision, t.limit_eval_batches)
    unigram_ppl = math.exp(unigram_log_loss(corpus.train, corpus.valid, tok.vocab_size))
    summary: dict[str, float] = {
        **{f"val/{k}": v for k, v in best["metrics"].items()},
        **{f"test/{k}": v for k, v in test.items()},
        "val/unigram_ppl": unigram_ppl,
        "best_step": state.best_step,
        "steps": state.step,
        "train/tokens_per_s": state.train_tokens / max(state.train_seconds, 1e-9),
        "train/seconds": state.train_seconds,
        "params": count_parameters(model),
    }
    if init:
        summary["init_from"] = init["path"]
    write_json(run_dir / "summary.json", summary)
    if display.mode != "quiet":
        display.console.print(summary_table(summary, f"pretrain {cfg.objective.name} on {cfg.dataset.name}"))
    return summary
