"""What ``train`` does to the data before fitting, and ``predict`` undoes:

- class labels of any kind (integers such as wine's 1..3, negative ones,
  text) become the indices 0..K-1 of their sorted distinct values, K being
  the number of distinct labels (``--classes K`` instead declares the
  integer classes 0..K-1, some of which may be absent); a target that looks
  numeric rather than categorical (non-integer numbers, or very many
  distinct values) is an error that suggests ``--loss mse``;
- standardization (``--standardize``, the default): each feature becomes
  ``(x - mean) / scale`` with the mean and standard deviation of the
  training split (a constant feature gets scale 1), and so does an mse
  target; predictions are mapped back with ``out * scale + mean``.

What was done is recorded on the model (fastmlp.io.metadata) and saved with
it. Nothing here prints or knows argparse.
"""
import numpy as np

from .readers import first_bad
from .status import CLIError

# Without --classes, a target with more distinct values than this, or with
# more than MANY_CLASSES_MIN of them and fewer than ROWS_PER_CLASS_MIN rows
# per value on average, is taken for a numeric target (scikit-learn's
# diabetes: 214 distinct values in 442 rows).
MAX_CLASSES = 100
MANY_CLASSES_MIN = 10
ROWS_PER_CLASS_MIN = 5


def _fmt(value):
    return f"{value:g}"


def _looks_numeric(k, n):
    return k > MAX_CLASSES or (k > MANY_CLASSES_MIN and n < ROWS_PER_CLASS_MIN * k)


def encode_classes(table, classes=None, distinct=np.unique, count=len):
    """(codes int64 (n,), class labels tuple) of a cross_entropy target:
    ``codes[i]`` indexes ``labels``; ``classes`` is --classes. The labels
    are ``distinct(y)`` (sorted) of ``count(y)`` rows: the table's own, or,
    for a table that is one block of the rows, those of every block."""
    y, name, what = table.target, table.name, _target_text(table)
    if y.ndim == 2:
        raise CLIError(f"{name}: cross_entropy needs one column of class labels, but "
                       f"the {what} has shape {y.shape}")
    text = y.dtype.kind == "U"
    if not text:
        fractional = y != np.floor(y)
        if fractional.any():
            i = int(np.argmax(fractional))
            raise CLIError(f"{name}, {table.where_y(i)}: a class label must be an integer "
                           f"or text, got {_fmt(y[i])}: for a numeric target use --loss mse")
    if classes is not None:
        return _declared_classes(table, classes, text)
    labels = distinct(y)
    k, n = len(labels), count(y)
    if k < 2:
        raise CLIError(f"{name}: the {what} holds only the class {_label(labels[0])}; "
                       f"cross_entropy needs at least 2 classes")
    if _looks_numeric(k, n):
        advice = ("is it the right column? (give --classes "
                  f"{k} if these really are the classes)") if text else (
            f"that is a numeric target, not class labels: use --loss mse (or give "
            f"--classes {k} if these really are the classes)")
        raise CLIError(f"{name}: the {what} has {k} distinct values in {n} rows; {advice}")
    codes = np.searchsorted(labels, y)
    return codes.astype(np.int64).reshape(len(y)), tuple(_label(x) for x in labels)


def _declared_classes(table, classes, text):
    y, name = table.target, table.name
    if text:
        labels, codes = np.unique(y, return_inverse=True)
        if len(labels) != classes:
            raise CLIError(f"{name}: --classes {classes}, but the {_target_text(table)} "
                           f"has {len(labels)} distinct text labels")
        return codes.astype(np.int64).reshape(len(y)), tuple(str(x) for x in labels)
    bad = (y < 0) | (y >= classes)
    if bad.any():
        i = int(np.argmax(bad))
        raise CLIError(f"{name}, {table.where_y(i)}: with --classes {classes} a class label "
                       f"must be an integer 0..{classes - 1}, got {_fmt(y[i])}")
    return y.astype(np.int64), tuple(range(classes))


def _label(value):
    """A label as the model records it: a Python int or str."""
    return str(value) if isinstance(value, str) else int(value)


def _target_text(table):
    if table.target_name and table.feature_names is not None:
        return f'target column "{table.target_name}"'
    return f"target {table.target_name}" if table.target_name else "target"


def fit_scale(A):
    """(mean, scale) float64 of each column of A; scale is the standard
    deviation, 1 where it is 0 (or too small to divide by)."""
    mean = A.mean(axis=0)
    return mean, usable_scale(mean, A.std(axis=0))


def usable_scale(mean, std):
    """The standard deviations ``std`` (changed in place), 1 where dividing
    by them would blow the column up: 0, or tiny beside the mean."""
    std[~(std > 1e-12 * np.maximum(1.0, np.abs(mean)))] = 1.0
    return std


def standardization(X_train, y_train=None, scale_of=fit_scale):
    """The standardization record (fastmlp.io.metadata) fitted on the training
    split: of the features, and of an mse target when given; ``scale_of``
    is fit_scale, or its equivalent over the blocks of every rank."""
    mean, scale = scale_of(X_train)
    std = {"mean": mean, "scale": scale, "target_mean": None, "target_scale": None}
    if y_train is not None:
        t_mean, t_scale = scale_of(y_train.reshape(len(y_train), -1))
        std.update(target_mean=t_mean, target_scale=t_scale)
    return std


def check_dtype_range(X, dtype, name, where):
    """X (as the model takes it) fits ``dtype``: a float64 value beyond
    float32's range would become inf in the model."""
    if np.dtype(dtype) == np.float32:
        big = np.abs(X) > np.finfo(np.float32).max
        if big.any():
            at = first_bad(big)
            raise CLIError(f"{name}, {where(*at)}: {float(X[at])!r} is too large for float32 "
                           f"(use --dtype float64)")


def scale_features(std, X):
    return X if std is None else (X - std["mean"]) / std["scale"]


def scale_target(std, y):
    if std is None or std["target_mean"] is None:
        return y
    out = (y.reshape(len(y), -1) - std["target_mean"]) / std["target_scale"]
    return out.reshape(y.shape)


def unscale_outputs(std, out):
    """Model outputs (n,) or (n, k) in the target's own units (float64)."""
    if std is None or std["target_mean"] is None:
        return out
    back = out.reshape(len(out), -1) * std["target_scale"] + std["target_mean"]
    return back.reshape(out.shape)
