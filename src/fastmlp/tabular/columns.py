"""The input columns of a table and what a fitted preprocessor does to each.

A column is one of two kinds, decided from its values when the
preprocessor is fitted:

- ``NumberColumn``: numbers or bools (True/False as 1/0), one model input:
  ``(x - mean) / scale`` (mean 0 and scale 1 when not standardized);
- ``CategoryColumn``: text, one model input per category seen in the
  training rows (one-hot, not scaled; a category never seen gives zeros,
  as scikit-learn's ``OneHotEncoder(handle_unknown="ignore")``).

Either may carry the value that replaces a missing one (``impute``; None:
a missing value is an error). Values are read with ``raw_values``, which
accepts what pandas and NumPy give for a column: numeric, bool, nullable
and text dtypes, with NaN, None or pd.NA for missing values.
"""
import math
from dataclasses import dataclass

import numpy as np


class ColumnError(ValueError):
    """A bad value: ``row`` (0-based) and ``column`` (name or index) say where."""

    def __init__(self, message, row=None, column=None, advice=""):
        where = f"X column {column!r}" + ("" if row is None else f", row {row}")
        super().__init__(f"{where}: {message}" + (f" ({advice})" if advice else ""))
        self.message, self.row, self.column, self.advice = message, row, column, advice


def _is_missing(values):
    """Mask of missing entries of an object or float array."""
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind in "iub":
        return np.zeros(len(values), dtype=bool)
    return np.array([x is None or (isinstance(x, float) and math.isnan(x))
                     or (isinstance(x, str) and not x.strip())
                     or type(x).__name__ == "NAType" for x in values], dtype=bool)


def raw_values(column):
    """(values, missing mask) of one column (a pandas Series or a 1-D
    array): a float64 array when every present value is a number or a bool,
    else an object array of the present values as given."""
    if hasattr(column, "to_numpy"):
        kind = getattr(column.dtype, "kind", "O")
        if kind in "iuf" and isinstance(column.dtype, np.dtype):
            # A plain NumPy column: read in place when it is float64 already.
            values = column.to_numpy(dtype=np.float64, copy=False)
            return values, np.isnan(values)
        if kind in "biuf":
            missing = column.isna().to_numpy()
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            return values, missing
        values = column.to_numpy(dtype=object, na_value=None)
    else:
        values = np.asarray(column)
        if values.dtype.kind in "biuf":
            values = values.astype(np.float64)
            return values, np.isnan(values)
        values = values.astype(object)
    missing = _is_missing(values)
    present = values[~missing]
    if all(isinstance(x, (bool, np.bool_)) for x in present):
        out = np.full(len(values), np.nan)
        out[~missing] = present.astype(bool)
        return out, missing
    numbers = [_number(x) for x in present]
    if all(x is not None for x in numbers):
        # Numbers, some of them written as text: a column with a blank
        # cell read by pandas' pyarrow engine.
        out = np.full(len(values), np.nan)
        out[~missing] = numbers
        return out, missing
    return values, missing


def _number(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


@dataclass
class NumberColumn:
    name: object          # str, or the column's index for arrays
    mean: float = 0.0
    scale: float = 1.0
    impute: float | None = None
    width = 1

    def encode(self, values, missing, out, checked=False):
        """Write the model input of ``values`` into ``out`` (n,);
        ``checked``: the values are float64 numbers known to be finite
        (the fit's own), so only the missing ones are filled."""
        if checked:
            np.copyto(out, values)
            if missing.any():
                out[missing] = self.impute
            self._scale(out)
            return
        numbers = _numbers(values, self.name)
        numbers = _fill(numbers, missing, self.impute, self.name)
        bad = ~np.isfinite(numbers)
        if bad.any():
            i = int(np.argmax(bad))
            raise ColumnError(f"not a finite number: {float(numbers[i])!r}", i, self.name)
        np.copyto(out, numbers)
        self._scale(out)

    def _scale(self, out):
        # x - 0 and x / 1 are x exactly: an unscaled column costs no pass.
        if self.mean != 0.0:
            np.subtract(out, self.mean, out=out)
        if self.scale != 1.0:
            out /= self.scale

    def to_json(self):
        return {"name": self.name, "kind": "number", "mean": self.mean, "scale": self.scale,
                "impute": self.impute}


@dataclass
class CategoryColumn:
    name: object
    categories: tuple     # of str, sorted
    impute: str | None = None

    @property
    def width(self):
        return len(self.categories)

    def encode(self, values, missing, out):
        """Write the one-hot columns of ``values`` into ``out`` (n, width);
        the count of values of no known category (zeros)."""
        values = _fill(values.astype(object), missing, self.impute, self.name)
        text = np.array([str(x) for x in values], dtype=object)
        index = {c: j for j, c in enumerate(self.categories)}
        codes = np.array([index.get(t, -1) for t in text], dtype=np.intp)
        out[...] = 0.0
        known = codes >= 0
        out[np.nonzero(known)[0], codes[known]] = 1.0
        return int(np.sum(~known))

    def to_json(self):
        return {"name": self.name, "kind": "category", "categories": list(self.categories),
                "impute": self.impute}


def _numbers(values, name):
    if values.dtype.kind == "f":
        return values
    out = np.empty(len(values))
    for i, x in enumerate(values):
        if x is None:
            out[i] = np.nan
            continue
        number = _number(x) if not isinstance(x, str) or x.strip() else None
        if number is None:
            raise ColumnError(f"not a number: {x!r}", i, name)
        out[i] = number
    return out


def _fill(values, missing, impute, name):
    if not missing.any():
        return values
    if impute is None:
        i = int(np.argmax(missing))
        raise ColumnError("missing value", i, name,
                          advice="impute it (impute='mean', 'median' or 'most_frequent'; "
                                 "the command line's --impute)")
    values = values.copy()
    values[missing] = impute
    return values


def is_text(values):
    """Whether a column's present values are text: no value is a number."""
    return values.dtype == object and all(
        isinstance(x, str) and _number(x) is None for x in values)


def first_non_number(values):
    """Index of the first present value that is not a number, or None."""
    for i, x in enumerate(values):
        if isinstance(x, str) and not x.strip():
            continue            # a blank cell: missing
        if x is not None and (isinstance(x, str) or not isinstance(
                x, (int, float, np.integer, np.floating))):
            if _number(x) is None or (isinstance(x, str) and not x.strip()):
                return i
    return None
