"""Small data sets shipped with fastmlp, and a deterministic split helper.

The digits data (UCI "Optical Recognition of Handwritten Digits", Alpaydin &
Kaynak, CC BY 4.0; see ``data/DIGITS_LICENSE.txt``) is stored inside the
package, so loading it needs no network access.
"""
from importlib import resources

import numpy as np

__all__ = ["load_digits", "train_test_split_indices"]


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
    split. The split is random, not stratified.
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
