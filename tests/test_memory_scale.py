"""Memory at the sizes of the issue that found them, measured with
tracemalloc (which sees numpy's allocations): cross_entropy labels reach the
kernels as class indices, never as an n x K array, and the NaN/inf check of
X streams through a large memory-mapped file a block of rows at a time."""
import tracemalloc

import numpy as np
import pytest

import fastmlp
from fastmlp.inputs import validation as _validation


def _traced_peak(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        return tracemalloc.get_traced_memory()[1] - base, result
    finally:
        tracemalloc.stop()


def test_fit_memory_does_not_grow_with_n_times_k():
    """n = 200,000 rows and K = 1000 classes: the one-hot target would be
    n * K * 4 = 800 MB in float32 (the issue measured 808 MB). fit's traced
    peak must stay below 2% of that (16 MB): what it holds is the labels'
    index column (0.8 MB), the permutation buffers (2 x 1.6 MB), the
    workspace and the parameters (~0.1 MB) and numpy's temporaries of the
    label checks (a few n-element arrays, ~1.6 MB each)."""
    n, d, k = 200_000, 2, 1000
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, k, n)
    net = fastmlp.MLP([d, k], loss="cross_entropy", seed=0)
    one_hot_bytes = n * k * np.dtype(np.float32).itemsize
    peak, _ = _traced_peak(lambda: net.fit(X, y, epochs=1, batch_size=256, lr=0.01))
    print(f"fit peak {peak / 1e6:.1f} MB traced; one-hot target {one_hot_bytes / 1e6:.0f} MB")
    assert len(net.history) == 1 and np.isfinite(net.history[0])
    assert peak < 0.02 * one_hot_bytes, peak


def test_loss_and_gradients_take_labels_as_indices_too():
    """The same sizes through loss and gradients: what they hold is the
    workspace, capped at _workspace.WORK_BUDGET elements (128 MiB in
    float32, whatever n is), plus the index column and the parameters; the
    one-hot rows (800 MB) would come on top. Each gives exactly what the
    one-hot rows give (the index kernel forms the same delta, p - e_y)."""
    from fastmlp.network import workspace as _workspace
    n, d, k = 200_000, 2, 1000
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, k, n)
    net = fastmlp.MLP([d, k], loss="cross_entropy", seed=0, l2=1e-3)
    one_hot_bytes = n * k * np.dtype(np.float32).itemsize
    bound = _workspace.WORK_BUDGET * 4 + 0.02 * one_hot_bytes
    peak_loss, loss = _traced_peak(lambda: net.loss(X, y))
    peak_grad, (dW, db) = _traced_peak(lambda: net.gradients(X, y))
    print(f"peaks: loss {peak_loss / 1e6:.1f} MB, gradients {peak_grad / 1e6:.1f} MB; "
          f"bound {bound / 1e6:.0f} MB; one-hot {one_hot_bytes / 1e6:.0f} MB")
    for peak in (peak_loss, peak_grad):
        assert peak < bound, peak
    rows = slice(0, 5000)                        # small enough for one-hot rows
    fresh = fastmlp.MLP([d, k], loss="cross_entropy", seed=0, l2=1e-3)
    one_hot = np.eye(k, dtype=np.float32)[y[rows]]
    assert fresh.loss(X[rows], y[rows]) == fresh.loss(X[rows], one_hot)
    for a, b in zip(fresh.gradients(X[rows], y[rows]), fresh.gradients(X[rows], one_hot)):
        for ga, gb in zip(a, b):
            np.testing.assert_array_equal(ga, gb)
    assert np.isfinite(loss) and np.isfinite(dW[0]).all() and np.isfinite(db[0]).all()


def test_the_finiteness_check_streams_through_a_1_gb_memmap(tmp_path):
    """A 1 GiB float32 memmap (a sparse file: zeros, no disk written): one
    byte of mask per element would be 0.27 GB; the check holds at most
    FINITE_CHECK_ELEMENTS (2**20) of mask at a time, and X already in the
    model dtype is used in place (no copy)."""
    rows, cols = 2**22, 64                       # 2**28 float32 = 1 GiB
    path = tmp_path / "big.f32"
    with open(path, "wb") as f:
        f.truncate(rows * cols * 4)
    X = np.memmap(path, dtype=np.float32, mode="r", shape=(rows, cols))
    peak, out = _traced_peak(lambda: _validation.check_X(X, cols, np.float32))
    print(f"check_X peak {peak / 1e6:.2f} MB traced over a {X.nbytes / 2**30:.0f} GiB memmap")
    assert np.shares_memory(out, X)
    assert peak < 2 * _validation.FINITE_CHECK_ELEMENTS + 65536, peak
    del out, X
    with open(path, "r+b") as f:                 # a NaN in the very last row
        f.seek(rows * cols * 4 - 4)
        f.write(np.float32(np.nan).tobytes())
    X = np.memmap(path, dtype=np.float32, mode="r", shape=(rows, cols))
    with pytest.raises(ValueError, match=f"row {rows - 1}, column {cols - 1}"):
        _validation.check_X(X, cols, np.float32)
