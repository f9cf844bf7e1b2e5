"""Classification and regression metrics in NumPy, defined as scikit-learn's
(``accuracy_score``, ``confusion_matrix``, ``precision_recall_fscore_support``
with ``zero_division=0``, ``r2_score``, ``mean_absolute_error`` and the root
mean squared error), so that ``fastmlp evaluate`` needs no scikit-learn;
tests/test_metrics.py holds the two equal.

Class labels may be of any kind that compares by equality (integers, text);
``labels`` fixes the classes reported and their order. A value of 0/0 (a
class never predicted, or never present) is 0, as with ``zero_division=0``.
"""
import numpy as np

__all__ = ["accuracy", "confusion_matrix", "precision_recall_fscore_support",
           "classification_metrics", "r2", "mean_absolute_error",
           "root_mean_squared_error", "regression_metrics"]


def _pair(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape[:1] != y_pred.shape[:1]:
        raise ValueError(f"y_true has {len(y_true)} rows but y_pred has {len(y_pred)}")
    return y_true, y_pred


def _indices(values, labels):
    """The position of each value in ``labels``, -1 for a value not in it."""
    where = {label: i for i, label in enumerate(labels)}
    if len(where) != len(labels):
        raise ValueError("labels must be distinct")
    return np.array([where.get(v, -1) for v in values.tolist()], dtype=np.intp)


def accuracy(y_true, y_pred):
    """The fraction of rows predicted right."""
    y_true, y_pred = _pair(y_true, y_pred)
    if y_true.ndim != 1:
        raise ValueError(f"accuracy takes 1-D labels, got shape {y_true.shape}")
    if not len(y_true):
        raise ValueError("accuracy of no rows")
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, labels):
    """(K, K) int64: [i, j] counts the rows of true class labels[i] predicted
    as labels[j]; rows whose true or predicted class is not in labels are
    left out."""
    y_true, y_pred = _pair(y_true, y_pred)
    k = len(labels)
    t, p = _indices(y_true, labels), _indices(y_pred, labels)
    keep = (t >= 0) & (p >= 0)
    return np.bincount(t[keep] * k + p[keep], minlength=k * k).reshape(k, k).astype(np.int64)


def _ratio(num, den):
    out = np.zeros(np.shape(num), dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def precision_recall_fscore_support(y_true, y_pred, labels):
    """(precision, recall, f1, support) of each class of ``labels``, arrays
    (K,): tp / predicted, tp / support, 2 tp / (predicted + support), and
    the rows of the class; 0 where a denominator is 0."""
    y_true, y_pred = _pair(y_true, y_pred)
    t, p = _indices(y_true, labels), _indices(y_pred, labels)
    k = len(labels)
    tp = np.bincount(t[(t == p) & (t >= 0)], minlength=k).astype(np.float64)
    # A class's predictions are counted over every row, whether its true
    # class is in labels or not (as scikit-learn does).
    predicted = np.bincount(p[p >= 0], minlength=k).astype(np.float64)
    support = np.bincount(t[t >= 0], minlength=k)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support.astype(np.float64))
    f1 = _ratio(2 * tp, predicted + support)
    return precision, recall, f1, support.astype(np.int64)


def classification_metrics(y_true, y_pred, labels):
    """Everything ``fastmlp evaluate`` reports of a classifier, as a dict:
    accuracy, each class's precision, recall, f1 and support, their
    "macro" (unweighted) and "weighted" (by support) means, and the
    confusion matrix (rows true, columns predicted) over ``labels``."""
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels)
    total = int(support.sum())
    per_class = [{"label": label, "precision": float(p), "recall": float(r), "f1": float(f),
                  "support": int(s)}
                 for label, p, r, f, s in zip(labels, precision, recall, f1, support)]

    def average(weights):
        w = np.asarray(weights, dtype=np.float64)
        if not w.sum():
            return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": total}
        return {name: float(np.sum(values * w) / w.sum())
                for name, values in (("precision", precision), ("recall", recall),
                                     ("f1", f1))} | {"support": total}

    y_true = np.asarray(y_true)
    return {"rows": int(len(y_true)), "accuracy": accuracy(y_true, y_pred),
            "correct": int(np.sum(y_true == np.asarray(y_pred))),
            "labels": list(labels), "per_class": per_class,
            "macro": average(np.ones(len(labels))), "weighted": average(support),
            "confusion_matrix": confusion_matrix(y_true, y_pred, labels).tolist()}


def _columns(y_true, y_pred):
    """Both as float64 (n, k) and the same shape."""
    y_true, y_pred = _pair(y_true, y_pred)
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    t, p = t.reshape(len(t), -1), p.reshape(len(p), -1)
    if t.shape != p.shape:
        raise ValueError(f"y_true has shape {t.shape} but y_pred has {p.shape}")
    if not len(t):
        raise ValueError("metrics of no rows")
    return t, p


def r2(y_true, y_pred):
    """R^2 of each output, (k,): 1 - SS_res / SS_tot; for a constant target
    1 when predicted exactly, else 0 (scikit-learn's force_finite)."""
    t, p = _columns(y_true, y_pred)
    ss_res = np.sum((t - p) ** 2, axis=0)
    ss_tot = np.sum((t - t.mean(axis=0)) ** 2, axis=0)
    out = np.where(ss_res == 0, 1.0, 0.0)
    np.divide(ss_res, ss_tot, out=ss_res, where=ss_tot != 0)
    return np.where(ss_tot != 0, 1 - ss_res, out)


def mean_absolute_error(y_true, y_pred):
    """Of each output, (k,)."""
    t, p = _columns(y_true, y_pred)
    return np.mean(np.abs(t - p), axis=0)


def root_mean_squared_error(y_true, y_pred):
    """Of each output, (k,)."""
    t, p = _columns(y_true, y_pred)
    return np.sqrt(np.mean((t - p) ** 2, axis=0))


def regression_metrics(y_true, y_pred):
    """Everything ``fastmlp evaluate`` reports of regression, as a dict: r2,
    mae and rmse of each output (lists) and their means over the outputs."""
    out = {"rows": int(len(np.asarray(y_true)))}
    for name, metric in (("r2", r2), ("mae", mean_absolute_error),
                         ("rmse", root_mean_squared_error)):
        values = metric(y_true, y_pred)
        out[name] = [float(v) for v in values]
        out[f"mean_{name}"] = float(np.mean(values))
    return out
