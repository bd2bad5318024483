#!/usr/bin/env python3
"""Fine-tuning and inference paths of seqtune against plain hand-written PyTorch loops (rows of scripts/bench.py).

Data: TREC-shaped generated questions (6 classes, lengths 3-37 tokens, median ~10, a Zipfian 8,000-word
vocabulary, a class-dependent question word so the task is learnable), written as TSV files: 5,452 train,
500 valid and 10,000 test lines (the test split is what ``predict`` and ``evaluate`` read).  Set-up, untimed:
``seqtune pretrain`` for one step (a 2x256 LSTM with a 200-wide embedding and dropout 0.2, the
``wikitext2_lm`` shape, and a word tokenizer on the train text), then one epoch of ``seqtune finetune`` whose
checkpoint the inference rows load.

* finetune: the real ``seqtune finetune`` (``transfer=full transfer.lr_factor=2.6``: the pretrained encoder,
  ULMFiT's discriminative per-layer learning rates, everything trains; ``optimizer=ulmfit``; the default
  classifier head, concat pooling; ``BucketBatches``; the loop), examples/s from its ``metrics.jsonl``
  windows (``trainer.log_interval`` steps each).  References, the same model in plain PyTorch with batches
  collated at each step as a DataLoader would: *padded* (random batches padded to their longest example)
  and *bucketed* (the same pools-of-50-batches length sorting as seqtune).
* predict: ``seqtune predict`` on the 10,000 test lines (JSON Lines with label and probabilities) against a plain
  ``torch.inference_mode`` loop that loads the same checkpoint, encodes the lines with its vocabulary, runs
  batches of 64 in file order and writes the same records.  Lines/s *with start-up* (the whole process: Python,
  imports, checkpoint) and *without* (the 10,000-line run minus a 1-line run of the same command).
* evaluate: ``seqtune evaluate split=test`` (loss, accuracy, macro-F1 of 10,000 labelled lines) against a plain
  loop computing the same three; with and without start-up likewise (a copy of the checkpoint whose test
  split is one line gives the start-up run).

Every measurement is its own process; sides alternate within each round; medians over rounds.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchlib import Row, spawn

N_TRAIN, N_VALID, N_TEST = 5452, 500, 10000
CLASSES = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
VOCAB, EMB, HIDDEN, LAYERS, DROPOUT = 8000, 200, 256, 2, 0.2
BATCH, EVAL_BATCH, POOL_BATCHES = 32, 64, 50


# ------------------------------------------------------------------------------------------------ data
def question(rng: random.Random, words: list[str], weights: list[float]) -> tuple[str, str]:
    label = rng.randrange(len(CLASSES))
    n = min(37, max(3, int(rng.lognormvariate(2.25, 0.4))))
    qword = f"q{label}" if rng.random() < 0.8 else f"q{rng.randrange(len(CLASSES))}"
    return " ".join([qword, *rng.choices(words, weights, k=n - 1)]), CLASSES[label]


def write_data(folder: Path, seed: int = 0) -> None:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(VOCAB)]
    weights = [1.0 / (i + 1) for i in range(VOCAB)]
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", N_TRAIN), ("valid", N_VALID), ("test", N_TEST)):
        rows = [question(rng, words, weights) for _ in range(n)]
        (folder / f"{name}.tsv").write_text("text\tlabel\n" + "".join(f"{t}\t{l}\n" for t, l in rows), encoding="utf-8")
        if name == "train":  # the pretraining text: every word of the vocabulary occurs
            lm = [t for t, _ in rows] + [" ".join(words[i : i + 20]) for i in range(0, VOCAB, 20)]
            (folder / "lm.txt").write_text("\n".join(lm) + "\n", encoding="utf-8")
        if name == "test":
            (folder / "predict.txt").write_text("".join(f"{t}\n" for t, _ in rows), encoding="utf-8")
            (folder / "one.txt").write_text(f"{rows[0][0]}\n", encoding="utf-8")
            (folder / "one.tsv").write_text(f"text\tlabel\n{rows[0][0]}\t{rows[0][1]}\n", encoding="utf-8")


def dataset_overrides(folder: Path, test: str = "test.tsv") -> list[str]:
    return ["dataset=table", f"dataset.folder={folder}", "dataset.train=train.tsv", "dataset.valid=valid.tsv",
            f"dataset.test={test}", "dataset.text_columns=[text]", "dataset.label_column=label"]


@dataclass
class Fixture:
    data: Path
    pretrained: Path  # run dir of the one-step pretraining (architecture + tokenizer)
    finetuned: Path  # best.pt of a one-epoch fine-tuning, test split = 10,000 lines
    finetuned_one: Path  # the same weights, test split = one line (start-up of evaluate)


def setup(tmp: Path, env: dict[str, str]) -> Fixture:
    data = tmp / "ft-data"
    write_data(data)
    pre, ft = tmp / "ft-pretrained", tmp / "ft-finetuned"
    spawn([sys.executable, "-m", "seqtune", "pretrain", "dataset=text", f"dataset.folder={data}",
               "dataset.train=lm.txt", f"model.embedding_size={EMB}", f"model.hidden_size={HIDDEN}",
               f"model.num_layers={LAYERS}", f"model.dropout={DROPOUT}", "trainer.max_steps=1", "trainer.device=cpu",
               "trainer.limit_eval_batches=1", "trainer.progress=quiet", f"hydra.run.dir={pre}"], env)
    spawn([sys.executable, "-m", "seqtune", "finetune", *dataset_overrides(data), "transfer=full",
               f"transfer.checkpoint={pre}", "trainer.max_epochs=1", "trainer.device=cpu", "trainer.progress=quiet",
               f"hydra.run.dir={ft}"], env)
    import torch

    best = ft / "checkpoints" / "best.pt"
    ckpt = torch.load(best, weights_only=True)
    ckpt["config"]["dataset"]["test"] = "one.tsv"
    one = tmp / "ft-one.pt"
    torch.save(ckpt, one)
    return Fixture(data, pre, best, one)


# ------------------------------------------------------------------------------------------- references
def reference_model(vocab: int, classes: int):
    """seqtune's encoder + default classifier head, written out: embedding -> dropout -> LSTM -> [last, max, mean]
    pooling of the undropped outputs -> batch norm -> dropout 0.1 -> linear (heads/classifier.py, head.norm=batch)."""
    import torch
    from torch import nn

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(vocab, EMB, padding_idx=0)
            self.rnn = nn.LSTM(EMB, HIDDEN, LAYERS, dropout=DROPOUT)
            self.drop, self.head_drop = nn.Dropout(DROPOUT), nn.Dropout(0.1)
            self.norm = nn.BatchNorm1d(3 * HIDDEN)
            self.out = nn.Linear(3 * HIDDEN, classes)

        def forward(self, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
            h, _ = self.rnn(self.drop(self.emb(x)))  # (time, batch, hidden): pooled undropped
            steps = torch.arange(x.size(0), device=x.device)
            mask = (steps.unsqueeze(1) < lens).unsqueeze(-1)  # (time, batch, 1)
            last = h[lens - 1, torch.arange(x.size(1), device=x.device)]
            largest = h.masked_fill(~mask, float("-inf")).max(0).values
            mean = (h * mask).sum(0) / lens.unsqueeze(-1)
            return self.out(self.head_drop(self.norm(torch.cat([last, largest, mean], -1))))

        def load_seqtune(self, state: dict) -> None:
            names = {"emb.weight": "encoder.embedding.weight", "out.weight": "objective.layers.2.weight",
                     "out.bias": "objective.layers.2.bias"}
            names |= {f"norm.{k}": f"objective.layers.0.{k}" for k in self.norm.state_dict()}
            self.load_state_dict({k: state[names.get(k, "encoder." + k)] for k in self.state_dict()})

    return Model()


def read_tsv(path: Path) -> tuple[list[str], list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    pairs = [line.rsplit("\t", 1) for line in lines]
    return [t for t, _ in pairs], [l for _, l in pairs]


def encoder_of(itos: list[str]):
    stoi = {w: i for i, w in enumerate(itos)}
    unk, eos = stoi["<unk>"], stoi["<eos>"]
    return lambda text: [stoi.get(w, unk) for w in text.split()] + [eos]


def collate(seqs: list[list[int]]):
    import torch

    lens = torch.tensor([len(s) for s in seqs])
    x = torch.zeros(int(lens.max()), len(seqs), dtype=torch.long)  # (time, batch), 0 = <pad>
    for j, s in enumerate(seqs):
        x[: len(s), j] = torch.tensor(s)
    return x, lens


def tune_malloc() -> None:
    """What seqtune's trainer.tune_malloc does (glibc): large buffers from the heap, not mmap/munmap each step."""
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
    libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    libc.mallopt(-2, 256 << 20)  # M_TOP_PAD


def child_finetune(a: argparse.Namespace) -> None:
    """Plain fine-tuning loop; prints the examples/s of each timed interval."""
    import torch
    import torch.nn.functional as F

    if a.tuned:
        tune_malloc()
    torch.manual_seed(0)
    rng = random.Random(0)
    device = torch.device(a.device)
    itos = json.loads(Path(a.tokenizer).read_text())["itos"]
    texts, labels = read_tsv(Path(a.data) / "train.tsv")
    encode = encoder_of(itos)
    seqs = [encode(t) for t in texts]
    names = sorted(set(labels))
    y_all = torch.tensor([names.index(l) for l in labels])
    model = reference_model(len(itos), len(names)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.7, 0.99), fused=True if a.tuned else None)

    def epoch_batches() -> list[list[int]]:
        order = list(range(len(seqs)))
        rng.shuffle(order)
        if a.mode == "padded":
            return [order[i : i + BATCH] for i in range(0, len(order), BATCH)]
        pool, out = BATCH * POOL_BATCHES, []
        for p in range(0, len(order), pool):
            chunk = sorted(order[p : p + pool], key=lambda i: len(seqs[i]))
            out += [chunk[i : i + BATCH] for i in range(0, len(chunk), BATCH)]
        rng.shuffle(out)
        return out

    def batches():
        while True:
            yield from epoch_batches()

    it = batches()
    model.train()
    rates = []
    for _ in range(a.warmup_intervals + a.intervals):
        t0, n = time.perf_counter(), 0
        for _ in range(a.interval_steps):
            idx = next(it)
            x, lens = collate([seqs[i] for i in idx])
            x, lens, y = x.to(device), lens.to(device), y_all[idx].to(device)
            loss = F.cross_entropy(model(x, lens), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
            loss.item()
            n += len(idx)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(n / (time.perf_counter() - t0))
    print(json.dumps({"rates": rates[a.warmup_intervals :]}))


def child_infer(a: argparse.Namespace) -> None:
    """Plain inference loop: predict (JSON Lines of label and probabilities) or evaluate (loss, acc, macro-F1)."""
    import torch
    import torch.nn.functional as F

    ckpt = torch.load(a.checkpoint, weights_only=True)
    itos, names = ckpt["tokenizer"]["itos"], ckpt["labels"]
    model = reference_model(len(itos), len(names))
    model.load_seqtune(ckpt["model"])
    model.eval()
    encode = encoder_of(itos)
    if a.task == "predict":
        texts = [line for line in Path(a.input).read_text(encoding="utf-8").splitlines() if line.strip()]
        gold = None
    else:
        texts, labels = read_tsv(Path(a.input))
        gold = torch.tensor([names.index(l) for l in labels])
    seqs = [encode(t) for t in texts]
    probs = []
    with torch.inference_mode():
        for s in range(0, len(seqs), EVAL_BATCH):
            x, lens = collate(seqs[s : s + EVAL_BATCH])
            probs.append(model(x, lens).softmax(-1))
    p = torch.cat(probs)  # (examples, classes)
    if gold is None:
        with open(a.output, "w", encoding="utf-8") as out:
            for i, (text, row) in enumerate(zip(texts, p.tolist())):
                best = max(range(len(row)), key=row.__getitem__)
                out.write(json.dumps({"line": i + 1, "text": text, "label": names[best],
                                      "probs": {n: round(x, 6) for n, x in zip(names, row)}}) + "\n")
        return
    pred = p.argmax(-1)
    loss = float(F.nll_loss(p.clamp_min(1e-12).log(), gold))
    f1s = []
    for c in range(len(names)):
        tp = int(((pred == c) & (gold == c)).sum())
        denom = int((pred == c).sum()) + int((gold == c).sum())
        f1s.append(2 * tp / denom if denom else 0.0)
    print(json.dumps({"loss": loss, "acc": float((pred == gold).float().mean()), "f1": sum(f1s) / len(f1s)}))


# ----------------------------------------------------------------------------------------------- driver
def seqtune_finetune(fix: Fixture, run_dir: Path, a, env: dict[str, str]) -> tuple[float, float]:
    """Median examples/s of the timed windows of one ``seqtune finetune``, and its peak RSS."""
    steps = (a.warmup_intervals + a.intervals) * a.ft_interval
    cmd = [sys.executable, "-m", "seqtune", "finetune", *dataset_overrides(fix.data, test="valid.tsv"),
           "transfer=full", f"transfer.checkpoint={fix.pretrained}", "transfer.lr_factor=2.6",
           "trainer.max_epochs=100", f"trainer.max_steps={steps}", f"trainer.log_interval={a.ft_interval}",
           "trainer.eval_interval=0", f"trainer.device={a.device}", "trainer.progress=quiet",
           f"hydra.run.dir={run_dir}", *a.ft_overrides]
    rss = spawn(cmd, env).rss_mb
    rates = [r["train/tokens_per_s"] for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
             if "train/tokens_per_s" in r]  # the loop's count for a classifier is examples
    return statistics.median(rates[a.warmup_intervals :]), rss


def reference_finetune(fix: Fixture, mode: str, a, env: dict[str, str]) -> tuple[float, float]:
    cmd = [sys.executable, __file__, "_finetune", "--data", str(fix.data), "--mode", mode,
           "--tokenizer", str(fix.pretrained / "tokenizer.json"), "--interval-steps", str(a.ft_interval),
           "--intervals", str(a.intervals), "--warmup-intervals", str(a.warmup_intervals), "--device", a.device,
           *(["--tuned"] if a.ref_tuned else [])]
    m = spawn(cmd, env)
    return statistics.median(json.loads(m.stdout.strip().splitlines()[-1])["rates"]), m.rss_mb


def finetune_rows(fix: Fixture, tmp: Path, a, env: dict[str, str]) -> list[Row]:
    """seqtune finetune against the padded and the bucketed plain loop (examples/s), sides alternating."""
    tuned = " (tuned)" if a.ref_tuned else ""
    padded = Row("finetune vs padded", "plain padded" + tuned, "seqtune", "ex/s")
    bucketed = Row("finetune vs bucketed", "plain bucketed" + tuned, "seqtune", "ex/s")
    for r in range(a.rounds):
        for row, mode in ((padded, "padded"), (bucketed, "bucketed")):
            rate, rss = reference_finetune(fix, mode, a, env)
            row.a.append(rate), row.a_rss.append(rss)
        rate, rss = seqtune_finetune(fix, tmp / f"ft-run-{r}", a, env)
        for row in (padded, bucketed):
            row.b.append(rate), row.b_rss.append(rss)
        print(f"  finetune round {r + 1}: padded {padded.a[-1]:,.0f}  bucketed {bucketed.a[-1]:,.0f}  "
              f"seqtune {rate:,.0f} examples/s", flush=True)
    return [padded, bucketed]


def inference_cmd(fix: Fixture, task: str, side: str, full: bool, tmp: Path) -> list[str]:
    if side == "reference":
        source = ("predict.txt" if full else "one.txt") if task == "predict" else ("test.tsv" if full else "one.tsv")
        return [sys.executable, __file__, "_infer", "--task", task, "--checkpoint", str(fix.finetuned),
                "--input", str(fix.data / source), "--output", str(tmp / "ref.jsonl")]
    if task == "predict":
        return [sys.executable, "-m", "seqtune", "predict", f"checkpoint={fix.finetuned}",
                f"input={fix.data / ('predict.txt' if full else 'one.txt')}", f"output={tmp / 'pred.jsonl'}",
                f"batch_size={EVAL_BATCH}", "device=cpu"]
    return [sys.executable, "-m", "seqtune", "evaluate", f"checkpoint={fix.finetuned if full else fix.finetuned_one}",
            "split=test", "device=cpu"]


def inference_rows(fix: Fixture, tmp: Path, a, env: dict[str, str]) -> list[Row]:
    """Lines/s of predict and evaluate on 10,000 lines, with start-up (the whole process) and without it (the
    full run minus a one-line run), in wall time and in CPU time (user + system: steadier on a loaded machine);
    on the CPU."""
    rows = []
    for task in ("predict", "evaluate"):
        with_start = Row(f"{task} 10k lines, with start-up", "plain loop", "seqtune", "lines/s")
        without = Row(f"{task} 10k lines, without start-up", "plain loop", "seqtune", "lines/s")
        cpu = Row(f"{task} 10k lines, without start-up, CPU s", "plain loop", "seqtune", "lines/s")
        for r in range(a.rounds):
            for side in ("reference", "seqtune"):
                full = spawn(inference_cmd(fix, task, side, True, tmp), env)
                one = spawn(inference_cmd(fix, task, side, False, tmp), env)
                ref = side == "reference"
                (with_start.a if ref else with_start.b).append(N_TEST / full.wall_s)
                (without.a if ref else without.b).append(rate(N_TEST - 1, full.wall_s - one.wall_s))
                (cpu.a if ref else cpu.b).append(rate(N_TEST - 1, full.cpu_s - one.cpu_s))
                (with_start.a_rss if ref else with_start.b_rss).append(full.rss_mb)
                print(f"  {task} round {r + 1} {side}: {full.wall_s:.2f} s for 10,000 lines, {one.wall_s:.2f} s for "
                      f"one (CPU {full.cpu_s:.2f} / {one.cpu_s:.2f} s)", flush=True)
        rows += [with_start, without, cpu]
    return rows


def rate(n: int, seconds: float) -> float:
    """n / seconds; NaN when the difference of two timings is not positive (a loaded machine: rerun)."""
    return n / seconds if seconds > 0 else float("nan")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("child", choices=["_finetune", "_infer"])
    p.add_argument("--data"), p.add_argument("--mode"), p.add_argument("--tokenizer")
    p.add_argument("--interval-steps", type=int), p.add_argument("--intervals", type=int)
    p.add_argument("--warmup-intervals", type=int)
    p.add_argument("--device", default="cpu"), p.add_argument("--tuned", action="store_true")
    p.add_argument("--task"), p.add_argument("--checkpoint"), p.add_argument("--input"), p.add_argument("--output")
    a = p.parse_args()
    (child_finetune if a.child == "_finetune" else child_infer)(a)


if __name__ == "__main__":
    main()
