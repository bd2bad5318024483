"""``seqtune evaluate``: a fine-tuned checkpoint + a split of its own dataset -> metrics JSON.

The dataset config, tokenizer, labels and evaluation batch size are those saved with the run, so evaluating
``split=test`` reproduces the ``test/*`` metrics of the run's summary.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

from seqtune.data.finetuning import SPLITS, load_task_data
from seqtune.errors import DataError
from seqtune.training.checkpoint import Key
from seqtune.training.inference import (
    checkpoint_dataset,
    evaluate_and_predict,
    open_run_checkpoint,
    predict_examples,
    rebuild_finetuned,
    score,
)
from seqtune.training.loop import evaluate


def run(cfg: DictConfig) -> dict[str, object]:
    bad_split = [] if cfg.split in SPLITS else [f"split={cfg.split!r} is not one of {', '.join(SPLITS)}."]
    device, path, ckpt = open_run_checkpoint(cfg, "finetune", bad_split)
    model, tokenizer, labels, run_cfg = rebuild_finetuned(ckpt, str(path))
    model.to(device)
    batch_size = cfg.batch_size or run_cfg.trainer.eval_batch_size
    # the run's own preprocessing: its tokenizer and labels, or its series normalised with the train statistics
    data = load_task_data(
        checkpoint_dataset(run_cfg.dataset),  # the checkpoint names files; it never makes seqtune fetch or write
        "series" if ckpt[Key.TASK] == "regression" else "text",
        (batch_size, batch_size),
        0,
        device,
        tokenizer=tokenizer,
        labels=labels,
        horizon=run_cfg.head.get("horizon"),
        shuffle_train=False,
    )
    precision = run_cfg.trainer.precision
    metrics: dict[str, object]
    if data.labelled is not None:
        examples = getattr(data.labelled, cfg.split)
        if precision == "fp32":  # loss, metrics and predictions from one encoder pass per batch
            loss_metrics, probs = evaluate_and_predict(model, examples, batch_size, device)
        else:
            loss_metrics = evaluate(model, getattr(data, cfg.split), device, precision)
            probs = predict_examples(model, examples, batch_size, device)
        metrics = {**loss_metrics, **score(model.objective, examples, probs)}
    else:
        metrics = dict(evaluate(model, getattr(data, cfg.split), device, precision))
    result = {"checkpoint": str(path), "split": cfg.split, data.unit: data.sizes[cfg.split], **metrics}
    text = json.dumps(result, indent=2)
    print(text)
    if cfg.output:
        try:
            Path(cfg.output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise DataError(
                f"output={cfg.output}: cannot write the metrics there ({exc.strerror}); give a writable "
                "file path, or leave output unset (the metrics are printed above)."
            ) from None
    return result
