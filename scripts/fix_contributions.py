#!/usr/bin/env python3
"""What each speed-up of issue 17 contributes, measured in CPU time in one process (so machine load matters
little), before and after alternating, medians of ``--rounds``:

    python scripts/fix_contributions.py            # OMP_NUM_THREADS=1 is set for you

* optimizer: one optimizer step of PyTorch's default per-tensor loop against the fused kernels seqtune now
  uses (``seqtune/training/optim.py``), on the fine-tuning model (Adam; 8k x 200 embedding, 2x256 LSTM, 6 classes) and on
  WikiText-2's word LM (AdamW; 33k x 200 embedding, 2x256 LSTM, a full 33k softmax decoder);
* one-pass evaluation: loss, metrics and probabilities of 10,000 TREC-shaped examples with the fine-tuning
  model, two passes (``loop.evaluate`` + ``predict_examples``, as before) against ``evaluate_and_predict``;
* char tokenizer: encoding WikiText-2 train (10.8 MB; a generated stand-in without ``$SEQTUNE_DATA_DIR``) with
  a dict lookup per character (as before) against the vectorised ``CharTokenizer.encode_array``.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402


def cpu(fn, repeat: int) -> float:
    """CPU seconds per call of ``fn``."""
    fn()
    t = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - t) / repeat


def ab(label: str, unit: str, before, after, rounds: int, repeat: int) -> None:
    b, a = [], []
    for _ in range(rounds):
        b.append(cpu(before, repeat))
        a.append(cpu(after, repeat))
    mb, ma = statistics.median(b), statistics.median(a)
    print(f"{label:<44} before {mb * 1e3:9.2f} ms  after {ma * 1e3:9.2f} ms  {unit}  x{mb / ma:.2f}", flush=True)


def optimizer_step(vocab: int, decoder: bool, cls, **kw):
    torch.manual_seed(0)
    parts = [nn.Embedding(vocab, 200), nn.LSTM(200, 256, 2)] + ([nn.Linear(256, vocab)] if decoder else [nn.Linear(768, 6)])
    params = list(nn.ModuleList(parts).parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    opt = cls(params, **kw)
    return opt.step


def evaluation(one_pass: bool):
    from seqtune.data.batching import BucketBatches
    from seqtune.data.records import Example
    from seqtune.heads.classifier import Classifier
    from seqtune.training.inference import evaluate_and_predict, predict_examples
    from seqtune.training.loop import evaluate
    from seqtune.models.encoder import Encoder
    from seqtune.objectives.base import TaskModel

    rng = random.Random(0)
    data = [Example([rng.randrange(6, 8000) for _ in range(min(37, max(3, int(rng.lognormvariate(2.25, 0.4)))))],
                    rng.randrange(6)) for _ in range(10000)]
    torch.manual_seed(0)
    enc = Encoder("lstm", 8000, 200, 256, 2, dropout=0.2)
    model = TaskModel(enc, Classifier(256, [str(i) for i in range(6)], False)).eval()
    dev = torch.device("cpu")
    if one_pass:
        return lambda: evaluate_and_predict(model, data, 64, dev)
    return lambda: (evaluate(model, BucketBatches(data, 64, False, 0, dev), dev, "fp32"),
                    predict_examples(model, data, 64, dev))


def char_encoding(vectorised: bool):
    from seqtune.data.tokenizers import TokenizerSettings, fit_tokenizer

    path = Path(os.environ.get("SEQTUNE_DATA_DIR", "/nonexistent")) / "wikitext-2" / "train.txt"
    rng = random.Random(0)
    text = path.read_text(encoding="utf-8") if path.exists() else "".join(
        rng.choice("abcdefghij klmnopqrst\n") for _ in range(10_800_000))
    tok = fit_tokenizer(TokenizerSettings(kind="char"), [text])
    stoi = tok.stoi
    if vectorised:
        return lambda: tok.encode_array(text)
    return lambda: [stoi.get(c, 1) for c in text]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    print(f"# fix_contributions: torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU time; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    ft = dict(lr=0.01, betas=(0.7, 0.99))
    ab("Adam step, fine-tuning model", "per step",
       optimizer_step(8000, False, torch.optim.Adam, foreach=False, **ft),
       optimizer_step(8000, False, torch.optim.Adam, fused=True, **ft), a.rounds, 20)
    lm = dict(lr=3e-3, weight_decay=0.01)
    ab("AdamW step, WikiText-2 word LM (33k)", "per step",
       optimizer_step(33278, True, torch.optim.AdamW, foreach=False, **lm),
       optimizer_step(33278, True, torch.optim.AdamW, fused=True, **lm), a.rounds, 5)
    ab("evaluate 10k examples: 2 passes -> 1", "per split", evaluation(False), evaluation(True), a.rounds, 1)
    ab("char encoding, 10.8 MB: dict -> table", "per file", char_encoding(False), char_encoding(True), a.rounds, 1)
    print(f"# load at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
