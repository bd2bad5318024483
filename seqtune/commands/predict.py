"""``seqtune predict``: texts (a file or stdin, one example per line) -> JSON Lines of labels and probabilities,
or of one tag per token, from a fine-tuned checkpoint.  A classifier of labelled series (``dataset=ucr``) reads one
series per line, values only (tab, comma or space between them), or a ``.ts`` file's cases (dimensions separated
by ``:``, the label optional; the header skipped), normalised and segmented as its run did.

Each line goes through the run's own preprocessing: its tokenizer, its ``dataset.max_length``, and for tagging
one id per whitespace-separated token.  Blank lines are skipped; each record carries its line number.
"""

from __future__ import annotations

import json
import sys

from omegaconf import DictConfig

from seqtune.data.encoding import encode_input
from seqtune.data.records import Example, Task, dataset_holds
from seqtune.data.series_labels import predict_series, run_encoding
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
        if task == "classification":
            out.append(Example(ids or [UNK_ID], 0))
        else:  # one id per word: the words ride along for character features
            out.append(Example(ids, [0] * len(ids), text.split()[: len(ids)]))
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
    series = dataset_holds(run_cfg.dataset.get("format")) == "labelled_series"
    if series:  # one series per line (values only, or .ts cases), encoded as the run encoded its files
        enc = run_encoding(run_cfg.dataset, int(run_cfg.model.num_features))
        variable = bool(run_cfg.dataset.get("variable_length"))
        numbered, steps = predict_series(numbered, enc, str(cfg.input), variable)
        examples = [Example(x, 0) for x in steps]
    else:
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
            if series:  # the values are in the input file; the line number says which
                out.write(json.dumps({"line": line_no, **record}) + "\n")
                continue
            key = "text" if ckpt[Key.TASK] == "classification" else "tokens"
            value = text if key == "text" else text.split()[: len(record["tags"])]
            out.write(json.dumps({"line": line_no, key: value, **record}) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return {"predictions": len(records)}
