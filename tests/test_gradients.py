"""Gradients against central finite differences and the closed-form example.

Finite differences run in float64 with step h = 1e-5: the truncation error of
a central difference is O(h^2 * f''') ~ 1e-10 and the rounding error
O(eps * |f| / h) ~ 1e-11 for objectives of order one, so a relative error
above 1e-6 is a real disagreement, not noise.
"""
import numpy as np
import pytest

import fastmlp
import fastmlp.reference

from conftest import ACTIVATIONS, LOSS_CASES, loss_case_id, make_data

H = 1e-5
FD_RTOL = 1e-6


def numerical_gradient(net, X, y):
    flat = np.empty_like(net.params)
    for i in range(net.params.size):
        old = net.params[i]
        net.params[i] = old + H
        up = net.loss(X, y)
        net.params[i] = old - H
        down = net.loss(X, y)
        net.params[i] = old
        flat[i] = (up - down) / (2 * H)
    return flat


def flat_gradient(net, X, y):
    """net.gradients laid out as net.params is (the order numerical_gradient
    perturbs it in; W_0 may be stored transposed)."""
    dW, db = net.gradients(X, y)
    flat = np.empty_like(net.params)
    net._layout.from_canonical(np.concatenate([w.ravel() for w in dW] + list(db)), flat)
    return flat


@pytest.mark.parametrize("case", LOSS_CASES, ids=loss_case_id)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_match_finite_differences(impl, activation, case):
    loss, output, kind = case
    sizes = [4, 5, 3]
    X, y = make_data(kind, 9, sizes, seed=11)
    net = impl(sizes, activation=activation, loss=loss, output=output, l2=0.03,
               dtype="float64", seed=4)
    # Move the biases off zero so their gradients (and the relu kinks) are
    # exercised away from the initial symmetric point.
    for b in net.biases:
        b[...] = np.linspace(-0.3, 0.4, b.size)
    analytic = flat_gradient(net, X, y)
    numeric = numerical_gradient(net, X, y)
    err = np.max(np.abs(analytic - numeric)) / max(1e-3, np.max(np.abs(numeric)))
    assert err < FD_RTOL, f"relative error {err:.2e}"


def test_deep_network_gradients_match_finite_differences(impl):
    sizes = [3, 4, 4, 4, 2]
    X, y = make_data("labels", 6, sizes, seed=12)
    net = impl(sizes, activation=["tanh", "sigmoid", "leaky_relu"], loss="cross_entropy",
               dtype="float64", seed=5)
    analytic = flat_gradient(net, X, y)
    numeric = numerical_gradient(net, X, y)
    assert np.max(np.abs(analytic - numeric)) < FD_RTOL * max(1.0, np.max(np.abs(numeric)))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("n_in,n_hidden", [(3, 4), (5, 2)])
def test_closed_form_sigmoid_hidden_identity_output(impl, n_in, n_hidden):
    """One sample, hidden sigmoid layer, identity output, squared loss:
    dL/dV = 2 (yhat - y) sigma(W^T x) and
    dL/dW = 2 (yhat - y) x [V^T * sigma(x^T W) * (1 - sigma(x^T W))],
    where W is (n_in x n_hidden) and V is (1 x n_hidden); fastmlp stores
    weights[0] = W^T and weights[1] = V, and the biases stay zero."""
    rng = np.random.default_rng(n_in)
    x = rng.standard_normal(n_in)
    y = 0.7
    net = impl([n_in, n_hidden, 1], activation="sigmoid", loss="mse", dtype="float64", seed=1)
    W = net.weights[0].T.copy()
    V = net.weights[1].copy()
    s = sigmoid(x @ W)
    yhat = float((V @ s)[0])
    dV = 2 * (yhat - y) * s
    dW = 2 * (yhat - y) * np.outer(x, V[0] * s * (1 - s))

    grads_W, grads_b = net.gradients(x[None, :], [y])
    np.testing.assert_allclose(net.forward(x[None, :])[0, 0], yhat, rtol=1e-14)
    np.testing.assert_allclose(grads_W[1][0], dV, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grads_W[0], dW.T, rtol=1e-12, atol=1e-15)
    # The bias gradients follow the same chain rule with x replaced by 1.
    np.testing.assert_allclose(grads_b[1], [2 * (yhat - y)], rtol=1e-12)
    np.testing.assert_allclose(grads_b[0], 2 * (yhat - y) * V[0] * s * (1 - s), rtol=1e-12)


def test_float32_gradients_track_float64():
    """The float32 kernels agree with the float64 ones to float32 accuracy."""
    sizes = [6, 8, 4]
    X, y = make_data("labels", 20, sizes, seed=3)
    g64 = flat_gradient(fastmlp.MLP(sizes, activation="tanh", loss="cross_entropy",
                                    dtype="float64", seed=2), X, y)
    net32 = fastmlp.MLP(sizes, activation="tanh", loss="cross_entropy", dtype="float32", seed=2)
    net64 = fastmlp.reference.MLP(sizes, activation="tanh", loss="cross_entropy",
                                  dtype="float64", seed=2)
    # Same seed, same draws: the float32 weights are the rounded float64 ones.
    np.testing.assert_allclose(net32.params, net64.params.astype(np.float32))
    g32 = flat_gradient(net32, X, y)
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, g64, atol=2e-5 * np.max(np.abs(g64)))
