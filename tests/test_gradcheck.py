"""fastmlp.gradcheck: correct gradients pass, wrong ones are caught.

Threshold: gradcheck differentiates a float64 copy with steps h ~ 6e-6, so
its truncation error O(h^2) and rounding error O(eps |Obj| / h) ~ 4e-11 are
both far below 1e-6 for objectives and gradients of order 0.1 to 10 (a
correct backward pass measures 1e-11 to 1e-9 here); 1e-6 is three orders
above that noise, and the bugs below give errors of 1e-3 and more.
"""
import numpy as np
import pytest

import fastmlp
import fastmlp.reference
from fastmlp import gradcheck

from conftest import ACTIVATIONS, IMPLEMENTATIONS, LOSS_CASES, loss_case_id, make_data

TOL = 1e-6


def small_net(cls, activation, loss="mse", output=None, dtype="float64", sizes=(4, 5, 3),
              l2=0.03, seed=4):
    net = cls(list(sizes), activation=activation, loss=loss, output=output, l2=l2,
              dtype=dtype, seed=seed)
    # Biases off zero: their gradients and the relu kinks are then exercised
    # away from the symmetric starting point (no pre-activation sits within
    # h of a kink for these seeds).
    for b in net.biases:
        b[...] = np.linspace(-0.3, 0.4, b.size)
    return net


@pytest.mark.parametrize("case", LOSS_CASES, ids=loss_case_id)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_correct_gradients_pass(impl, activation, case):
    loss, output, kind = case
    net = small_net(impl, activation, loss, output)
    X, y = make_data(kind, 9, net.layer_sizes, seed=11)
    result = gradcheck(net, X, y)
    assert len(result) == 2
    assert all(np.isfinite(result.errors))
    assert result.max_error < TOL, f"\n{result}"
    # A float64 model's own gradients are the same computation.
    assert max(result.dtype_errors) < TOL, f"\n{result}"
    # Every layer has a gradient well above the finite-difference noise, so
    # the relative errors above are meaningful.
    assert min(result.scales) > 1e-3


@pytest.mark.parametrize("case", LOSS_CASES, ids=loss_case_id)
def test_float32_models_checked_in_float64(impl, case):
    """The backward pass is checked on the float64 copy (errors < 1e-6 even
    for a float32 model); the float32 gradients themselves differ from it by
    float32 rounding (eps32 = 1.2e-7 times a few operations): < 1e-4."""
    loss, output, kind = case
    net = small_net(impl, "tanh", loss, output, dtype="float32")
    X, y = make_data(kind, 9, net.layer_sizes, seed=12)
    result = gradcheck(net, X, y)
    assert result.max_error < TOL, f"\n{result}"
    assert max(result.dtype_errors) < 1e-4, f"\n{result}"
    assert "float32" in str(result)


def test_deep_mixed_network(impl):
    sizes = [3, 6, 5, 4, 2]
    net = small_net(impl, ["tanh", "sigmoid", "leaky_relu"], "cross_entropy", sizes=sizes)
    X, y = make_data("labels", 7, sizes, seed=13)
    result = gradcheck(net, X, y)
    assert len(result) == 4
    assert result.max_error < TOL, f"\n{result}"


def test_no_hidden_layer(impl):
    net = small_net(impl, [], "binary_cross_entropy", sizes=(4, 1))
    X, y = make_data("binary", 8, net.layer_sizes, seed=14)
    result = gradcheck(net, X, y[:, 0])
    assert len(result) == 1 and result.max_error < TOL


# -- wrong gradients must be caught ----------------------------------------

def buggy(cls, bug):
    """A subclass of ``cls`` whose flat gradient has a deliberate bug."""

    class Buggy(cls):
        def _gradients(self, X, Y):
            g = np.array(super()._gradients(X, Y), copy=True)
            dW = self._layout.weight_views(g)
            db = self._layout.bias_views(g)
            if bug == "scale_layer1":      # 1% too large in one layer
                dW[1] *= 1.01
            elif bug == "bias_sign":       # sign error in the first biases
                db[0] *= -1
            elif bug == "missing_l2":      # forgot the l2 term of layer 0
                dW[0] -= self.l2 * self.weights[0]
            elif bug == "one_entry":       # a single wrong entry
                dW[0][1, 2] += 1e-3
            return g

    Buggy.__name__ = f"Buggy{cls.__name__}"
    return Buggy


@pytest.mark.parametrize("bug,layer,min_error", [
    ("scale_layer1", 1, 5e-3),
    ("bias_sign", 0, 0.1),
    ("missing_l2", 0, 1e-2),
    ("one_entry", 0, 1e-3),
])
def test_wrong_gradients_detected(impl, bug, layer, min_error):
    net = small_net(buggy(impl, bug), "tanh", "cross_entropy", l2=0.1)
    X, y = make_data("labels", 9, net.layer_sizes, seed=11)
    result = gradcheck(net, X, y)
    # Large where the bug is, and only there.
    assert result[layer] > min_error, f"\n{result}"
    assert result.dtype_errors[layer] > min_error
    for other in range(len(result)):
        if other != layer:
            assert result[other] < TOL, f"\n{result}"


def test_wrong_float32_gradients_detected():
    net = small_net(buggy(fastmlp.MLP, "scale_layer1"), "relu", "mse", dtype="float32")
    X, y = make_data("regression", 9, net.layer_sizes, seed=11)
    result = gradcheck(net, X, y)
    assert result[1] > 5e-3 and result[0] < TOL


# -- gradcheck never changes the model --------------------------------------

def test_model_not_modified(impl):
    net = impl([4, 5, 3], activation="relu", loss="cross_entropy", l2=0.01, seed=3)
    X, y = make_data("labels", 20, net.layer_sizes, seed=15)
    net.fit(X, y, epochs=2, batch_size=5, lr=0.1)  # non-zero velocity, history
    params, velocity = net.params.copy(), net.velocity.copy()
    history, rng_state = list(net.history), net.rng.bit_generator.state
    weight_buffer = net.weights[0]
    result = gradcheck(net, X[:6], y[:6])
    assert result.max_error < TOL
    np.testing.assert_array_equal(net.params, params)
    np.testing.assert_array_equal(net.velocity, velocity)
    assert net.history == history
    assert net.rng.bit_generator.state == rng_state
    assert net.dtype == np.float32 and net.weights[0] is weight_buffer
    assert np.shares_memory(net.weights[0], net.params)


# -- options, result object, errors -----------------------------------------

@pytest.mark.parametrize("eps", [1e-4, 1e-5, 1e-6])
def test_explicit_step(eps):
    net = small_net(fastmlp.MLP, "sigmoid", "mse")
    X, y = make_data("regression", 9, net.layer_sizes, seed=16)
    result = gradcheck(net, X, y, eps=eps)
    assert result.eps == eps
    # h = 1e-4: truncation O(h^2 f''') ~ 1e-8 relative, still well below TOL.
    assert result.max_error < TOL, f"\n{result}"


def test_huge_step_is_visible():
    """The check can fail: with h = 0.5 the central difference is no longer
    the derivative of a curved objective."""
    net = small_net(fastmlp.MLP, "tanh", "mse")
    X, y = make_data("regression", 9, net.layer_sizes, seed=16)
    assert gradcheck(net, X, y, eps=0.5).max_error > 1e-3


@pytest.mark.parametrize("eps,exc", [(0.0, ValueError), (-1e-5, ValueError),
                                     (float("nan"), ValueError), (float("inf"), ValueError),
                                     ("1e-5", TypeError), (True, TypeError)])
def test_bad_step(eps, exc):
    net = small_net(fastmlp.MLP, "tanh", "mse")
    X, y = make_data("regression", 4, net.layer_sizes)
    with pytest.raises(exc, match="eps"):
        gradcheck(net, X, y, eps=eps)


def test_bad_data_is_rejected():
    net = small_net(fastmlp.MLP, "tanh", "mse")
    X, y = make_data("regression", 4, net.layer_sizes)
    X[1, 2] = np.nan
    with pytest.raises(ValueError):
        gradcheck(net, X, y)
    with pytest.raises(ValueError):
        gradcheck(net, X[:, :3], y)


def test_result_object():
    net = small_net(fastmlp.reference.MLP, "tanh", "mse", sizes=(3, 4, 4, 2))
    X, y = make_data("regression", 5, net.layer_sizes)
    result = gradcheck(net, X, y)
    assert list(result) == result.errors and len(result.errors) == 3
    assert result.max_error == max(result.errors) == max(result[i] for i in range(3))
    assert all(isinstance(e, float) for e in result.errors + result.dtype_errors)
    text = str(result)
    assert len(text.splitlines()) == 1 + 3 + 1
    assert "float64 copy" in text and "net.gradients (float64)" in text
    assert repr(result).startswith("GradcheckResult(max_error=")


def test_all_implementations_listed():
    # The parametrized tests above cover every implementation of conftest.
    assert set(IMPLEMENTATIONS.values()) == {fastmlp.MLP, fastmlp.reference.MLP}
