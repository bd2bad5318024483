#!/usr/bin/env python3
"""fastai's AWD-LSTM language model and seqtune side by side: tokens/s and validation perplexity after the same
training wall time, on the same WikiText-2 token stream.

    SEQTUNE_DATA_DIR=/path/to/data python scripts/fastai_compare.py --budget 900
    python scripts/fastai_compare.py --emb 200 --hidden 400     # fastai's layers 200->400->200, see below

fastai lives in its own virtual environment (``--venv``, default ``.venv-fastai``), which this script creates when
it is missing with the install known to work beside seqtune's torch: ``pip install torch==2.13.0`` then
``pip install torchvision==0.28.0 fastai``.  (``import torchvision`` fails in that environment; fastai's text API
does not import it, and the child checks that ``torchvision`` was never imported.)  No fastai code is part of
seqtune: the child below only calls fastai's public API.

Same data: seqtune's word tokenizer fitted on WikiText-2 train with ``--vocab`` entries (the rest ``<unk>``)
encodes train and valid once; both sides read those ids (fastai through ``LMDataLoader``, batch ``--batch``,
sequence length ``--bptt``; seqtune through its own data path with the same tokenizer settings).
Same model: fastai's ``AWD_LSTM`` (``emb_sz``/``n_hid``/``n_layers``, tied decoder, its default dropouts
input 0.25, hidden 0.15, weight 0.2, embedding 0.02, output 0.1) and seqtune's LSTM encoder with the same widths,
``embedding_dropout=0.02 locked_dropout=0.15 weight_drop=0.2`` and ``dropout=0.25`` (seqtune has one dropout
for the embedding output and the encoder output: the larger of fastai's two, i.e. at least fastai's), tied when
``--emb`` equals ``--hidden``.  fastai's last layer always has ``emb_sz`` units; seqtune's layers all have
``--hidden``, so the networks are identical when ``--emb == --hidden`` (the default, 400) and not otherwise.
Same training: AdamW (lr ``--lr`` constant, betas 0.9/0.99, eps 1e-5, weight decay 0.01), gradient-norm
clipping 0.25, no activation regularisation (fastai's AR/TAR, ``alpha``/``beta``, set to 0: seqtune has none).
Same evaluation: the whole valid split in 10 columns of ``--bptt`` windows with the state carried, each side
with its own code, after the budget.

Both runs start together (``--threads`` each) so that machine load hits them alike; each stops itself when its
training time (validation excluded) reaches ``--budget`` seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import equal_time  # noqa: E402  (scripts/: the seqtune side runs as in equal_time.py)

FASTAI_CHILD = r'''
import json, sys, time
from functools import partial
import numpy as np
import torch
from fastai.text.all import (AWD_LSTM, Adam, CancelFitException, Callback, CrossEntropyLossFlat, DataLoaders,
                             GradientClip, LMDataLoader, LMLearner, awd_lstm_lm_config,
                             get_language_model)

a = json.loads(sys.argv[1])
assert "torchvision" not in sys.modules, "fastai's text API imported torchvision"
train = torch.from_numpy(np.load(a["train"]))
valid = torch.from_numpy(np.load(a["valid"]))
torch.manual_seed(a["seed"])
dls = DataLoaders(LMDataLoader([train], bs=a["batch"], seq_len=a["bptt"], shuffle=False),
                  LMDataLoader([valid], bs=10, seq_len=a["bptt"]), device="cpu")
cfg = dict(awd_lstm_lm_config, emb_sz=a["emb"], n_hid=a["hidden"], n_layers=a["layers"])


class Budget(Callback):
    """Stop after `seconds` of training (validation excluded); count the tokens trained on."""
    order = 100

    def __init__(self):
        self.t0, self.val_s, self.tokens, self.steps, self.train_s = None, 0.0, 0, 0, 0.0

    def before_fit(self):  # learn.validate() runs before_fit too: start the clock once
        if self.t0 is None:
            self.t0 = time.perf_counter()

    def before_validate(self):
        self.v0 = time.perf_counter()

    def after_validate(self):
        self.val_s += time.perf_counter() - self.v0

    def spent(self):
        return time.perf_counter() - self.t0 - self.val_s

    def after_batch(self):
        if self.training:
            self.tokens += self.xb[0].numel()
            self.steps += 1
            if self.spent() >= a["budget"]:
                self.train_s = self.spent()
                raise CancelFitException()


budget = Budget()
model = get_language_model(AWD_LSTM, a["vocab"], config=cfg)
learn = LMLearner(dls, model, loss_func=CrossEntropyLossFlat(), alpha=0.0, beta=0.0,
                             opt_func=partial(Adam, mom=0.9, sqr_mom=0.99, eps=1e-5, wd=0.01),
                             cbs=[GradientClip(0.25), budget])
with learn.no_bar(), learn.no_logging():
    learn.fit(1000, a["lr"])
    loss = float(learn.validate()[0])
print(json.dumps({"steps": budget.steps, "train_s": budget.train_s, "tok_per_s": budget.tokens / budget.train_s,
                  "val_loss": loss, "val_ppl": float(np.exp(loss)), "params": sum(p.numel() for p in model.parameters())}))
'''


def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import fastai.text.all"], capture_output=True).returncode == 0:
        return python
    print(f"# installing fastai into {venv} (torch==2.13.0, then torchvision==0.28.0 fastai)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "torch==2.13.0"], check=True)
    subprocess.run([*pip, "torchvision==0.28.0", "fastai"], check=True)
    return python


def token_ids(vocab: int, out: Path) -> tuple[Path, Path, int]:
    """WikiText-2 train/valid ids under seqtune's word tokenizer with ``vocab`` entries, as .npy files."""
    import numpy as np
    from omegaconf import OmegaConf

    from seqtune.config.schema import TextDatasetConfig
    from seqtune.data.text import load_lm_corpus

    ds = OmegaConf.structured(TextDatasetConfig)
    ds.name, ds.format, ds.folder = "wikitext2", "text", "wikitext-2"
    ds.train, ds.valid, ds.test = "train.txt", "valid.txt", "test.txt"
    ds.tokenizer.max_vocab = vocab
    corpus = load_lm_corpus(ds)
    paths = out / "train_ids.npy", out / "valid_ids.npy"
    np.save(paths[0], corpus.train.numpy().astype(np.int64))
    np.save(paths[1], corpus.valid.numpy().astype(np.int64))
    return paths[0], paths[1], corpus.tokenizer.vocab_size


def seqtune_overrides(a: argparse.Namespace) -> list[str]:
    return ["dataset=wikitext2", f"dataset.tokenizer.max_vocab={a.vocab}", f"model.embedding_size={a.emb}",
            f"model.hidden_size={a.hidden}", f"model.num_layers={a.layers}", f"model.tie_weights={a.emb == a.hidden}",
            "model.dropout=0.25", "model.embedding_dropout=0.02", "model.locked_dropout=0.15", "model.weight_drop=0.2",
            f"trainer.batch_size={a.batch}", f"trainer.bptt={a.bptt}", "trainer.eval_batch_size=10",
            f"trainer.seed={a.seed}", "optimizer=adamw", f"optimizer.lr={a.lr}", "optimizer.betas=[0.9,0.99]",
            "optimizer.eps=1e-5", "optimizer.weight_decay=0.01", "optimizer.clip_grad_norm=0.25",
            "optimizer.schedule.name=constant", "optimizer.schedule.warmup_steps=0", *a.overrides]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--venv", type=Path, default=Path(".venv-fastai"))
    p.add_argument("--budget", type=float, default=900, help="training seconds per side")
    p.add_argument("--emb", type=int, default=400), p.add_argument("--hidden", type=int, default=400)
    p.add_argument("--layers", type=int, default=2), p.add_argument("--vocab", type=int, default=22000)
    p.add_argument("--bptt", type=int, default=70), p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3), p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS per process")
    p.add_argument("--out", type=Path, default=Path("outputs/fastai_compare"))
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides for the seqtune side (after --)")
    a = p.parse_args()
    python = ensure_venv(a.venv)
    a.out.mkdir(parents=True, exist_ok=True)
    train, valid, vocab = token_ids(a.vocab, a.out)
    env = {**os.environ, "OMP_NUM_THREADS": str(a.threads)}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    print(f"# fastai_compare: WikiText-2, vocabulary {vocab:,}, emb {a.emb}, {a.layers}x{a.hidden}, BPTT {a.bptt}, "
          f"batch {a.batch}, AdamW lr {a.lr}, budget {a.budget:.0f} s each, {a.threads} thread(s) each, side by side; "
          f"load {equal_time.load_average()}", flush=True)
    spec = {"train": str(train), "valid": str(valid), "vocab": vocab, "emb": a.emb, "hidden": a.hidden,
            "layers": a.layers, "bptt": a.bptt, "batch": a.batch, "lr": a.lr, "seed": a.seed, "budget": a.budget}
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(FASTAI_CHILD)
    fastai_log = open(a.out / "fastai.log", "w")
    fastai = subprocess.Popen([str(python), fh.name, json.dumps(spec)], stdout=subprocess.PIPE, stderr=fastai_log,
                              env={**env, "PYTHONPATH": ""}, text=True)
    common = ["trainer.device=cpu", "trainer.progress=log", "trainer.eval_interval=0", "trainer.max_epochs=1000",
              "trainer.log_interval=10", *seqtune_overrides(a)]
    seq = equal_time.start("seqtune", common, a.out, env)
    equal_time.watch([seq], a.budget)
    out, _ = fastai.communicate()
    os.unlink(fh.name)
    if fastai.returncode != 0:
        sys.exit(f"the fastai side failed ({fastai.returncode}); see {a.out / 'fastai.log'}")
    print(f"# training done; load {equal_time.load_average()}", flush=True)
    rows = {"fastai": json.loads(out.strip().splitlines()[-1]), "seqtune": equal_time.score(seq.run_dir)}
    print(f"{'side':<8} {'steps':>7} {'train s':>8} {'tok/s':>8} {'val loss':>9} {'val ppl':>9}")
    for name, r in rows.items():
        print(f"{name:<8} {r['steps']:>7,} {r['train_s']:>8.0f} {r['tok_per_s']:>8,.0f} {r['val_loss']:>9.4f} "
              f"{r['val_ppl']:>9.2f}")
    ratio = rows["seqtune"]["tok_per_s"] / max(rows["fastai"]["tok_per_s"], 1e-9)
    print(f"seqtune/fastai tokens/s {ratio:.2f}; load at end {equal_time.load_average()}")
    (a.out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
