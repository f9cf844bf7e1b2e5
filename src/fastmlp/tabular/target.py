"""The target of a table as the network learns it, and back.

- ``ClassTarget``: class labels (ints or strs). For ``cross_entropy`` the
  network's output j stands for ``labels[j]``; for ``binary_cross_entropy``
  with one output, ``labels`` holds two values and the output is the
  probability of the second (sorted: False/True, 0/1, "no"/"yes").
- ``NumberTarget``: numbers (mse, or several 0/1 outputs of
  binary_cross_entropy); with ``mean``/``scale`` (standardized, mse only)
  the network learns ``(y - mean) / scale`` and its outputs are mapped back
  with ``out * scale + mean``.
"""
from dataclasses import dataclass

import numpy as np


def label_of(value):
    """A label as a model records it: a Python int or str."""
    if isinstance(value, str):
        return str(value)       # not numpy's str_
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    number = float(value)
    if number != int(number):
        raise ValueError(f"a class label must be an integer or text, got {value!r}")
    return int(number)


def labels_array(labels):
    """The labels as an array of their own kind: int64, or object of str."""
    if all(isinstance(x, str) for x in labels):
        return np.array(labels, dtype=object)
    return np.array(labels, dtype=np.int64)


@dataclass
class ClassTarget:
    name: str | None
    labels: tuple
    binary: bool = False       # binary_cross_entropy with one output

    @property
    def n_outputs(self):
        return 1 if self.binary else len(self.labels)

    def encode(self, y):
        """The codes of ``y``'s labels: int64 indices (cross_entropy) or
        0.0/1.0 (binary); ValueError naming the first unknown label."""
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"the target must be one column of class labels, got shape "
                             f"{y.shape}")
        text = labels_array(self.labels).dtype == object
        index = {label: j for j, label in enumerate(self.labels)}
        codes = np.empty(len(y), dtype=np.int64)
        for i, value in enumerate(y):
            key = str(value) if text else _int_or_none(value)
            j = index.get(key, -1)
            if j < 0:
                raise ValueError(f"row {i}: {value!r} is not one of the class labels "
                                 f"{list(self.labels)}")
            codes[i] = j
        return codes.astype(np.float64) if self.binary else codes

    def encode_keys(self, weights):
        """A {label: weight} dict as fit takes it: {class code: weight}."""
        codes = self.encode(np.array(list(weights), dtype=object))
        return {int(c): w for c, w in zip(codes, weights.values())}

    def decode(self, codes):
        """Labels of the codes the network predicts (int indices or 0/1)."""
        return labels_array(self.labels)[np.asarray(codes, dtype=np.intp)]

    def to_json(self):
        return {"kind": "classes", "name": self.name, "labels": list(self.labels),
                "binary": self.binary}


def _int_or_none(value):
    try:
        return label_of(value)
    except (TypeError, ValueError):
        return None


@dataclass
class NumberTarget:
    name: str | None
    mean: np.ndarray | None = None     # float64 (n_outputs,), with scale
    scale: np.ndarray | None = None

    def encode(self, y):
        y = np.asarray(y, dtype=np.float64)
        if self.mean is None:
            return y
        return ((y.reshape(len(y), -1) - self.mean) / self.scale).reshape(y.shape)

    def decode(self, out):
        """Outputs (n,) or (n, k) in the target's own units, in their dtype."""
        if self.mean is None:
            return out
        back = out.reshape(len(out), -1).astype(np.float64) * self.scale + self.mean
        return back.reshape(out.shape).astype(out.dtype)

    def to_json(self):
        return {"kind": "number", "name": self.name,
                "mean": None if self.mean is None else self.mean.tolist(),
                "scale": None if self.scale is None else self.scale.tolist()}
