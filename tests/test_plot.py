"""fastmlp.plot_history: a real PNG of the training curves; clear errors.

matplotlib is optional (extra ``plot``): the tests that draw are skipped
without it, the ImportError tests run either way.
"""
import builtins
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import fastmlp
import fastmlp.reference
from fastmlp import plot_history

from conftest import make_data

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def trained(cls=fastmlp.MLP, loss="cross_entropy", kind="labels", validation=True, epochs=6):
    sizes = [5, 8, 3] if loss == "cross_entropy" else [5, 8, 1]
    X, y = make_data(kind, 60, sizes, seed=1)
    net = cls(sizes, activation="tanh", loss=loss, seed=2)
    val = (X[40:], y[40:]) if validation else None
    net.fit(X[:40], y[:40], epochs=epochs, batch_size=8, lr=0.1, validation_data=val)
    return net


def read_png(path):
    data = pathlib.Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE
    import matplotlib.image
    return data, matplotlib.image.imread(path, format="png")


def assert_drawn(image):
    """Not a blank canvas: a good share of non-white pixels, several colours."""
    rgb = image[..., :3]
    non_white = np.mean(np.any(rgb < 0.95, axis=-1))
    assert 0.01 < non_white < 0.6, non_white
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 50


@pytest.fixture
def mpl():
    return pytest.importorskip("matplotlib")


def test_png_with_validation_accuracy(mpl, tmp_path):
    net = trained()
    path = tmp_path / "history.png"
    assert plot_history(net, path) == path
    data, image = read_png(path)
    assert len(data) > 20_000
    # Two panels (objective, accuracy): 12 x 4.5 inches at 100 dpi.
    assert image.shape == (450, 1200, 4)
    assert_drawn(image)
    # The two panels both carry curves: ink in the left and right halves.
    rgb = image[60:400, :, :3]
    for half in (rgb[:, 80:560], rgb[:, 680:1160]):
        coloured = np.any(np.abs(half - half.mean(axis=-1, keepdims=True)) > 0.2, axis=-1)
        assert coloured.sum() > 200


def test_png_training_only(mpl, tmp_path):
    # mse has no accuracy, and no validation data here: one panel.
    net = trained(fastmlp.reference.MLP, loss="mse", kind="regression", validation=False)
    assert net.metrics and "val_loss" not in net.metrics[0]
    path = str(tmp_path / "curve.png")
    plot_history(net, path, dpi=50)
    data, image = read_png(path)
    assert len(data) > 5_000
    assert image.shape == (225, 400, 4)
    assert_drawn(image)


def test_history_without_metrics(mpl, tmp_path):
    """A model with a history but no metrics: the training curve alone."""
    net = trained(validation=False)
    net.save(tmp_path / "model.npz")
    loaded = fastmlp.MLP.load(tmp_path / "model.npz")
    assert loaded.history == net.history and loaded.metrics == net.metrics
    loaded.metrics = []
    plot_history(loaded, tmp_path / "loaded.png")
    _, image = read_png(tmp_path / "loaded.png")
    assert image.shape == (450, 800, 4)


def test_plot_numbers_epochs_as_the_progress_lines_do(mpl, tmp_path, monkeypatch, capsys):
    """Epoch n of a verbose fit's lines is at x = n on the plot, with the
    same objective and validation objective."""
    from matplotlib.figure import Figure
    drawn = []
    real_savefig = Figure.savefig

    def savefig(fig, *args, **kwargs):
        drawn.append(fig)
        return real_savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    X, y = make_data("labels", 60, [5, 8, 3], seed=1)
    net = fastmlp.MLP([5, 8, 3], activation="tanh", loss="cross_entropy", seed=2)
    net.fit(X[:40], y[:40], epochs=4, batch_size=8, lr=0.1, validation_data=(X[40:], y[40:]),
            verbose=True)
    printed = {}
    for line in capsys.readouterr().out.splitlines():
        fields = line.split()
        printed[int(fields[1])] = (float(fields[3]), float(fields[5]))
    plot_history(net, tmp_path / "h.png")
    (fig,) = drawn
    training, validation = fig.axes[0].get_lines()[:2]
    assert sorted(printed) == list(training.get_xdata()) == list(validation.get_xdata())
    for n, objective, val_loss in zip(training.get_xdata(), training.get_ydata(),
                                      validation.get_ydata()):
        assert printed[n] == (pytest.approx(objective, rel=1e-5),
                              pytest.approx(val_loss, rel=1e-5))


def test_any_suffix_gives_png(mpl, tmp_path):
    net = trained(epochs=2)
    path = tmp_path / "history.out"
    plot_history(net, os.fspath(path))
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_empty_history_is_an_error(tmp_path):
    net = fastmlp.MLP([3, 4, 2], loss="cross_entropy", seed=0)
    path = tmp_path / "none.png"
    with pytest.raises(ValueError, match="no training history.*fit"):
        plot_history(net, path)
    assert not path.exists()


def test_bad_path_type(mpl):
    with pytest.raises(TypeError, match="path"):
        plot_history(trained(epochs=1), 3)


def assert_clear_import_error(net, path):
    with pytest.raises(ImportError, match=r"matplotlib.*pip install fastmlp\[plot\]"):
        plot_history(net, path)
    assert not path.exists()


def test_missing_matplotlib_via_sys_modules(monkeypatch, tmp_path):
    # None in sys.modules makes every import of these names fail, whether
    # matplotlib was already imported or not.
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends",
                 "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    assert_clear_import_error(trained(epochs=1), tmp_path / "x.png")


def test_missing_matplotlib_via_import_hook(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    net = trained(epochs=1)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    assert_clear_import_error(net, tmp_path / "x.png")


def test_import_fastmlp_does_not_import_matplotlib():
    code = "import sys, fastmlp; assert 'matplotlib' not in sys.modules, 'eager import'"
    subprocess.run([sys.executable, "-c", code], check=True)
