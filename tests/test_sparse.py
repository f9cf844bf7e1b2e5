"""Sparse X (CONTRACT.md, "Sparse inputs (v1)"): scipy.sparse CSR, CSC and
COO input, checked and converted once, used as CSR and never densified.

Every method that takes X must give, on sparse X, what it gives on
X.toarray() (and what the NumPy reference gives on the same sparse X).
Tolerances: the sparse first layer sums each row's products in index order
where the dense GEMM blocks them, so results differ by rounding only:
float64 rtol 1e-12 / atol 1e-14 for one pass, float32 rtol 1e-5 / atol
1e-6 (a few ulps of values of order 1). Fits compound rounding over steps
(Adam divides by sqrt(m2), which amplifies it on small gradients), so they
get 1e-9 (float64) and 2e-4 (float32) on the parameters.
"""
import numpy as np
import pytest
import scipy.sparse as sp

import fastmlp
from fastmlp import reference
from fastmlp.inputs import sparse as _sparse
from fastmlp._kernels import _rows

PASS_TOL = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=1e-5, atol=1e-6)}
FIT_TOL = {np.float64: dict(rtol=1e-9, atol=1e-12), np.float32: dict(rtol=2e-4, atol=2e-5)}

# [40, 6, 3] stores W_0 transposed (240 weights), [400, 600, 3] does not
# (240,000 > 2**17): both layouts of the sparse first layer.
SIZES = [[40, 6, 3], [400, 600, 3], [40, 3]]


def sparse_X(n, d, density, seed, fmt="csr", dtype=np.float64):
    X = sp.random(n, d, density=density, random_state=seed, format=fmt, dtype=dtype)
    return X


def dense_of(X):
    return np.asarray(X.toarray())


def flat_gradients(net, X, y):
    dW, db = net.gradients(X, y)
    return dW + db


def models(sizes, dtype, **kw):
    kw = dict(loss="cross_entropy", seed=3, l2=0.01, dtype=dtype, **kw)
    return fastmlp.MLP(sizes, **kw), reference.MLP(sizes, **kw), fastmlp.MLP(sizes, **kw)


@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_passes_equal_dense_and_reference(sizes, dtype, fmt):
    X = sparse_X(53, sizes[0], 0.08, 1, fmt)
    D = dense_of(X)
    y = np.random.default_rng(0).integers(0, 3, 53)
    net, ref, _ = models(sizes, dtype)
    tol = PASS_TOL[dtype]
    for ours, other in ((net, ref), (net, net)):
        X_other = X if other is ref else D
        np.testing.assert_allclose(ours.forward(X), other.forward(X_other), **tol)
        np.testing.assert_array_equal(ours.predict(X), other.predict(X_other))
        np.testing.assert_allclose(ours.loss(X, y), other.loss(X_other, y), **tol)
        for g, h in zip(flat_gradients(ours, X, y), flat_gradients(other, X_other, y)):
            np.testing.assert_allclose(g, h, **tol)
        np.testing.assert_allclose(ours.layer_stats(X, y).table,
                                   other.layer_stats(X_other, y).table, **tol)


# Adam steps every weight by about lr whatever its gradient's size, so a
# float32 rounding difference in a near-zero gradient (the wide layer's
# untouched columns carry only the L2 term) can flip a step: Adam is
# compared in float64, where rounding stays far below FIT_TOL.
FIT_CASES = [(opt, bs, dtype) for opt, bs in (("momentum", 8), ("momentum", 53),
                                             ("adam", 8), ("nesterov", 20))
             for dtype in (np.float32, np.float64)
             if not (opt == "adam" and dtype == np.float32)]


@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("optimizer, batch_size, dtype", FIT_CASES)
def test_fit_equals_dense_and_reference(sizes, dtype, optimizer, batch_size):
    X = sparse_X(53, sizes[0], 0.08, 2)
    D = dense_of(X)
    y = np.random.default_rng(1).integers(0, 3, 53)
    w = np.random.default_rng(2).uniform(0.5, 2, 53)
    net, ref, dense = models(sizes, dtype)
    kw = dict(epochs=3, batch_size=batch_size, lr=0.05, optimizer=optimizer, sample_weight=w)
    net.fit(X, y, **kw)
    ref.fit(X, y, **kw)
    dense.fit(D, y, **kw)
    np.testing.assert_allclose(net.params, ref.params, **FIT_TOL[dtype])
    np.testing.assert_allclose(net.params, dense.params, **FIT_TOL[dtype])
    np.testing.assert_allclose(net.history, dense.history, **FIT_TOL[dtype])


def test_chunked_batches_equal_dense(monkeypatch):
    """A batch larger than the workspace budget: the formed step over
    several gathered chunks (and full-batch gradients over chunks)."""
    from fastmlp.network import workspace as _workspace
    monkeypatch.setattr(_workspace, "WORK_BUDGET", 7 * _workspace.row_width((40, 6, 3), True))
    X = sparse_X(60, 40, 0.1, 4)
    y = np.random.default_rng(3).integers(0, 3, 60)
    net, _, dense = models([40, 6, 3], np.float64)
    net.fit(X, y, epochs=2, batch_size=25)
    dense.fit(dense_of(X), y, epochs=2, batch_size=25)
    np.testing.assert_allclose(net.params, dense.params, **FIT_TOL[np.float64])
    for g, h in zip(flat_gradients(net, X, y), flat_gradients(dense, dense_of(X), y)):
        np.testing.assert_allclose(g, h, **PASS_TOL[np.float64])


def test_validation_data_and_regression_loss():
    X = sparse_X(30, 40, 0.1, 5)
    Y = np.random.default_rng(4).normal(size=(30, 2))
    a = fastmlp.MLP([40, 5, 2], dtype="float64", seed=0)
    b = fastmlp.MLP([40, 5, 2], dtype="float64", seed=0)
    a.fit(X, Y, epochs=2, validation_data=(X, Y))
    b.fit(dense_of(X), Y, epochs=2, validation_data=(dense_of(X), Y))
    np.testing.assert_allclose(a.params, b.params, **FIT_TOL[np.float64])
    assert a.metrics[-1]["val_loss"] == pytest.approx(b.metrics[-1]["val_loss"], rel=1e-12)


# -- conversion -----------------------------------------------------------------


def test_duplicates_unsorted_zeros_empty_rows_and_index_types():
    # Row 0: column 3 twice (summed), unsorted; row 1 empty; row 2 an
    # explicit zero; int64 indices; float32 data.
    data = np.array([1.0, 2.0, 0.5, 0.0, 4.0], dtype=np.float32)
    indices = np.array([3, 1, 3, 2, 0], dtype=np.int64)
    indptr = np.array([0, 3, 3, 5], dtype=np.int64)
    X = sp.csr_matrix((data, indices, indptr), shape=(3, 5))
    X.has_sorted_indices = False
    expected = np.zeros((3, 5))
    expected[0, 3], expected[0, 1], expected[2, 0] = 1.5, 2.0, 4.0
    rows = _sparse.check_csr(X, 5, np.float64)
    assert rows.indptr.dtype == np.intp and rows.indices.dtype == np.intc
    assert rows.data.dtype == np.float64
    np.testing.assert_array_equal(rows.matrix().toarray(), expected)
    np.testing.assert_array_equal(rows.indices[:2], [1, 3])  # summed and sorted
    # The caller's matrix is left as it was.
    np.testing.assert_array_equal(X.indices, indices)
    np.testing.assert_array_equal(X.data, data)
    net = fastmlp.MLP([5, 4, 2], dtype="float64", seed=0)
    np.testing.assert_allclose(net.forward(X), net.forward(expected), **PASS_TOL[np.float64])
    coo = sp.coo_matrix(([1.0, 2.0], ([0, 0], [1, 1])), shape=(1, 5))  # duplicate summed
    np.testing.assert_allclose(net.forward(coo), net.forward(coo.toarray()),
                               **PASS_TOL[np.float64])


@pytest.mark.parametrize("cls", [sp.csr_array, sp.csc_array, sp.coo_array])
def test_sparse_arrays_are_accepted(cls):
    D = dense_of(sparse_X(9, 12, 0.3, 6))
    net = fastmlp.MLP([12, 3], dtype="float64", seed=0)
    np.testing.assert_allclose(net.forward(cls(D)), net.forward(D), **PASS_TOL[np.float64])


def test_all_zero_matrix():
    X = sp.csr_matrix((4, 10))
    net = fastmlp.MLP([10, 3, 2], seed=0)
    np.testing.assert_allclose(net.forward(X), net.forward(np.zeros((4, 10))),
                               **PASS_TOL[np.float32])
    net.fit(X, np.zeros((4, 2)), epochs=1, batch_size=3)
    assert np.isfinite(net.params).all()


def _csr(data, indices, indptr, shape):
    # Built without scipy's own checks, as a broken matrix reaches fit.
    X = sp.csr_matrix(shape)
    X.data, X.indices, X.indptr = (np.asarray(data, dtype=np.float64),
                                   np.asarray(indices, dtype=np.int32),
                                   np.asarray(indptr, dtype=np.int32))
    return X


@pytest.mark.parametrize("X, error, match", [
    (_csr([1.0, np.nan], [0, 1], [0, 2, 2], (2, 4)), ValueError, "NaN or infinity.*row 0"),
    (_csr([1.0, np.inf], [0, 1], [0, 1, 2], (2, 4)), ValueError, "NaN or infinity.*row 1"),
    (_csr([1.0], [-1], [0, 1, 1], (2, 4)), ValueError, "negative index"),
    (_csr([1.0], [4], [0, 1, 1], (2, 4)), ValueError, "out of range"),
    (_csr([1.0], [0], [0, 1], (2, 4)), ValueError, "indptr has 2 entries"),
    (_csr([1.0, 2.0], [0, 1], [0, 2, 1], (2, 4)), ValueError, "indptr must"),
    (sp.coo_matrix(([1.0], ([0], [7])), shape=(2, 8)), ValueError, "8 features"),
    (sp.csr_matrix((0, 4)), ValueError, "0 rows"),
    (sp.lil_matrix((2, 4)), TypeError, "CSR, CSC or COO"),
    (sp.csr_matrix(np.ones((2, 4), dtype=np.complex128)), TypeError, "complex"),
    (sp.csr_matrix(np.array([[1e300, 0, 0, 0]])), ValueError, "overflows float32"),
])
def test_bad_sparse_input_is_rejected_and_changes_nothing(X, error, match):
    net = fastmlp.MLP([4, 3, 2], seed=0)
    before = net.params.copy()
    with pytest.raises(error, match=match):
        net.fit(X, np.zeros((X.shape[0], 2)), epochs=1)
    with pytest.raises(error, match=match):
        net.forward(X)
    with pytest.raises(error, match=match):
        reference.MLP([4, 3, 2], seed=0).forward(X)
    np.testing.assert_array_equal(net.params, before)
    assert net.history == []


def test_coo_with_bad_row_index():
    X = sp.coo_matrix((2, 4))
    X.row, X.col, X.data = np.array([2]), np.array([0]), np.array([1.0])
    with pytest.raises(ValueError, match="row.*out of range"):
        fastmlp.MLP([4, 2], seed=0).forward(X)


def test_batch_capacity_bounds_every_batch():
    X = _sparse.check_csr(sparse_X(200, 50, 0.1, 7), 50, np.float64)
    counts = X.row_nnz()
    cap = _rows.SparseRows(X.indptr, X.indices, X.data, 50).batch(16).capacity
    assert cap == np.sort(counts)[-16:].sum()
    rng = np.random.default_rng(0)
    for _ in range(20):
        perm = rng.permutation(200)
        assert max(counts[perm[i:i + 16]].sum() for i in range(0, 200, 16)) <= cap
    taken = X.take(perm[:7])
    np.testing.assert_array_equal(taken.matrix().toarray(), X.matrix().toarray()[perm[:7]])


def test_epoch_kernel_gathers_csr_batches_into_room_of_its_own():
    from fastmlp.training.epoch import EpochLoop, OptimizerState, StepPlan
    from fastmlp.network.kernels import Objective
    X = _sparse.check_csr(sparse_X(20, 10, 0.3, 8), 10, np.float64)
    net = fastmlp.MLP([10, 2], dtype="float64")
    state = OptimizerState("momentum", net.params.size, np.float64)
    loop = EpochLoop(net._kernels, net.params, X, np.zeros((20, 2)), Objective(), state,
                     StepPlan(5))
    room = loop.x_batch
    assert room.rows == 5 and room.capacity == np.sort(X.row_nnz())[-5:].sum()
    # The source checks that its arrays agree before any kernel reads them.
    with pytest.raises(ValueError, match="disagree"):
        _rows.SparseRows(X.indptr, X.indices[:-1], X.data, 10)
    with pytest.raises(ValueError, match="float32 or float64"):
        _rows.SparseRows(X.indptr, X.indices, X.data.astype(np.int64), 10)
