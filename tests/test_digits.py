"""The bundled digits data, the split helper, learning the digits, and the
``python -m fastmlp`` job."""
import re
import subprocess
import sys

import numpy as np
import pytest

import fastmlp
from fastmlp.datasets import load_digits, train_test_split_indices

N_DIGITS = 1797
CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
# The first image (a zero), as raw pixel counts 0..16.
FIRST_IMAGE = [
    0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0,
    0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0, 0, 8, 8, 0,
    0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0,
    0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0,
]


# -- the data ----------------------------------------------------------------

def test_load_digits_shapes_dtypes_and_ranges():
    X, y = load_digits()
    assert X.shape == (N_DIGITS, 64)
    assert y.shape == (N_DIGITS,)
    assert X.dtype == np.float64
    assert y.dtype == np.int64
    assert np.all(np.isfinite(X))
    assert X.min() == 0.0 and X.max() == 1.0
    # Scaled by exactly 1/16: every value is a whole number of sixteenths.
    counts = X * 16
    np.testing.assert_array_equal(counts, np.round(counts))
    np.testing.assert_array_equal(np.unique(y), np.arange(10))
    assert np.bincount(y).tolist() == CLASS_COUNTS


def test_load_digits_content_matches_the_source():
    X, y = load_digits()
    np.testing.assert_array_equal(X[0] * 16, FIRST_IMAGE)
    assert y[:10].tolist() == list(range(10))
    assert int(round((X * 16).sum())) == 561718


def test_load_digits_returns_fresh_arrays():
    X1, y1 = load_digits()
    X1[...] = -1.0
    y1[...] = -1
    X2, y2 = load_digits()
    assert X2.min() == 0.0 and y2.min() == 0


def test_digits_file_and_license_are_package_resources():
    from importlib import resources

    data = resources.files("fastmlp").joinpath("data")
    assert data.joinpath("digits.npz").is_file()
    text = data.joinpath("DIGITS_LICENSE.txt").read_text(encoding="utf-8")
    assert "CC BY 4.0" in text and "Alpaydin" in text


# -- the split helper ----------------------------------------------------------

def test_split_covers_every_row_once_with_the_requested_size():
    train, test = train_test_split_indices(N_DIGITS, 0.2, seed=0)
    assert len(test) == round(N_DIGITS * 0.2)
    assert len(train) + len(test) == N_DIGITS
    assert train.dtype == np.int64 and test.dtype == np.int64
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(N_DIGITS))


def test_split_is_deterministic_per_seed():
    a = train_test_split_indices(100, 0.3, seed=7)
    b = train_test_split_indices(100, 0.3, seed=7)
    c = train_test_split_indices(100, 0.3, seed=8)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    # Random, not the first or last rows.
    assert not np.array_equal(a[1], np.arange(30))
    assert not np.array_equal(a[1], np.arange(70, 100))


def test_split_keeps_both_sides_non_empty():
    train, test = train_test_split_indices(3, 0.01, seed=0)
    assert len(test) == 1 and len(train) == 2
    train, test = train_test_split_indices(3, 0.99, seed=0)
    assert len(test) == 2 and len(train) == 1


@pytest.mark.parametrize("n, fraction, error", [
    (1, 0.2, ValueError),
    (10, 0.0, ValueError),
    (10, 1.0, ValueError),
    (10, float("nan"), ValueError),
    (10.0, 0.2, TypeError),
    (True, 0.2, TypeError),
])
def test_split_rejects_bad_arguments(n, fraction, error):
    with pytest.raises(error):
        train_test_split_indices(n, fraction, seed=0)


# -- learning ------------------------------------------------------------------

def test_fastmlp_learns_the_digits():
    X, y = load_digits()
    train, test = train_test_split_indices(len(X), 0.2, seed=0)
    net = fastmlp.MLP([64, 64, 10], activation="relu", loss="cross_entropy", seed=0)
    net.fit(X[train], y[train], epochs=30, batch_size=32, lr=0.2, momentum=0.9)

    assert len(net.history) == 30
    assert all(np.isfinite(net.history))
    # ln(10) ~ 2.30 is the objective of a uniform guess.
    assert net.history[-1] < 0.2 < net.history[0]
    assert net.loss(X[train], y[train]) < 0.2

    predicted = net.predict(X[test])
    assert predicted.shape == (len(test),)
    accuracy = float(np.mean(predicted == y[test]))
    assert accuracy >= 0.95, f"test accuracy {accuracy:.4f}"
    # Every class is learned, not just most of them.
    for digit in range(10):
        rows = y[test] == digit
        assert np.mean(predicted[rows] == digit) >= 0.8, f"digit {digit}"


def test_untrained_model_is_near_chance():
    # Guards the accuracy test above against a broken evaluation.
    X, y = load_digits()
    net = fastmlp.MLP([64, 64, 10], activation="relu", loss="cross_entropy", seed=0)
    assert float(np.mean(net.predict(X) == y)) < 0.5


# -- python -m fastmlp ----------------------------------------------------------

def test_main_job_runs_as_a_module(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "fastmlp", "--epochs", "2"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    match = re.search(r"^fastmlp test accuracy: (\d\.\d{4})", out, re.MULTILINE)
    assert match, out
    assert 0.5 < float(match.group(1)) <= 1.0
    epoch_lines = re.findall(r"^\s+(\d+)\s+\d+\.\d{4}\s+", out, re.MULTILINE)
    assert epoch_lines == ["1", "2"], out
    assert re.search(r"^speed-up \(reference time / fastmlp time\): \d+\.\d+x$", out, re.MULTILINE), out


def test_main_job_rejects_bad_options(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "fastmlp", "--lr", "0"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "--lr" in proc.stderr
