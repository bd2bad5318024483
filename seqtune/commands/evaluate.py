"""``seqtune evaluate``: a fine-tuned checkpoint + a split of its own dataset -> metrics JSON.

The dataset config, tokenizer, labels and evaluation batch size are those saved with the run, so evaluating
``split=test`` reproduces the ``test/*`` metrics of the run's summary.json.
"""
from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

from seqtune.data.batching import BucketBatches
from seqtune.data.labelled import load_labelled
from seqtune.data.timeseries import ForecastWindows, load_timeseries
from seqtune.errors import DataError
from seqtune.training.inference import open_finetuned, predict_examples, rebuild_finetuned, score
from seqtune.training.loop import evaluate

SPLITS = ("train", "valid", "test")


def run(cfg: DictConfig) -> dict[str, object]:
    bad_split = [] if cfg.split in SPLITS else [f"split={cfg.split!r} is not one of {', '.join(SPLITS)}."]
    device, path, ckpt = open_finetuned(cfg, bad_split)
    model, tokenizer, labels, run_cfg = rebuild_finetuned(ckpt, str(path))
    model.to(device)
    batch_size = cfg.batch_size or run_cfg.trainer.eval_batch_size
    if ckpt["task"] == "regression":  # windows of the series, normalised with its train statistics as in the run
        series = load_timeseries(run_cfg.dataset, run_cfg.head.get("horizon"))
        windows = ForecastWindows(getattr(series, cfg.split), series.lookback, series.horizon, batch_size, False, 0,
                                  device, series.target_index)
        metrics: dict[str, object] = dict(evaluate(model, windows, device, run_cfg.trainer.precision))
        result = {"checkpoint": str(path), "split": cfg.split, "windows": windows.num_windows, **metrics}
    else:
        data = load_labelled(run_cfg.dataset, tokenizer=tokenizer, labels=labels)
        examples = getattr(data, cfg.split)
        batches = BucketBatches(examples, batch_size, shuffle=False, seed=0, device=device)
        metrics = dict(evaluate(model, batches, device, run_cfg.trainer.precision))
        metrics.update(score(model.objective, examples, predict_examples(model, examples, batch_size, device)))
        result = {"checkpoint": str(path), "split": cfg.split, "examples": len(examples), **metrics}
    text = json.dumps(result, indent=2)
    print(text)
    if cfg.output:
        try:
            Path(cfg.output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise DataError(f"output={cfg.output}: cannot write the metrics there ({exc.strerror}); give a writable "
                            "file path, or leave output unset (the metrics are printed above).") from None
    return result
