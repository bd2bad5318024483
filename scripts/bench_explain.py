#!/usr/bin/env python
"""Seconds per sentence of ``seqtune explain``'s attribution on a CPU, for a 2x256 LSTM classifier.

Without ``--checkpoint`` the model is built here with random weights: a 2-layer LSTM of 256 units over 200-wide
embeddings of an 8,000-word vocabulary and a six-class concat-pooling head (the size of the TREC-6 model in the
README), and the sentences are random ids of ``--length`` tokens.  With ``--checkpoint`` (a fine-tuned run or
.pt) the model is that run's and the sentences are the lines of ``--input`` (the first ``--sentences``).

Each method runs through ``seqtune.explain.attribution.explain_text``, the function the command calls per input:

* ``ig-50``: Integrated Gradients with 50 steps, no refinement (``tolerance=0``): the fixed cost;
* ``ig-refined``: the command's default (50 steps, doubled while the completeness error exceeds 5%); random
  weights rarely need it, a trained model does for some inputs (see the steps column);
* ``occlusion``: one forward pass per token.

Printed: median, mean and 90th percentile wall seconds per sentence and the mean CPU seconds of this process
(steadier than wall time on shared cores), after one warm-up sentence; the thread count
(``--threads``, default 1, as ``OMP_NUM_THREADS=1``) and the machine's load average before and after are printed
too, since shared cores change the figures.  A speed target lives here, never in a timed test::

    python scripts/bench_explain.py                                  # random 2x256 LSTM, 50 sentences of 12 tokens
    python scripts/bench_explain.py --checkpoint outputs/trec/ft --input questions.txt --sentences 100
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import time


def random_model(vocab: int, classes: int):
    from omegaconf import OmegaConf

    from seqtune.heads import build_head
    from seqtune.models.encoder import build_encoder
    from seqtune.objectives.base import TaskModel

    model_cfg = OmegaConf.create({"name": "lstm", "embedding_size": 200, "hidden_size": 256, "num_layers": 2,
                                  "dropout": 0.2, "bidirectional": False, "init_range": 0.1})
    head_cfg = OmegaConf.create({"name": "classifier", "pooling": "concat", "hidden_size": 0, "dropout": 0.1,
                                 "norm": "batch"})
    encoder = build_encoder(model_cfg, vocab)
    return TaskModel(encoder, build_head(head_cfg, encoder, [f"c{i}" for i in range(classes)], None)).eval()


def sentences_of(args, tokenizer) -> list[list[int]]:
    if tokenizer is None:
        rng = random.Random(0)
        return [[rng.randrange(6, 8000) for _ in range(args.length)] for _ in range(args.sentences + 1)]
    with open(args.input, encoding="utf-8") as fh:
        lines = [line for line in fh.read().splitlines() if line.strip()][: args.sentences + 1]
    from seqtune.data.encoding import encode_input

    return [encode_input(tokenizer, "classification", line) for line in lines]  # as seqtune explain encodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="a fine-tuned run directory or .pt (default: random 2x256 LSTM)")
    parser.add_argument("--input", help="text file, one sentence per line (with --checkpoint)")
    parser.add_argument("--sentences", type=int, default=50)
    parser.add_argument("--length", type=int, default=12, help="tokens per random sentence (TREC averages ~11)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--methods", default="ig-50,ig-refined,occlusion")
    args = parser.parse_args()
    import torch

    from seqtune.training import checkpoint
    from seqtune.explain.attribution import explain_text
    from seqtune.training.inference import rebuild_finetuned
    from seqtune.training.rundir import resolve_checkpoint

    torch.set_num_threads(args.threads)
    if args.checkpoint:
        path, _ = resolve_checkpoint(args.checkpoint, "outputs", "finetune", "--checkpoint")
        model, tokenizer, labels, _ = rebuild_finetuned(checkpoint.load(path), str(path))
        what = f"{path}"
    else:
        model, tokenizer = random_model(8000, 6), None
        what = "random 2x256 LSTM (emb 200, vocab 8000, 6 classes)"
    n_params = sum(p.numel() for p in model.parameters())
    batch = sentences_of(args, tokenizer)
    print(f"model: {what}, {n_params:,} parameters; {len(batch) - 1} sentences, mean length "
          f"{statistics.mean(len(s) for s in batch[1:]):.1f} tokens; torch threads {torch.get_num_threads()}; "
          f"load average before {os.getloadavg()[0]:.2f}")
    settings = {"ig-50": ("integrated_gradients", 0.0), "ig-refined": ("integrated_gradients", 0.05),
                "occlusion": ("occlusion", 0.05)}
    print(f"{'method':<12} {'median s':>9} {'mean s':>8} {'p90 s':>8} {'cpu s mean':>11} {'max steps':>10}")
    for name in args.methods.split(","):
        method, tolerance = settings[name]
        times, cpu, steps = [], [], []
        for i, ids in enumerate(batch):
            with torch.no_grad():
                target = int(model.objective.predict(
                    model.encoder, _one(ids, torch)).argmax()) if tokenizer is not None else 0
            start, start_cpu = time.perf_counter(), time.process_time()
            result = explain_text(model, ids, target, method, "pad", 50, tolerance)
            if i > 0:  # the first sentence warms up the kernels and the allocator
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
                steps.append(result.steps or 0)
        times.sort()
        print(f"{name:<12} {statistics.median(times):>9.4f} {statistics.mean(times):>8.4f} "
              f"{times[int(0.9 * (len(times) - 1))]:>8.4f} {statistics.mean(cpu):>11.4f} {max(steps) or '-':>10}")
    print(f"load average after {os.getloadavg()[0]:.2f}")


def _one(ids: list[int], torch):
    from seqtune.data.batching import collate
    from seqtune.data.records import Example

    return collate([Example(ids, 0)])


if __name__ == "__main__":
    main()
