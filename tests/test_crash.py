"""Malformed input never crashes the interpreter.

The kernels run with bounds checks off, so the Python boundary
(``fastmlp.inputs.validation``) must stop every malformed input before it reaches
them. A validation hole shows up as a segfault or an abort, which would take
the whole pytest run down with it and hide which input caused it, so every
case here runs in a child interpreter: one child per group of cases, which
reports each case as it starts and ends. A child that dies (any nonzero exit:
a signal on POSIX, an access violation on Windows) is charged to the case it
had started, and the rest of the group continues in a new child.

Each case is one of:

- ``reject``: malformed input; the call must raise ValueError or TypeError
  (not a numpy RuntimeWarning, not MemoryError, not anything else), with a
  message naming the argument, even with warnings turned into errors; a
  rejected method call must leave the model exactly as it was (parameters,
  velocity, history, generator state).
- ``work``: unusual but valid input (big-endian arrays, unaligned buffers,
  numpy scalars for every argument, a batch_size of 10**12); the call must
  succeed and give exactly the result of the plain spelling.
- ``survive``: valid input at the edge of the floating-point range (lr=1e30,
  X near the float32 maximum); any of success, ValueError, TypeError or
  fastmlp.DivergenceError, but no crash.

The children run with their address space capped (POSIX: 4 GiB; not under
AddressSanitizer, which needs terabytes of address space for its shadow), so
a size check that fails to stop an absurd network shows up as a MemoryError
(a failure here) and never as an attempt to take the machine's memory.

Every case runs against both ``fastmlp.MLP`` and ``fastmlp.reference.MLP``.
``python tests/test_crash.py`` runs all the groups without pytest and prints
the counts.
"""
import json
import os
import re
import subprocess
import sys
import warnings
from collections import namedtuple

import numpy as np
import pytest

IMPLS = ("fastmlp", "reference")
N, D, K = 10, 4, 3  # rows, features, outputs of the small test models
CHILD_TIMEOUT = 120  # seconds for one child; a hang is a failure too
ADDRESS_SPACE_CAP = 4 << 30

Case = namedtuple("Case", "name expect match fn")

# ---------------------------------------------------------------------------
# Models and data
# ---------------------------------------------------------------------------

# Four small models covering every loss, both dtypes, 1 and several outputs.
MODELS = {
    "mse": dict(layer_sizes=[D, 5, K], activation="tanh", loss="mse", dtype="float64"),
    "mse1": dict(layer_sizes=[D, 5, 1], activation="relu", loss="mse", dtype="float32"),
    "ce": dict(layer_sizes=[D, 6, K], activation=["leaky_relu"], loss="cross_entropy",
               dtype="float32"),
    "bce": dict(layer_sizes=[D, 5, 4, K], activation=["sigmoid", "relu"],
                loss="binary_cross_entropy", dtype="float64"),
}


def impl_class(impl):
    import fastmlp
    import fastmlp.reference

    return {"fastmlp": fastmlp.MLP, "reference": fastmlp.reference.MLP}[impl]


def good_X(n=N, d=D):
    return np.random.default_rng(0).standard_normal((n, d))


def good_y(kind, n=N):
    rng = np.random.default_rng(1)
    k = MODELS[kind]["layer_sizes"][-1]
    if kind == "ce":
        y = rng.integers(0, k, n)
        y[:k] = np.arange(k)
        return y
    if kind == "bce":
        return rng.integers(0, 2, (n, k)).astype(np.float64)
    y = rng.standard_normal((n, k))
    return y[:, 0] if k == 1 else y


def make_model(MLP, kind, warm=True):
    """A model of ``kind`` that has trained one epoch, so that its velocity
    and history are not trivially zero/empty when checked for changes."""
    net = MLP(seed=0, **MODELS[kind])
    if warm:
        net.fit(good_X(), good_y(kind), epochs=1, batch_size=4, lr=0.01)
    return net


def snapshot(net):
    return (net.params.copy(), net.velocity.copy(), list(net.history),
            json.dumps(net.rng.bit_generator.state, default=str))


def assert_unchanged(net, before):
    after = snapshot(net)
    assert np.array_equal(before[0], after[0]), "a rejected call changed the parameters"
    assert np.array_equal(before[1], after[1]), "a rejected call changed the velocity"
    assert before[2] == after[2], "a rejected call changed the history"
    assert before[3] == after[3], "a rejected call advanced the generator"


FIT_KW = dict(epochs=2, batch_size=4, lr=0.01, momentum=0.9, shuffle=True)


def call_method(net, method, X, y, fit_kw=None):
    if method == "fit":
        return net.fit(X, y, **(FIT_KW if fit_kw is None else fit_kw))
    if method in ("loss", "gradients", "layer_stats"):
        return getattr(net, method)(X, y)
    return getattr(net, method)(X)


def method_case(name, expect, match, kind, method, make_X=good_X, make_y=None, fit_kw=None):
    """One call of ``method`` on a warm model; a rejected call must change nothing."""
    def fn(MLP):
        net = make_model(MLP, kind)
        before = snapshot(net)
        try:
            X = make_X()
            y = make_y() if make_y is not None else good_y(kind)
        except Exception as exc:  # a bug of the case, not of fastmlp
            raise RuntimeError(f"building the case's input failed: {exc!r}") from exc
        try:
            call_method(net, method, X, y, fit_kw)
        except (ValueError, TypeError):
            assert_unchanged(net, before)
            raise
    return Case(f"{name}[{kind}.{method}]", expect, match, fn)


def results(net, X, y, fit_kw=None):
    """Everything the public API computes on (X, y): outputs, loss,
    gradients, then a short fit's parameters, velocity and history."""
    out = [net.forward(X), net.predict(X), np.float64(net.loss(X, y))]
    dW, db = net.gradients(X, y)
    out += dW + db
    net.fit(X, y, **(FIT_KW if fit_kw is None else fit_kw))
    out += [net.params.copy(), net.velocity.copy(), np.array(net.history)]
    return out


def assert_same(got, want, what):
    assert len(got) == len(want), what
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and np.array_equal(g, w), (
            f"{what}: result {i} differs from the plain spelling's")


def equal_case(name, kind, make_X=good_X, make_y=None, fit_kw=None, model_kw=None,
               plain_X=good_X):
    """A valid unusual spelling gives exactly the plain spelling's results."""
    def fn(MLP):
        args = dict(MODELS[kind], **(model_kw or {}))
        want = results(MLP(seed=0, **MODELS[kind]), plain_X(), good_y(kind))
        y = make_y() if make_y is not None else good_y(kind)
        got = results(MLP(seed=0, **args), make_X(), y, fit_kw)
        assert_same(got, want, name)
    return Case(f"{name}[{kind}]", "work", None, fn)


def constructor_case(name, expect, match, **kwargs):
    def fn(MLP):
        args = dict(layer_sizes=[D, 5, 6, K])
        args.update(kwargs)
        MLP(**args)
    return Case(f"ctor.{name}", expect, match, fn)


# ---------------------------------------------------------------------------
# Array builders
# ---------------------------------------------------------------------------

def _with(value, pos=(3, 2), dtype=np.float64):
    X = good_X().astype(dtype)
    X[pos] = value
    return X


def _unaligned(a):
    """A copy of ``a`` whose data starts one byte past an aligned address."""
    a = np.ascontiguousarray(a)
    buf = bytearray(a.nbytes + 1)
    u = np.frombuffer(buf, dtype=a.dtype, offset=1, count=a.size).reshape(a.shape)
    u[...] = a
    assert not u.flags.aligned or a.dtype.alignment == 1
    return u


def _big_endian(a, dtype=None):
    a = np.asarray(a, dtype=dtype)
    return a.astype(a.dtype.newbyteorder(">"))


def _zero_stride_rows(n, d=D):
    """n rows of one zero row, without memory: (n, d) with strides (0, 0)."""
    return np.lib.stride_tricks.as_strided(np.zeros(1), shape=(n, d), strides=(0, 0))


def _probs(row=None, k=K):
    P = np.zeros((N, k))
    P[np.arange(N), good_y("ce") % k] = 1.0
    if row is not None:
        P[2] = row
    return P


def _set_y(kind, value, pos=4, dtype=np.float64):
    y = np.array(good_y(kind), dtype=dtype)
    y[pos] = value
    return y


# ---------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------

METHODS = ("fit", "forward", "predict", "loss", "gradients", "layer_stats")
Y_METHODS = ("fit", "loss", "gradients", "layer_stats")
RX = r"\bX\b"
RY = r"\by\b|labels|targets"

BAD_X = [
    # (name, builder, match, model kinds it applies to)
    ("ndim1", lambda: good_X()[0], RX, None),
    ("ndim3", lambda: good_X()[None], RX, None),
    ("ndim0_numpy", lambda: np.float64(1.0), RX, None),
    ("ndim0_python", lambda: 1.0, RX, None),
    ("zero_rows", lambda: np.empty((0, D)), RX, None),
    ("zero_cols", lambda: np.empty((N, 0)), RX, None),
    ("zero_both", lambda: np.empty((0, 0)), RX, None),
    ("empty_list", lambda: [], RX, None),
    ("empty_nested_list", lambda: [[]], RX, None),
    ("too_few_features", lambda: good_X(d=D - 1), RX, None),
    ("too_many_features", lambda: good_X(d=D + 1), RX, None),
    ("transposed", lambda: good_X().T, RX, None),
    ("nan", lambda: _with(np.nan), RX, None),
    ("nan_first", lambda: _with(np.nan, (0, 0)), RX, None),
    ("nan_last", lambda: _with(np.nan, (N - 1, D - 1)), RX, None),
    ("posinf", lambda: _with(np.inf), RX, None),
    ("neginf", lambda: _with(-np.inf), RX, None),
    ("nan_float32", lambda: _with(np.nan, dtype=np.float32), RX, None),
    ("inf_float16", lambda: _with(np.inf, dtype=np.float16), RX, None),
    ("nan_longdouble", lambda: _with(np.nan, dtype=np.longdouble), RX, None),
    ("nan_fortran", lambda: np.asfortranarray(_with(np.nan)), RX, None),
    ("nan_strided", lambda: np.repeat(_with(np.nan), 2, axis=1)[:, ::2], RX, None),
    ("nan_big_endian", lambda: _big_endian(_with(np.nan)), RX, None),
    ("nan_list", lambda: _with(np.nan).tolist(), RX, None),
    ("overflow_float32", lambda: _with(1e300), RX, ("ce", "mse1")),
    ("overflow_longdouble", lambda: _with(np.longdouble("1e4000"), dtype=np.longdouble), RX, None),
    ("rows_beyond_blas", lambda: _zero_stride_rows(2**31), RX, None),
    ("rows_far_beyond_blas", lambda: _zero_stride_rows(2**40), RX, None),
    ("object_floats", lambda: good_X().astype(object), RX, None),
    ("object_none", lambda: [[None] * D] * N, RX, None),
    ("python_bigint", lambda: [[10**400] * D] * N, RX, None),
    ("python_int_over_uint64", lambda: [[2**64] * D] * N, RX, None),
    ("complex", lambda: good_X().astype(np.complex128), RX, None),
    ("complex_zero_imag", lambda: good_X() + 0j, RX, None),
    ("complex64", lambda: good_X().astype(np.complex64), RX, None),
    ("strings", lambda: good_X().astype(str), RX, None),
    ("bytes", lambda: good_X().astype("S8"), RX, None),
    ("list_of_strings", lambda: [["1.0"] * D] * N, RX, None),
    ("ragged_list", lambda: [[0.0] * D] * (N - 1) + [[0.0] * (D - 1)], RX, None),
    ("none", lambda: None, RX, None),
    ("dict", lambda: {"a": 1}, RX, None),
    ("set", lambda: {1.0, 2.0}, RX, None),
    ("generator", lambda: (r for r in good_X()), RX, None),
    ("string", lambda: "1,2,3,4", RX, None),
    ("datetime64", lambda: np.zeros((N, D), dtype="M8[s]"), RX, None),
    ("timedelta64", lambda: np.zeros((N, D), dtype="m8[s]"), RX, None),
    ("structured", lambda: np.zeros((N, D), dtype=[("a", "f8")]), RX, None),
    ("void", lambda: np.zeros((N, D), dtype="V8"), RX, None),
]

BAD_Y_COMMON = [
    ("short", lambda kind: good_y(kind)[:-1], RY),
    ("long", lambda kind: good_y(kind, n=N + 1), RY),
    ("empty", lambda kind: good_y(kind)[:0], RY),
    ("ndim3", lambda kind: np.asarray(good_y(kind)).reshape(N, -1)[..., None], RY),
    ("ndim0", lambda kind: np.float64(1.0), RY),
    ("none", lambda kind: None, RY),
    ("object", lambda kind: np.asarray(good_y(kind)).astype(object), RY),
    ("complex", lambda kind: np.asarray(good_y(kind)) + 1j, RY),
    ("strings", lambda kind: np.asarray(good_y(kind)).astype(str), RY),
    ("ragged", lambda kind: [[0.0, 1.0]] * (N - 1) + [[0.0]], RY),
    ("nan", lambda kind: _set_y(kind, np.nan), RY),
    ("inf", lambda kind: _set_y(kind, np.inf), RY),
    ("neginf_float32", lambda kind: _set_y(kind, -np.inf, dtype=np.float32), RY),
    ("datetime64", lambda kind: np.zeros(np.shape(good_y(kind)), dtype="M8[s]"), RY),
]

BAD_Y = {
    "mse": [
        ("one_d_multi_output", lambda: good_y("mse")[:, 0], RY),
        ("wrong_cols", lambda: good_y("mse")[:, :2], RY),
        ("one_col", lambda: good_y("mse")[:, :1], RY),
        ("too_many_cols", lambda: np.hstack([good_y("mse")] * 2), RY),
    ],
    "mse1": [
        ("two_cols", lambda: np.stack([good_y("mse1")] * 2, axis=1), RY),
        ("overflow_float32", lambda: _set_y("mse1", 1e300), RY),
        ("overflow_longdouble", lambda: _set_y("mse1", np.longdouble("1e4000"),
                                                dtype=np.longdouble), RY),
    ],
    "ce": [
        ("label_eq_k", lambda: _set_y("ce", K, dtype=np.int64), RY),
        ("label_negative", lambda: _set_y("ce", -1, dtype=np.int64), RY),
        ("label_int8_negative", lambda: _set_y("ce", -128, dtype=np.int8), RY),
        ("label_huge", lambda: _set_y("ce", 2**62, dtype=np.int64), RY),
        ("label_int64_max", lambda: _set_y("ce", 2**63 - 1, dtype=np.int64), RY),
        ("label_uint64_max", lambda: _set_y("ce", 2**64 - 1, dtype=np.uint64), RY),
        ("label_uint8_big", lambda: _set_y("ce", 200, dtype=np.uint8), RY),
        ("label_fraction", lambda: _set_y("ce", 1.5), RY),
        ("label_tiny_fraction", lambda: _set_y("ce", 1e-9), RY),
        ("label_float_eq_k", lambda: _set_y("ce", float(K)), RY),
        ("label_float_huge", lambda: _set_y("ce", 1e300), RY),
        ("label_float16_fraction", lambda: _set_y("ce", 0.5, dtype=np.float16), RY),
        ("label_longdouble_huge", lambda: _set_y("ce", np.longdouble("1e4000"),
                                                  dtype=np.longdouble), RY),
        ("label_bool", lambda: good_y("ce") > 0, RY),
        ("label_column", lambda: good_y("ce")[:, None], RY),
        ("probs_wrong_cols", lambda: _probs()[:, :2], RY),
        ("probs_too_many_cols", lambda: _probs(k=K + 1), RY),
        ("probs_negative", lambda: _probs([1.5, -0.5, 0.0]), RY),
        ("probs_sum_low", lambda: _probs([0.5, 0.4, 0.0]), RY),
        ("probs_sum_high", lambda: _probs([0.5, 0.5, 0.1]), RY),
        ("probs_zero_row", lambda: _probs([0.0, 0.0, 0.0]), RY),
        ("probs_nan", lambda: _probs([np.nan, 1.0, 0.0]), RY),
        ("probs_longdouble_huge", lambda: _ld_probs(), RY),
        ("probs_int_zero_row", lambda: np.zeros((N, K), dtype=np.int64), RY),
    ],
    "bce": [
        ("two", lambda: _set_y("bce", 2), RY),
        ("half", lambda: _set_y("bce", 0.5), RY),
        ("negative", lambda: _set_y("bce", -1), RY),
        ("one_d_multi_output", lambda: good_y("bce")[:, 0], RY),
        ("wrong_cols", lambda: good_y("bce")[:, :2], RY),
        ("int_labels_instead", lambda: good_y("ce"), RY),
    ],
}


def _ld_probs():
    P = _probs().astype(np.longdouble)
    P[2] = [np.longdouble("1e4000"), 0, 0]
    return P


R_EPOCHS, R_BATCH, R_LR, R_MOM, R_SHUF = (r"\bepochs\b", r"\bbatch_size\b", r"\blr\b",
                                          r"\bmomentum\b", r"\bshuffle\b")
BAD_FIT = [
    # (name, overrides, match)
    ("epochs_str", dict(epochs="1"), R_EPOCHS),
    ("epochs_none", dict(epochs=None), R_EPOCHS),
    ("epochs_float", dict(epochs=1.0), R_EPOCHS),
    ("epochs_np_float", dict(epochs=np.float64(2)), R_EPOCHS),
    ("epochs_negative", dict(epochs=-1), R_EPOCHS),
    ("epochs_np_negative", dict(epochs=np.int64(-3)), R_EPOCHS),
    ("epochs_list", dict(epochs=[1]), R_EPOCHS),
    ("epochs_bool", dict(epochs=True), R_EPOCHS),
    ("epochs_complex", dict(epochs=1 + 0j), R_EPOCHS),
    ("epochs_array", dict(epochs=np.array([2])), R_EPOCHS),
    ("batch_zero", dict(batch_size=0), R_BATCH),
    ("batch_negative", dict(batch_size=-1), R_BATCH),
    ("batch_np_zero", dict(batch_size=np.int64(0)), R_BATCH),
    ("batch_very_negative", dict(batch_size=-10**20), R_BATCH),
    ("batch_str", dict(batch_size="32"), R_BATCH),
    ("batch_float", dict(batch_size=2.5), R_BATCH),
    ("batch_integral_float", dict(batch_size=4.0), R_BATCH),
    ("batch_np_float", dict(batch_size=np.float64(4)), R_BATCH),
    ("batch_inf", dict(batch_size=float("inf")), R_BATCH),
    ("batch_nan", dict(batch_size=float("nan")), R_BATCH),
    ("batch_list", dict(batch_size=[4]), R_BATCH),
    ("batch_bool", dict(batch_size=True), R_BATCH),
    ("batch_complex", dict(batch_size=4j), R_BATCH),
    ("lr_zero", dict(lr=0), R_LR),
    ("lr_negative", dict(lr=-0.1), R_LR),
    ("lr_nan", dict(lr=float("nan")), R_LR),
    ("lr_inf", dict(lr=float("inf")), R_LR),
    ("lr_neginf", dict(lr=-float("inf")), R_LR),
    ("lr_np_nan", dict(lr=np.float32("nan")), R_LR),
    ("lr_str", dict(lr="0.1"), R_LR),
    ("lr_none", dict(lr=None), R_LR),
    ("lr_list", dict(lr=[0.1]), R_LR),
    ("lr_array", dict(lr=np.array([0.1])), R_LR),
    ("lr_bigint", dict(lr=10**400), R_LR),
    ("lr_neg_bigint", dict(lr=-10**400), R_LR),
    ("lr_longdouble_huge", dict(lr=np.longdouble("1e4000")), R_LR),
    ("lr_complex", dict(lr=0.1j), R_LR),
    ("lr_np_complex", dict(lr=np.complex128(0.1)), R_LR),
    ("lr_bool", dict(lr=True), R_LR),
    ("momentum_one", dict(momentum=1), R_MOM),
    ("momentum_big", dict(momentum=1.5), R_MOM),
    ("momentum_negative", dict(momentum=-0.1), R_MOM),
    ("momentum_nan", dict(momentum=float("nan")), R_MOM),
    ("momentum_inf", dict(momentum=float("inf")), R_MOM),
    ("momentum_bigint", dict(momentum=10**400), R_MOM),
    ("momentum_str", dict(momentum="0.9"), R_MOM),
    ("momentum_none", dict(momentum=None), R_MOM),
    ("momentum_list", dict(momentum=[0.5]), R_MOM),
    ("momentum_complex", dict(momentum=0.5j), R_MOM),
    ("momentum_bool", dict(momentum=False), R_MOM),
    ("shuffle_int", dict(shuffle=1), R_SHUF),
    ("shuffle_zero", dict(shuffle=0), R_SHUF),
    ("shuffle_np_int", dict(shuffle=np.int64(1)), R_SHUF),
    ("shuffle_none", dict(shuffle=None), R_SHUF),
    ("shuffle_str", dict(shuffle="True"), R_SHUF),
    ("shuffle_float", dict(shuffle=1.0), R_SHUF),
    ("shuffle_list", dict(shuffle=[True]), R_SHUF),
]

R_VAL, R_CALLBACK = r"\bvalidation_data\b", r"\bcallback\b"
# fit's keyword-only arguments; each a function of the model kind.
BAD_FIT_KW = [
    ("val_X_only", lambda kind: dict(validation_data=good_X()), R_VAL),
    ("val_triple", lambda kind: dict(validation_data=(good_X(), good_y(kind), None)), R_VAL),
    ("val_single", lambda kind: dict(validation_data=(good_X(),)), R_VAL),
    ("val_str", lambda kind: dict(validation_data="data"), R_VAL),
    ("val_dict", lambda kind: dict(validation_data={"X": good_X(), "y": good_y(kind)}), R_VAL),
    ("val_none_pair", lambda kind: dict(validation_data=(None, None)), R_VAL),
    ("val_y_none", lambda kind: dict(validation_data=(good_X(), None)), R_VAL),
    ("val_nan", lambda kind: dict(validation_data=(_with(np.nan), good_y(kind))), R_VAL),
    ("val_inf_y", lambda kind: dict(validation_data=(good_X(), _set_y(kind, np.inf))), R_VAL),
    ("val_wrong_features", lambda kind: dict(validation_data=(good_X(d=D + 2), good_y(kind))),
     R_VAL),
    ("val_empty", lambda kind: dict(validation_data=(np.empty((0, D)), good_y(kind)[:0])),
     R_VAL),
    ("val_short_y", lambda kind: dict(validation_data=(good_X(), good_y(kind)[:-1])), R_VAL),
    ("val_bad_targets", lambda kind: dict(validation_data=(
        good_X(), good_y(kind)[:, :2] if kind == "mse" else _set_y(kind, 7.5))), R_VAL),
    ("val_complex", lambda kind: dict(validation_data=(good_X() + 1j, good_y(kind))), R_VAL),
    ("val_object", lambda kind: dict(validation_data=(good_X().astype(object), good_y(kind))),
     R_VAL),
    ("callback_int", lambda kind: dict(callback=3), R_CALLBACK),
    ("callback_str", lambda kind: dict(callback="print"), R_CALLBACK),
    ("callback_list", lambda kind: dict(callback=[print]), R_CALLBACK),
]

R_SIZES = r"\blayer_sizes\b"
BAD_SIZES = [
    # Absurd sizes: stopped before anything is allocated.
    ("input_1e10", [10**10, 2]),
    ("output_1e10", [2, 10**10]),
    ("hidden_1e10", [2, 10**10, 2]),
    ("input_2p31", [2**31, 1]),
    ("output_2p31", [1, 2**31]),
    ("weights_overflow_int", [100000, 100000, 2]),
    ("weights_overflow_int_late", [2, 100000, 100000]),
    ("weights_just_over", [46341, 46341]),
    ("weights_2p16_squared", [2**16, 2**16]),
    ("wide_output", [4, 2**31 - 1]),
    ("params_just_over", [2**31 - 1, 1]),
    ("total_params_over", [46340, 46340, 46340]),
    ("total_params_deep", [30000] * 10),
    ("total_params_terabytes", [46340] * 200),
    ("int64_max", [2**63 - 1, 2]),
    ("beyond_int64", [2**63, 2]),
    ("beyond_uint64", [2**64, 2]),
    ("googol", [10**100, 1]),
    ("np_int64_huge", np.array([10**10, 2], dtype=np.int64)),
    ("np_uint64_max", [np.uint64(2**64 - 1), 2]),
    # Malformed sizes
    ("empty", []),
    ("one_entry", [4]),
    ("zero_input", [0, 2]),
    ("zero_output", [4, 0]),
    ("zero_hidden", [4, 0, 2]),
    ("negative", [4, -3, 2]),
    ("very_negative", [4, -2**63, 2]),
    ("float_entry", [4, 2.5, 2]),
    ("integral_float_entry", [4.0, 2]),
    ("nan_entry", [4, float("nan"), 2]),
    ("inf_entry", [4, float("inf")]),
    ("str_entry", [4, "3", 2]),
    ("none_entry", [4, None]),
    ("bool_entry", [4, True, 2]),
    ("complex_entry", [4, 2 + 0j]),
    ("list_entry", [4, [3], 2]),
    ("float_array", np.array([4.0, 2.0])),
    ("zero_d_array", np.array(4)),
    ("two_d_array", np.array([[4, 2], [3, 1]])),
    ("two_d_row", np.array([[4, 2]])),
    ("string", "42"),
    ("bytes", b"42"),
    ("int", 5),
    ("float", 4.0),
    ("none", None),
    ("object_array", np.array([4, None], dtype=object)),
]

BAD_CTOR = [
    # (name, kwargs, match)
    ("act_none", dict(activation=None), r"\bactivation\b"),
    ("act_int", dict(activation=3), r"\bactivation\b"),
    ("act_float", dict(activation=1.5), r"\bactivation\b"),
    ("act_bytes", dict(activation=b"relu"), r"\bactivation\b"),
    ("act_empty", dict(activation=""), r"\bactivation\b"),
    ("act_unknown", dict(activation="softplus"), r"\bactivation\b"),
    ("act_softmax_hidden", dict(activation="softmax"), r"\bactivation\b"),
    ("act_case", dict(activation="RELU"), r"\bactivation\b"),
    ("act_list_short", dict(activation=["relu"]), r"\bactivation\b"),
    ("act_list_long", dict(activation=["relu"] * 3), r"\bactivation\b"),
    ("act_list_none", dict(activation=["relu", None]), r"\bactivation\b"),
    ("act_list_nested", dict(activation=[["relu"], "relu"]), r"\bactivation\b"),
    ("act_array", dict(activation=np.array(["relu", "relu"])), r"\bactivation\b"),
    ("act_set", dict(activation={"relu"}), r"\bactivation\b"),
    ("act_dict", dict(activation={"relu": 1, "tanh": 2}), r"\bactivation\b"),
    ("loss_none", dict(loss=None), r"\bloss\b"),
    ("loss_int", dict(loss=3), r"\bloss\b"),
    ("loss_unknown", dict(loss="hinge"), r"\bloss\b"),
    ("loss_bytes", dict(loss=b"mse"), r"\bloss\b"),
    ("loss_list", dict(loss=["mse"]), r"\bloss\b"),
    ("output_int", dict(output=3), r"\boutput\b"),
    ("output_unknown", dict(output="swish"), r"\boutput\b"),
    ("output_list", dict(output=["identity"]), r"\boutput\b"),
    ("output_softmax_mse", dict(output="softmax"), r"\boutput\b"),
    ("output_identity_ce", dict(loss="cross_entropy", output="identity"), r"\boutput\b"),
    ("output_tanh_bce", dict(loss="binary_cross_entropy", output="tanh"), r"\boutput\b"),
    ("init_int", dict(init=3), r"\binit\b"),
    ("init_unknown", dict(init="uniform"), r"\binit\b"),
    ("init_list", dict(init=["he"]), r"\binit\b"),
    ("init_bytes", dict(init=b"he"), r"\binit\b"),
    ("l2_str", dict(l2="0.1"), r"\bl2\b"),
    ("l2_none", dict(l2=None), r"\bl2\b"),
    ("l2_list", dict(l2=[0.1]), r"\bl2\b"),
    ("l2_array", dict(l2=np.array([0.1])), r"\bl2\b"),
    ("l2_negative", dict(l2=-1.0), r"\bl2\b"),
    ("l2_nan", dict(l2=float("nan")), r"\bl2\b"),
    ("l2_inf", dict(l2=float("inf")), r"\bl2\b"),
    ("l2_bigint", dict(l2=10**400), r"\bl2\b"),
    ("l2_longdouble_huge", dict(l2=np.longdouble("1e4000")), r"\bl2\b"),
    ("l2_complex", dict(l2=1j), r"\bl2\b"),
    ("l2_bool", dict(l2=True), r"\bl2\b"),
    ("dtype_none", dict(dtype=None), r"\bdtype\b"),
    ("dtype_int32", dict(dtype="int32"), r"\bdtype\b"),
    ("dtype_float16", dict(dtype="float16"), r"\bdtype\b"),
    ("dtype_longdouble", dict(dtype=np.longdouble), r"\bdtype\b"),
    ("dtype_complex", dict(dtype="complex128"), r"\bdtype\b"),
    ("dtype_object", dict(dtype=object), r"\bdtype\b"),
    ("dtype_structured", dict(dtype=[("a", "f4")]), r"\bdtype\b"),
    ("dtype_garbage", dict(dtype="not_a_dtype"), r"\bdtype\b"),
    ("dtype_int", dict(dtype=3), r"\bdtype\b"),
    ("dtype_list", dict(dtype=["float32"]), r"\bdtype\b"),
    ("seed_str", dict(seed="0"), r"\bseed\b"),
    ("seed_float", dict(seed=1.5), r"\bseed\b"),
    ("seed_negative", dict(seed=-1), r"\bseed\b"),
    ("seed_np_negative", dict(seed=np.int64(-5)), r"\bseed\b"),
    ("seed_list", dict(seed=[1, 2]), r"\bseed\b"),
    ("seed_bool", dict(seed=True), r"\bseed\b"),
    ("seed_randomstate", dict(seed=np.random.RandomState(0)), r"\bseed\b"),
    ("seed_seedsequence", dict(seed=np.random.SeedSequence(0)), r"\bseed\b"),
]


def _ctor_equal_case(name, **kwargs):
    """A numpy-scalar (or other unusual but valid) constructor argument builds
    exactly the model of the plain spelling."""
    plain = dict(layer_sizes=[D, 5, K], activation="tanh", loss="mse", l2=0.125,
                 dtype="float64", seed=3)

    def fn(MLP):
        want = results(MLP(**plain), good_X(), good_y("mse"))
        got = results(MLP(**dict(plain, **kwargs)), good_X(), good_y("mse"))
        assert_same(got, want, name)
    return Case(f"ctor.{name}", "work", None, fn)


def _fit_equal_case(name, fit_kw, plain_kw, kind="mse"):
    """Unusual but valid fit arguments give exactly the plain spelling's fit."""
    def fn(MLP):
        want = results(make_model(MLP, kind, warm=False), good_X(), good_y(kind),
                       dict(FIT_KW, **plain_kw))
        got = results(make_model(MLP, kind, warm=False), good_X(), good_y(kind),
                      dict(FIT_KW, **fit_kw))
        assert_same(got, want, name)
    return Case(f"fit.{name}[{kind}]", "work", None, fn)


# -- sparse X: malformed structure is rejected, valid spellings equal the
# canonical CSR (sorted, summed, float64, int32 indices) exactly.

def _sparse_good():
    import scipy.sparse
    X = good_X()
    X[np.abs(X) < 0.6] = 0
    X[2] = 0   # an empty row
    return scipy.sparse.csr_matrix(X)


def _raw_csr(data, indices, indptr, shape=(N, D)):
    """A CSR matrix holding exactly these arrays (scipy's checks bypassed,
    as a matrix built or edited by hand reaches fit)."""
    import scipy.sparse
    X = scipy.sparse.csr_matrix(shape)
    X.data, X.indices, X.indptr = np.asarray(data), np.asarray(indices), np.asarray(indptr)
    return X


def _sparse_edit(**arrays):
    def make():
        X = _sparse_good()
        fields = dict(data=X.data.copy(), indices=X.indices.copy(), indptr=X.indptr.copy())
        for name, edit in arrays.items():
            fields[name] = edit(fields[name])
        return _raw_csr(fields["data"], fields["indices"], fields["indptr"])
    return make


def _set_first(value):
    def edit(a):
        a = a.copy()
        a[0] = value
        return a
    return edit


def _sparse_variant(kind):
    import scipy.sparse
    X = _sparse_good()
    if kind == "csc":
        return X.tocsc()
    if kind == "coo_halves":   # every entry stored as two exact halves
        c = X.tocoo()
        return scipy.sparse.coo_matrix(
            (np.concatenate([c.data / 2, c.data / 2]), (np.tile(c.row, 2), np.tile(c.col, 2))),
            shape=X.shape)
    if kind == "unsorted_int64":
        order = np.concatenate([np.arange(a, b)[::-1] for a, b in zip(X.indptr, X.indptr[1:])])
        return _raw_csr(X.data[order], X.indices[order].astype(np.int64),
                        X.indptr.astype(np.int64))
    if kind == "explicit_zeros":
        c = X.tocoo()
        return scipy.sparse.coo_matrix(
            (np.append(c.data, 0.0), (np.append(c.row, 2), np.append(c.col, 1))),
            shape=X.shape).tocsr()
    if kind == "csr_array":
        return scipy.sparse.csr_array(X)
    if kind == "big_endian_data":
        return _raw_csr(X.data.astype(">f8"), X.indices, X.indptr)
    raise AssertionError(kind)


BAD_SPARSE = [
    ("sparse_nan", _sparse_edit(data=_set_first(np.nan)), r"NaN"),
    ("sparse_inf", _sparse_edit(data=_set_first(-np.inf)), r"NaN or infinity"),
    ("sparse_negative_index", _sparse_edit(indices=_set_first(-1)), r"negative index"),
    ("sparse_index_too_large", _sparse_edit(indices=_set_first(D)), r"out of range"),
    ("sparse_index_huge", _sparse_edit(indices=lambda a: _set_first(2**40)(
        a.astype(np.int64))), r"out of range"),
    ("sparse_indptr_short", _sparse_edit(indptr=lambda a: a[:-1]), r"indptr"),
    ("sparse_indptr_decreasing", _sparse_edit(indptr=lambda a: a[::-1].copy()), r"indptr"),
    ("sparse_indptr_past_end", _sparse_edit(indptr=lambda a: a + 1), r"indptr"),
    ("sparse_indptr_float", _sparse_edit(indptr=lambda a: a.astype(np.float64)), r"indptr"),
    ("sparse_indices_float", _sparse_edit(indices=lambda a: a.astype(np.float64)),
     r"indices"),
    ("sparse_complex", _sparse_edit(data=lambda a: a.astype(np.complex128)), r"complex"),
    ("sparse_object", _sparse_edit(data=lambda a: a.astype(object)), r"dtype"),
    ("sparse_lil", lambda: _sparse_good().tolil(), r"CSR, CSC or COO"),
    ("sparse_too_few_features", lambda: _raw_csr([], np.zeros(0, np.int32), np.zeros(N + 1,
                                                 np.int32), (N, D - 1)), RX),
    ("sparse_zero_rows", lambda: _raw_csr([], np.zeros(0, np.int32), np.zeros(1, np.int32),
                                          (0, D)), RX),
    ("sparse_overflow_f32", _sparse_edit(data=_set_first(1e300)), r"overflows"),
]
def _sparse_full_batch_case(kind):
    """On sparse X too, a batch_size beyond n is the full batch."""
    def fn(MLP):
        want = results(make_model(MLP, kind, warm=False), _sparse_good(), good_y(kind),
                       dict(FIT_KW, batch_size=None))
        got = results(make_model(MLP, kind, warm=False), _sparse_good(), good_y(kind),
                      dict(FIT_KW, batch_size=10**12))
        assert_same(got, want, "sparse_batch_huge")
    return Case(f"fit.sparse_batch_huge[{kind}]", "work", None, fn)


SPARSE_VARIANTS = ("csc", "coo_halves", "unsorted_int64", "explicit_zeros", "csr_array",
                   "big_endian_data")


def _survive_case(name, fn):
    return Case(name, "survive", None, fn)


def build_groups():
    groups = {}
    for impl in IMPLS:
        g = groups[f"{impl}-constructor"] = []
        for name, kwargs, match in BAD_CTOR:
            g.append(constructor_case(name, "reject", match, **kwargs))
        g.append(_ctor_equal_case("sizes_numpy_array", layer_sizes=np.array([D, 5, K])))
        g.append(_ctor_equal_case("sizes_numpy_ints",
                                  layer_sizes=[np.int64(D), np.uint8(5), np.int32(K)]))
        g.append(_ctor_equal_case("sizes_zero_d_arrays",
                                  layer_sizes=[np.array(D), np.array(5), np.array(K)]))
        g.append(_ctor_equal_case("sizes_tuple", layer_sizes=(D, 5, K)))
        g.append(_ctor_equal_case("l2_np_float32", l2=np.float32(0.125)))
        g.append(_ctor_equal_case("l2_np_float16", l2=np.float16(0.125)))
        g.append(_ctor_equal_case("l2_fraction", l2=__import__("fractions").Fraction(1, 8)))
        g.append(_ctor_equal_case("seed_np_int64", seed=np.int64(3)))
        g.append(_ctor_equal_case("seed_np_uint8", seed=np.uint8(3)))
        g.append(_ctor_equal_case("act_np_str", activation=np.str_("tanh")))
        g.append(_ctor_equal_case("act_tuple", activation=("tanh",)))
        g.append(_ctor_equal_case("loss_np_str", loss=np.str_("mse")))
        g.append(_ctor_equal_case("output_explicit", output="identity"))
        g.append(_ctor_equal_case("dtype_np_type", dtype=np.float64))
        g.append(_ctor_equal_case("dtype_np_dtype", dtype=np.dtype("f8")))
        g.append(_ctor_equal_case("dtype_python_float", dtype=float))
        g.append(_ctor_equal_case("dtype_big_endian", dtype=np.dtype(">f8")))
        g.append(_ctor_equal_case("dtype_little_endian", dtype="<f8"))

        g = groups[f"{impl}-sizes"] = []
        for name, sizes in BAD_SIZES:
            g.append(constructor_case(f"sizes.{name}", "reject", R_SIZES, layer_sizes=sizes))

        g = groups[f"{impl}-X"] = []
        for name, make_X, match, kinds in BAD_X:
            for kind in kinds or ("ce", "mse"):
                for method in METHODS:
                    g.append(method_case(f"X.{name}", "reject", match, kind, method,
                                         make_X=make_X))

        g = groups[f"{impl}-y"] = []
        for kind in MODELS:
            for name, make_y, match in BAD_Y_COMMON:
                for method in Y_METHODS:
                    if name == "none" and method == "layer_stats":
                        continue  # layer_stats(X, None) is the forward-only form
                    g.append(method_case(f"y.{name}", "reject", match, kind, method,
                                         make_y=(lambda f=make_y, k=kind: f(k))))
            for name, make_y, match in BAD_Y[kind]:
                for method in Y_METHODS:
                    g.append(method_case(f"y.{name}", "reject", match, kind, method,
                                         make_y=make_y))

        g = groups[f"{impl}-sparse"] = []
        for name, make_X, match in BAD_SPARSE:
            # float32 models: an overflow of the cast is an error there only.
            kinds = ("mse1",) if name == "sparse_overflow_f32" else ("ce", "mse")
            for kind in kinds:
                for method in METHODS:
                    g.append(method_case(f"X.{name}", "reject", match, kind, method,
                                         make_X=make_X))
        for variant in SPARSE_VARIANTS:
            for kind in MODELS:
                g.append(equal_case(f"X_sparse_{variant}", kind,
                                    make_X=lambda v=variant: _sparse_variant(v),
                                    plain_X=_sparse_good))
        for kind in MODELS:
            g.append(_survive_case(
                f"survive.sparse_near_max[{kind}]",
                lambda MLP, k=kind: make_model(MLP, k).fit(
                    _sparse_good() * (np.finfo(MODELS[k]["dtype"]).max / 4), good_y(k))))
            g.append(_sparse_full_batch_case(kind))

        g = groups[f"{impl}-fit"] = []
        for kind in ("mse", "ce"):
            for name, overrides, match in BAD_FIT:
                g.append(method_case(f"fit.{name}", "reject", match, kind, "fit",
                                     fit_kw=dict(FIT_KW, **overrides)))
            for name, overrides, match in BAD_FIT_KW:
                g.append(method_case(f"fit.{name}", "reject", match, kind, "fit",
                                     fit_kw=dict(FIT_KW, **overrides(kind))))

        g = groups[f"{impl}-valid"] = []
        for kind in MODELS:
            # Big-endian and unaligned arrays work and equal the native result.
            g.append(equal_case("X_big_endian", kind, make_X=lambda: _big_endian(good_X())))
            g.append(equal_case("X_big_endian_f4", kind,
                                make_X=lambda: _big_endian(good_X(), np.float32),
                                plain_X=lambda: good_X().astype(np.float32)))
            g.append(equal_case("X_unaligned", kind, make_X=lambda: _unaligned(good_X())))
            g.append(equal_case("X_big_endian_unaligned", kind,
                                make_X=lambda: _unaligned(_big_endian(good_X()))))
            g.append(equal_case("y_big_endian", kind,
                                make_y=lambda k=kind: _big_endian(good_y(k))))
            g.append(equal_case("y_unaligned", kind,
                                make_y=lambda k=kind: _unaligned(good_y(k))))
            g.append(equal_case("Xy_big_endian_fortran", kind,
                                make_X=lambda: np.asfortranarray(_big_endian(good_X())),
                                make_y=lambda k=kind: np.asfortranarray(_big_endian(good_y(k)))))
            # A huge batch_size is full batch.
            for bs in (10**12, np.int64(10**12), 2**63 - 1, 2**64, 10**100):
                g.append(_fit_equal_case(f"batch_size_{bs!r}", dict(batch_size=bs),
                                         dict(batch_size=None), kind))
        g.append(equal_case("y_labels_big_endian_int32", "ce",
                            make_y=lambda: _big_endian(good_y("ce"), np.int32)))
        g.append(equal_case("y_labels_big_endian_uint16", "ce",
                            make_y=lambda: _big_endian(good_y("ce"), np.uint16)))
        g.append(equal_case("y_labels_big_endian_float", "ce",
                            make_y=lambda: _big_endian(good_y("ce"), np.float64)))
        g.append(equal_case("X_big_endian_int", "mse",
                            make_X=lambda: _big_endian(np.round(good_X() * 4), np.int32),
                            plain_X=lambda: np.round(good_X() * 4)))
        # numpy scalars wherever Python numbers are valid
        g.append(_fit_equal_case(
            "numpy_scalars",
            dict(epochs=np.int64(2), batch_size=np.int32(4), lr=np.float32(0.0625),
                 momentum=np.float16(0.5), shuffle=np.bool_(True)),
            dict(epochs=2, batch_size=4, lr=0.0625, momentum=0.5, shuffle=True)))
        g.append(_fit_equal_case(
            "numpy_unsigned", dict(epochs=np.uint8(2), batch_size=np.uint64(4)),
            dict(epochs=2, batch_size=4)))
        g.append(_fit_equal_case(
            "python_ints_for_floats", dict(lr=1, momentum=0),
            dict(lr=1.0, momentum=0.0), kind="bce"))
        g.append(_fit_equal_case(
            "fraction_lr", dict(lr=__import__("fractions").Fraction(1, 16)),
            dict(lr=0.0625)))
        g.append(_fit_equal_case("shuffle_np_false", dict(shuffle=np.bool_(False)),
                                 dict(shuffle=False)))
        g.append(_fit_equal_case("momentum_negative_zero", dict(momentum=-0.0),
                                 dict(momentum=0.0)))
        for kind in ("ce", "bce"):
            # Valid keyword arguments that only observe: same fit.
            g.append(_fit_equal_case(
                "validation_data_big_endian_list",
                dict(validation_data=[_big_endian(good_X()), _unaligned(good_y(kind))],
                     callback=lambda net, metrics: None),
                {}, kind))
        # Valid input at the edge of the floating-point range: no crash.
        for kind in MODELS:
            g.append(_survive_case(
                f"survive.lr_1e30[{kind}]",
                lambda MLP, k=kind: make_model(MLP, k).fit(good_X(), good_y(k), lr=1e30)))
            g.append(_survive_case(
                f"survive.l2_1e300[{kind}]",
                lambda MLP, k=kind: MLP(seed=0, l2=1e300, **MODELS[k]).fit(
                    good_X(), good_y(k), epochs=2)))
            for method in METHODS:
                g.append(_survive_case(
                    f"survive.X_near_max[{kind}.{method}]",
                    lambda MLP, k=kind, m=method: call_method(
                        make_model(MLP, k), m,
                        good_X() * np.finfo(MODELS[k]["dtype"]).max / 4, good_y(k))))
            g.append(_survive_case(
                f"survive.epochs_zero[{kind}]",
                lambda MLP, k=kind: make_model(MLP, k).fit(good_X(), good_y(k), epochs=0)))
        g.append(_survive_case(
            "survive.mse_targets_huge[mse]",
            lambda MLP: make_model(MLP, "mse").fit(good_X(), good_y("mse") * 1e300)))
    return groups


GROUPS = build_groups()
COUNTS = {e: sum(c.expect == e for cases in GROUPS.values() for c in cases)
          for e in ("reject", "work", "survive")}


# ---------------------------------------------------------------------------
# The child: runs the cases of one group from a given index, one line each
# ---------------------------------------------------------------------------

def _limit_memory():
    if "asan" in os.environ.get("LD_PRELOAD", "") or "ASAN_OPTIONS" in os.environ:
        # AddressSanitizer (tools/sanitize.sh) reserves terabytes of address
        # space for its shadow memory: a cap would stop it from starting.
        return
    try:
        import resource
    except ImportError:  # Windows
        return
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = ADDRESS_SPACE_CAP if hard == resource.RLIM_INFINITY else min(hard, ADDRESS_SPACE_CAP)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ValueError, OSError):  # not supported (macOS)
        pass


def _emit(tag, payload):
    sys.stdout.write(f"@@{tag} {json.dumps(payload)}\n")
    sys.stdout.flush()


def run_child(group, start):
    import faulthandler

    faulthandler.enable()  # a crash prints the Python stack to stderr
    _limit_memory()
    cases = GROUPS[group]
    for i in range(start, len(cases)):
        case = cases[i]
        MLP = impl_class(group.split("-")[0])
        _emit("START", {"i": i})
        with warnings.catch_warnings():
            if case.expect != "survive":
                warnings.simplefilter("error")
            else:
                warnings.simplefilter("ignore")
            try:
                case.fn(MLP)
            except BaseException as exc:  # noqa: BLE001 - reported, judged by the parent
                if isinstance(exc, KeyboardInterrupt):
                    raise
                status = {"status": "raised", "type": type(exc).__name__,
                          "mro": [c.__name__ for c in type(exc).__mro__],
                          "msg": str(exc)[:500]}
            else:
                status = {"status": "ok"}
        status["i"] = i
        _emit("END", status)


CHILD = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location('_fastmlp_crash_cases', sys.argv[1])\n"
    "mod = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(mod)\n"
    "mod.run_child(sys.argv[2], int(sys.argv[3]))\n"
)


def _describe_exit(code):
    if code < 0:
        import signal

        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code} (0x{code & 0xFFFFFFFF:08X})"


def run_group(group):
    """{case index: outcome dict}; crashed cases get status 'crashed'."""
    cases = GROUPS[group]
    outcomes = {}
    start = 0
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONFAULTHANDLER="1")
    while start < len(cases):
        try:
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, os.path.abspath(__file__), group, str(start)],
                capture_output=True, text=True, timeout=CHILD_TIMEOUT, env=env)
            stdout, stderr, code = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            code = None
        last_started = None
        for line in stdout.splitlines():
            if line.startswith("@@START "):
                last_started = json.loads(line[8:])["i"]
            elif line.startswith("@@END "):
                out = json.loads(line[6:])
                outcomes[out["i"]] = out
                last_started = None
        if code == 0 and last_started is None and len(outcomes) == len(cases):
            break
        how = "timed out" if code is None else _describe_exit(code)
        if last_started is None:
            # Died outside any case (e.g. the import failed): nothing to resume.
            pending = [i for i in range(start, len(cases)) if i not in outcomes]
            for i in pending:
                outcomes[i] = {"status": "crashed", "how": f"child {how} before the case ran",
                               "stderr": stderr[-3000:]}
            break
        outcomes[last_started] = {"status": "crashed", "how": how, "stderr": stderr[-3000:]}
        start = last_started + 1
    return outcomes


def judge(case, out):
    """None if the outcome is what the case expects, else a description."""
    if out is None:
        return "never ran"
    if out["status"] == "crashed":
        return f"CRASHED: {out['how']}\n{out.get('stderr', '')}"
    raised = out["status"] == "raised"
    mro = set(out.get("mro", ()))
    if case.expect == "reject":
        if not raised:
            return "accepted (no exception), expected ValueError or TypeError"
        if not mro & {"ValueError", "TypeError"} or "AssertionError" in mro:
            return f"raised {out['type']}: {out['msg']}"
        if case.match and not re.search(case.match, out["msg"]):
            return f"message does not name the argument ({case.match!r}): {out['msg']}"
        return None
    if case.expect == "work":
        if raised:
            return f"raised {out['type']}: {out['msg']}"
        return None
    # survive
    if raised and not mro & {"ValueError", "TypeError", "DivergenceError"}:
        return f"raised {out['type']}: {out['msg']}"
    return None


# ---------------------------------------------------------------------------
# pytest
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("group", list(GROUPS))
def test_no_crash(group):
    cases = GROUPS[group]
    outcomes = run_group(group)
    problems = []
    for i, case in enumerate(cases):
        problem = judge(case, outcomes.get(i))
        if problem:
            problems.append(f"{case.name} ({case.expect}): {problem}")
    assert not problems, (f"{len(problems)} of {len(cases)} cases in {group} failed:\n"
                          + "\n".join(problems))


def test_case_names_are_unique():
    for group, cases in GROUPS.items():
        names = [c.name for c in cases]
        assert len(names) == len(set(names)), group


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_validated_arrays_are_aligned(dtype):
    """The kernels get raw pointers: an unaligned X or y (a slice of a byte
    buffer) reaches them only as an aligned copy, with the same values."""
    from fastmlp.inputs import validation as v

    dt = np.dtype(dtype)
    X = _unaligned(good_X().astype(dt))
    assert not X.flags.aligned
    Xc = v.check_X(X, D, dt)
    assert Xc.flags.aligned and Xc.flags.c_contiguous and Xc.dtype == dt
    assert np.array_equal(Xc, X)
    for loss, y in [("mse", good_y("mse")), ("cross_entropy", _probs()),
                    ("binary_cross_entropy", good_y("bce"))]:
        yu = _unaligned(np.asarray(y, dtype=dt))
        assert not yu.flags.aligned
        Y = v.check_y(yu, N, loss, K, dt)
        assert Y.flags.aligned and Y.flags.c_contiguous and Y.dtype == dt, loss
        assert np.array_equal(Y, yu), loss


def count_line():
    return (f"malformed inputs tried: {COUNTS['reject']}; unusual valid inputs checked: "
            f"{COUNTS['work']}; extreme valid inputs survived: {COUNTS['survive']} "
            f"(both implementations, {len(GROUPS)} child groups)")


def test_counts(capsys):
    """The case list is as broad as it is meant to be (guards against a
    refactor that silently drops a table); prints the counts."""
    with capsys.disabled():
        print(f"\ntest_crash: {count_line()}")
    assert COUNTS["reject"] >= 1000
    assert COUNTS["work"] >= 80
    assert COUNTS["survive"] >= 40


if __name__ == "__main__":
    failed = 0
    for group in GROUPS:
        outcomes = run_group(group)
        for i, case in enumerate(GROUPS[group]):
            problem = judge(case, outcomes.get(i))
            if problem:
                failed += 1
                print(f"FAIL {group} {case.name}: {problem}")
    print(f"{count_line()}; failures: {failed}")
    sys.exit(1 if failed else 0)
