"""The ``.ts`` reader (UEA & UCR archives, sktime/aeon format) and multivariate series in the ucr loader: a good
file read with its header, each malformed file a DataError naming file and line, channels that must agree
across files, per-channel normalisation, steps of every channel, one warp for all channels, predict's input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from seqtune.data.series_labels import (
    SeriesEncoding,
    augmented,
    load_labelled_series,
    predict_series,
    read_series_file,
    unlabelled_series,
)
from seqtune.data.ts_format import read_ts_file
from seqtune.errors import DataError
from tests.data._helpers import assert_data_error_names_file, ucr_ds, write_lines

HEADER = ["# two sensors, two gaits", "@problemName Gait", "@timeStamps false", "@missing false",
          "@univariate false", "@dimensions 2", "@equalLength true", "@seriesLength 4",
          "@classLabel true walk run", "@data"]


_write, _ds = write_lines, ucr_ds


def test_reads_a_multivariate_file_with_its_header(tmp_path):
    f = _write(tmp_path / "g_TRAIN.ts", [*HEADER, "0.1,0.2,0.3,0.4:1,1.5,2,2.5:walk", "",
                                         "# a comment among the cases", "4,3,2,1:-8.3E-4,0,0,1:run"])
    ts = read_ts_file(f)
    assert ts.labels == ["walk", "run"] and ts.header.class_labels == ["walk", "run"]
    assert ts.header.dimensions == 2 and ts.header.series_length == 4 and ts.header.data_line == 10
    assert [s.shape for s in ts.series] == [(4, 2), (4, 2)]  # (length, channels)
    np.testing.assert_allclose(ts.series[0][:, 1], [1, 1.5, 2, 2.5])
    np.testing.assert_allclose(ts.series[1][0], [4, -8.3e-4])
    series, labels = read_series_file(f)  # dispatched by the suffix
    assert labels == ["walk", "run"] and series[1].shape == (4, 2)


def test_univariate_ts_older_headers_and_trailing_missing_values(tmp_path):
    uni = _write(tmp_path / "u.ts", ["@problemName U", "@univariate true", "@classLabel true 1 2", "@data",
                                     "1,2,3:1", "4,5,?:2"])
    ts = read_ts_file(uni, variable_length=True)
    assert [s.shape for s in ts.series] == [(3,), (2,)]  # univariate: 1-D, as the .tsv reader gives
    old = _write(tmp_path / "o.ts", ["% an ARFF-style comment", "@problemName speaker", "@timestamps false",
                                     "@multivariate true 3",
                                     "@classlabel true 0 1", "@data", "1,2:3,4:5,6:0"])
    assert read_ts_file(old).series[0].shape == (2, 3)
    nolab = _write(tmp_path / "n.ts", ["@dimensions 2", "@classLabel false", "@data", "1,2:3,4", "5,6:7,8"])
    ts = read_ts_file(nolab)
    assert ts.labels is None and len(ts.series) == 2
    with pytest.raises(DataError, match=r"n\.ts: no class labels in the file \(@classLabel false\)"):
        read_series_file(nolab)
    assert read_series_file(nolab, labelled=False)[1] == ["", ""]


def test_dimensions_of_different_lengths_are_padded_only_when_asked(tmp_path):
    f = _write(tmp_path / "v.ts", ["@dimensions 2", "@classLabel true a", "@data", "1,2,3:7,8:a"])
    padded = read_ts_file(f, variable_length=True).series[0]
    np.testing.assert_allclose(padded, [[1, 7], [2, 8], [3, 8]])  # the shorter one repeats its last value


@pytest.mark.parametrize(
    "rows, message",
    [
        (["@dimensions 2", "@classLabel true a b", "1,2:3,4:a"],
         "line 3: '1,2:3,4:a' comes before any @data line"),
        (["@dimensions 2", "@classLabel true a b"], "no @data line (read to line 2)"),
        (["@dimensions 2", "@classLabel true a b", "@data", "1,2:3,4:a", "1,2:3,4:5,6:b"],
         "line 5: 3 dimension(s), but the header says 2 (line 1"),
        (["@classLabel true a b", "@data", "1,2:3,4:a", "1,2:b"],
         "line 4: 1 dimension(s), but the first case has 2 (line 3"),
        (["@dimensions 2", "@classLabel true a b", "@data", "1,2:3,x4:a"],
         "line 4, dimension 2, value 2: 'x4' is not a number"),
        (["@dimensions 2", "@classLabel true a b", "@data", "1,2:3,4"],
         "line 4: 2 dimension(s) and no label after them"),
        (["@dimensions 2", "@classLabel true a b", "@data", "1,2:3,4:"], "line 4: an empty label after the last ':'"),
        (["@dimensions 2", "@classLabel true a b", "@data", "1,2,3:3,4:a"],
         "line 4, dimension 2: 2 values, but dimension 1 has 3; dimensions of different lengths need "
         "dataset.variable_length=true"),
        (["@dimensions 2", "@classLabel true a b", "@data", "1,2:3,4:a", "1,2,3:3,4,5:b"],
         "line 5: 3 values per dimension, but line 4 has 2; cases of different lengths need "
         "dataset.variable_length=true"),
        (["@dimensions 2", "@classLabel true a b", "@data", "1,?,3:3,4,5:a"],
         "line 4, dimension 1, value 2: a missing value ('?') inside the series"),
        (["@dimensions 2", "@classLabel true a b", "@data", "1,2:3,4:c"],
         "line 4: label 'c' is not one of those @classLabel declares (a b)"),
        (["@timeStamps true", "@data"], "line 1: @timeStamps true (values given as (time,value) pairs) is not read"),
        (["@dimensions two", "@data"], "line 1: @dimensions needs a whole number >= 1, not 'two'"),
        (["@seriesLength 3", "@classLabel true a", "@data", "1,2:a"],
         "line 4: 2 values per dimension, but the header says @seriesLength 3"),
    ],
    ids=["no-@data-before-cases", "no-@data", "dimensions-vs-header", "dimensions-vs-first-case", "non-numeric",
         "missing-label", "empty-label", "unequal-dimensions", "unequal-cases", "inner-missing", "undeclared-label",
         "timestamps", "bad-dimensions", "series-length"],
)
def test_malformed_ts_files_name_file_and_line(tmp_path, rows, message):
    assert_data_error_names_file(read_series_file, _write(tmp_path / "bad_TRAIN.ts", rows), message)


def _gait_files(tmp_path: Path, n: int = 10, channels: int = 2, name: str = "g") -> None:
    rng = np.random.default_rng(0)
    header = [h if not h.startswith("@dimensions") else f"@dimensions {channels}" for h in HEADER]
    header = [h if not h.startswith("@seriesLength") else "@seriesLength 10" for h in header]
    for split in ("TRAIN", "TEST"):
        rows = [":".join(",".join(f"{v:.4f}" for v in rng.normal(c * 10, c + 1, size=10)) for c in range(channels))
                + f":{('walk', 'run')[i % 2]}" for i in range(n)]
        (tmp_path / name).mkdir(exist_ok=True)
        _write(tmp_path / name / f"{name}_{split}.ts", [*header, *rows])


def test_the_loader_finds_ts_files_of_a_set_and_steps_hold_every_channel(tmp_path):
    _gait_files(tmp_path)
    data, enc = load_labelled_series(_ds(tmp_path, set="g", segment_length=3))
    assert data.labels == ["run", "walk"] and len(data.test) == 10
    assert enc.channels == 2 and enc.width == 6  # 3 values of each of 2 channels per RNN step
    steps = data.test[0].tokens
    assert steps.shape == (4, 6)  # 10 values -> 4 segments
    values = steps.reshape(-1, 2)[:10].numpy()  # back to (time, channel)
    np.testing.assert_allclose(values.mean(axis=0), [0, 0], atol=1e-5)  # each channel z-scored on its own
    np.testing.assert_allclose(values.std(axis=0), [1, 1], atol=1e-4)
    assert torch.equal(steps[-1].reshape(3, 2)[1], steps[-1].reshape(3, 2)[0])  # padded with the last time point


def test_dataset_normalisation_is_per_channel(tmp_path):
    _gait_files(tmp_path, n=40)
    data, enc = load_labelled_series(_ds(tmp_path, set="g", normalize="dataset"))
    assert len(enc.mean) == 2 and enc.mean[1] > enc.mean[0] + 5 and enc.std[1] > enc.std[0]
    pooled = torch.cat([e.tokens for e in data.train + data.valid]).numpy()  # (steps, 2) with segment_length 1
    np.testing.assert_allclose(pooled.mean(axis=0), [0, 0], atol=1e-5)
    raw = SeriesEncoding("none", 2, channels=2).steps(np.arange(6.0).reshape(3, 2))
    assert raw.tolist() == [[0, 1, 2, 3], [4, 5, 4, 5]]  # time-major inside a step; the last point repeated


def test_channels_must_agree_across_files(tmp_path):
    _gait_files(tmp_path, channels=2, name="g")
    _gait_files(tmp_path, channels=3, name="h")
    ds = _ds(tmp_path, set=None, train="g/g_TRAIN.ts", test="h/h_TEST.ts")
    with pytest.raises(DataError) as err:
        load_labelled_series(ds)
    assert f"{tmp_path / 'h/h_TEST.ts'} has 3 channel(s) (dimensions) per series, but " \
           f"{tmp_path / 'g/g_TRAIN.ts'} has 2" in str(err.value)
    _write(tmp_path / "uni.tsv", ["1\t1\t2\t3"] * 4)  # a univariate file among pretraining's extras
    ds = _ds(tmp_path, set="g", unlabelled_series=["uni.tsv"])
    with pytest.raises(DataError, match=r"uni\.tsv has 1 channel\(s\) \(dimensions\) per series, but .*g_TRAIN\.ts "
                                        r"has 2"):
        unlabelled_series(ds)


def test_one_warp_for_every_channel():
    t = np.arange(300)
    x = np.stack([np.sin(t / 3), np.sin(t / 3) + 10], axis=1)  # the same signal, shifted
    y = augmented(x, np.random.default_rng(0))
    assert y.shape == x.shape and not np.allclose(y[:, 0], x[:, 0], atol=0.3)  # warped
    shift = y[:, 1] - y[:, 0]  # same warp: the signal cancels, the offset (scaled) and the jitter remain
    assert (shift - shift.mean()).std() < 0.1


def test_predict_reads_ts_cases_and_skips_the_header(tmp_path):
    enc = SeriesEncoding("series", 2, channels=2)
    lines = [*HEADER, "0.1,0.2,0.3,0.4:1,1.5,2,2.5:walk", "4,3,2,1:0,0,0,1"]  # a label, or none
    numbered = [(i + 1, line) for i, line in enumerate(lines)]
    kept, steps = predict_series(numbered, enc, "in.ts", False)
    assert [n for n, _ in kept] == [11, 12] and [s.shape for s in steps] == [(2, 4), (2, 4)]
    with pytest.raises(DataError, match=r"in\.txt, line 1: 1 ':'-separated field\(s\); this model reads 2 "
                                        r"dimension\(s\) per case"):
        predict_series([(1, "1 2 3 4")], enc, "in.txt", False)
    uni = SeriesEncoding("series", 1)
    kept, steps = predict_series([(1, "1\t2\t3"), (2, "1,2,3:label")], uni, "in.txt", False)
    assert torch.equal(steps[0], steps[1])  # a values-only line and a univariate .ts case read alike
