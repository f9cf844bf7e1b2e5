"""A preprocessor's stored form (the "preprocessor" field of a model file,
docs/file-format.md), checked field by field against the network it feeds
before anything is built from it, and the preprocessor equivalent to a
version-3 file's metadata (target name, class labels, standardization)."""
import math

import numpy as np

from .columns import CategoryColumn, NumberColumn
from .preprocessor import IMPUTE, Preprocessor
from .target import ClassTarget, NumberTarget


class Invalid(Exception):
    """A stored value that cannot be what the model means."""


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _finite(x, what, positive=False):
    ok = isinstance(x, (int, float)) and not isinstance(x, bool)
    try:
        ok = ok and math.isfinite(float(x)) and (float(x) > 0 or not positive)
    except OverflowError:
        ok = False
    if not ok:
        raise Invalid(f"{what} must be a finite number{' > 0' if positive else ''}, "
                      f"got {_short(x)}")
    return float(x)


def _keys(obj, keys, what):
    if not isinstance(obj, dict) or sorted(obj) != sorted(keys):
        raise Invalid(f"{what} must be an object with the keys {sorted(keys)}, "
                      f"got {_short(obj)}")


def _column(obj, j, names):
    what = f"preprocessor column {j}"
    if not isinstance(obj, dict) or obj.get("kind") not in ("number", "category"):
        raise Invalid(f'{what} must be an object with "kind" "number" or "category"')
    expected = names[j] if names is not None else j
    if obj.get("name") != expected:
        raise Invalid(f"{what} is named {_short(obj.get('name'))}, expected "
                      f"{_short(expected)}")
    if obj["kind"] == "number":
        _keys(obj, ("name", "kind", "mean", "scale", "impute"), what)
        impute = None if obj["impute"] is None else _finite(obj["impute"], f"{what} impute")
        return NumberColumn(expected, _finite(obj["mean"], f"{what} mean"),
                            _finite(obj["scale"], f"{what} scale", positive=True), impute)
    _keys(obj, ("name", "kind", "categories", "impute"), what)
    cats = obj["categories"]
    if (not isinstance(cats, list) or not cats or not all(isinstance(c, str) for c in cats)
            or cats != sorted(set(cats))):
        raise Invalid(f"{what} categories must be a sorted list of distinct strings")
    if obj["impute"] is not None and obj["impute"] not in cats:
        raise Invalid(f"{what} impute must be null or one of its categories")
    return CategoryColumn(expected, tuple(cats), obj["impute"])


def _labels(labels, what):
    if not isinstance(labels, list) or len(labels) < 2:
        raise Invalid(f"{what} must be a list of at least 2 labels")
    is_int = all(isinstance(x, int) and not isinstance(x, bool) for x in labels)
    if not (is_int or all(isinstance(x, str) for x in labels)):
        raise Invalid(f"{what} must be all integers or all strings, got {_short(labels)}")
    if len(set(labels)) != len(labels):
        raise Invalid(f"{what} has duplicates")
    return tuple(labels)


def _target(obj, loss, n_outputs):
    if obj is None:
        return None
    if not isinstance(obj, dict) or obj.get("kind") not in ("classes", "number"):
        raise Invalid('the preprocessor target must be null or an object with "kind" '
                      '"classes" or "number"')
    name = obj.get("name")
    if name is not None and not isinstance(name, str):
        raise Invalid(f"the target name must be null or a string, got {_short(name)}")
    if obj["kind"] == "classes":
        _keys(obj, ("kind", "name", "labels", "binary"), "the preprocessor target")
        labels = _labels(obj["labels"], "the target labels")
        binary = obj["binary"]
        if binary is not (loss == "binary_cross_entropy"):
            raise Invalid(f"target labels with binary={_short(binary)} do not fit a "
                          f"{loss} model")
        if loss == "mse":
            raise Invalid("class labels do not apply to an mse model")
        expected = 2 if binary else n_outputs
        if len(labels) != expected or (binary and n_outputs != 1):
            raise Invalid(f"the target has {len(labels)} labels, but the model has "
                          f"{n_outputs} outputs")
        return ClassTarget(name, labels, binary)
    _keys(obj, ("kind", "name", "mean", "scale"), "the preprocessor target")
    if (obj["mean"] is None) != (obj["scale"] is None):
        raise Invalid("the target mean and scale must both be set or both be null")
    if obj["mean"] is None:
        return NumberTarget(name)
    if loss != "mse":
        raise Invalid(f"a standardized target applies to mse models, not {loss}")
    arrays = []
    for key in ("mean", "scale"):
        values = obj[key]
        if not isinstance(values, list) or len(values) != n_outputs:
            raise Invalid(f"the target {key} must be a list of {n_outputs} numbers")
        arrays.append(np.array([_finite(x, f"the target {key}", key == "scale")
                                for x in values]))
    return NumberTarget(name, *arrays)


def from_json(obj, sizes, loss):
    """The Preprocessor stored as ``obj`` in front of a network of
    ``sizes`` and ``loss``; Invalid names what is wrong."""
    _keys(obj, ("standardize", "impute", "one_hot", "feature_names", "columns", "target"),
          "the preprocessor")
    if obj["impute"] is not None and obj["impute"] not in IMPUTE:
        raise Invalid(f"the preprocessor impute must be null or one of {IMPUTE}")
    if not isinstance(obj["standardize"], bool) or not isinstance(obj["one_hot"], bool):
        raise Invalid("the preprocessor standardize and one_hot must be true or false")
    names, columns = obj["feature_names"], obj["columns"]
    if not isinstance(columns, list) or not columns or len(columns) > sizes[0]:
        raise Invalid(f"the preprocessor columns must be a list of 1 to {sizes[0]} columns")
    if names is not None and (not isinstance(names, list) or len(names) != len(columns)
                              or not all(isinstance(n, str) for n in names)
                              or len(set(names)) != len(names)):
        raise Invalid("the preprocessor feature_names must be null or one distinct string "
                      "per column")
    pre = Preprocessor(obj["standardize"], obj["impute"], obj["one_hot"])
    pre.columns = [_column(c, j, names) for j, c in enumerate(columns)]
    pre.feature_names = None if names is None else tuple(names)
    if pre.n_inputs != sizes[0]:
        raise Invalid(f"the preprocessor makes {pre.n_inputs} inputs, but the network "
                      f"takes {sizes[0]}")
    pre.target = _target(obj["target"], loss, sizes[-1])
    return pre


def from_version3(feature_names, target_name, class_labels, standardization, sizes):
    """The preprocessor a version-3 file's metadata stands for: every column a
    number scaled by the standardization (or not), the class labels of a
    cross_entropy model, the target's scale. None when there is nothing to
    apply (no labels, no standardization)."""
    if class_labels is None and standardization is None:
        return None
    pre = Preprocessor(standardize=standardization is not None)
    names = feature_names if feature_names is not None else range(sizes[0])
    std = standardization or {}
    mean = std.get("mean", np.zeros(sizes[0]))
    scale = std.get("scale", np.ones(sizes[0]))
    pre.columns = [NumberColumn(n, float(m), float(s)) for n, m, s in zip(names, mean, scale)]
    pre.feature_names = None if feature_names is None else tuple(feature_names)
    if class_labels is not None:
        pre.target = ClassTarget(target_name, tuple(class_labels))
    else:
        pre.target = NumberTarget(target_name, std.get("target_mean"),
                                  std.get("target_scale"))
    return pre
