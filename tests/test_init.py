"""Initialization: variances per scheme, default scheme per layer, seeding."""
import numpy as np
import pytest

import fastmlp


@pytest.mark.parametrize("scheme,expected_var", [
    ("xavier", lambda n_in, n_out: 1 / n_in),
    ("glorot", lambda n_in, n_out: 2 / (n_in + n_out)),
    ("he", lambda n_in, n_out: 2 / n_in),
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_init_variance(impl, scheme, expected_var, dtype):
    sizes = [800, 400, 300]
    net = impl(sizes, init=scheme, dtype=dtype, seed=0)
    for W, b in zip(net.weights, net.biases):
        n_out, n_in = W.shape
        var = expected_var(n_in, n_out)
        # The sample variance of N normal draws has relative standard error
        # sqrt(2 / N) (0.22% for 400*800, 0.26% for 300*400): 5 of those.
        tol = 5 * np.sqrt(2 / W.size)
        sample = W.astype(np.float64)
        assert abs(sample.var() / var - 1) < tol, (scheme, sample.var(), var)
        assert abs(sample.mean()) < 5 * np.sqrt(var / W.size)
        assert np.all(b == 0)


def test_default_init_per_layer(impl):
    net = impl([10, 8, 8, 8, 3], activation=["relu", "tanh", "leaky_relu"],
               loss="cross_entropy", seed=0)
    assert net.init_schemes == ["he", "xavier", "he", "xavier"]
    sig = impl([4, 5, 1], activation="sigmoid", loss="binary_cross_entropy")
    assert sig.init_schemes == ["xavier", "xavier"]
    # mse with a relu output: the output layer's activation decides too.
    relu_out = impl([4, 5, 1], activation="tanh", loss="mse", output="relu")
    assert relu_out.init_schemes == ["xavier", "he"]


def test_default_init_variances_follow_activation():
    net = fastmlp.MLP([2000, 1000, 500], activation="relu", dtype="float64", seed=1)
    np.testing.assert_allclose(net.weights[0].var(), 2 / 2000, rtol=0.02)
    np.testing.assert_allclose(net.weights[1].var(), 1 / 1000, rtol=0.02)


def test_same_seed_same_weights_and_implementations_agree(impl):
    a = impl([5, 4, 3], seed=42)
    b = impl([5, 4, 3], seed=42)
    np.testing.assert_array_equal(a.params, b.params)
    ref = fastmlp.reference.MLP([5, 4, 3], seed=42)
    np.testing.assert_array_equal(a.params, ref.params)
    c = impl([5, 4, 3], seed=43)
    assert not np.array_equal(a.params, c.params)


def test_generator_seed_is_used_and_consumed(impl):
    g = np.random.default_rng(7)
    net = impl([5, 4, 3], seed=g)
    assert net.rng is g
    expected = np.random.default_rng(7)
    W0 = expected.standard_normal((4, 5)) * np.sqrt(2 / 5)
    np.testing.assert_allclose(net.weights[0], W0.astype(np.float32))


def test_float32_and_float64_start_from_the_same_draws():
    a = fastmlp.MLP([6, 5, 2], dtype="float32", seed=3)
    b = fastmlp.MLP([6, 5, 2], dtype="float64", seed=3)
    assert a.params.dtype == np.float32 and b.params.dtype == np.float64
    np.testing.assert_array_equal(a.params, b.params.astype(np.float32))
