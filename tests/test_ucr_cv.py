"""scripts/ucr_cv.py: every fold's runs validate on that fold (pretraining included), and the recipe is chosen by
validation figures alone: a test figure that would pick another recipe changes nothing."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tests.conftest import load_script

ucr_cv = load_script("ucr_cv")


def _args(tmp_path: Path) -> argparse.Namespace:
    return argparse.Namespace(
        set="Mine", segment=4, sets=["Mine", "Other"], folds=3, seeds=[1, 2], out=tmp_path, overrides=["debug=smoke"]
    )


def test_every_run_of_a_fold_holds_that_fold_out(tmp_path):
    a = _args(tmp_path)
    for k in range(a.folds):
        pre, fine = ucr_cv.fold_jobs(a, k)
        assert len(pre) == 3 and len(fine) == 2 * 10  # 3 pools; scratch + 9 pool x strategy, per seed
        for cmd, run_dir in pre + fine:
            assert f"dataset.cv_fold={k}" in cmd and "dataset.cv_folds=3" in cmd and "debug=smoke" in cmd
            assert run_dir.parent == tmp_path
        assert any("dataset.unlabelled_series=[Other/Other_TRAIN.tsv,Other/Other_TEST.tsv]" in c for c, _ in pre)
        assert not any("Mine/Mine_TEST" in arg for c, _ in pre for arg in c)  # never the set's own test file
        assert all(f"transfer.checkpoint={tmp_path / f'pre_aug_{k}'}" in c for c, d in fine if "scratch" in d.name)


def test_the_choice_reads_validation_only(tmp_path):
    a = _args(tmp_path)
    names = ["scratch"] + [f"{p}_{s}" for p, ss in ucr_cv.STRATEGIES.items() for s in ss]
    for name in names:
        for seed in a.seeds:
            for k in range(a.folds):
                run = tmp_path / f"{name}_fold{k}_seed{seed}"
                run.mkdir()
                val = 0.9 if name == "aug_frozen" else 0.6
                test = 1.0 if name == "scratch" else 0.5  # the test split would pick scratch
                (run / "summary.json").write_text(json.dumps({"val/acc": val, "val/loss": 1 - val, "test/acc": test}))
    rows, md = ucr_cv.table(a)
    assert rows[0]["recipe"] == "aug_frozen" and "chosen: **aug_frozen**" in md
    assert rows[0]["cv_acc"] == [0.9, 0.9] and "0.900 ± 0.000" in md
