"""Training semantics: history, momentum, velocity persistence, determinism,
divergence, and no allocation per step."""
import tracemalloc

import numpy as np
import pytest

import fastmlp
import fastmlp.reference
from fastmlp.training.settings import FitArguments, FitData
from fastmlp.training.strategy import SingleProcess

from conftest import make_data


def test_full_batch_history_is_the_objective_before_the_step(impl):
    sizes = [4, 6, 3]
    X, y = make_data("labels", 25, sizes)
    net = impl(sizes, activation="tanh", loss="cross_entropy", l2=0.1, dtype="float64", seed=0)
    before = net.loss(X, y)
    net.fit(X, y, epochs=1, batch_size=None, lr=0.1)
    assert net.history == [pytest.approx(before, rel=1e-12)]
    assert net.loss(X, y) < before


def test_momentum_zero_is_plain_gradient_descent(impl):
    sizes = [4, 6, 2]
    X, y = make_data("regression", 15, sizes)
    net = impl(sizes, activation="sigmoid", loss="mse", l2=0.05, dtype="float64", seed=0)
    dW, db = net.gradients(X, y)
    W0 = [w.copy() for w in net.weights]
    net.fit(X, y, epochs=1, batch_size=None, lr=0.3, momentum=0.0)
    for w, w0, g in zip(net.weights, W0, dW):
        np.testing.assert_allclose(w, w0 - 0.3 * g, rtol=1e-12, atol=1e-14)


def test_momentum_update_rule_over_two_steps(impl):
    """v1 = (1-m) g0, w1 = w0 - lr v1; v2 = m v1 + (1-m) g1, w2 = w1 - lr v2."""
    sizes = [3, 4, 2]
    X, y = make_data("regression", 8, sizes)
    net = impl(sizes, activation="tanh", loss="mse", dtype="float64", seed=0)
    lr, m = 0.2, 0.7
    # velocity and params in the canonical order of gradients() (by layer).
    canonical = net._layout.to_canonical
    w0 = canonical(net.params)
    g0 = np.concatenate([a.ravel() for a in sum(net.gradients(X, y), [])])
    net.fit(X, y, epochs=1, batch_size=None, lr=lr, momentum=m)
    v1 = (1 - m) * g0
    np.testing.assert_allclose(canonical(net.velocity), v1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(canonical(net.params), w0 - lr * v1, rtol=1e-12, atol=1e-15)
    g1 = np.concatenate([a.ravel() for a in sum(net.gradients(X, y), [])])
    net.fit(X, y, epochs=1, batch_size=None, lr=lr, momentum=m)
    v2 = m * v1 + (1 - m) * g1
    np.testing.assert_allclose(canonical(net.velocity), v2, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(canonical(net.params), w0 - lr * v1 - lr * v2, rtol=1e-12,
                               atol=1e-15)


def test_minibatch_history_is_size_weighted_mean_of_batch_objectives(impl):
    """Replays the epoch one batch at a time on a copy (velocity persists
    across fit calls, so full-batch fits on each batch are the same steps)."""
    sizes = [3, 5, 2]
    X, y = make_data("binary", 23, sizes)
    kw = dict(activation="relu", loss="binary_cross_entropy", l2=0.02, dtype="float64")
    net = impl(sizes, seed=1, **kw)
    replay = impl(sizes, seed=1, **kw)
    net.fit(X, y, epochs=1, batch_size=6, lr=0.1, momentum=0.9, shuffle=False)
    objectives, counts = [], []
    for start in range(0, 23, 6):
        xb, yb = X[start:start + 6], y[start:start + 6]
        objectives.append(replay.loss(xb, yb))
        counts.append(len(xb))
        replay.fit(xb, yb, epochs=1, batch_size=None, lr=0.1, momentum=0.9)
    assert counts == [6, 6, 6, 5]
    expected = np.dot(objectives, counts) / 23
    assert net.history[0] == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(net.params, replay.params, rtol=1e-12, atol=1e-15)


def test_velocity_persists_across_fit_calls(impl):
    sizes = [4, 5, 3]
    X, y = make_data("labels", 20, sizes)
    a = impl(sizes, loss="cross_entropy", seed=5)
    b = impl(sizes, loss="cross_entropy", seed=5)
    a.fit(X, y, epochs=1, batch_size=3, shuffle=False)
    a.fit(X, y, epochs=1, batch_size=3, shuffle=False)
    b.fit(X, y, epochs=2, batch_size=3, shuffle=False)
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.velocity, b.velocity)
    assert a.history == b.history and len(a.history) == 2
    assert np.any(a.velocity != 0)


def test_same_seed_same_model_after_shuffled_fit(impl):
    sizes = [4, 8, 3]
    X, y = make_data("labels", 50, sizes)
    runs = []
    for _ in range(2):
        net = impl(sizes, loss="cross_entropy", seed=123)
        net.fit(X, y, epochs=3, batch_size=4)
        runs.append(net.params.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    other = impl(sizes, loss="cross_entropy", seed=124)
    other.params[...] = impl(sizes, loss="cross_entropy", seed=123).params
    other.fit(X, y, epochs=3, batch_size=4)
    # Same start, different shuffles: a different end point.
    assert not np.array_equal(other.params, runs[0])


def test_shuffle_false_does_not_touch_the_generator(impl):
    sizes = [3, 4, 2]
    X, y = make_data("labels", 10, sizes)
    net = impl(sizes, loss="cross_entropy", seed=0)
    state = net.rng.bit_generator.state
    net.fit(X, y, epochs=2, shuffle=False)
    assert net.rng.bit_generator.state == state


def test_weights_are_views_into_one_buffer(impl):
    net = impl([4, 3, 2], seed=0)
    assert all(np.shares_memory(w, net.params) for w in net.weights + net.biases)
    X = np.ones((2, 4))
    net.weights[0][...] = 0
    net.biases[0][...] = 1
    net.weights[1][...] = 0.5
    net.biases[1][...] = -1
    np.testing.assert_allclose(net.forward(X), np.full((2, 2), 0.5 * 3 - 1))


def test_divergence_raises_floating_point_error(impl):
    sizes = [4, 16, 1]
    X, y = make_data("regression", 40, sizes)
    net = impl(sizes, activation="identity", loss="mse", dtype="float32", seed=0)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        net.fit(X * 1e3, y * 1e3, epochs=50, batch_size=8, lr=10.0, momentum=0.0)
    assert isinstance(fastmlp.DivergenceError("x"), FloatingPointError)
    # Every epoch that finished was recorded with a finite objective.
    assert all(np.isfinite(h) for h in net.history)


def test_learns_xor_with_tanh(impl):
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 8, dtype=float)
    y = np.array([0, 1, 1, 0] * 8)
    net = impl([2, 8, 1], activation="tanh", loss="binary_cross_entropy", seed=0)
    net.fit(X, y, epochs=300, batch_size=4, lr=0.5, momentum=0.9)
    np.testing.assert_array_equal(net.predict(X), y)
    assert net.history[-1] < 0.1 * net.history[0]


def _traced_peak(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_training_steps_allocate_nothing():
    """One kernel call runs thousands of steps; numpy allocations (which
    tracemalloc sees) inside it would show as a peak proportional to the steps."""
    sizes = [16, 32, 8]
    X, y = make_data("labels", 4000, sizes)
    net = fastmlp.MLP(sizes, loss="cross_entropy", seed=0)
    Xc, Y = net._check_Xy(X, y)
    strategy = SingleProcess()
    settings, _ = strategy.begin(net, X, y, FitArguments(batch_size=1, lr=0.01,
                                                                       momentum=0.9))
    run = net._epoch_runner(FitData(Xc, Y, None), settings, strategy)
    perm = net.rng.permutation(4000)
    run(perm)  # warm up: first-call costs are not per step
    peak = _traced_peak(lambda: run(perm))
    assert peak < 2048, f"{peak} bytes traced over 4000 steps"


def test_fit_memory_does_not_grow_with_epochs():
    sizes = [16, 32, 8]
    X, y = make_data("labels", 2000, sizes)
    Xc = X.astype(np.float32)
    short = fastmlp.MLP(sizes, loss="cross_entropy", seed=0)
    long = fastmlp.MLP(sizes, loss="cross_entropy", seed=0)
    short.fit(Xc, y, epochs=1, batch_size=2)
    long.fit(Xc, y, epochs=1, batch_size=2)
    p_short = _traced_peak(lambda: short.fit(Xc, y, epochs=1, batch_size=2))
    p_long = _traced_peak(lambda: long.fit(Xc, y, epochs=20, batch_size=2))
    # 20x the steps; the only extra is one history float and one
    # permutation alive at a time.
    assert p_long < p_short + 4096, (p_short, p_long)


def test_fit_draws_generator_permutations():
    """fit's per-epoch order is exactly rng.permutation(n), drawn in turn."""
    sizes = [3, 4, 2]
    X, y = make_data("labels", 37, sizes)
    net = fastmlp.reference.MLP(sizes, loss="cross_entropy", seed=8)
    twin = np.random.default_rng(8)
    twin.standard_normal((4, 3))
    twin.standard_normal((2, 4))
    assert twin.bit_generator.state == net.rng.bit_generator.state
    seen = []
    original = net._epoch_runner

    def recording_runner(*args, **kwargs):
        run = original(*args, **kwargs)

        def wrapped(perm):
            seen.append(np.array(perm))
            return run(perm)
        return wrapped

    net._epoch_runner = recording_runner
    net.fit(X, y, epochs=3, batch_size=5)
    for perm in seen:
        np.testing.assert_array_equal(perm, twin.permutation(37))
    assert len(seen) == 3


def _blas_threads_during_fit(net, X, y, **fit_kw):
    from threadpoolctl import threadpool_info

    seen = []
    original = net._epoch_runner

    def recording_runner(*args, **kwargs):
        run = original(*args, **kwargs)

        def wrapped(perm):
            seen.append(max(i["num_threads"] for i in threadpool_info()
                            if i["user_api"] == "blas"))
            return run(perm)
        return wrapped

    net._epoch_runner = recording_runner
    net.fit(X, y, **fit_kw)
    return seen


def test_fit_leaves_the_blas_thread_count_alone():
    """fit neither raises nor lowers the BLAS thread count (measured: a
    second thread never made a step slower, see README), and a caller's
    threadpoolctl limit holds inside fit."""
    from threadpoolctl import threadpool_info, threadpool_limits

    def counts():
        return sorted((i["filepath"], i["num_threads"]) for i in threadpool_info()
                      if i["user_api"] == "blas")

    outside = counts()
    X, y = make_data("labels", 128, [8, 4, 2])
    during = _blas_threads_during_fit(fastmlp.MLP([8, 4, 2], loss="cross_entropy", seed=0),
                                      X, y, epochs=2, batch_size=4)
    assert during == [max(n for _, n in outside)] * 2
    with threadpool_limits(1, user_api="blas"):
        assert _blas_threads_during_fit(
            fastmlp.MLP([8, 4, 2], loss="cross_entropy", seed=0), X, y,
            epochs=1, batch_size=4) == [1]
    assert counts() == outside


def test_step_flops_counts_the_step_gemms():
    from fastmlp.mlp import step_flops
    # forward 2*B*(a*b + b*c), weight gradients the same, input delta only
    # for the second layer: 2*B*b*c.
    a, b, c, B = 5, 7, 3, 4
    assert step_flops([a, b, c], B) == 2 * B * (2 * (a * b + b * c) + b * c)
