"""``fastmlp.Preprocessor``: what is done to a table's columns and target
before the network sees them, fitted once on the training rows and stored
with the model (as scikit-learn's ``ColumnTransformer`` with a
``SimpleImputer``, a ``StandardScaler`` on the numeric columns and a
``OneHotEncoder(handle_unknown="ignore")`` on the text ones would be).

The network's inputs are the columns in the order of the training table,
a number or bool column one input, a text column one input per category.
"""
import warnings

import numpy as np

from ..inputs.frames import is_frame
from .columns import (CategoryColumn, ColumnError, NumberColumn,
                      first_non_number, is_text, raw_values)
from .target import ClassTarget, NumberTarget, label_of

IMPUTE = ("mean", "median", "most_frequent")
LOSSES = ("mse", "cross_entropy", "binary_cross_entropy")


# Statistics are taken over blocks of this many rows: no temporary of the
# table's size.
STAT_ROWS = 8192


def _blocks(A, rows):
    n = A.shape[0] if rows is None else len(rows)
    for lo in range(0, n, STAT_ROWS):
        yield A[lo:lo + STAT_ROWS] if rows is None else A[rows[lo:lo + STAT_ROWS]]


def fit_scale(A, rows=None):
    """(mean, scale) float64 of each column of A over its rows ``rows``
    (all when None); scale is the standard deviation (two passes), 1 where
    dividing by it would blow the column up."""
    n = A.shape[0] if rows is None else len(rows)
    total = np.zeros(A.shape[1])
    for block in _blocks(A, rows):
        total += block.sum(axis=0)
    mean = total / n
    squares = np.zeros(A.shape[1])
    for block in _blocks(A, rows):
        centered = block - mean
        squares += np.einsum("ij,ij->j", centered, centered)
    return mean, usable_scale(mean, np.sqrt(squares / n))


def usable_scale(mean, std):
    """``std`` (changed in place), 1 where it is 0 or tiny beside the mean."""
    std[~(std > 1e-12 * np.maximum(1.0, np.abs(mean)))] = 1.0
    return std


def _columns_of(X):
    """[(name, column)] of a DataFrame (names) or a 2-D array (indices)."""
    if is_frame(X):
        names = list(X.columns)
        bad = [n for n in names if not isinstance(n, str)]
        if bad:
            raise TypeError(f"the table's column names must be str, got {bad[0]!r}")
        if len(set(names)) != len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise ValueError(f"the table has several columns named {twice!r}")
        return [(n, X[n]) for n in names]
    A = np.asarray(X)
    if A.ndim != 2:
        raise ValueError(f"X must be a table (a DataFrame or a 2-D array), got shape "
                         f"{A.shape}")
    return [(j, A[:, j]) for j in range(A.shape[1])]


def _impute_value(values, strategy, name):
    if len(values) == 0:
        raise ColumnError("every training value is missing: nothing to impute", None, name)
    if strategy == "mean":
        return float(np.mean(values))
    if strategy == "median":
        return float(np.median(values))
    kinds, counts = np.unique(values, return_counts=True)
    value = kinds[int(np.argmax(counts))]           # the smallest of the most frequent
    return value if isinstance(value, str) else float(value)


class Preprocessor:
    """Fitted data handling of a table: column kinds, imputation, one-hot
    encoding, standardization and the target's labels or scale.

    Parameters
    ----------
    standardize : bool, default True
        Scale each number column (and an mse target) to mean 0 and standard
        deviation 1 with the training rows' statistics.
    impute : None or {"mean", "median", "most_frequent"}
        What replaces a missing value (text columns: the most frequent
        category always). None: a missing value is an error.
    one_hot : bool, default False
        Encode text columns one-hot; False: a text column is an error that
        names it.
    """

    def __init__(self, standardize=True, impute=None, one_hot=False):
        if impute is not None and impute not in IMPUTE:
            raise ValueError(f"impute must be None or one of {IMPUTE}, got {impute!r}")
        self.standardize, self.impute, self.one_hot = bool(standardize), impute, bool(one_hot)
        self.columns = None
        self.target = None
        self.feature_names = None

    # -- fitting ----------------------------------------------------------------

    @classmethod
    def passthrough(cls, network):
        """The preprocessor that changes nothing in front of ``network``: its
        inputs are the table's columns as they are (by name when the network
        knows its feature names), its outputs the predictions."""
        pre = cls(standardize=False)
        names = network.feature_names
        pre.columns = [NumberColumn(n) for n in (names or range(network.layer_sizes[0]))]
        pre.feature_names = names
        return pre

    def fit(self, X, y=None, *, loss="mse", rows=None, target=None, scale_of=fit_scale):
        """Fit on the rows ``rows`` (all when None) of the table X (a
        DataFrame or a 2-D array) and its target y. ``target``: a prebuilt
        ``ClassTarget``/``NumberTarget`` instead of one made from y;
        ``scale_of``: fit_scale, or its equivalent over several processes.
        Every row is checked: a bad value is named by its row in X."""
        self.fit_transform(X, y, loss=loss, rows=rows, target=target, scale_of=scale_of)
        return self

    def fit_transform(self, X, y=None, *, loss="mse", rows=None, target=None,
                      scale_of=fit_scale):
        """``fit``, returning ``transform(X)`` (float64) from the same pass
        over the table: each column is read once."""
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        columns = _columns_of(X)
        if not columns:
            raise ValueError("the table has no feature columns")
        # Each column is read twice rather than kept: the widths of the
        # one-hot blocks are known once every column is fitted, and the
        # table is held once more only, as ``out``.
        fitted = [self._fit_column(name, *raw_values(column), rows)
                  for name, column in columns]
        self.columns = fitted
        # Column-major: each column is written as one contiguous run.
        out = np.empty((len(columns[0][1]), self.n_inputs), order="F")
        at = 0
        for col, (_, column) in zip(fitted, columns):
            values, missing = raw_values(column)
            if isinstance(col, NumberColumn):
                # Checked by _fit_column; scaled below, with the statistics.
                col.encode(values, missing, out[:, at], checked=values.dtype.kind == "f")
            else:
                col.encode(values, missing, out[:, at:at + col.width])
            at += col.width
        if self.standardize and any(isinstance(c, NumberColumn) for c in fitted):
            # The statistics of the encoded (imputed) training rows; the
            # one-hot inputs keep mean 0 and scale 1.
            mean, scale = scale_of(out, rows) if rows is not None else scale_of(out)
            number = np.array([isinstance(fitted[j], NumberColumn)
                               for j in self.input_columns()])
            mean[~number], scale[~number] = 0.0, 1.0
            for k, col in zip(np.flatnonzero(number), (c for c in fitted
                                                      if isinstance(c, NumberColumn))):
                col.mean, col.scale = float(mean[k]), float(scale[k])
            out -= mean
            out /= scale
        self.columns = fitted
        self.feature_names = tuple(n for n, _ in columns) if is_frame(X) else None
        if target is None and y is not None:
            y = np.asarray(y) if rows is None else np.asarray(y)[rows]
            target = self._fit_target(y, loss, scale_of)
        self.target = target
        return out

    def _fit_column(self, name, values, missing, rows):
        any_missing = missing.any()
        present = values[~missing] if any_missing else values

        def train():
            if rows is None:
                return present
            return values[rows][~missing[rows]] if any_missing else values[rows]

        if values.dtype.kind == "f":
            if not np.isfinite(present).all():
                bad = ~np.isfinite(values) & ~missing
                i = int(np.argmax(bad))
                raise ColumnError(f"not a finite number: {float(values[i])!r}", i, name)
            impute = (_impute_value(train(), self.impute, name)
                      if self.impute is not None else None)
            if missing.any() and impute is None:
                raise ColumnError("missing value", int(np.argmax(missing)), name,
                                  advice="impute it (impute='mean', 'median' or "
                                         "'most_frequent'; the command line's --impute)")
            return NumberColumn(name, impute=impute)
        if not is_text(present):
            i = first_non_number(values)
            raise ColumnError(f"not a number: {values[i]!r}", i, name,
                              advice="a column of text categories holds no numbers")
        if not self.one_hot:
            shown = ", ".join(repr(c) for c in sorted(set(present))[:3])
            raise ColumnError(f"holds text ({shown}, ...): a categorical feature", None, name,
                              advice="encode it one-hot (one_hot=True; the command line's "
                                     "--one-hot) or leave the column out")
        text = np.array([str(x) for x in train()], dtype=object)
        impute = None
        if self.impute is not None:
            impute = _impute_value(text, "most_frequent", name)
        elif missing.any():
            raise ColumnError("missing value", int(np.argmax(missing)), name,
                              advice="impute it (impute='most_frequent'; the command "
                                     "line's --impute)")
        return CategoryColumn(name, tuple(sorted(set(text))), impute)

    def _fit_target(self, y, loss, scale_of):
        if loss == "mse":
            y = np.asarray(y, dtype=np.float64)
            if not self.standardize:
                return NumberTarget(None)
            mean, scale = scale_of(y.reshape(len(y), -1))
            return NumberTarget(None, mean, scale)
        if loss == "binary_cross_entropy" and y.ndim == 2:
            return NumberTarget(None)
        labels = tuple(sorted({label_of(x) for x in y}, key=lambda x: (str(type(x)), x)))
        if loss == "binary_cross_entropy":
            if set(labels) <= {0, 1}:
                labels = (0, 1)
            if len(labels) != 2:
                raise ValueError(f"binary_cross_entropy needs two class labels, got "
                                 f"{len(labels)}: {list(labels)[:5]}")
            return ClassTarget(None, labels, binary=True)
        return ClassTarget(None, labels)

    # -- use --------------------------------------------------------------------

    def _check_fitted(self):
        if self.columns is None:
            raise ValueError("this Preprocessor is not fitted: call fit first")

    @property
    def n_inputs(self):
        """The network's input width: one per number column, one per category."""
        self._check_fitted()
        return sum(c.width for c in self.columns)

    @property
    def n_outputs(self):
        """The network's output width the target needs (None without one)."""
        if self.target is None:
            return None
        if isinstance(self.target, ClassTarget):
            return self.target.n_outputs
        return None if self.target.mean is None else len(self.target.mean)

    @property
    def classes_(self):
        """The class labels (an array), or None for a numeric target."""
        if isinstance(self.target, ClassTarget):
            from .target import labels_array
            return labels_array(self.target.labels)
        return None

    def input_columns(self):
        """For each network input, the index of the table column it comes from."""
        self._check_fitted()
        return [j for j, c in enumerate(self.columns) for _ in range(c.width)]

    def _table_columns(self, X):
        """The fitted columns' values in X: by name for a DataFrame of a
        preprocessor fitted on one, else by position."""
        if is_frame(X) and self.feature_names is not None:
            missing = [n for n in self.feature_names if n not in X.columns]
            if missing:
                raise ValueError(f"X is missing the column(s) {missing} the model was "
                                 f"trained on")
            return [X[n] for n in self.feature_names], len(X)
        A = X if is_frame(X) else np.asarray(X)
        if A.ndim != 2:
            raise ValueError(f"X must be a 2-D table, got shape {A.shape}")
        if A.shape[1] != len(self.columns):
            raise ValueError(f"X has {A.shape[1]} columns, but the model was trained on "
                             f"{len(self.columns)}")
        if is_frame(A):
            return [A.iloc[:, j] for j in range(A.shape[1])], len(A)
        return [A[:, j] for j in range(A.shape[1])], A.shape[0]

    def transform(self, X, dtype=np.float64):
        """The network's input (n, n_inputs) of ``dtype`` for the table X.
        The arithmetic is float64 whatever ``dtype``; ColumnError (a
        ValueError) names the row and column of a bad value."""
        self._check_fitted()
        values_of, n = self._table_columns(X)
        out = np.empty((n, self.n_inputs), dtype=np.float64, order="F")
        at = 0
        for col, column in zip(self.columns, values_of):
            values, missing = raw_values(column)
            if isinstance(col, NumberColumn):
                col.encode(values, missing, out[:, at])
            else:
                unknown = col.encode(values, missing, out[:, at:at + col.width])
                if unknown:
                    warnings.warn(f"column {col.name!r}: {unknown} value(s) of a category "
                                  f"not seen in training, encoded as zeros", UserWarning,
                                  stacklevel=2)
            at += col.width
        return out if np.dtype(dtype) == np.float64 else out.astype(dtype)

    # -- stored form ------------------------------------------------------------

    def to_json(self):
        self._check_fitted()
        return {"standardize": self.standardize, "impute": self.impute,
                "one_hot": self.one_hot,
                "feature_names": None if self.feature_names is None
                else list(self.feature_names),
                "columns": [c.to_json() for c in self.columns],
                "target": None if self.target is None else self.target.to_json()}

    def __repr__(self):
        if self.columns is None:
            return (f"Preprocessor(standardize={self.standardize}, impute={self.impute!r}, "
                    f"one_hot={self.one_hot})")
        kinds = sum(isinstance(c, CategoryColumn) for c in self.columns)
        return (f"<Preprocessor: {len(self.columns)} columns ({kinds} one-hot) -> "
                f"{self.n_inputs} inputs>")
