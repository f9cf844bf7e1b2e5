"""pandas DataFrames as X: column names recorded by fit, columns selected by
name afterwards, and column dtypes checked one by one.

pandas is optional: nothing here imports it. A DataFrame is recognised by
the attributes every one has (``columns``, ``dtypes``, ``iloc``), and its
columns are read with ``to_numpy``, which turns pandas' nullable dtypes
(Int64, Float64, boolean) into plain numpy arrays once missing values are
ruled out.
"""
import numpy as np


def is_frame(X):
    return all(hasattr(X, a) for a in ("columns", "dtypes", "iloc", "to_numpy")) \
        and getattr(X, "ndim", None) == 2


def column_names(X):
    """The frame's column names as a tuple of str, or None unless every
    name is a str (as scikit-learn records feature_names_in_)."""
    names = list(X.columns)
    return tuple(names) if names and all(isinstance(n, str) for n in names) else None


def _numeric_column(column, name):
    """One column as a 1-D numpy array of a real or bool dtype."""
    dtype = column.dtype
    kind = getattr(dtype, "kind", "O")
    if kind in "biuf" and not hasattr(dtype, "na_value"):
        return column.to_numpy()
    # pandas' nullable numeric and boolean dtypes ("Int64", "Float64",
    # "boolean"): accepted when nothing is missing. With missing values the
    # column is not one of the supported dtypes (the contract's TypeError),
    # whatever the values: pd.NA is no number.
    if kind in "biuf":
        if column.isna().any():
            raise TypeError(f"X column {name!r} has dtype {dtype} with missing values "
                            f"(first at row {int(np.argmax(column.isna().to_numpy()))}); "
                            f"only complete numeric columns are supported")
        return column.to_numpy(dtype=np.float64 if kind == "f" else
                               (bool if kind == "b" else np.int64))
    raise TypeError(f"X column {name!r} has dtype {dtype}; only real numbers and bool "
                    f"are supported")


def frame_to_array(X, feature_names):
    """The frame's columns, in the order of ``feature_names`` (selected by
    name) when given, else as they stand, as one 2-D numpy array."""
    if feature_names is not None:
        missing = [n for n in feature_names if n not in X.columns]
        if missing:
            raise ValueError(f"X is missing the feature column(s) {missing} the model was "
                             f"fit on")
        X = X[list(feature_names)]
    columns = [_numeric_column(X.iloc[:, j], X.columns[j]) for j in range(X.shape[1])]
    if not columns:
        return np.empty((X.shape[0], 0))
    return np.column_stack(columns)
