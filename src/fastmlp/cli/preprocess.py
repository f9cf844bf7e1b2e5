"""What ``train`` decides about the target before fitting (the data's own
handling, fitted on the training rows and stored with the model, is
fastmlp.tabular's Preprocessor):

- class labels of any kind (integers such as wine's 1..3, negative ones,
  text) become the indices 0..K-1 of their sorted distinct values, K being
  the number of distinct labels (``--classes K`` instead declares the
  integer classes 0..K-1, some of which may be absent); a target that looks
  numeric rather than categorical (non-integer numbers, or very many
  distinct values) is an error that suggests ``--loss mse``;
- binary_cross_entropy targets: 0/1 numbers, or two text labels (sorted:
  the second is class 1);
- errors naming a bad value's place in the file.

Nothing here prints or knows argparse.
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


def check_dtype_range(X, dtype, name, where):
    """X (as the model takes it) fits ``dtype``: a float64 value beyond
    float32's range would become inf in the model."""
    limit = np.finfo(np.float32).max
    # Two reductions first (no temporary of X's size); the place only when
    # a value is out of range.
    if np.dtype(dtype) == np.float32 and X.size and (X.max() > limit or X.min() < -limit):
        big = np.abs(X) > limit
        if big.any():
            at = first_bad(big)
            raise CLIError(f"{name}, {where(*at)}: {float(X[at])!r} is too large for float32 "
                           f"(use --dtype float64)")


def encode_binary(table, distinct=np.unique):
    """(codes float64 0/1 (n,), labels) of a binary_cross_entropy target of
    one column: 0/1 numbers (labels (0, 1)), or text with two distinct
    labels (sorted: the second is class 1); several 0/1 columns (an .npz
    target) stay as they are, with no labels."""
    y, name = table.target, table.name
    if y.dtype.kind in "UO":
        labels = distinct(y)
        if len(labels) != 2:
            shown = ", ".join(repr(str(x)) for x in labels[:5])
            raise CLIError(f"{name}: a binary_cross_entropy target of text needs exactly 2 "
                           f"distinct labels, the {_target_text(table)} has {len(labels)} "
                           f"({shown}{', ...' if len(labels) > 5 else ''}); for more "
                           f"classes use --loss cross_entropy")
        codes = (y == labels[1]).astype(np.float64)
        return codes, tuple(str(x) for x in labels)
    bad = (y != 0) & (y != 1)
    if bad.any():
        at = first_bad(bad)
        raise CLIError(f"{name}, {table.where_y(*at)}: a binary_cross_entropy target "
                       f"must be 0 or 1 (or one of two text labels), got {_fmt(y[at])}")
    return y, ((0, 1) if y.ndim == 1 else None)


def column_error(table, exc):
    """A CLIError naming the file, row and column of a tabular ColumnError."""
    names = table.feature_names
    k = names.index(exc.column) if names is not None else exc.column
    if exc.row is not None:
        where = table.where_x(exc.row, k)
    else:
        where = f'column "{exc.column}"' if names is not None else f"column {exc.column}"
    advice = f" ({exc.advice})" if exc.advice else ""
    return CLIError(f"{table.name}, {where}: {exc.message}{advice}")
