"""net.layer_stats: the kernels' per-layer statistics against the reference,
and their meaning on constructed cases."""
import numpy as np
import pytest

import fastmlp
import fastmlp.reference
from fastmlp.network.stats import COLUMNS

from conftest import ACTIVATIONS, LOSS_CASES, loss_case_id, make_data

RTOL = {"float32": 1e-4, "float64": 1e-9}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", LOSS_CASES, ids=loss_case_id)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_matches_reference(activation, case, dtype):
    loss, output, kind = case
    sizes = [6, 9, 7, 4]
    X, y = make_data(kind, 50, sizes, seed=2)
    kw = dict(activation=activation, loss=loss, output=output, dtype=dtype, seed=1)
    a, b = fastmlp.MLP(sizes, **kw), fastmlp.reference.MLP(sizes, **kw)
    for target in (None, y):
        sa, sb = a.layer_stats(X, target), b.layer_stats(X, target)
        assert sa.table.shape == (3, len(COLUMNS))
        np.testing.assert_array_equal(np.isnan(sa.table), np.isnan(sb.table))
        finite = ~np.isnan(sb.table)
        # Relative per entry: delta and gradient variances are tiny numbers.
        scale = np.maximum(np.abs(sb.table[finite]), 1e-30)
        rel = np.abs(sa.table[finite] - sb.table[finite]) / scale
        assert rel.max() < RTOL[dtype] * 100, (target is None, rel.max())
        if target is None:
            assert np.isnan(sa.column("delta_var")).all()


def test_changes_nothing():
    X, y = make_data("labels", 30, [5, 8, 3])
    net = fastmlp.MLP([5, 8, 3], loss="cross_entropy", seed=0)
    net.fit(X, y, epochs=1)
    params, velocity = net.params.copy(), net.velocity.copy()
    state = net.rng.bit_generator.state
    net.layer_stats(X, y)
    np.testing.assert_array_equal(net.params, params)
    np.testing.assert_array_equal(net.velocity, velocity)
    assert net.rng.bit_generator.state == state and len(net.history) == 1


def test_dead_relu_units_and_saturated_tanh_are_counted():
    X = np.abs(np.random.default_rng(0).standard_normal((40, 4)))  # all inputs > 0
    net = fastmlp.MLP([4, 10, 2], activation="relu", loss="mse", seed=0)
    net.weights[0][...] = 1.0
    net.weights[0][:3] = -1.0   # three units see only negative pre-activations
    assert net.layer_stats(X)[0]["inactive"] == pytest.approx(0.3)
    tanh = fastmlp.MLP([4, 10, 2], activation="tanh", loss="mse", seed=0)
    tanh.weights[0][...] = 0.001
    tanh.weights[0][:5] = 100.0  # half of the units saturate on every row
    assert tanh.layer_stats(X)[0]["inactive"] == pytest.approx(0.5)
    assert np.isnan(tanh.layer_stats(X)[1]["inactive"])  # identity output


def test_gradient_variance_matches_gradients():
    X, y = make_data("labels", 64, [5, 8, 3])
    net = fastmlp.MLP([5, 8, 3], activation="sigmoid", loss="cross_entropy",
                      dtype="float64", seed=3)
    stats = net.layer_stats(X, y)
    dW, _ = net.gradients(X, y)
    for l, g in enumerate(dW):
        assert stats[l]["grad_var"] == pytest.approx(g.var(), rel=1e-10)


def test_prints_a_table():
    X, y = make_data("labels", 20, [5, 8, 3])
    text = str(fastmlp.MLP([5, 8, 3], loss="cross_entropy", seed=0).layer_stats(X, y))
    lines = text.splitlines()
    assert len(lines) == 3 and all(c in lines[0] for c in COLUMNS)
    assert lines[1].split()[:3] == ["0", "relu", "8x5"]
    assert lines[2].split()[:3] == ["1", "softmax", "3x8"]


def test_rejects_bad_input(impl):
    net = impl([5, 8, 3], loss="cross_entropy", seed=0)
    with pytest.raises(ValueError, match="features"):
        net.layer_stats(np.zeros((4, 6)))
    with pytest.raises(ValueError, match="NaN"):
        net.layer_stats(np.full((4, 5), np.nan))
    with pytest.raises(ValueError, match="labels"):
        net.layer_stats(np.zeros((4, 5)), [0, 1, 2, 9])
