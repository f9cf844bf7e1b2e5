"""One harness over both implementations: fastmlp.MLP against fastmlp.reference.MLP.

Both start from the same weights (same seed) and, in fit, draw the same
shuffles, so every result must agree within the per-dtype tolerance.
"""
import numpy as np
import pytest

import fastmlp
import fastmlp.reference

from conftest import (ACTIVATIONS, FIT_RTOL, LOSS_CASES, PASS_RTOL, assert_close,
                      loss_case_id, make_data)


def pair(sizes, dtype, seed=3, **kw):
    a = fastmlp.MLP(sizes, dtype=dtype, seed=seed, **kw)
    b = fastmlp.reference.MLP(sizes, dtype=dtype, seed=seed, **kw)
    np.testing.assert_array_equal(a.params, b.params)
    return a, b


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", LOSS_CASES, ids=loss_case_id)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_loss_gradients_match(activation, case, dtype):
    loss, output, kind = case
    sizes = [5, 7, 6, 3]
    X, y = make_data(kind, 23, sizes, seed=1)
    a, b = pair(sizes, dtype, activation=activation, loss=loss, output=output, l2=0.05)
    tol = PASS_RTOL[dtype]

    fa, fb = a.forward(X), b.forward(X)
    assert fa.dtype == np.dtype(dtype) and fb.dtype == np.dtype(dtype)
    assert_close(fa, fb, tol, "forward")
    assert_close(a.loss(X, y), b.loss(X, y), tol, "loss")
    (dWa, dba), (dWb, dbb) = a.gradients(X, y), b.gradients(X, y)
    for l in range(len(sizes) - 1):
        assert dWa[l].dtype == np.dtype(dtype)
        assert_close(dWa[l], dWb[l], tol * 10, f"dW[{l}]")
        assert_close(dba[l], dbb[l], tol * 10, f"db[{l}]")
    if loss == "mse":
        assert_close(a.predict(X), b.predict(X), tol, "predict")
    else:
        np.testing.assert_array_equal(a.predict(X), b.predict(X))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", LOSS_CASES, ids=loss_case_id)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fit_trajectories_match(activation, case, dtype):
    loss, output, kind = case
    sizes = [4, 6, 3]
    X, y = make_data(kind, 30, sizes, seed=2)
    a, b = pair(sizes, dtype, activation=activation, loss=loss, output=output, l2=0.01)
    # batch 7 over 30 rows: four full batches and a partial one of 2 rows.
    for net in (a, b):
        net.fit(X, y, epochs=3, batch_size=7, lr=0.05, momentum=0.8)
    assert_close(a.params, b.params, FIT_RTOL[dtype], "params")
    assert_close(a.velocity, b.velocity, FIT_RTOL[dtype], "velocity")
    assert_close(a.history, b.history, FIT_RTOL[dtype], "history")
    assert len(a.history) == 3


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("batch_size", [None, 1, 5, 64])
@pytest.mark.parametrize("shuffle", [True, False])
def test_fit_depth_and_batch_sizes(depth, batch_size, shuffle, dtype):
    sizes = [6] + [8, 5, 7][: depth - 1] + [4]
    X, y = make_data("labels", 17, sizes, seed=depth)
    a, b = pair(sizes, dtype, seed=depth, activation="tanh", loss="cross_entropy")
    for net in (a, b):
        net.fit(X, y, epochs=2, batch_size=batch_size, lr=0.1, momentum=0.5, shuffle=shuffle)
    assert_close(a.params, b.params, FIT_RTOL[dtype], "params")
    assert_close(a.history, b.history, FIT_RTOL[dtype], "history")
    # The generators were consumed identically.
    assert a.rng.bit_generator.state == b.rng.bit_generator.state


def test_chunked_full_batch_matches_reference(monkeypatch):
    """Full-batch work larger than the workspace budget runs in row chunks
    (gradients accumulated through the GEMM beta, then one momentum step);
    force that path with a tiny budget and compare with the reference."""
    from fastmlp.network import workspace as _workspace

    monkeypatch.setattr(_workspace, "WORK_BUDGET", 200)
    sizes = [5, 9, 3]
    X, y = make_data("labels", 41, sizes, seed=5)
    a, b = pair(sizes, "float64", activation="sigmoid", loss="cross_entropy", l2=0.1)
    assert _workspace.chunk_rows(sizes, 41) < 41
    assert_close(a.forward(X), b.forward(X), 1e-10, "forward")
    assert_close(a.loss(X, y), b.loss(X, y), 1e-10, "loss")
    for ga, gb in zip(a.gradients(X, y)[0], b.gradients(X, y)[0]):
        assert_close(ga, gb, 1e-10, "dW")
    for net in (a, b):
        net.fit(X, y, epochs=3, batch_size=None, lr=0.5, momentum=0.9)
    assert_close(a.params, b.params, 1e-8, "params")
    assert_close(a.history, b.history, 1e-8, "history")


def test_mixed_hidden_activations_match():
    sizes = [3, 5, 4, 6, 2]
    acts = ["sigmoid", "leaky_relu", "relu"]
    X, y = make_data("regression", 12, sizes, seed=9)
    a, b = pair(sizes, "float64", activation=acts, loss="mse")
    assert a.init_schemes == ["xavier", "he", "he", "xavier"]
    for net in (a, b):
        net.fit(X, y, epochs=4, batch_size=5, lr=0.05)
    assert_close(a.params, b.params, 1e-8, "params")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("momentum", [0.0, 0.3, 0.5, 0.9, 0.99])
def test_long_epochs_match_reference(momentum, dtype):
    """Hundreds of steps per epoch: the kernels keep the velocity as a
    scaled copy for momentum >= 0.5 and fold the scale back in every ~100
    steps and at the end of each epoch; all of that must stay on the
    reference's trajectory, velocity included."""
    sizes = [5, 8, 3]
    X, y = make_data("labels", 400, sizes, seed=7)
    a, b = pair(sizes, dtype, activation="tanh", loss="cross_entropy", l2=0.01)
    for net in (a, b):
        net.fit(X, y, epochs=2, batch_size=1, lr=0.01, momentum=momentum)
    assert_close(a.params, b.params, 10 * FIT_RTOL[dtype], "params")
    assert_close(a.velocity, b.velocity, 10 * FIT_RTOL[dtype], "velocity")
    assert_close(a.history, b.history, FIT_RTOL[dtype], "history")


def test_overflow_gives_inf_without_warnings(recwarn):
    X = np.full((3, 4), 3e38, dtype=np.float32)
    for cls in (fastmlp.MLP, fastmlp.reference.MLP):
        net = cls([4, 5, 2], activation="identity", loss="mse", seed=0)
        net.weights[0][...] = 10.0
        out = net.forward(X)
        assert not np.isfinite(out).all()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize("case", LOSS_CASES, ids=loss_case_id)
def test_objective_pass_also_gives_the_outputs(impl, case):
    """The objective hook can hand back the output activations of its pass
    (fit's validation metrics use one pass for both)."""
    loss, output, kind = case
    sizes = [5, 6, 3]
    X, y = make_data(kind, 19, sizes, seed=3)
    net = impl(sizes, loss=loss, output=output, l2=0.1, dtype="float64", seed=2)
    Xc, Y = net._check_Xy(X, y)
    outputs = np.full((19, 3), np.nan)
    assert net._objective(Xc, Y, outputs) == pytest.approx(net.loss(X, y), rel=1e-14)
    np.testing.assert_allclose(outputs, net.forward(X), rtol=1e-14, atol=1e-300)
