"""fit's training options, on both implementations: sample and class
weights, a learning-rate schedule, and early stopping with best-state
restore (CONTRACT.md, "Training options").

Tolerances: where two fits do the same arithmetic in a different order
(weights against duplicated rows, fastmlp against the reference) they agree
to the equivalence harness's FIT_RTOL (float64 1e-9, float32 1e-4 after a
few epochs, as tests/test_equivalence.py justifies); where they do the same
steps on the same rows they must agree bit for bit.
"""
import numpy as np
import pytest

import fastmlp
import fastmlp.reference

from conftest import make_data

FIT_RTOL = {"float32": 1e-4, "float64": 1e-9}
SIZES = [4, 6, 3]


def _data(n=24, seed=0):
    X, y = make_data("labels", n, SIZES, seed=seed)
    return X, np.asarray(y)


def _net(impl, dtype="float64", **kw):
    return impl(SIZES, activation="tanh", loss="cross_entropy", dtype=dtype, seed=3, **kw)


def _close(a, b, dtype):
    np.testing.assert_allclose(a, b, rtol=FIT_RTOL[dtype],
                               atol=FIT_RTOL[dtype] * max(np.abs(b).max(), 1e-30))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_integer_weights_equal_repeated_rows(impl, dtype):
    """Full batch: sum w_i L_i / sum w_i is the mean over rows repeated w_i
    times, so both fits take the same steps."""
    X, y = _data()
    w = np.random.default_rng(1).integers(0, 4, len(y))
    w[0] = 2
    a, b = _net(impl, dtype), _net(impl, dtype)
    a.fit(X, y, epochs=4, batch_size=None, lr=0.3, shuffle=False, sample_weight=w)
    b.fit(np.repeat(X, w, axis=0), np.repeat(y, w), epochs=4, batch_size=None, lr=0.3,
          shuffle=False)
    _close(a.params, b.params, dtype)
    _close(np.array(a.history), np.array(b.history), dtype)
    assert not np.allclose(a.params, _net(impl, dtype).params)  # it trained


def test_a_batch_of_weight_zero_takes_no_step(impl):
    X, y = _data()
    w = np.ones(len(y))
    w[:8] = 0  # the whole first batch
    a, b = _net(impl), _net(impl)
    a.fit(X, y, epochs=2, batch_size=8, lr=0.2, shuffle=False, sample_weight=w)
    b.fit(X[8:], y[8:], epochs=2, batch_size=8, lr=0.2, shuffle=False)
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.velocity, b.velocity)
    assert a.history == pytest.approx(b.history, rel=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shuffle", [False, True])
def test_weighted_fits_agree_across_implementations(dtype, shuffle):
    X, y = _data(40)
    w = np.random.default_rng(2).uniform(0, 3, 40)
    fits = []
    for impl in (fastmlp.MLP, fastmlp.reference.MLP):
        net = _net(impl, dtype, l2=1e-3)
        net.fit(X, y, epochs=3, batch_size=7, lr=0.1, shuffle=shuffle, sample_weight=w,
                class_weight={0: 2.0})
        fits.append(net)
    _close(fits[0].params, fits[1].params, dtype)
    _close(np.array(fits[0].history), np.array(fits[1].history), dtype)


def test_class_weight_multiplies_sample_weight(impl):
    X, y = _data()
    sw = np.random.default_rng(3).uniform(0.5, 2, len(y))
    cw = {0: 0.5, 2: 3.0}
    a, b = _net(impl), _net(impl)
    a.fit(X, y, epochs=2, batch_size=5, lr=0.1, sample_weight=sw, class_weight=cw)
    b.fit(X, y, epochs=2, batch_size=5, lr=0.1,
          sample_weight=sw * np.array([0.5, 1.0, 3.0])[y])
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12, atol=1e-15)


def test_balanced_class_weight_is_n_over_k_counts(impl):
    X, y = _data(30)
    y = np.array([0] * 20 + [1] * 7 + [2] * 3)
    counts = np.bincount(y)
    a, b = _net(impl), _net(impl)
    a.fit(X, y, epochs=2, batch_size=4, lr=0.1, class_weight="balanced")
    b.fit(X, y, epochs=2, batch_size=4, lr=0.1, sample_weight=(30 / (3 * counts))[y])
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12, atol=1e-15)


def test_binary_class_weight(impl):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((20, 4))
    y = (rng.random(20) < 0.3).astype(int)
    kw = dict(activation="tanh", loss="binary_cross_entropy", dtype="float64", seed=1)
    a, b = impl([4, 5, 1], **kw), impl([4, 5, 1], **kw)
    a.fit(X, y, epochs=2, batch_size=6, lr=0.1, class_weight={1: 4.0})
    b.fit(X, y, epochs=2, batch_size=6, lr=0.1, sample_weight=np.where(y == 1, 4.0, 1.0))
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(sample_weight=np.ones(5)), ValueError, "shape"),
    (dict(sample_weight=-np.ones(24)), ValueError, ">= 0"),
    (dict(sample_weight=np.zeros(24)), ValueError, "zero for every row"),
    (dict(sample_weight=np.full(24, np.nan)), ValueError, "NaN"),
    (dict(sample_weight=np.full(24, 1e300)), ValueError, "overflow"),
    (dict(sample_weight=np.array(["a"] * 24)), TypeError, "non-numeric"),
    (dict(class_weight="even"), ValueError, "balanced"),
    (dict(class_weight=[1, 2, 3]), TypeError, "dict"),
    (dict(class_weight={3: 1.0}), ValueError, "class index"),
    (dict(class_weight={0: -1.0}), ValueError, ">= 0"),
    (dict(class_weight={0: 0.0, 1: 0.0, 2: 0.0}), ValueError, "every row 0"),
    (dict(lr=lambda epoch: -1.0), ValueError, "schedule"),
    (dict(lr=lambda epoch: "fast"), TypeError, "schedule"),
    (dict(patience=2), ValueError, "validation_data"),
    (dict(patience=0, validation_data="val"), ValueError, "patience"),
    (dict(patience=1.5, validation_data="val"), TypeError, "patience"),
    (dict(min_delta=-1.0), ValueError, "min_delta"),
])
def test_bad_training_options_change_nothing(impl, kwargs, error, match):
    X, y = _data()
    if kwargs.get("validation_data") == "val":
        kwargs = dict(kwargs, validation_data=(X, y))
    # float32, where 1e300 overflows
    net = _net(impl, "float32")
    before = net.params.copy(), net.rng.bit_generator.state
    with pytest.raises(error, match=match):
        net.fit(X, y, epochs=2, **kwargs)
    np.testing.assert_array_equal(net.params, before[0])
    assert net.rng.bit_generator.state == before[1] and not net.history


def test_class_weight_needs_a_class_per_row(impl):
    X, y = _data()
    P = np.eye(3)[y]
    with pytest.raises(ValueError, match="integer class labels"):
        _net(impl).fit(X, P, class_weight={0: 2.0})
    net = impl([4, 3], loss="mse", seed=0)
    with pytest.raises(ValueError, match="not mse"):
        net.fit(X, np.zeros((24, 3)), class_weight="balanced")
    net = impl([4, 2], loss="binary_cross_entropy", seed=0)
    with pytest.raises(ValueError, match="multi-label"):
        net.fit(X, np.zeros((24, 2)), class_weight="balanced")


def test_schedule_is_called_once_per_epoch_with_the_epoch_count(impl):
    X, y = _data()
    calls = []

    def schedule(epoch):
        calls.append(epoch)
        return 0.2 / (1 + epoch)

    a = _net(impl)
    a.fit(X, y, epochs=2, lr=0.2)  # two epochs in history already
    a.fit(X, y, epochs=3, lr=schedule)
    assert calls == [2, 3, 4]
    b = _net(impl)
    b.fit(X, y, epochs=2, lr=0.2)
    for epoch in (2, 3, 4):
        b.fit(X, y, epochs=1, lr=0.2 / (1 + epoch))
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.velocity, b.velocity)
    assert a.history == b.history


def test_a_failing_schedule_keeps_the_finished_epochs(impl):
    X, y = _data()

    def schedule(epoch):
        if epoch == 2:
            raise RuntimeError("no rate for epoch 2")
        return 0.1

    a = _net(impl)
    with pytest.raises(RuntimeError, match="epoch 2"):
        a.fit(X, y, epochs=5, lr=schedule)
    b = _net(impl)
    b.fit(X, y, epochs=2, lr=0.1)
    np.testing.assert_array_equal(a.params, b.params)
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    assert len(a.history) == 2


def _split(seed=5):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] + 0.5 * rng.standard_normal(60) > 0).astype(int) + (X[:, 1] > 1)
    return X[:40], y[:40], X[40:], y[40:]


def test_early_stopping_restores_the_best_epoch(impl):
    X, y, Xv, yv = _split()
    kw = dict(batch_size=4, lr=0.5, momentum=0.9)  # overfits quickly on 40 rows
    net = _net(impl)
    net.fit(X, y, epochs=200, validation_data=(Xv, yv), patience=3, **kw)
    val = [m["val_loss"] for m in net.metrics]
    best = int(np.argmin(val))
    assert net.best_epoch == best
    assert len(net.history) == best + 4  # three epochs without improvement
    assert min(val[best + 1:]) >= val[best]
    # The restored state is the one after the best epoch.
    again = _net(impl)
    again.fit(X, y, epochs=best + 1, **kw)
    np.testing.assert_array_equal(net.params, again.params)
    np.testing.assert_array_equal(net.velocity, again.velocity)
    assert net.loss(Xv, yv) == pytest.approx(val[best], rel=1e-12)


def test_min_delta_counts_small_gains_as_none(impl):
    X, y, Xv, yv = _split()
    kw = dict(batch_size=8, lr=0.05, momentum=0.9, validation_data=(Xv, yv))
    net = _net(impl)
    net.fit(X, y, epochs=100, patience=2, min_delta=1e6, **kw)
    # Nothing beats the first epoch by a million: it is the best.
    assert net.best_epoch == 0 and len(net.history) == 3


def test_no_early_stopping_leaves_best_epoch_none(impl):
    X, y, Xv, yv = _split()
    net = _net(impl)
    net.fit(X, y, epochs=3, lr=0.01, validation_data=(Xv, yv), patience=50)
    assert net.best_epoch is None and len(net.history) == 3


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the reference's overflow
def test_early_stopping_with_no_finite_validation_objective_keeps_the_last_state(impl,
                                                                                capsys):
    X, _, Xv, _ = _split()
    y, yv = X[:, :1] - X[:, 1:2], Xv[:, :1]

    def fitted(**kw):
        net = impl([4, 5, 1], activation="identity", loss="mse", dtype="float32", seed=3)
        net.fit(X, y, batch_size=8, lr=0.05, **kw)
        return net

    # Outputs near 1e30 in float32: every validation objective overflows to inf.
    net = fitted(epochs=10, validation_data=(Xv * 1e30, yv), patience=2, verbose=True)
    assert [m["val_loss"] for m in net.metrics] == [np.inf, np.inf]
    assert net.best_epoch is None
    assert capsys.readouterr().out.endswith("for 2 epochs; none was finite, nothing restored\n")
    plain = fitted(epochs=2)
    np.testing.assert_array_equal(net.params, plain.params)
    np.testing.assert_array_equal(net.velocity, plain.velocity)


def test_early_stopping_agrees_across_implementations():
    X, y, Xv, yv = _split()
    nets = []
    for impl in (fastmlp.MLP, fastmlp.reference.MLP):
        net = _net(impl)
        net.fit(X, y, epochs=200, batch_size=4, lr=0.5, validation_data=(Xv, yv),
                patience=3)
        nets.append(net)
    assert nets[0].best_epoch == nets[1].best_epoch is not None
    _close(nets[0].params, nets[1].params, "float64")
