"""The few-labels recipe: label budgets with validation out of the budget, the <unk> share, the single-class guard,
the vocabulary extension of ULMFiT's second stage, the one-file-per-class reader, lr-find and the ladder."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch

from seqtune.data.records import RawLabelled, RawSplit
from seqtune.data.splits import finish_splits
from seqtune.errors import ConfigError, DataError
from seqtune.training.lr_range import Curve, suggest
from tests.conftest import TINY, read_jsonl, run_cli
from tests.finetune.conftest import FT_TINY


def _pool(n: int = 300, classes: tuple[str, ...] = ("a", "b", "c")) -> RawLabelled:
    labels = [classes[i % len(classes)] for i in range(n)]
    return RawLabelled("classification", RawSplit([f"text {i}" for i in range(n)], labels, "pool.csv"), None, None)


def test_label_budget_is_every_label_the_run_sees_with_validation_carved_out_of_it():
    ds = {"label_budget": 100, "valid_fraction": 0.2, "test_fraction": 0.1, "split_seed": 3}
    pool, train, valid, test, notes = finish_splits(_pool(), ds)
    assert len(train.inputs) + len(valid.inputs) == 100 and len(valid.inputs) == 21  # 20% of 34/33/33, per class
    assert len(test.inputs) == 30 and len(pool.inputs) == 270  # the test split is carved first, from the file
    seen = set(train.inputs) | set(valid.inputs)
    assert not seen & set(test.inputs) and seen <= set(pool.inputs)
    assert {train.labels.count(c) for c in "abc"} <= {26, 27}  # stratified
    assert {valid.labels.count(c) for c in "abc"} == {7}
    # the same test split as without a budget, and a smaller budget is a subset of a larger one
    _, _, _, test_all, _ = finish_splits(_pool(), {**ds, "label_budget": None})
    assert test.inputs == test_all.inputs
    _, train50, valid50, _, _ = finish_splits(_pool(), {**ds, "label_budget": 50})
    assert set(train50.inputs) | set(valid50.inputs) <= seen
    assert any("label budget: 100 of 270 labelled examples" in n and "79 train + 21 validation" in n for n in notes)


def test_label_budget_errors_name_the_key():
    with pytest.raises(ConfigError, match="label_budget=1000 is more than the 270"):
        finish_splits(_pool(), {"label_budget": 1000, "test_fraction": 0.1})
    with pytest.raises(ConfigError, match="replaces dataset.train_limit"):
        finish_splits(_pool(), {"label_budget": 100, "train_limit": 50})


def test_cross_validation_folds_partition_the_pool_stratified():
    ds = {"cv_folds": 5, "test_fraction": 0.1, "split_seed": 2}
    valids = []
    for k in range(5):
        _, train, valid, test, notes = finish_splits(_pool(), {**ds, "cv_fold": k})
        pool = set(valid.inputs) | set(train.inputs)
        assert not set(valid.inputs) & set(train.inputs) and len(pool) == 270
        assert not pool & set(test.inputs)  # test is carved first and never in a fold
        assert {valid.labels.count(c) for c in "abc"} == {18}  # 90 per class in the pool, stratified
        assert any(f"cross-validation fold {k} of 5" in n for n in notes)
        valids.append(set(valid.inputs))
    assert set().union(*valids) == pool and sum(map(len, valids)) == len(pool)  # the folds partition the pool
    assert {len(v) for v in valids} == {54}
    again = finish_splits(_pool(), {**ds, "cv_fold": 4})[2]
    assert set(again.inputs) == valids[4]  # the same fold in every run
    # within a label budget, the folds split the budget's N
    _, train, valid, _, _ = finish_splits(_pool(), {**ds, "label_budget": 50, "cv_fold": 0})
    assert len(train.inputs) + len(valid.inputs) == 50 and len(valid.inputs) == 10


def test_cross_validation_fold_errors_name_the_key(tmp_path):
    with pytest.raises(DataError, match="cannot make 5 cross-validation folds of the 4 training examples"):
        finish_splits(_pool(6, ("a", "b")), {"cv_folds": 5, "cv_fold": 4, "test_fraction": 0.3})
    res = run_cli(["finetune", *FT_TINY, "dataset.cv_folds=3", "dataset.cv_fold=3"], cwd=tmp_path)
    assert res.returncode == 2 and "dataset.cv_fold=3 must be one of 0..2 (dataset.cv_folds=3)" in res.stderr
    assert "Traceback" not in res.stderr
    res = run_cli(["finetune", *FT_TINY, "dataset.cv_folds=1"], cwd=tmp_path)
    assert res.returncode == 2 and "dataset.cv_folds" in res.stderr and "Traceback" not in res.stderr


def _table(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in rows))
    return path


def test_a_collapsed_classifier_is_named_and_counted(tmp_path):
    # every text is the same, so any classifier predicts one class for all of them: the guard must say so
    rows = [("the same words every time", "pos" if i % 2 else "neg") for i in range(120)]
    data = _table(tmp_path / "same.csv", rows)
    res = run_cli(
        [
            "finetune",
            "dataset=table",
            f"dataset.train={data}",
            "transfer=scratch",
            "transfer.checkpoint=null",
            "+model=lstm",
            "model.hidden_size=16",
            "model.embedding_size=8",
            "model.num_layers=1",
            "trainer.max_epochs=2",
            "trainer.batch_size=16",
            "trainer.device=cpu",
            "trainer.progress=log",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["val/predicted_classes"] == 1 and summary["test/predicted_classes"] == 1
    assert "the classifier collapsed to one class" in res.stdout + res.stderr
    assert "seqtune lr-find suggests one" in res.stdout + res.stderr


def test_a_run_that_predicts_several_classes_gives_no_collapse_warning(finetuned_run):
    run_dir, stdout = finetuned_run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["val/predicted_classes"] >= 2 and "collapsed" not in stdout


@pytest.fixture(scope="module")
def unknown_words_task(tmp_path_factory) -> Path:
    """A classification table whose words the built-in corpus's tokenizer has never seen (but for 'the')."""
    rng = random.Random(0)
    folder = tmp_path_factory.mktemp("task")
    words = {"x": ["zorblat", "quennix", "fribble"], "y": ["mogwash", "trindle", "plovex"]}
    rows = [(" ".join(["the"] + rng.choices(words[c], k=3)), c) for c in "xy" for _ in range(60)]
    rng.shuffle(rows)
    return _table(folder / "task.csv", rows)


def test_unk_share_is_reported_and_warned_and_extending_the_vocabulary_removes_it(
    pretrained_run, unknown_words_task, tmp_path
):
    common = [
        "dataset=table",
        f"dataset.train={unknown_words_task}",
        *FT_TINY[3:],
        "trainer.max_epochs=1",
        "transfer=full",
    ]
    res = run_cli(
        ["finetune", *common, f"transfer.checkpoint={pretrained_run}", f"hydra.run.dir={tmp_path / 'ft'}"], tmp_path
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "ft" / "summary.json").read_text())
    assert summary["data/unk_share/train"] == pytest.approx(0.75)  # 3 of the 4 words of every text
    assert "75.0% of the training tokens are <unk>" in res.stdout
    assert f"init_from={pretrained_run / 'checkpoints' / 'best.pt'} init_vocab=extend" in res.stdout

    # ULMFiT's second stage on the task's text, with its words added, then the same fine-tuning
    stage2 = tmp_path / "stage2"
    res = run_cli(
        [
            "pretrain",
            "dataset=table",
            f"dataset.train={unknown_words_task}",
            f"init_from={pretrained_run}",
            "init_vocab=extend",
            "trainer.max_epochs=1",
            "trainer.batch_size=4",
            "trainer.bptt=8",
            "trainer.eval_batch_size=2",
            "trainer.device=cpu",
            "trainer.progress=log",
            f"hydra.run.dir={stage2}",
        ],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert "init_vocab=extend: 6 tokens of the train split added" in res.stdout
    base = torch.load(pretrained_run / "checkpoints" / "best.pt", weights_only=True)
    grown = torch.load(stage2 / "checkpoints" / "best.pt", weights_only=True)
    old, new = len(base["tokenizer"]["itos"]), len(grown["tokenizer"]["itos"])
    assert new == old + 6 and grown["tokenizer"]["itos"][:old] == base["tokenizer"]["itos"]
    assert grown["model"]["encoder.embedding.weight"].shape[0] == new
    res = run_cli(["finetune", *common, f"transfer.checkpoint={stage2}", f"hydra.run.dir={tmp_path / 'ft2'}"], tmp_path)
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "ft2" / "summary.json").read_text())
    assert summary["data/unk_share/train"] == 0.0 and "<unk> under the checkpoint" not in res.stdout


def test_grow_vocab_rows_start_at_the_mean_pretrained_row(pretrained_run):
    from seqtune.data.tokenizers import SPECIAL_TOKENS
    from seqtune.training.transfer import grow_vocab_rows

    state = torch.load(pretrained_run / "checkpoints" / "best.pt", weights_only=True)["model"]
    emb = state["encoder.embedding.weight"]
    grown = grow_vocab_rows(state, emb.shape[0], emb.shape[0] + 3)
    assert torch.allclose(grown["encoder.embedding.weight"][-1], emb[len(SPECIAL_TOKENS) :].mean(0))
    assert grown["objective.decoder.weight"].shape[0] == emb.shape[0] + 3


def test_class_files_reads_one_file_per_class(tmp_path):
    (tmp_path / "pos.txt").write_text("good film\n\ngreat plot\nlovely\n")
    (tmp_path / "neg.txt").write_text("bad film\nboring\n")
    from omegaconf import OmegaConf

    from seqtune.data.labelled import class_files_splits

    ds = OmegaConf.create(
        {
            "classes": {"pos": "pos.txt", "neg": "neg.txt"},
            "test_classes": None,
            "folder": str(tmp_path),
            "encoding": "utf-8",
            "download": False,
        }
    )
    raw = class_files_splits(ds)
    assert raw.train.inputs == ["good film", "great plot", "lovely", "bad film", "boring"]
    assert raw.train.labels == ["pos"] * 3 + ["neg"] * 2 and raw.label_order == ["pos", "neg"]
    assert raw.notes == ["1 empty line(s) skipped"] and raw.test is None
    ds.classes = {"pos": "pos.txt", "neg": "missing.txt"}
    with pytest.raises(Exception, match="dataset.classes.neg: file not found"):
        class_files_splits(ds)


def _curve(lrs: list[float], losses: list[float]) -> Curve:
    return Curve(lrs, losses, list(losses), "steps")


def test_suggest_picks_the_steepest_fall_before_the_minimum():
    lrs = [10 ** (-6 + 6 * i / 99) for i in range(100)]
    # flat, then a fall that is steepest at 1e-3 (a logistic in log10 lr), a minimum near 0.1, then divergence
    losses = [
        2.0 - 1.5 / (1 + math.exp(-4 * (math.log10(lr) + 3))) + (8 * (math.log10(lr) + 1) ** 2 if lr > 0.1 else 0)
        for lr in lrs
    ]
    pick = suggest(_curve(lrs, losses))
    assert 5e-4 < pick.lr < 2e-3 and 0.03 < pick.minimum < 0.3


def test_lr_find_suggests_a_rate_that_trains_better_than_far_smaller_or_larger_ones(tmp_path):
    """On the built-in corpus with plain SGD the good band is known by trying: the suggestion must beat a
    learning rate 100x smaller (too slow) and one 30x larger (unstable)."""
    base = [*TINY, "optimizer=sgd", "optimizer.clip_grad_norm=0", "optimizer.schedule.name=constant", "model.dropout=0"]
    res = run_cli(
        [
            "lr-find",
            "pretrain",
            *base,
            "lr_find.steps=120",
            "lr_find.start_lr=1e-4",
            "lr_find.end_lr=1000",
            f"hydra.run.dir={tmp_path / 'lrf'}",  # its own run directory, left out of the suggested command
        ],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    suggested = [line for line in res.stdout.splitlines() if "seqtune pretrain" in line]
    assert suggested and "hydra.run.dir" not in suggested[0]
    summary = json.loads((tmp_path / "lrf" / "summary.json").read_text())
    lr = summary["suggested_lr"]
    assert (tmp_path / "lrf" / "lr_find.png").stat().st_size > 10_000
    assert len(read_jsonl(tmp_path / "lrf" / "lr_find.jsonl")) == summary["steps"] > 20
    assert f"optimizer.lr={lr:.2g}" in res.stdout and not (tmp_path / "lrf" / "checkpoints").exists()

    def final_loss(rate: float, name: str) -> float:
        run = tmp_path / name
        out = run_cli(
            [
                "pretrain",
                *base,
                f"optimizer.lr={rate}",
                "trainer.max_epochs=1",
                "trainer.max_steps=60",
                "trainer.eval_interval=60",
                f"hydra.run.dir={run}",
            ],
            tmp_path,
        )
        assert out.returncode in (0, 2), out.stderr  # 2: a diverged run stops with a non-finite loss
        summary_path = run / "summary.json"
        return json.loads(summary_path.read_text())["val/loss"] if summary_path.exists() else math.inf

    good, slow, wild = final_loss(lr, "good"), final_loss(lr / 100, "slow"), final_loss(lr * 30, "wild")
    assert good < slow and good < wild, (lr, good, slow, wild)


def test_lr_find_errors_are_clear(tmp_path):
    res = run_cli(["lr-find", "evaluate"], tmp_path)
    assert res.returncode == 2 and "needs the command whose learning rate to find first" in res.stderr
    res = run_cli(["lr-find", "pretrain", "lr_find.stepz=3"], tmp_path)
    assert res.returncode == 2 and "unknown lr-find setting 'lr_find.stepz=3'" in res.stderr
    res = run_cli(["lr-find", "pretrain", "lr_find.start_lr=1", "lr_find.end_lr=0.1"], tmp_path)
    assert res.returncode == 2 and "0 < start < end" in res.stderr
    res = run_cli(["lr-find", "pretrain", "trainer.max_epoch=3"], tmp_path)
    assert res.returncode == 2 and "trainer.max_epoch" in res.stderr and "Traceback" not in res.stderr


def test_ladder_runs_every_budget_strategy_and_seed_and_compares_with_scratch(pretrained_run, tmp_path):
    out = tmp_path / "ladder"
    args = [
        "ladder",
        f"transfer.checkpoint={pretrained_run}",
        *FT_TINY[3:],
        "trainer.max_epochs=1",
        "trainer.min_steps=1",
        "ladder.budgets=[40,all]",
        "ladder.strategies=[scratch,full]",
        "ladder.seeds=[1,2]",
        f"ladder.out={out}",
    ]
    res = run_cli(args, tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == [f"{s}_{b}_s{seed}" for s in ("full", "scratch") for b in ("40", "all") for seed in (1, 2)]
    budget_summary = json.loads((out / "runs" / "full_40_s1" / "summary.json").read_text())
    assert budget_summary["train/examples"] == 36  # 40 labels, 4 of them the validation split
    assert (out / "report.csv").exists() and (out / "budget.png").exists()
    table = res.stdout
    assert "best - scratch" in table and "(full)" in table and max(len(l) for l in table.splitlines()) <= 80
    verdict = (out / "verdict.md").read_text()
    assert "| labels | scratch | full | best - scratch |" in verdict and verdict.count("\n| 40 |") == 1
    assert "fewest classes predicted on the test split by any run:" in verdict
    # a second run of the same ladder finds every run finished
    again = run_cli(args, tmp_path, timeout=600)
    assert again.returncode == 0 and "8 runs (8 already finished)" in again.stdout


def test_ladder_settings_are_checked_before_any_run(tmp_path):
    res = run_cli(["ladder", "ladder.budgets=[0,all]", "transfer=full", f"ladder.out={tmp_path / 'l'}"], tmp_path)
    assert res.returncode == 2
    assert "ladder.budgets: '0' is not a number" in res.stderr and "the ladder sets transfer" in res.stderr
    res = run_cli(["ladder", "trainer.max_epoch=3", f"ladder.out={tmp_path / 'l'}"], tmp_path)
    assert res.returncode == 2 and "trainer.max_epoch" in res.stderr and not (tmp_path / "l" / "runs").exists()


def test_the_classifier_pools_states_without_output_dropout():
    """Dropout before max/mean pooling made training features differ from evaluation ones (the frozen probe's
    defect): the classifier asks the encoder for its undropped top-layer outputs."""
    from seqtune.models.encoder import Encoder

    enc = Encoder("lstm", vocab_size=20, embedding_size=8, hidden_size=8, num_layers=1, dropout=0.5).train()
    tokens = torch.randint(6, 20, (5, 3))
    torch.manual_seed(0)
    raw, _ = enc(tokens, output_dropout=False)
    torch.manual_seed(0)
    dropped, _ = enc(tokens)  # the same embedding-dropout draw, then dropout on the outputs
    zero = dropped == 0
    assert zero.any() and torch.allclose(dropped[~zero], raw[~zero] / 0.5)
    import inspect

    from seqtune.heads.classifier import Classifier

    assert "output_dropout=False" in inspect.getsource(Classifier.logits)


def test_head_batch_norm_takes_a_training_batch_of_one():  # head.norm=batch
    from seqtune.heads.layers import output_layers

    layers = output_layers(6, 3, 0, 0.1, norm="batch").train()
    layers(torch.randn(4, 6))  # running statistics from a real batch
    stats = layers[0].running_mean.clone()
    assert layers(torch.randn(1, 6)).shape == (1, 3)  # the last batch of an epoch can hold one example
    assert torch.equal(layers[0].running_mean, stats)  # ... and it leaves the statistics alone
