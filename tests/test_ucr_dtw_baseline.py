"""scripts/ucr_dtw_baseline.py: the numpy DTW equals dtaidistance's, 1-NN labels by the nearest training series,
and on the real GunPoint files it reproduces the archive's published 1-NN error rates."""
from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import load_script, real_data_dir

dtw_script = load_script("ucr_dtw_baseline")


def test_numpy_dtw_is_the_textbook_recursion():
    a, b = np.array([0.0, 1.0, 2.0]), np.array([0.0, 0.0, 1.0, 2.0])
    assert dtw_script.dtw_numpy(a, b) == pytest.approx(0.0)  # a warp of the same shape costs nothing
    assert dtw_script.dtw_numpy(np.array([0.0]), np.array([3.0, 4.0])) == pytest.approx(5.0)  # sqrt(9 + 16)


def test_dtaidistance_agrees_with_numpy():
    pytest.importorskip("dtaidistance")
    rng = np.random.default_rng(0)
    train, test = [rng.normal(size=20) for _ in range(4)], [rng.normal(size=17) for _ in range(3)]
    fast, kernel = dtw_script.dtw_distances(test, train)
    assert kernel == "dtaidistance"
    slow = np.array([[dtw_script.dtw_numpy(a, b) for b in train] for a in test])
    np.testing.assert_allclose(fast, slow, rtol=1e-9)


def test_one_nn_takes_the_nearest_label():
    dist = np.array([[0.1, 2.0], [3.0, 0.5], [0.2, 0.1]])
    assert dtw_script.one_nn_accuracy(dist, ["a", "b"], ["a", "b", "a"]) == pytest.approx(2 / 3)


def test_gunpoint_reproduces_the_archive_figures():
    data = real_data_dir()
    if data is None or not (data / "ucr" / "GunPoint").is_dir():
        pytest.skip("needs ucr/GunPoint under SEQTUNE_DATA_DIR (or ../shared/data)")
    r = dtw_script.baseline(data / "ucr", "GunPoint")
    # DataSummary.csv of the 2018 archive: 1-NN Euclidean error 0.0867, DTW (full window) 0.0933
    assert r["1nn_euclidean_acc"] == pytest.approx(1 - 0.0867, abs=5e-4)
    assert r["1nn_dtw_acc"] == pytest.approx(1 - 0.0933, abs=5e-4)
