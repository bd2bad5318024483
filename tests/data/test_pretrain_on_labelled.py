"""ULMFiT's second stage: `seqtune pretrain` on a labelled dataset reads its text only (never the test split)."""
from __future__ import annotations

import json
from pathlib import Path

from hydra import compose, initialize_config_module

from seqtune.config.schema import register_configs

SHRINK = ["model.embedding_size=8", "model.hidden_size=8", "model.num_layers=1", "trainer.max_epochs=1",
          "trainer.max_steps=3", "trainer.batch_size=2", "trainer.bptt=4", "trainer.eval_batch_size=2",
          "trainer.log_interval=1", "trainer.device=cpu", "trainer.progress=quiet"]


def test_pretrain_on_a_labelled_table(tmp_path: Path) -> None:
    from seqtune.commands import pretrain

    train = tmp_path / "train.csv"
    train.write_text("text,label\n" + "".join(f"review number {i} was {'good' if i % 2 else 'bad'},{i % 2}\n"
                                               for i in range(40)))
    test = tmp_path / "test.csv"
    test.write_text("text,label\nsecretword only in test,1\n")
    register_configs()
    with initialize_config_module("seqtune.conf", version_base="1.3"):
        cfg = compose("pretrain", overrides=["dataset=table", f"dataset.train={train}", f"dataset.test={test}",
                                             *SHRINK])
    summary = pretrain.run(cfg, tmp_path / "run")
    assert summary["steps"] == 3
    vocab = json.loads((tmp_path / "run" / "tokenizer.json").read_text())["itos"]
    assert "review" in vocab and "secretword" not in vocab
