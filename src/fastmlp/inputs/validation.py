"""Every input and hyperparameter check of the public API, with its message.

The kernels run without bounds checks, so everything they are given is
checked here first: shapes, dtypes, contiguity, finiteness, label ranges and
sizes that must fit in a BLAS (C int) dimension. Both ``fastmlp.MLP`` and
``fastmlp.reference.MLP`` use these functions, so they reject the same inputs
with the same messages.
"""
import math
from numbers import Integral, Real

import numpy as np

from . import sparse as _sparse
from .shapes import BLAS_INT_MAX, check_X_shape

HIDDEN_ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu")
LOSSES = ("mse", "cross_entropy", "binary_cross_entropy")
INITS = ("xavier", "glorot", "he")
NATURAL_OUTPUT = {
    "mse": "identity",
    "cross_entropy": "softmax",
    "binary_cross_entropy": "sigmoid",
}
ALLOWED_OUTPUT = {
    "mse": HIDDEN_ACTIVATIONS,
    "cross_entropy": ("softmax",),
    "binary_cross_entropy": ("sigmoid",),
}
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# Rows of class probabilities must sum to one within this.
PROB_SUM_ATOL = 1e-6


def _is_int(value):
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, Real) and not isinstance(value, bool)


def check_layer_sizes(layer_sizes):
    if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__"):
        raise TypeError(
            f"layer_sizes must be a sequence of positive ints, got {type(layer_sizes).__name__}"
        )
    if isinstance(layer_sizes, np.ndarray) and layer_sizes.ndim != 1:
        # A 0-d array has __len__ but no length; a 2-D one would be read row
        # by row. Either way it is not a list of sizes.
        raise TypeError(
            f"layer_sizes must be a 1-D sequence of positive ints, got a "
            f"{layer_sizes.ndim}-D array of shape {layer_sizes.shape}"
        )
    sizes = list(layer_sizes)
    if len(sizes) < 2:
        raise ValueError(
            f"layer_sizes needs at least 2 entries (inputs and outputs), got {len(sizes)}"
        )
    out = []
    for i, s in enumerate(sizes):
        if isinstance(s, np.ndarray) and s.ndim == 0:
            s = s.item()
        if not _is_int(s):
            raise TypeError(
                f"layer_sizes[{i}] must be an int, got {type(s).__name__} ({s!r})"
            )
        s = int(s)
        if s < 1:
            raise ValueError(f"layer_sizes[{i}] must be a positive int, got {s}")
        if s > BLAS_INT_MAX:
            raise ValueError(
                f"layer_sizes[{i}] = {s} exceeds the largest BLAS dimension {BLAS_INT_MAX}"
            )
        out.append(s)
    for i in range(len(out) - 1):
        if out[i] * out[i + 1] > BLAS_INT_MAX:
            raise ValueError(
                f"layer_sizes[{i}:{i + 2}] = [{out[i]}, {out[i + 1]}]: layer {i} has "
                f"{out[i] * out[i + 1]} weights, more than a BLAS call can address "
                f"({BLAS_INT_MAX})"
            )
    # Every layer can be within the BLAS limit while the whole network is
    # not: the parameter buffer (and the velocity, of the same length) is one
    # flat array indexed by these offsets, so its length obeys the same
    # limit. Checked here, before anything is allocated, so an absurd network
    # is a ValueError and never an attempt to allocate terabytes.
    n_params = sum(a * b + b for a, b in zip(out[:-1], out[1:]))
    if n_params > BLAS_INT_MAX:
        raise ValueError(
            f"layer_sizes {out} gives {n_params} parameters, more than a model "
            f"can hold ({BLAS_INT_MAX})"
        )
    return tuple(out)


def check_activations(activation, n_hidden):
    """One validated activation name per hidden layer."""
    if isinstance(activation, str):
        names = [activation] * n_hidden
    elif isinstance(activation, (list, tuple)):
        names = list(activation)
        if len(names) != n_hidden:
            raise ValueError(
                f"activation list has {len(names)} entries but the network has "
                f"{n_hidden} hidden layers"
            )
    else:
        raise TypeError(
            f"activation must be a string or a list of strings, got {type(activation).__name__}"
        )
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"activation names must be strings, got {type(name).__name__}")
        if name not in HIDDEN_ACTIVATIONS:
            raise ValueError(
                f"unknown activation {name!r}; expected one of {', '.join(HIDDEN_ACTIVATIONS)}"
            )
    return names


def check_loss_output(loss, output):
    if not isinstance(loss, str):
        raise TypeError(f"loss must be a string, got {type(loss).__name__}")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {', '.join(LOSSES)}")
    if output is None:
        return loss, NATURAL_OUTPUT[loss]
    if not isinstance(output, str):
        raise TypeError(f"output must be a string or None, got {type(output).__name__}")
    known = HIDDEN_ACTIVATIONS + ("softmax",)
    if output not in known:
        raise ValueError(f"unknown output activation {output!r}; expected one of {', '.join(known)}")
    if output not in ALLOWED_OUTPUT[loss]:
        raise ValueError(
            f"output activation {output!r} is incompatible with loss {loss!r}; "
            f"allowed: {', '.join(ALLOWED_OUTPUT[loss])}"
        )
    return loss, output


def check_init(init, layer_activations):
    """One init name per layer (hidden layers and the output layer)."""
    if init is None:
        return ["he" if a in ("relu", "leaky_relu") else "xavier" for a in layer_activations]
    if not isinstance(init, str):
        raise TypeError(f"init must be a string or None, got {type(init).__name__}")
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; expected one of {', '.join(INITS)}")
    return [init] * len(layer_activations)


def check_dtype(dtype):
    if dtype is None:
        # np.dtype(None) is float64: reject it rather than silently pick a
        # precision the caller did not ask for (the default is float32).
        raise TypeError("dtype must be float32 or float64, got None")
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    if dt.kind == "f" and not dt.isnative:
        # ">f8" names the float64 precision in another byte order; the model
        # computes in native order (the kernels cannot read any other).
        dt = dt.newbyteorder("=")
    if dt not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


MATMUL_DTYPES = ("bfloat16",)


def check_matmul_dtype(matmul_dtype, dtype):
    """None, or "bfloat16" (the string, or anything whose str() is that:
    numpy has no bfloat16 dtype) with a float32 model."""
    if matmul_dtype is None:
        return None
    name = str(matmul_dtype)
    if name not in MATMUL_DTYPES:
        raise ValueError(f'matmul_dtype must be None or "bfloat16", got {matmul_dtype!r}')
    if dtype != np.float32:
        raise ValueError(f'matmul_dtype="bfloat16" needs dtype float32, got {dtype}')
    return name


def _to_float(value):
    """float(value) for a real number; a value too large for a float is inf."""
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def check_l2(l2):
    if not _is_real(l2):
        raise TypeError(f"l2 must be a real number, got {type(l2).__name__}")
    l2 = _to_float(l2)
    if not np.isfinite(l2) or l2 < 0:
        raise ValueError(f"l2 must be a finite number >= 0, got {l2}")
    return l2


def check_seed(seed):
    if _is_int(seed) and seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")
    if seed is None or _is_int(seed):
        return np.random.default_rng(seed)
    if isinstance(seed, np.random.Generator):
        return seed
    raise TypeError(f"seed must be None, an int or a numpy Generator, got {type(seed).__name__}")


def _as_numeric_array(a, name):
    if isinstance(a, np.ndarray):
        arr = a
    else:
        try:
            arr = np.asarray(a)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name} could not be read as a numeric array: {exc}") from exc
    kind = arr.dtype.kind
    if kind in "biuf":
        return arr
    if kind == "c":
        raise TypeError(f"{name} has complex dtype {arr.dtype}; only real numbers are supported")
    raise TypeError(f"{name} has non-numeric dtype {arr.dtype}")


def _aligned(arr):
    """arr, or an aligned copy of it if its data is not aligned for its dtype.

    Slicing a byte buffer (np.frombuffer with an offset) gives arrays whose
    float elements straddle their natural alignment; the kernels take raw
    C pointers, and reading a misaligned double through one is undefined
    behaviour (vector loads that assume alignment fault on it).
    """
    return arr if arr.flags.aligned else arr.copy(order="C")


# Rows of X checked for finiteness at a time: the check's temporary mask is
# then at most this many elements (1 MiB), not one byte per element of X (a
# 1 GB float32 X would need a 0.25 GB mask).
FINITE_CHECK_ELEMENTS = 2**20


def _first_nonfinite(a):
    """(row, column) of the first NaN or inf of a 2-D array, or None; the
    rows are checked a block at a time."""
    step = max(1, FINITE_CHECK_ELEMENTS // max(1, a.shape[1]))
    for start in range(0, a.shape[0], step):
        block = a[start:start + step]
        if not np.isfinite(block).all():
            row, col = np.argwhere(~np.isfinite(block))[0]
            return start + int(row), int(col)
    return None


def check_X(X, n_features, dtype):
    """A C-contiguous, aligned, finite (n, n_features) array of the model
    dtype; scipy.sparse X becomes a fastmlp.inputs.sparse.CsrRows instead.

    Always a new or converted array when the input is not already exactly
    that, so nothing downstream ever writes into the caller's memory.
    """
    # The common case of prediction, checked in a microsecond or two:
    # already exactly right and small enough for one finiteness pass.
    if (type(X) is np.ndarray and X.dtype == dtype and X.ndim == 2
            and X.shape[1] == n_features and 0 < X.size <= FINITE_CHECK_ELEMENTS
            and X.flags.c_contiguous and X.flags.aligned and np.isfinite(X).all()):
        return X
    if not isinstance(X, np.ndarray):
        if _sparse.is_sparse(X):
            return _sparse.check_csr(X, n_features, dtype)
    arr = _as_numeric_array(X, "X")
    if arr.ndim != 2:
        raise ValueError(f"X must be a 2-D array (n_samples, n_features), got {arr.ndim}-D shape {arr.shape}")
    check_X_shape(arr.shape, n_features)
    # Overflow in the cast is reported below as a ValueError; keep numpy's
    # RuntimeWarning out of it (it becomes the error under -W error).
    with np.errstate(over="ignore", invalid="ignore"):
        out = _aligned(np.ascontiguousarray(arr, dtype=dtype))
    bad = _first_nonfinite(out)
    if bad is not None:
        # Report the offending value from the caller's data, not the conversion
        # (a float64 1e300 becomes inf in float32).
        src = arr[tuple(bad)]
        if np.isfinite(src):
            raise ValueError(
                f"X[{bad[0]}, {bad[1]}] = {src!r} overflows {np.dtype(dtype).name}"
            )
        raise ValueError(f"X contains NaN or infinity (first at row {bad[0]}, column {bad[1]})")
    return out


# Class indices travel in the model dtype; float32 holds every integer up
# to 2**24 exactly.
MAX_INDEX_CLASSES = 2**24


class ClassIndices(np.ndarray):
    """The (n, 1) column of cross_entropy class indices, in the model dtype,
    that check_y(..., as_indices=True) makes of integer labels: its type
    carries what it holds from validation to the kernels, so no caller
    guesses it from the shape."""


def holds_class_indices(Y):
    """Whether a validated target is a column of class indices (ClassIndices)
    rather than (n, n_outputs) rows."""
    return isinstance(Y, ClassIndices)


def check_y(y, n_rows, loss, n_outputs, dtype, as_indices=False):
    """Encode y once as a C-contiguous (n, n_outputs) target matrix.

    cross_entropy integer labels become one-hot rows, so every loss is a
    comparison against a dense target of the output's shape; with
    ``as_indices`` (the compiled training epochs) they become an (n, 1)
    column of class indices in the model dtype instead, n values rather
    than n * n_outputs (see holds_class_indices).
    """
    arr = _as_numeric_array(y, "y")
    if arr.ndim == 0 or arr.ndim > 2:
        raise ValueError(f"y must be a 1-D or 2-D array, got shape {arr.shape}")
    if arr.shape[0] != n_rows:
        raise ValueError(f"y has {arr.shape[0]} rows but X has {n_rows}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError("y contains NaN or infinity")

    if loss == "cross_entropy":
        if arr.ndim == 1:
            if arr.dtype.kind == "f":
                if not np.all(arr == np.floor(arr)):
                    raise ValueError("cross_entropy labels must be integers; y has non-integral values")
            if arr.dtype.kind == "b":
                raise ValueError("cross_entropy labels must be integers, got a boolean y")
            lo, hi = arr.min(), arr.max()
            if lo < 0 or hi >= n_outputs:
                raise ValueError(
                    f"cross_entropy labels must be in [0, {n_outputs}); y has values "
                    f"from {lo} to {hi}"
                )
            if as_indices and 2 <= n_outputs <= MAX_INDEX_CLASSES:
                return np.ascontiguousarray(arr.reshape(n_rows, 1),
                                            dtype=dtype).view(ClassIndices)
            target = np.zeros((n_rows, n_outputs), dtype=dtype)
            target[np.arange(n_rows), arr.astype(np.intp)] = 1
            return target
        if arr.shape[1] != n_outputs:
            raise ValueError(
                f"cross_entropy probability targets must have {n_outputs} columns, got {arr.shape[1]}"
            )
        # A long double beyond the float64 range becomes inf here, and fails
        # the sum check below; no overflow warning on the way.
        with np.errstate(over="ignore", invalid="ignore"):
            probs = arr.astype(np.float64)
        if (probs < 0).any():
            raise ValueError("cross_entropy probability targets must be non-negative")
        sums = probs.sum(axis=1)
        if not np.all(np.abs(sums - 1.0) <= PROB_SUM_ATOL):
            i = int(np.argmax(np.abs(sums - 1.0)))
            raise ValueError(
                f"cross_entropy probability targets must sum to 1 per row; row {i} sums to {sums[i]!r}"
            )
        return _aligned(np.ascontiguousarray(arr, dtype=dtype))

    if arr.ndim == 1:
        if n_outputs != 1:
            raise ValueError(
                f"y is 1-D but the network has {n_outputs} outputs; pass shape ({n_rows}, {n_outputs})"
            )
        arr = arr.reshape(n_rows, 1)
    elif arr.shape[1] != n_outputs:
        raise ValueError(f"y has {arr.shape[1]} columns but the network has {n_outputs} outputs")

    if loss == "binary_cross_entropy":
        if not np.all((arr == 0) | (arr == 1)):
            raise ValueError("binary_cross_entropy targets must be 0 or 1")
    with np.errstate(over="ignore", invalid="ignore"):
        target = _aligned(np.ascontiguousarray(arr, dtype=dtype))
    if not np.isfinite(target).all():
        raise ValueError(f"y has values that overflow {np.dtype(dtype).name}")
    return target


def check_fit_params(epochs, batch_size, lr, momentum, shuffle, n_rows):
    """Validated (epochs, rows per batch, lr (a float, or a callable), momentum,
    shuffle)."""
    if not _is_int(epochs):
        raise TypeError(f"epochs must be an int, got {type(epochs).__name__}")
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if batch_size is None:
        rows = n_rows
    else:
        if not _is_int(batch_size):
            raise TypeError(f"batch_size must be an int or None, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        rows = min(int(batch_size), n_rows)
    # A schedule (a callable of the epoch index) is checked epoch by epoch.
    # Checked as a Python float: np.isfinite rejects Real types numpy does not
    # know (fractions.Fraction) with its own TypeError.
    if not callable(lr):
        lr = check_lr_value(lr)
    if not _is_real(momentum):
        raise TypeError(f"momentum must be a real number, got {type(momentum).__name__}")
    momentum = _to_float(momentum)
    if not (0 <= momentum < 1):
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be a bool, got {type(shuffle).__name__}")
    return int(epochs), rows, lr, float(momentum), bool(shuffle)



def check_lr_value(lr, where=""):
    """One learning rate: a finite real number > 0 (``where`` names the
    epoch whose schedule returned it)."""
    if not _is_real(lr):
        raise TypeError(f"lr{where} must be a real number, got {type(lr).__name__}")
    lr = _to_float(lr)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr{where} must be a finite number > 0, got {lr}")
    return lr


def check_sample_weight(sample_weight, n_rows, dtype):
    """(n,) finite, non-negative weights, not all zero, in the model dtype
    (None stays None)."""
    if sample_weight is None:
        return None
    arr = _as_numeric_array(sample_weight, "sample_weight")
    if arr.shape != (n_rows,):
        raise ValueError(f"sample_weight must have shape ({n_rows},), one weight per row "
                         f"of X, got {arr.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        weights = _aligned(np.ascontiguousarray(arr, dtype=dtype))
        bad = ~np.isfinite(arr) if arr.dtype.kind == "f" else np.zeros(n_rows, dtype=bool)
    if bad.any():
        raise ValueError(f"sample_weight has NaN or inf (first at row {int(np.argmax(bad))})")
    if not np.isfinite(weights).all():
        raise ValueError(f"sample_weight has values that overflow {np.dtype(dtype).name}")
    if (weights < 0).any():
        raise ValueError(f"sample_weight must be >= 0; row {int(np.argmax(weights < 0))} is "
                         f"{weights[np.argmax(weights < 0)]!r}")
    if not weights.any():
        raise ValueError("sample_weight is zero for every row: nothing to train on")
    return weights


def row_classes(y, Y, loss, n_outputs):
    """The class index of each row for class weights: integer labels of
    cross_entropy (1-D y), or the 0/1 target of binary_cross_entropy with one
    output; anything else has no class per row (ValueError)."""
    if loss == "cross_entropy" and np.ndim(y) == 1:
        if holds_class_indices(Y):
            return np.asarray(Y)[:, 0].astype(np.intp)
        return np.argmax(Y, axis=1)
    if loss == "binary_cross_entropy" and n_outputs == 1:
        return Y[:, 0].astype(np.intp)
    if loss == "cross_entropy":
        raise ValueError("class_weight needs integer class labels (a 1-D y), not rows of "
                         "class probabilities")
    if loss == "binary_cross_entropy":
        raise ValueError("class_weight needs one output with binary_cross_entropy; with "
                         f"{n_outputs} outputs (multi-label) use sample_weight")
    raise ValueError("class_weight applies to cross_entropy and binary_cross_entropy, "
                     "not mse")


def class_row_weights(class_weight, classes, n_classes):
    """Per-row weights (float64) from a {class: weight} dict or "balanced"
    (n / (K * count_k), K the number of classes present in y, as
    scikit-learn's compute_class_weight); classes missing from a dict weigh
    1."""
    counts = np.bincount(classes, minlength=n_classes)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be a dict or 'balanced', got {class_weight!r}")
        present = counts > 0
        per_class = np.ones(n_classes)
        per_class[present] = classes.size / (np.count_nonzero(present) * counts[present])
        return per_class[classes]
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict or 'balanced', got "
                        f"{type(class_weight).__name__}")
    per_class = np.ones(n_classes)
    for key, value in class_weight.items():
        if not _is_int(key) or not 0 <= key < n_classes:
            raise ValueError(f"class_weight key {key!r} is not a class index in "
                             f"[0, {n_classes})")
        if not _is_real(value) or not math.isfinite(_to_float(value)) or value < 0:
            raise ValueError(f"class_weight[{key}] must be a finite number >= 0, got {value!r}")
        per_class[int(key)] = _to_float(value)
    return per_class[classes]


def check_early_stopping(patience, min_delta, has_validation):
    """Validated (patience or None, min_delta)."""
    if patience is not None:
        if not _is_int(patience):
            raise TypeError(f"patience must be an int or None, got {type(patience).__name__}")
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        if not has_validation:
            raise ValueError("patience needs validation_data: early stopping watches the "
                             "validation objective")
    if not _is_real(min_delta):
        raise TypeError(f"min_delta must be a real number, got {type(min_delta).__name__}")
    min_delta = _to_float(min_delta)
    if not (math.isfinite(min_delta) and min_delta >= 0):
        raise ValueError(f"min_delta must be a finite number >= 0, got {min_delta}")
    return (None if patience is None else int(patience)), min_delta


OPTIMIZERS = ("momentum", "nesterov", "adam")


def check_optimizer(optimizer, beta_2, epsilon):
    """Validated (optimizer name, beta_2 in [0, 1), epsilon > 0)."""
    if not isinstance(optimizer, str):
        raise TypeError(f"optimizer must be a str, got {type(optimizer).__name__}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; expected one of "
                         f"{', '.join(OPTIMIZERS)}")
    if not _is_real(beta_2):
        raise TypeError(f"beta_2 must be a real number, got {type(beta_2).__name__}")
    beta_2 = _to_float(beta_2)
    if not 0 <= beta_2 < 1:
        raise ValueError(f"beta_2 must be in [0, 1), got {beta_2}")
    if not _is_real(epsilon):
        raise TypeError(f"epsilon must be a real number, got {type(epsilon).__name__}")
    epsilon = _to_float(epsilon)
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a finite number > 0, got {epsilon}")
    return optimizer, beta_2, epsilon
