"""The labelled-series reader (UCR layout): good files read, every malformed file a clear DataError naming the
file, line and field, and the loader's steps, normalisation, splits and label order."""
from __future__ import annotations


import numpy as np
import pytest
import torch

from seqtune.data.batching import BucketBatches
from seqtune.data.series_labels import SeriesEncoding, label_order, load_labelled_series, read_series_file
from seqtune.errors import DataError
from tests.data._helpers import assert_data_error_names_file, ucr_ds, write_lines


_write, _ds = write_lines, ucr_ds


def test_reads_the_archive_layout_and_trims_nan_padding(tmp_path):
    f = _write(tmp_path / "a_TRAIN.tsv", ["1\t0.5\t1.5\t2.5", "2\t1\t2\tNaN", "-1\t3\t4\t5"])
    series, labels = read_series_file(f)
    assert labels == ["1", "2", "-1"]
    assert [len(s) for s in series] == [3, 2, 3]  # the archive's NaN padding marks a shorter series
    np.testing.assert_allclose(series[1], [1.0, 2.0])


def test_csv_by_suffix(tmp_path):
    series, labels = read_series_file(_write(tmp_path / "a.csv", ["a,1,2", "b,3,4"]))
    assert labels == ["a", "b"] and series[1].tolist() == [3.0, 4.0]


@pytest.mark.parametrize(
    "rows, message",
    [
        (["1\t1\t2\t3", "2\t1\t2"], "line 2: 2 values, but line 1 has 3 (tab-separated); series of different "
         "lengths need dataset.variable_length=true"),
        (["1\t1\t2", "2\t1\tabc"], "line 2, field 3: 'abc' is not a number"),
        (["1\t1\t2", "\t1\t2"], "line 2: no label in the first field"),
        (["1\t1\tNaN\t3"], "line 1, field 3: 'NaN' inside the series (only trailing NaN padding is allowed)"),
        (["1\tNaN\tNaN"], "line 1: a label and no values"),
    ],
    ids=["ragged", "non-numeric", "missing-label", "inner-nan", "no-values"],
)
def test_malformed_files_name_file_line_and_fix(tmp_path, rows, message):
    assert_data_error_names_file(read_series_file, _write(tmp_path / "bad_TRAIN.tsv", rows), message)


def test_ragged_rows_allowed_when_asked(tmp_path):
    series, _ = read_series_file(_write(tmp_path / "v.tsv", ["1\t1\t2\t3", "2\t1\t2"]), variable_length=True)
    assert [len(s) for s in series] == [3, 2]


def test_empty_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="is empty|no series"):
        read_series_file(_write(tmp_path / "e.tsv", [""]))


def test_label_codes_in_numeric_order():
    assert label_order(["10", "2", "1", "2"]) == ["1", "2", "10"]
    assert label_order(["b", "a"]) == ["a", "b"]


def test_steps_segments_and_normalisation():
    enc = SeriesEncoding("series", 4)
    steps = enc.steps(np.arange(10, dtype=float))
    assert steps.shape == (3, 4)  # 10 values -> 3 segments, the last padded with the last value
    assert float(steps.flatten()[-1]) == float(steps.flatten()[9])
    raw = SeriesEncoding("none", 1).steps(np.array([5.0, 7.0]))
    assert raw.flatten().tolist() == [5.0, 7.0]
    z = SeriesEncoding("series", 1).steps(np.array([1.0, 3.0])).flatten()
    assert z.tolist() == [-1.0, 1.0]


def test_loader_splits_budget_and_batches(tmp_path):
    rng = np.random.default_rng(0)
    rows = [f"{c}\t" + "\t".join(f"{v:.4f}" for v in rng.normal(size=12)) for c in (1, 2) for _ in range(20)]
    _write(tmp_path / "t_TRAIN.tsv", rows)
    _write(tmp_path / "t_TEST.tsv", rows[:6])
    ds = _ds(tmp_path, train="t_TRAIN.tsv", test="t_TEST.tsv", segment_length=3, label_budget=10)
    data, enc = load_labelled_series(ds)
    assert data.labels == ["1", "2"] and data.tokenizer is None
    assert len(data.train) + len(data.valid) == 10 and len(data.test) == 6  # validation carved from the budget
    assert enc.width == 3 and data.train[0].tokens.shape == (4, 3)
    batch = next(iter(BucketBatches(data.train, 4, shuffle=False, seed=0, device=torch.device("cpu"))))
    assert batch.tokens.dtype == torch.float32 and batch.tokens.shape[1:] == (4, 3)
    assert batch.lengths.tolist() == [4] * 4


def test_a_test_label_unknown_to_training_is_named(tmp_path):
    _write(tmp_path / "t_TRAIN.tsv", ["1\t1\t2", "2\t2\t3"] * 5)
    _write(tmp_path / "t_TEST.tsv", ["3\t1\t2"])
    with pytest.raises(DataError, match="label '3' in .*t_TEST.tsv does not occur in the training data"):
        load_labelled_series(_ds(tmp_path, train="t_TRAIN.tsv", test="t_TEST.tsv"))


def test_pretraining_reads_train_and_extra_files_never_test(tmp_path):
    from seqtune.data.series_labels import augmented, unlabelled_series

    rows = [f"{1 + i % 2}\t" + "\t".join(str(np.sin(i + t / 3)) for t in range(16)) for i in range(20)]
    _write(tmp_path / "t_TRAIN.tsv", rows)
    _write(tmp_path / "other.tsv", ["9\t1\t2\t3"] * 5)  # another set's file: its first field is ignored
    ds = _ds(tmp_path, train="t_TRAIN.tsv", test="missing_TEST.tsv", unlabelled_series=["other.tsv"],
             augment_copies=3, segment_length=4)
    train, valid, enc, notes = unlabelled_series(ds)  # the test file does not exist: it is never opened
    assert len(valid) == 5 and len(train) == 20 * 4  # 25 series, 20% carved; 3 copies of each training one
    assert "t_TRAIN.tsv" in notes[0] and "other.tsv" in notes[0]
    x = np.sin(np.arange(64) / 5)
    y = augmented(x, np.random.default_rng(0))
    assert y.shape == x.shape and np.isfinite(y).all() and not np.allclose(x, y)
    assert np.corrcoef(x, y)[0, 1] > 0.8  # a variant of the same series, not noise


def test_cross_validation_leaves_the_validation_fold_out_of_pretraining(tmp_path):
    from seqtune.data.series_labels import unlabelled_series

    rows = [f"{1 + i % 2}\t" + "\t".join(str(round(i + t / 10, 2)) for t in range(8)) for i in range(20)]
    _write(tmp_path / "t_TRAIN.tsv", rows)
    _write(tmp_path / "t_TEST.tsv", ["1\t100\t" + "\t".join(["0"] * 7)])
    seen_by_fold = []
    for k in range(4):
        ds = _ds(tmp_path, train="t_TRAIN.tsv", test="t_TEST.tsv", cv_folds=4, cv_fold=k, normalize="none")
        data = load_labelled_series(ds)[0]
        held = {round(float(e.tokens[0, 0]), 2) for e in data.valid}  # each series starts at its row number
        train, valid, _, notes = unlabelled_series(ds)
        pooled = {round(float(x[0, 0]), 2) for x in train + valid}
        assert len(held) == 5 and not held & pooled and len(pooled) == 15
        assert "less cross-validation fold" in notes[0]
        seen_by_fold.append(held)
    assert set().union(*seen_by_fold) == set(range(20))
