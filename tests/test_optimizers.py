"""fit(optimizer=...): "nesterov" and "adam" as the contract writes them, on
both implementations, against closed forms, across fit calls, through a
divergence and an early stop.

Tolerances: fastmlp and the reference run the same steps with sums in a
different order, so they agree to the equivalence harness's FIT_RTOL (see
tests/test_equivalence.py); the closed forms are evaluated in float64 from
the model's own float64 gradients, so only rounding of a few operations
separates them (1e-12 relative to the largest element).
"""
import warnings

import numpy as np
import pytest

import fastmlp
import fastmlp.reference
from fastmlp import DivergenceError

from conftest import make_data

FIT_RTOL = {"float32": 2e-4, "float64": 1e-9}
SIZES = [5, 7, 3]


def _net(impl, dtype="float64", **kw):
    return impl(SIZES, activation="tanh", loss="cross_entropy", dtype=dtype, seed=2, **kw)


def _close(a, b, rtol):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(np.abs(b).max(), 1e-30))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", ["momentum", "nesterov", "adam"])
@pytest.mark.parametrize("batch_size", [None, 6])
def test_fastmlp_follows_the_reference(dtype, optimizer, batch_size):
    X, y = make_data("labels", 40, SIZES)
    nets = []
    for impl in (fastmlp.MLP, fastmlp.reference.MLP):
        net = _net(impl, dtype, l2=1e-2)
        net.fit(X, y, epochs=4, batch_size=batch_size, lr=0.02, momentum=0.8,
                optimizer=optimizer, beta_2=0.99, epsilon=1e-6)
        nets.append(net)
    a, b = nets
    for name in ("params", "velocity", "second_moment"):
        if getattr(b, name) is None:
            assert getattr(a, name) is None
            continue
        _close(getattr(a, name), getattr(b, name), FIT_RTOL[dtype])
    _close(np.array(a.history), np.array(b.history), FIT_RTOL[dtype])
    assert a.optimizer_steps == b.optimizer_steps == (
        4 * (1 if batch_size is None else 7) if optimizer == "adam" else 0)


def assert_same_state(a, b):
    """Parameters and the whole optimizer state equal bit for bit."""
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.velocity, b.velocity)
    assert (a.second_moment is None) == (b.second_moment is None)
    if a.second_moment is not None:
        np.testing.assert_array_equal(a.second_moment, b.second_moment)
    assert a.optimizer == b.optimizer and a.optimizer_steps == b.optimizer_steps


def _flat(net, grads):
    return np.concatenate([g.ravel() for g in grads[0]] + list(grads[1]))


@pytest.mark.parametrize("optimizer", ["nesterov", "adam"])
def test_two_steps_follow_the_closed_form(impl, optimizer):
    X, y = make_data("labels", 8, SIZES)
    net = _net(impl, l2=0.05)
    lr, m, b2, eps = 0.3, 0.7, 0.9, 1e-3
    canonical = net._layout.to_canonical
    w = canonical(net.params)
    v = np.zeros_like(w)
    s = np.zeros_like(w)
    for t in (1, 2):
        g = _flat(net, net.gradients(X, y))
        if optimizer == "nesterov":
            v = m * v + (1 - m) * g
            w = w - lr * (m * v + (1 - m) * g)
        else:
            v = m * v + (1 - m) * g
            s = b2 * s + (1 - b2) * g * g
            w = w - lr * (v / (1 - m ** t)) / (np.sqrt(s / (1 - b2 ** t)) + eps)
        net.fit(X, y, epochs=1, batch_size=None, lr=lr, momentum=m, optimizer=optimizer,
                beta_2=b2, epsilon=eps)
        _close(canonical(net.params), w, 1e-12)
        _close(canonical(net.velocity), v, 1e-12)
        if optimizer == "adam":
            _close(canonical(net.second_moment), s, 1e-12)
            assert net.optimizer_steps == t


@pytest.mark.parametrize("optimizer", ["nesterov", "adam"])
def test_the_state_persists_across_fit_calls(impl, optimizer):
    X, y = make_data("labels", 30, SIZES)
    once, twice = _net(impl), _net(impl)
    kw = dict(batch_size=7, lr=0.05, shuffle=False, optimizer=optimizer)
    once.fit(X, y, epochs=3, **kw)
    for _ in range(3):
        twice.fit(X, y, epochs=1, **kw)
    assert_same_state(once, twice)


def test_switching_the_optimizer_restarts_its_state_with_a_warning(impl):
    X, y = make_data("labels", 30, SIZES)
    net = _net(impl)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fresh model switches silently
        net.fit(X, y, epochs=1, batch_size=10, optimizer="adam")
        net.fit(X, y, epochs=1, batch_size=10, optimizer="adam")  # the same rule goes on
    assert net.optimizer_steps == 6 and net.second_moment.any()
    net.fit(X, y, epochs=0, optimizer="nesterov")  # nothing runs: nothing changes
    assert net.optimizer == "adam" and net.optimizer_steps == 6
    # What the switch must give: the same parameters and generator, from zero.
    expected = _net(impl)
    expected.params[...] = net.params
    expected.rng.bit_generator.state = net.rng.bit_generator.state
    with pytest.warns(UserWarning, match="starts from zero"):
        net.fit(X, y, epochs=1, batch_size=10, optimizer="nesterov")
    assert net.optimizer == "nesterov" and net.second_moment is None
    assert net.optimizer_steps == 0
    expected.fit(X, y, epochs=1, batch_size=10, optimizer="nesterov")
    np.testing.assert_array_equal(net.params, expected.params)
    np.testing.assert_array_equal(net.velocity, expected.velocity)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(optimizer="rmsprop"), ValueError, "unknown optimizer"),
    (dict(optimizer=3), TypeError, "optimizer must be a str"),
    (dict(beta_2=1.0), ValueError, "beta_2"),
    (dict(beta_2="x"), TypeError, "beta_2"),
    (dict(epsilon=0.0), ValueError, "epsilon"),
    (dict(epsilon=float("inf")), ValueError, "epsilon"),
])
def test_bad_optimizer_settings_change_nothing(impl, kwargs, error, match):
    X, y = make_data("labels", 20, SIZES)
    net = _net(impl)
    before = net.params.copy()
    with pytest.raises(error, match=match):
        net.fit(X, y, **kwargs)
    np.testing.assert_array_equal(net.params, before)
    assert net.optimizer == "momentum" and not net.history


def test_adam_divergence_restores_both_moments_and_the_step_count():
    """fastmlp: an update that overflows is undone from the checkpoint and
    the replay; the reference keeps a copy per step. Either way the state is
    the one after the last finite step, the moments and t included."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 5))
    y = rng.integers(0, 3, 16)
    kw = dict(batch_size=4, shuffle=False, optimizer="adam", momentum=0.9)
    for impl in (fastmlp.MLP, fastmlp.reference.MLP):
        net = _net(impl, "float32")
        net.fit(X, y, epochs=2, lr=0.01, **kw)
        with pytest.raises(DivergenceError) as info:
            net.fit(X, y, epochs=3, lr=3e38, **kw)
        step = info.value.step
        assert info.value.epoch == 2
        expected = _net(impl, "float32")
        expected.fit(X, y, epochs=2, lr=0.01, **kw)
        if step:
            expected.fit(X[: 4 * step], y[: 4 * step], epochs=1, lr=3e38, **kw)
        np.testing.assert_array_equal(net.params, expected.params)
        np.testing.assert_array_equal(net.velocity, expected.velocity)
        np.testing.assert_array_equal(net.second_moment, expected.second_moment)
        assert net.optimizer_steps == expected.optimizer_steps == 8 + step


def test_early_stopping_restores_adam_state(impl):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((60, 5))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 1)
    kw = dict(batch_size=4, lr=0.05, optimizer="adam")
    net = _net(impl)
    net.fit(X[:40], y[:40], epochs=300, validation_data=(X[40:], y[40:]), patience=3, **kw)
    best = net.best_epoch
    assert best is not None and len(net.history) == best + 4
    again = _net(impl)
    again.fit(X[:40], y[:40], epochs=best + 1, **kw)
    np.testing.assert_array_equal(net.params, again.params)
    np.testing.assert_array_equal(net.second_moment, again.second_moment)
    assert net.optimizer_steps == again.optimizer_steps == 10 * (best + 1)


@pytest.mark.parametrize("optimizer", ["nesterov", "adam"])
def test_fit_after_save_and_load_continues_bit_for_bit(impl, optimizer, tmp_path):
    X, y = make_data("labels", 30, SIZES)
    kw = dict(batch_size=7, lr=0.05, optimizer=optimizer)
    straight = _net(impl, "float32")
    straight.fit(X, y, epochs=4, **kw)
    first = _net(impl, "float32")
    first.fit(X, y, epochs=2, **kw)
    first.save(tmp_path / "m.npz")
    resumed = impl.load(tmp_path / "m.npz")
    assert resumed.optimizer == optimizer
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the loaded rule is the same: no restart
        resumed.fit(X, y, epochs=2, **kw)
    assert_same_state(resumed, straight)
    assert resumed.history == straight.history
