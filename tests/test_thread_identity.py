"""The same model whatever the thread count (CONTRACT v2, Threads).

A fit's passes are cut into blocks from their shapes alone
(src/fastmlp/_kernels/_threads.pxd) and each block computes the same
values whichever thread runs it; sums over blocks are taken afterwards in
block order. So n_threads 1, 2, 3 and 4 must give the same parameters,
optimizer state and history to the bit, for every loss, both dtypes,
bfloat16 products, CSR input, every optimizer, batches in one workspace
chunk and batches formed over several, and predictions, objectives and
gradients likewise. The networks here are large enough that every kind of
pass is cut (test_passes_run_on_the_pool checks that the pool was used),
and small enough to fit in milliseconds.
"""
import numpy as np
import pytest
import scipy.sparse as sp

import fastmlp
from fastmlp._kernels import _train
from fastmlp.network import workspace as _workspace
from fastmlp.training.epoch import StepPlan

from bf16_support import needs_bf16_gemm
from conftest import assert_close

THREADS = (1, 2, 3, 4)
# First layer stored transposed (n0 * n1 <= 2**17) and not; every product,
# elementwise pass and update of these is cut into several blocks at a
# batch of 256 rows.
NETWORKS = {"transposed_first": [320, 384, 256, 6], "plain_first": [420, 384, 256, 6],
            # 2**20 weights in the second layer: updated inside its backward
            # pass, block by block (_dense.pxd's UPDATE_INSIDE_MIN_WEIGHTS).
            "update_inside": [64, 1024, 1024, 4]}
ROWS = 768


def data(n_in, n_out, loss, dtype, seed=0, sparse=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((ROWS, n_in))
    if sparse:
        X[rng.random(X.shape) < 0.9] = 0
        X = sp.csr_matrix(X)
    if loss == "cross_entropy":
        y = rng.integers(0, n_out, ROWS)
    elif loss == "binary_cross_entropy":
        y = rng.integers(0, 2, (ROWS, n_out))
    else:
        y = rng.standard_normal((ROWS, n_out))
    return (X.astype(dtype) if sparse else X.astype(dtype)), y


def state(net):
    """Everything a fit leaves that must not depend on the thread count."""
    out = {"params": net.params.copy(), "history": list(net.history),
           "velocity": net.velocity.copy()}
    if net.second_moment is not None:
        out["second_moment"] = net.second_moment.copy()
    return out


def assert_same(a, b, what):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], list):
            assert a[key] == b[key], f"{what}: {key} differs"
        else:
            assert np.array_equal(a[key], b[key]), (
                f"{what}: {key} differs in {np.count_nonzero(a[key] != b[key])} of "
                f"{a[key].size} elements")


def fit_each(make, fit):
    """state() after make() then fit(net) with every thread count; checks
    that each count was used and returns the states."""
    states = {}
    for n in THREADS:
        net = make()
        net.n_threads = n
        fit(net)
        assert net.n_threads_ == n
        states[n] = state(net)
    return states


def check_identical(states, what):
    for n in THREADS[1:]:
        assert_same(states[1], states[n], f"{what}, n_threads={n} against 1")
    # A fit that learned nothing would pass trivially.
    assert not np.array_equal(states[1]["params"], states[1]["params"] * 0)
    assert np.isfinite(states[1]["history"]).all()


@pytest.mark.parametrize("network", sorted(NETWORKS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy", "binary_cross_entropy"])
@pytest.mark.parametrize("optimizer", ["momentum", "nesterov", "adam"])
def test_fit_identical_for_every_thread_count(network, dtype, loss, optimizer):
    sizes = NETWORKS[network]
    X, y = data(sizes[0], sizes[-1], loss, dtype)

    def make():
        return fastmlp.MLP(sizes, loss=loss, dtype=dtype, seed=3, l2=1e-3)

    states = fit_each(make, lambda net: net.fit(X, y, epochs=2, batch_size=256, lr=0.01,
                                                optimizer=optimizer))
    check_identical(states, f"{network} {dtype} {loss} {optimizer}")


@pytest.mark.parametrize("network", sorted(NETWORKS))
@pytest.mark.parametrize("optimizer", ["momentum", "nesterov", "adam"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_cut_passes_match_the_reference(network, optimizer, n_threads):
    """The cut passes compute the fit the reference computes: on these
    networks the products, the elementwise passes and the update inside
    the backward pass (each large layer stepped block by block as its
    gradient is formed) all run in blocks. float64, l2 on (the sum of
    squared weights enters history). Tolerance: float64 sums in another
    order over ~400 terms per product and 4 steps, far below 1e-9."""
    sizes = NETWORKS[network]
    X, y = data(sizes[0], sizes[-1], "cross_entropy", "float64")
    fits = []
    for cls in (fastmlp.MLP, fastmlp.reference.MLP):
        net = cls(sizes, loss="cross_entropy", dtype="float64", seed=11, l2=1e-2)
        net.n_threads = n_threads
        net.fit(X, y, epochs=2, batch_size=256, lr=0.05, optimizer=optimizer)
        fits.append(net)
    assert_close(fits[0].params, fits[1].params, 1e-9, "parameters")
    assert_close(fits[0].history, fits[1].history, 1e-9, "history")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch_size", [ROWS, 300])
def test_formed_steps_identical(monkeypatch, dtype, batch_size):
    """Batches gathered over several workspace chunks (formed steps), and
    the whole data as one batch."""
    sizes = NETWORKS["plain_first"]
    monkeypatch.setattr(_workspace, "WORK_BUDGET", 130 * _workspace.row_width(sizes))
    X, y = data(sizes[0], sizes[-1], "cross_entropy", dtype)

    def make():
        return fastmlp.MLP(sizes, loss="cross_entropy", dtype=dtype, seed=4, l2=1e-3)

    states = fit_each(make, lambda net: net.fit(X, y, epochs=2, batch_size=batch_size,
                                                lr=0.02, optimizer="adam"))
    check_identical(states, f"formed {dtype} batch {batch_size}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_sparse_fit_identical(dtype, network):
    sizes = NETWORKS[network]
    X, y = data(sizes[0], sizes[-1], "cross_entropy", dtype, sparse=True)

    def make():
        return fastmlp.MLP(sizes, loss="cross_entropy", dtype=dtype, seed=5)

    states = fit_each(make, lambda net: net.fit(X, y, epochs=2, batch_size=256, lr=0.02))
    check_identical(states, f"sparse {dtype} {network}")


@needs_bf16_gemm
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_bfloat16_fit_identical(sparse, network):
    sizes = NETWORKS[network]
    X, y = data(sizes[0], sizes[-1], "cross_entropy", "float32", sparse=sparse)

    def make():
        return fastmlp.MLP(sizes, loss="cross_entropy", seed=6, matmul_dtype="bfloat16")

    states = fit_each(make, lambda net: net.fit(X, y, epochs=2, batch_size=256, lr=0.02,
                                                optimizer="adam"))
    check_identical(states, f"bfloat16 sparse={sparse} {network}")


def test_sample_weights_identical():
    sizes = NETWORKS["plain_first"]
    X, y = data(sizes[0], sizes[-1], "cross_entropy", "float32")
    w = np.random.default_rng(1).random(ROWS)

    def make():
        return fastmlp.MLP(sizes, loss="cross_entropy", seed=7, l2=1e-2)

    states = fit_each(make, lambda net: net.fit(X, y, epochs=2, batch_size=256, lr=0.02,
                                                sample_weight=w))
    check_identical(states, "sample weights")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_passes_identical(dtype):
    """forward, predict, loss and gradients on more rows than a block."""
    sizes = NETWORKS["plain_first"]
    X, y = data(sizes[0], sizes[-1], "cross_entropy", dtype)
    net = fastmlp.MLP(sizes, loss="cross_entropy", dtype=dtype, seed=8)
    results = {}
    for n in THREADS:
        net.n_threads = n
        dW, db = net.gradients(X, y)
        results[n] = (net.forward(X), net.predict(X), net.loss(X, y),
                      np.concatenate([d.ravel() for d in dW + db]))
    for n in THREADS[1:]:
        for a, b in zip(results[1], results[n]):
            assert np.array_equal(a, b)


def test_divergence_identical():
    """A diverging fit stops at the same step with the same restored state."""
    sizes = NETWORKS["plain_first"]
    X, y = data(sizes[0], sizes[-1], "mse", "float32")
    outcomes = {}
    for n in THREADS:
        net = fastmlp.MLP(sizes, seed=9, n_threads=n)
        with pytest.raises(fastmlp.DivergenceError) as info:
            net.fit(X * 1e3, y, epochs=3, batch_size=256, lr=1e3)
        outcomes[n] = (str(info.value), net.params.copy(), list(net.history))
    for n in THREADS[1:]:
        assert outcomes[n][0] == outcomes[1][0]
        assert np.array_equal(outcomes[n][1], outcomes[1][1])
        assert outcomes[n][2] == outcomes[1][2]


@pytest.mark.parametrize("n_threads", [2, 3])
def test_passes_run_on_the_pool(n_threads):
    """The networks above do run their passes on the pool's threads: an
    epoch of one of them runs jobs on more than one thread (so the
    identities above are not about one thread against itself)."""
    sizes = NETWORKS["plain_first"]
    net = fastmlp.MLP(sizes, loss="cross_entropy", seed=1)
    X, y = data(sizes[0], sizes[-1], "cross_entropy", "float32")
    pool = _train.ThreadPool(n_threads)
    try:
        from fastmlp.training.epoch import EpochLoop, OptimizerState
        from fastmlp.inputs.validation import check_X
        Y = np.eye(sizes[-1], dtype=np.float32)[y]
        loop = EpochLoop(net._kernels, net.params, check_X(X, sizes[0], np.float32), Y,
                         _train.Objective(), OptimizerState("momentum", net.params.size,
                                                            np.float32).with_hyperparameters(0.9),
                         StepPlan(256, threads=pool))
        status, total, _ = loop.run(None, 0.01)
        assert status == 0 and np.isfinite(total)
        assert pool.jobs > 0
    finally:
        pool.close()
