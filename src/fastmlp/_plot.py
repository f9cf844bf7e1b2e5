"""Training curves as a PNG: ``fastmlp.plot_history(net, path)``.

matplotlib is an optional dependency (``pip install fastmlp[plot]``); it is
imported only when a plot is drawn, and only its object-oriented API with
the Agg canvas is used, so plotting never changes the caller's pyplot
backend or open figures and works without a display.
"""
import os

INSTALL_HINT = "pip install fastmlp[plot]"


def _matplotlib():
    try:
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError as exc:
        raise ImportError(
            "fastmlp.plot_history needs matplotlib, which could not be imported "
            f"({exc}); install it with `{INSTALL_HINT}` (or `pip install matplotlib`)"
        ) from exc
    return Figure, FigureCanvasAgg


def _validation_series(metrics, key):
    """(epochs, values) of the metric dicts that have ``key``."""
    epochs, values = [], []
    for m in metrics:
        if key in m and "epoch" in m:
            epochs.append(int(m["epoch"]) + 1)
            values.append(float(m[key]))
    return epochs, values


def plot_history(net, path, *, dpi=100):
    """Write a PNG of the training curves of ``net`` to ``path``.

    The left panel shows the mean training objective of every epoch
    (``net.history``, all ``fit`` calls) and, for the epochs trained with
    ``validation_data``, the validation objective (``net.metrics``
    ``"val_loss"``); when ``net.metrics`` holds a validation accuracy
    (cross_entropy and binary_cross_entropy), a right panel shows it.
    Epochs are numbered from 1. The file is PNG whatever the name of
    ``path`` (str or os.PathLike) ends with; the figure is 800 x 450 pixels
    at the default dpi=100 (1200 x 450 with the accuracy panel).

    Raises ValueError if ``net.history`` is empty (nothing trained yet) and
    ImportError, naming ``pip install fastmlp[plot]``, if matplotlib is not
    installed. Returns ``path``.
    """
    history = [float(h) for h in getattr(net, "history", [])]
    if not history:
        raise ValueError(
            "the model has no training history (net.history is empty); "
            "call fit before plot_history")
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    Figure, FigureCanvasAgg = _matplotlib()

    metrics = list(getattr(net, "metrics", []) or [])
    val_epochs, val_loss = _validation_series(metrics, "val_loss")
    acc_epochs, val_acc = _validation_series(metrics, "val_accuracy")

    with_accuracy = bool(val_acc)
    fig = Figure(figsize=(12 if with_accuracy else 8, 4.5), dpi=dpi)
    FigureCanvasAgg(fig)
    if with_accuracy:
        ax_loss, ax_acc = fig.subplots(1, 2)
    else:
        ax_loss, ax_acc = fig.subplots(1, 1), None

    epochs = list(range(1, len(history) + 1))
    marker = "o" if len(history) <= 30 else None
    ax_loss.plot(epochs, history, marker=marker, markersize=3, label="training objective")
    if val_loss:
        ax_loss.plot(val_epochs, val_loss, marker="o" if len(val_loss) <= 30 else None,
                     markersize=3, label="validation objective")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("objective (mean loss + l2 term)")
    ax_loss.set_title("objective")
    ax_loss.grid(True, alpha=0.3)
    ax_loss.legend()
    if ax_acc is not None:
        ax_acc.plot(acc_epochs, val_acc, color="C2",
                    marker="o" if len(val_acc) <= 30 else None, markersize=3,
                    label="validation accuracy")
        ax_acc.set_xlabel("epoch")
        ax_acc.set_ylabel("accuracy")
        ax_acc.set_title("validation accuracy")
        ax_acc.set_xlim(ax_loss.get_xlim())
        ax_acc.grid(True, alpha=0.3)
        ax_acc.legend()

    sizes = "-".join(str(s) for s in net.layer_sizes)
    fig.suptitle(f"{type(net).__name__} {sizes} ({net.loss_name}): "
                 f"training history, {len(history)} epochs")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=dpi)
    return path
