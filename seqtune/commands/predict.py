"""``seqtune predict``: texts (a file or stdin, one example per line) -> JSON Lines of labels and probabilities,
or of one tag per token, from a fine-tuned checkpoint.

Each line goes through the run's own preprocessing: its tokenizer, its ``dataset.max_length``, and for tagging
one id per whitespace-separated token.  Blank lines are skipped; each record carries its line number.
"""

from __future__ import annotations

import json
import sys

from omegaconf import DictConfig

from seqtune.data.encoding import encode_input
from seqtune.data.records import Example, Task
from seqtune.data.tokenizers import UNK_ID, Tokenizer
from seqtune.errors import CheckpointError, DataError
from seqtune.training.checkpoint import Key
from seqtune.training.inference import (
    open_run_checkpoint,
    predict_examples,
    prediction_records,
    read_input_lines,
    rebuild_finetuned,
)


def encode_inputs(lines: list[str], tokenizer: Tokenizer, task: Task, max_length: int | None) -> list[Example]:
    """Raw lines -> examples, with the encoder ``load_labelled`` uses (labels are placeholders)."""
    out = []
    for text in lines:
        ids = encode_input(tokenizer, task, text)[:max_length]
        out.append(Example(ids or [UNK_ID], 0) if task == "classification" else Example(ids, [0] * len(ids)))
    return out


def run(cfg: DictConfig) -> dict[str, object]:
    device, path, ckpt = open_run_checkpoint(cfg, "finetune")
    if ckpt.get(Key.TASK) == "regression":
        raise CheckpointError(
            f"{path} is a regressor on a numeric series; predict labels text lines. Score it with "
            f"`seqtune evaluate checkpoint={path} split=test` (mse, mae)."
        )
    model, tokenizer, _labels, run_cfg = rebuild_finetuned(ckpt, str(path))
    model.to(device)
    raw = read_input_lines(cfg.input, "predict")
    numbered = [(i + 1, line) for i, line in enumerate(raw) if line.strip()]
    assert tokenizer is not None  # a text task's checkpoint holds its tokenizer
    examples = encode_inputs(
        [line for _, line in numbered], tokenizer, ckpt[Key.TASK], run_cfg.dataset.get("max_length")
    )
    records = (
        prediction_records(model.objective, predict_examples(model, examples, cfg.batch_size, device))
        if examples
        else []
    )
    try:
        out = sys.stdout if cfg.output == "-" else open(cfg.output, "w", encoding="utf-8")
    except OSError as exc:
        raise DataError(
            f"output={cfg.output}: cannot write it ({exc.strerror}); give a writable file path, or output=- for stdout."
        ) from None
    try:
        for (line_no, text), record in zip(numbered, records):
            key = "text" if ckpt[Key.TASK] == "classification" else "tokens"
            value = text if key == "text" else text.split()[: len(record["tags"])]
            out.write(json.dumps({"line": line_no, key: value, **record}) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return {"predictions": len(records)}
