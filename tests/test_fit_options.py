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


def _overfitting_split(seed=5):
    """Rows on which lr=0.5 overfits within a few epochs, and held-out rows."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] + 0.5 * rng.standard_normal(60) > 0).astype(int) + (X[:, 1] > 1)
    return X[:40], y[:40], X[40:], y[40:]


def _stopped_early(impl, patience, min_delta=0.0):
    X, y, Xv, yv = _overfitting_split()
    net = impl([4, 6, 3], loss="cross_entropy", dtype="float64", seed=0)
    net.fit(X, y, epochs=200, batch_size=4, lr=0.5, validation_data=(Xv, yv),
            patience=patience, min_delta=min_delta, verbose=True)
    assert net.best_epoch is not None and len(net.history) < 200
    return net


@pytest.mark.parametrize("patience, min_delta", [(3, 0.0), (1, 1e-3)])
def test_verbose_says_when_patience_stops_the_fit(impl, capsys, patience, min_delta):
    net = _stopped_early(impl, patience, min_delta)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(net.history) + 1
    best = net.best_epoch
    by = f" by more than {min_delta:g}" if min_delta else ""
    epochs = "epoch" if patience == 1 else "epochs"
    assert lines[-1] == (f"stopped early after epoch {len(net.history)}: no improvement{by} "
                         f"of the validation objective for {patience} {epochs}; restored "
                         f"epoch {best + 1} (val_loss {net.metrics[best]['val_loss']:.6g})")
    # The epoch it names is the printed line with that validation objective.
    assert lines[best].startswith(f"epoch {best + 1:>4}")
    assert f"val_loss {net.metrics[best]['val_loss']:.6g}" in lines[best]


def test_the_stop_line_follows_the_live_bar(impl, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    net = _stopped_early(impl, 2)
    bar, stop, end = out.getvalue().rsplit("\n", 2)
    assert end == "" and bar.count("\r[") == len(net.history)
    assert stop.startswith(f"stopped early after epoch {len(net.history)}: ")


def test_no_stop_line_when_patience_does_not_run_out(impl, capsys):
    X, y, Xv, yv = _overfitting_split()
    net = impl([4, 6, 3], loss="cross_entropy", seed=0)
    net.fit(X, y, epochs=3, lr=0.01, validation_data=(Xv, yv), patience=50, verbose=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and not any("stopped early" in line for line in lines)


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
