"""Sparse X with matmul_dtype="bfloat16" (CONTRACT.md: sparse X wherever X
is accepted; bfloat16 products): the sparse first layer
(_kernels/_sparse_bf16.pxd) rounds X's stored values and reads the
bfloat16 copies of W_0 and of the delta, summing in float32, so every
method gives on sparse X what it gives on X.toarray(), and what the NumPy
reference gives on the same sparse X, within the bfloat16 tolerances of
bf16_support (float32 accumulation in another order, and the rare operand
the two sides round to neighbouring bfloat16 values), under each bfloat16
GEMM library that runs here."""
import numpy as np
import pytest

import fastmlp
from fastmlp import reference
from fastmlp.network.layout import TRANSPOSE_FIRST_MAX_WEIGHTS

from bf16_support import FIT_RTOL, PASS_RTOL, bf16_library, needs_bf16_gemm  # noqa: F401
from conftest import assert_close
from test_sparse import SIZES, dense_of, flat_gradients, sparse_X

pytestmark = [needs_bf16_gemm, pytest.mark.usefixtures("bf16_library")]
BF16 = "bfloat16"


def trio(sizes, **kw):
    """fastmlp on sparse X, the reference on sparse X, fastmlp on dense X."""
    kw = dict(loss="cross_entropy", seed=3, l2=0.01, matmul_dtype=BF16, **kw)
    return fastmlp.MLP(sizes, **kw), reference.MLP(sizes, **kw), fastmlp.MLP(sizes, **kw)


@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("fmt", ["csr", "coo"])
def test_passes_equal_dense_and_reference(sizes, fmt):
    X = sparse_X(53, sizes[0], 0.08, 1, fmt, dtype=np.float32)
    D = dense_of(X)
    y = np.random.default_rng(0).integers(0, 3, 53)
    net, ref, _ = trio(sizes, activation="tanh")
    for other, X_other, who in ((ref, X, "reference"), (net, D, "dense")):
        assert_close(net.forward(X), other.forward(X_other), PASS_RTOL, f"forward, {who}")
        assert_close(net.loss(X, y), other.loss(X_other, y), PASS_RTOL, f"loss, {who}")
        for g, h in zip(flat_gradients(net, X, y), flat_gradients(other, X_other, y)):
            assert_close(g, h, PASS_RTOL, f"gradients, {who}")
        ta, tb = net.layer_stats(X, y).table, other.layer_stats(X_other, y).table
        np.testing.assert_array_equal(np.isnan(ta), np.isnan(tb))
        assert_close(np.nan_to_num(ta), np.nan_to_num(tb), PASS_RTOL, f"layer_stats, {who}")


@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("batch_size, shuffle", [(8, False), (53, False), (7, True)])
def test_fit_equals_dense_and_reference(sizes, batch_size, shuffle):
    X = sparse_X(53, sizes[0], 0.08, 2, dtype=np.float32)
    y = np.random.default_rng(1).integers(0, 3, 53)
    net, ref, dense = trio(sizes)
    kw = dict(epochs=3, batch_size=batch_size, lr=0.05, momentum=0.8, shuffle=shuffle)
    net.fit(X, y, **kw)
    ref.fit(X, y, **kw)
    dense.fit(dense_of(X), y, **kw)
    assert_close(net.params, ref.params, FIT_RTOL, "params, reference")
    assert_close(net.params, dense.params, FIT_RTOL, "params, dense")
    assert_close(net.history, dense.history, FIT_RTOL, "history, dense")


def test_chunked_batches_equal_dense(monkeypatch):
    """A batch over several gathered chunks (the formed step), each chunk's
    entries rounded as they are read."""
    from fastmlp.network import workspace as _workspace
    monkeypatch.setattr(_workspace, "WORK_BUDGET", 7 * _workspace.row_width((40, 6, 3), True))
    X = sparse_X(60, 40, 0.1, 4, dtype=np.float32)
    y = np.random.default_rng(3).integers(0, 3, 60)
    net, _, dense = trio([40, 6, 3])
    net.fit(X, y, epochs=2, batch_size=25)
    dense.fit(dense_of(X), y, epochs=2, batch_size=25)
    assert_close(net.params, dense.params, FIT_RTOL, "params")


@pytest.mark.parametrize("sizes", [[40, 30, 3], [400, 600, 3]],
                         ids=["W0 transposed", "W0 plain"])
def test_the_sparse_first_layer_really_rounds(sizes):
    """X's values (uniform in [0, 1): almost none a bfloat16) and W_0 are
    rounded in the sparse layer too: on sparse X the bfloat16 model is far
    closer to itself on dense X than to the float32 model on sparse X, in
    the first layer's pre-activations and in its weight gradient (rounded X
    and rounded delta)."""
    X = sparse_X(64, sizes[0], 0.2, 6, dtype=np.float32)
    D = dense_of(X)
    y = np.random.default_rng(6).integers(0, 3, 64)
    bf, _, bf_dense = trio(sizes, activation="identity")
    f32 = fastmlp.MLP(sizes, loss="cross_entropy", seed=3, l2=0.01, activation="identity")
    assert bf._layout.first_transposed == (sizes[0] * sizes[1] <= TRANSPOSE_FIRST_MAX_WEIGHTS)
    z = bf.forward(X)
    rounding = float(np.abs(z - f32.forward(X)).max())
    assert rounding > 1e-4, rounding
    assert float(np.abs(z - bf_dense.forward(D)).max()) < rounding / 100
    g_bf, g_dense, g_32 = (n.gradients(x, y)[0][0] for n, x in ((bf, X), (bf_dense, D),
                                                                 (f32, X)))
    off_f32 = float(np.mean(np.abs(g_bf - g_32)))
    assert off_f32 > 1e-3 * float(np.mean(np.abs(g_32))), off_f32
    assert float(np.mean(np.abs(g_bf - g_dense))) < off_f32 / 20
