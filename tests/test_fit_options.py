"""fit's verbose, validation_data and callback options, and net.metrics."""
import io
import sys

import numpy as np
import pytest

import fastmlp

from conftest import make_data


def data(kind="labels", sizes=(4, 6, 3), n=40, seed=0):
    return make_data(kind, n, list(sizes), seed=seed)


def test_verbose_prints_one_line_per_epoch_when_not_a_terminal(impl, capsys):
    X, y = data()
    net = impl([4, 6, 3], loss="cross_entropy", seed=0)
    net.fit(X, y, epochs=3, verbose=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    for i, line in enumerate(lines):
        # Shown from 1, as plot_history numbers them.
        assert line.startswith(f"epoch {i + 1:>4}") and "objective" in line
        assert "samples/s" in line
        assert f"{net.history[i]:.6g}" in line


def test_verbose_draws_a_live_bar_on_a_terminal(impl, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    X, y = data()
    impl([4, 6, 3], loss="cross_entropy", seed=0).fit(X, y, epochs=4, verbose=True)
    text = out.getvalue()
    assert text.count("\r[") == 4 and "4/4" in text and text.endswith("\n")
    assert text.count("\n") == 1


def test_quiet_by_default(impl, capsys):
    X, y = data()
    impl([4, 6, 3], loss="cross_entropy", seed=0).fit(X, y, epochs=2)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("loss,kind,sizes", [
    ("cross_entropy", "labels", (4, 6, 3)),
    ("binary_cross_entropy", "binary", (4, 6, 2)),
    ("mse", "regression", (4, 6, 1)),
])
def test_validation_metrics_per_epoch(impl, loss, kind, sizes):
    X, y = data(kind, sizes)
    Xv, yv = data(kind, sizes, n=17, seed=1)
    net = impl(list(sizes), loss=loss, dtype="float64", seed=0)
    net.fit(X, y, epochs=3, validation_data=(Xv, yv))
    assert [m["epoch"] for m in net.metrics] == [0, 1, 2]
    last = net.metrics[-1]
    assert last["val_loss"] == pytest.approx(net.loss(Xv, yv), rel=1e-12)
    assert last["objective"] == net.history[-1]
    if loss == "cross_entropy":
        assert last["val_accuracy"] == pytest.approx(np.mean(net.predict(Xv) == yv))
    elif loss == "binary_cross_entropy":
        assert last["val_accuracy"] == pytest.approx(np.mean(net.predict(Xv) == yv))
    else:
        assert "val_accuracy" not in last


def test_bad_validation_data_is_rejected_before_training(impl):
    X, y = data()
    net = impl([4, 6, 3], loss="cross_entropy", seed=0)
    before = net.params.copy()
    with pytest.raises(ValueError, match="validation_data: X has 5 features"):
        net.fit(X, y, validation_data=(np.zeros((3, 5)), [0, 1, 2]))
    with pytest.raises(TypeError, match="validation_data must be a pair"):
        net.fit(X, y, validation_data=X)
    with pytest.raises(ValueError, match="validation_data: .*labels must be in"):
        net.fit(X, y, validation_data=(X, np.full(len(X), 7)))
    np.testing.assert_array_equal(net.params, before)
    assert net.history == [] and net.metrics == []


def test_callback_sees_each_epoch_and_can_stop(impl):
    X, y = data()
    net = impl([4, 6, 3], loss="cross_entropy", seed=0)
    seen = []

    def stop_after_three(model, metrics):
        assert model is net
        seen.append(metrics["epoch"])
        return metrics["epoch"] < 2

    net.fit(X, y, epochs=10, callback=stop_after_three)
    assert seen == [0, 1, 2] and len(net.history) == 3
    with pytest.raises(TypeError, match="callback must be callable"):
        net.fit(X, y, callback=3)


def test_divergence_error_says_where(impl):
    X, y = data("regression", (4, 8, 1))
    net = impl([4, 8, 1], activation="identity", loss="mse", seed=0)
    with pytest.raises(fastmlp.DivergenceError) as info:
        net.fit(X * 1e6, y * 1e6, epochs=30, batch_size=8, lr=50.0, momentum=0.0,
                shuffle=False)
    err = info.value
    assert err.epoch == len(net.history) and err.step is not None and err.step >= 0
    assert str(err).startswith(f"epoch {err.epoch}: step {err.step}:")


def test_fit_arguments_default_to_fits_own_defaults():
    """FitArguments (the package's inner callers' way to fit's settings)
    holds fit's defaults: the two must not drift apart."""
    import dataclasses
    import inspect
    from fastmlp.training.settings import FitArguments
    signature = inspect.signature(fastmlp.reference.MLP.fit).parameters
    fields = dataclasses.fields(FitArguments)
    assert [f.name for f in fields] == [name for name in signature
                                        if name not in ("self", "X", "y", "comm")]
    for f in fields:
        assert f.default == signature[f.name].default, f.name
