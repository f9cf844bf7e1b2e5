"""``fastmlp evaluate MODEL DATA``: a saved model's metrics on a data file
that holds the targets (fastmlp.metrics), printed as tables and optionally
written as JSON.

``_predictions`` is the one place that runs the model: it gives the true
targets and the predictions in the data's own terms (class labels as
trained on, regression outputs in the target's units); the rest only
compares them.
"""
import json
from dataclasses import dataclass

import numpy as np

from .. import metrics
from .readers import CSVOptions, is_npz, read_table
from .status import CLIError


@dataclass
class Predictions:
    """What evaluate compares: ``kind`` ("classification" or
    "regression"), the model's ``loss`` and class ``labels`` (None for
    regression), and the true targets and predictions, (n,) or (n, k)."""

    kind: str
    loss: str
    labels: tuple
    y_true: np.ndarray
    y_pred: np.ndarray


def _target(args, model):
    """--target, or the model's own target column of a CSV file (a model
    trained on one knows its name), else the last column; for .npz the
    array --y-array."""
    if args.target is not None or is_npz(args.data):
        return args.target
    if model.feature_names_in_ is not None and model.target_name is not None:
        return model.target_name
    return "-1"


def _class_labels(truth, labels, name):
    """The true class labels in the terms of the model's ``labels``: text
    for text labels, int for integer ones."""
    text = bool(labels) and all(isinstance(label, str) for label in labels)
    if truth.dtype.kind == "U":
        if not text:
            raise CLIError(f"{name}: the target holds text, but the model's classes are "
                           f"the integers {_shown(labels)} (is --target the right column?)")
        return truth.astype(object)
    if text:
        raise CLIError(f"{name}: the target holds numbers, but the model's classes are the "
                       f"text labels {_shown(labels)} (is --target the right column?)")
    if truth.ndim != 1:
        raise CLIError(f"{name}: a classifier's target is one column of class labels, got "
                       f"shape {truth.shape}")
    fractional = truth != np.floor(truth)
    if fractional.any():
        i = int(np.argmax(fractional))
        raise CLIError(f"{name}: row {i} of the target is {truth[i]:g}, not a class label "
                       f"(an integer)")
    return truth.astype(np.int64)


def _shown(labels, limit=10):
    return ", ".join(map(str, labels[:limit])) + (", ..." if len(labels) > limit else "")


def _predictions(args):
    """The true targets of the data file and the model's predictions, as
    Predictions."""
    from .commands import _load_model, _model_input

    model = _load_model(args.model)
    net, pre = model.network, model.preprocessor
    net.n_threads = args.threads  # never saved with a model: the command's own
    loss, k = net.loss_name, net.layer_sizes[-1]
    if loss == "binary_cross_entropy" and k != 1:
        raise CLIError(f"{args.model}: a binary_cross_entropy model with {k} outputs "
                       f"(multi-label) is not evaluated here; only one output")
    # A model that knows its features by name reads them by name (the target
    # column is not read); otherwise the target column is dropped by place.
    options = CSVOptions(sep=args.sep, text_target=loss != "mse", select=pre.feature_names)
    table = read_table(args.data, target=_target(args, model), x_key=args.x_array,
                       y_key=args.y_array, with_y=True, csv_options=options)
    if table.X.shape[1] != len(pre.columns):
        raise CLIError(f"{table.name}: {table.X.shape[1]} feature columns, but the model "
                       f"{args.model} expects {len(pre.columns)}")
    out = net.predict(_model_input(model, table))
    target = pre.target
    decoded = out if target is None else target.decode(out)
    if loss == "mse":
        return Predictions("regression", loss, None, table.target, decoded)
    labels = target.labels if target is not None else \
        ((0, 1) if loss == "binary_cross_entropy" else tuple(range(k)))
    y_true = _class_labels(table.target, labels, table.name)
    return Predictions("classification", loss, labels, y_true, decoded)


# -- the report -------------------------------------------------------------------

def _table(head, rows):
    """Lines of a text table: the first column left-aligned, the others
    right-aligned, each as wide as its widest cell."""
    cells = [head] + rows
    widths = [max(len(r[j]) for r in cells) for j in range(len(head))]
    return ["  ".join(c.ljust(w) if j == 0 else c.rjust(w)
                      for j, (c, w) in enumerate(zip(r, widths))).rstrip() for r in cells]


def _classification_lines(m, foreign):
    lines = [f"accuracy {m['accuracy']:.4f} ({m['correct']}/{m['rows']})", ""]

    def name(label):
        return f"{label}*" if label in foreign else str(label)

    rows = [[name(c["label"]), f"{c['precision']:.4f}", f"{c['recall']:.4f}",
             f"{c['f1']:.4f}", str(c["support"])] for c in m["per_class"]]
    for title in ("macro", "weighted"):
        a = m[title]
        rows.append([f"{title} avg", f"{a['precision']:.4f}", f"{a['recall']:.4f}",
                     f"{a['f1']:.4f}", str(a["support"])])
    lines += _table(["class", "precision", "recall", "f1-score", "support"], rows)
    lines += ["", "confusion matrix (rows: true class, columns: predicted class)"]
    names = [name(label) for label in m["labels"]]
    lines += _table([""] + names, [[n] + [str(v) for v in row]
                                   for n, row in zip(names, m["confusion_matrix"])])
    if foreign:
        lines.append("* not a class of the model: it never predicts it")
    return lines


def _regression_lines(m):
    if len(m["r2"]) == 1:
        return [f"r2 {m['r2'][0]:.4f}, mae {m['mae'][0]:.6g}, rmse {m['rmse'][0]:.6g}"]
    rows = [[f"output {j}", f"{r:.4f}", f"{a:.6g}", f"{s:.6g}"]
            for j, (r, a, s) in enumerate(zip(m["r2"], m["mae"], m["rmse"]))]
    rows.append(["mean", f"{m['mean_r2']:.4f}", f"{m['mean_mae']:.6g}",
                 f"{m['mean_rmse']:.6g}"])
    return _table(["", "r2", "mae", "rmse"], rows)


def _metrics(p):
    """(the metrics dict, the true labels that are no class of the model)."""
    if p.kind == "regression":
        y_true = p.y_true.reshape(len(p.y_true), -1)
        y_pred = p.y_pred.reshape(len(p.y_pred), -1)
        if y_true.shape != y_pred.shape:
            raise CLIError(f"the target has {y_true.shape[1]} columns but the model has "
                           f"{y_pred.shape[1]} outputs")
        return metrics.regression_metrics(y_true, y_pred), ()
    known = set(p.labels)
    foreign = tuple(sorted({v for v in p.y_true.tolist() if v not in known}))
    return metrics.classification_metrics(p.y_true, p.y_pred, p.labels + foreign), foreign


def _write_json(path, report):
    try:
        with open(path, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
    except OSError as exc:
        raise CLIError(f"--json {path}: cannot write: {exc.strerror or exc}") from None


def cmd_evaluate(args):
    p = _predictions(args)
    m, foreign = _metrics(p)
    if p.kind == "classification":
        what = f"{len(p.labels)} classes"
        lines = _classification_lines(m, foreign)
    else:
        what = f"{p.y_pred.reshape(len(p.y_pred), -1).shape[1]} output(s)"
        lines = _regression_lines(m)
    print(f"{args.data}: {m['rows']} rows; model {args.model} ({p.loss}, {what})")
    print("\n".join(lines), flush=True)
    if args.json is not None:
        _write_json(args.json, {"model": str(args.model), "data": str(args.data),
                                "loss": p.loss, **m})
        print(f"wrote the metrics to {args.json}")
    return 0
