"""Version 3's record of a model's data (file format version 3,
docs/file-format.md): the target's name, the class labels and the
standardization that ``fastmlp train`` applied. Read only: version 4 stores
a whole preprocessor instead (fastmlp.tabular), and a version-3 file's
metadata becomes the equivalent preprocessor when it is loaded
(fastmlp.tabular.stored.from_version3).

The fields:

- ``target_name``: a str, the target column's name;
- ``class_labels``: cross_entropy only: a tuple of nL distinct labels,
  all ints or all strs; output j stands for ``class_labels[j]``;
- ``standardization``: a dict with "mean" and "scale" (float64 arrays of
  n0: the model's inputs are ``(x - mean) / scale``) and "target_mean" and
  "target_scale" (float64 arrays of nL for an mse model whose targets were
  standardized the same way, so its outputs are undone by ``out * scale +
  mean``; else None). Every value finite, every scale > 0.
"""
import math

import numpy as np

from ..inputs import validation as v
from .rngstate import short

FIELDS = ("target_name", "class_labels", "standardization")
_STANDARDIZATION_KEYS = ("mean", "scale", "target_mean", "target_scale")


class Invalid(Exception):
    """A header value that cannot be what the file's model means."""


def _finite_list(values, length, what, positive=False):
    if not isinstance(values, list) or len(values) != length:
        raise Invalid(f"{what} must be a list of {length} numbers, got {short(values)}")
    out = []
    for x in values:
        try:
            x = float(x) if v._is_real(x) else None
        except OverflowError:       # a JSON integer beyond the float range
            x = None
        if x is None or not math.isfinite(x) or (positive and not x > 0):
            raise Invalid(f"{what} must hold finite numbers"
                          + (" > 0" if positive else "") + f", got {short(values)}")
        out.append(x)
    return np.array(out, dtype=np.float64)


def check_class_labels(labels, n_outputs, loss):
    """A tuple of distinct labels (all int or all str), or None."""
    if labels is None:
        return None
    labels = tuple(labels) if isinstance(labels, (list, tuple)) else labels
    if not isinstance(labels, tuple):
        raise Invalid(f"class_labels must be a list, got {short(labels)}")
    if loss != "cross_entropy":
        raise Invalid(f"class_labels apply to cross_entropy models, not {loss}")
    if len(labels) != n_outputs:
        raise Invalid(f"class_labels has {len(labels)} labels, but the model has "
                      f"{n_outputs} outputs")
    is_int = all(v._is_int(x) and not isinstance(x, bool) for x in labels)
    if not (is_int or all(isinstance(x, str) for x in labels)):
        raise Invalid(f"class_labels must be all integers or all strings, got "
                      f"{short(list(labels))}")
    if len(set(labels)) != len(labels):
        raise Invalid("class_labels has duplicates")
    return tuple(int(x) for x in labels) if is_int else labels


def check_standardization(std, sizes, loss):
    """The standardization dict (see the module docstring), checked, with
    float64 arrays; None stays None."""
    if std is None:
        return None
    if not isinstance(std, dict) or sorted(std) != sorted(_STANDARDIZATION_KEYS):
        raise Invalid(f"standardization must be an object with the keys "
                      f"{list(_STANDARDIZATION_KEYS)}, got {short(std)}")

    def as_list(x):
        return x.tolist() if isinstance(x, np.ndarray) else x

    out = {"mean": _finite_list(as_list(std["mean"]), sizes[0], "standardization mean"),
           "scale": _finite_list(as_list(std["scale"]), sizes[0], "standardization scale",
                                 positive=True),
           "target_mean": None, "target_scale": None}
    if (std["target_mean"] is None) != (std["target_scale"] is None):
        raise Invalid("standardization target_mean and target_scale must both be set or "
                      "both be null")
    if std["target_mean"] is not None:
        if loss != "mse":
            raise Invalid(f"a standardized target applies to mse models, not {loss}")
        out["target_mean"] = _finite_list(as_list(std["target_mean"]), sizes[-1],
                                          "standardization target_mean")
        out["target_scale"] = _finite_list(as_list(std["target_scale"]), sizes[-1],
                                           "standardization target_scale", positive=True)
    return out


def from_json(header, model):
    """(target_name, class_labels, standardization) of a checked version-3
    header for ``model`` (the network it describes); ``Invalid`` names a bad
    field."""
    name = header["target_name"]
    if name is not None and not isinstance(name, str):
        raise Invalid(f'"target_name" must be null or a string, got {short(name)}')
    return (name,
            check_class_labels(header["class_labels"], model.layer_sizes[-1],
                               model.loss_name),
            check_standardization(header["standardization"], model.layer_sizes,
                                  model.loss_name))
