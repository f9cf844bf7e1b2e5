"""Small data sets shipped with fastmlp, and deterministic split helpers.

The digits data (UCI "Optical Recognition of Handwritten Digits", Alpaydin &
Kaynak, CC BY 4.0; see ``data/DIGITS_LICENSE.txt``) is stored inside the
package, so loading it needs no network access.
"""
from importlib import resources

import numpy as np

__all__ = ["load_digits", "train_test_split_indices", "stratified_split_indices"]


def load_digits():
    """Return the 1797 8x8 handwritten digits as ``(X, y)``.

    ``X`` is float64 of shape (1797, 64): the pixel counts 0..16 divided by
    16, so every value lies in [0, 1]. ``y`` is int64 of shape (1797,) with
    the digit 0..9 of each row. Each call returns new arrays.
    """
    source = resources.files("fastmlp").joinpath("data", "digits.npz")
    with source.open("rb") as fh, np.load(fh) as archive:
        pixels = archive["X"]
        labels = archive["y"]
    X = pixels.astype(np.float64) / 16.0
    y = labels.astype(np.int64)
    return X, y


def train_test_split_indices(n, test_fraction=0.2, seed=0):
    """Shuffle ``range(n)`` and cut it into ``(train_idx, test_idx)``.

    The test part has ``round(n * test_fraction)`` rows, at least one and at
    most ``n - 1``; both parts are sorted int64 arrays that together cover
    every row once. The permutation comes from ``numpy.random.default_rng(seed)``
    (``seed`` may also be a Generator), so an int seed always gives the same
    split. The split is random, not stratified (stratified_split_indices
    keeps each class's share).
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 2:
        raise ValueError(f"n must be at least 2 to leave rows on both sides, got {n}")
    test_fraction = float(test_fraction)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n = int(n)
    n_test = min(max(int(round(n * test_fraction)), 1), n - 1)
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def stratified_split_indices(labels, test_fraction=0.2, seed=0):
    """Cut the rows of ``labels`` into ``(train_idx, test_idx)`` class by class.

    Each class of ``count`` rows puts ``round(count * test_fraction)`` of
    them in the test part, but always leaves at least one in the training
    part (a class of one row stays there whole), so every class is trained
    on and each part keeps the classes' shares to within one row per class.
    If that holds out no row at all, one row of the largest class with two
    or more is held out (an error when every class has a single row).

    ``labels`` is a 1-D array of class labels of any kind (integers, text);
    which rows of a class go to the test part is random, from one
    permutation of the rows drawn by ``numpy.random.default_rng(seed)``
    (``seed`` may also be a Generator), so an int seed always gives the same
    split, and the split depends only on which rows share a class, not on
    the labels' values or order. Both parts are sorted int64 arrays.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D (one class label per row), got shape "
                         f"{labels.shape}")
    n = labels.shape[0]
    if n < 2:
        raise ValueError(f"labels must have at least 2 rows to leave rows on both sides, "
                         f"got {n}")
    test_fraction = float(test_fraction)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    _, codes = np.unique(labels, return_inverse=True)
    codes = codes.reshape(n)
    counts = np.bincount(codes)
    n_test = np.array([min(int(round(c * test_fraction)), c - 1) for c in counts])
    if not n_test.any():
        largest = int(np.argmax(counts))
        if counts[largest] < 2:
            raise ValueError(f"every one of the {n} classes has a single row: none can be "
                             f"held out without leaving its class out of training")
        n_test[largest] = 1
    perm = np.random.default_rng(seed).permutation(n)
    # The rows class by class, each class's rows in the permutation's order:
    # its first n_test rows are its random share of the test part.
    grouped = perm[np.argsort(codes[perm], kind="stable")]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    test = np.concatenate([grouped[s:s + t] for s, t in zip(starts, n_test)])
    in_test = np.zeros(n, dtype=bool)
    in_test[test] = True
    return np.flatnonzero(~in_test).astype(np.int64), np.flatnonzero(in_test).astype(np.int64)
