"""Bad input is rejected with the right error type and a message naming the
problem, and a rejected call leaves the model exactly as it was.

Every test runs against both ``fastmlp.MLP`` (kernels) and
``fastmlp.reference.MLP`` (pure NumPy).
"""
import copy
import math

import numpy as np
import pytest


@pytest.fixture(params=["fastmlp.MLP", "reference.MLP"])
def MLP(request):
    # Imported here (not at module level) so a broken build fails the
    # kernel-parametrized tests loudly instead of hiding the reference ones.
    import fastmlp

    if request.param == "fastmlp.MLP":
        return fastmlp.MLP
    from fastmlp import reference

    return reference.MLP


N, D = 10, 4


def _X(n=N, d=D, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


def _y(loss, n=N, k=3, seed=1):
    rng = np.random.default_rng(seed)
    if loss == "mse":
        return rng.standard_normal((n, k)) if k > 1 else rng.standard_normal(n)
    if loss == "cross_entropy":
        y = rng.integers(0, k, n)
        y[:k] = np.arange(k)  # every class present
        return y
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, (n, k)) if k > 1 else rng.integers(0, 2, n)
    raise AssertionError(loss)


def _net(MLP, loss="mse", k=3, dtype="float64", **kw):
    return MLP([D, 5, k], activation="tanh", loss=loss, dtype=dtype, seed=0, **kw)


def _call(net, method, X, y):
    if method == "fit":
        return net.fit(X, y, epochs=1, batch_size=4)
    if method in ("loss", "gradients"):
        return getattr(net, method)(X, y)
    return getattr(net, method)(X)


# ---------------------------------------------------------------------------
# Constructor arguments
# ---------------------------------------------------------------------------

BAD_CONSTRUCTOR = [
    # layer_sizes
    ("sizes_one_entry", dict(layer_sizes=[4]), ValueError, r"layer_sizes needs at least 2 entries"),
    ("sizes_empty", dict(layer_sizes=[]), ValueError, r"layer_sizes needs at least 2 entries"),
    ("sizes_zero_hidden", dict(layer_sizes=[4, 0, 2]), ValueError, r"layer_sizes\[1\] must be a positive int"),
    ("sizes_zero_input", dict(layer_sizes=[0, 2]), ValueError, r"layer_sizes\[0\] must be a positive int"),
    ("sizes_negative", dict(layer_sizes=[4, -3, 2]), ValueError, r"layer_sizes\[1\] must be a positive int"),
    ("sizes_negative_out", dict(layer_sizes=[4, 3, -1]), ValueError, r"layer_sizes\[2\] must be a positive int"),
    ("sizes_float_entry", dict(layer_sizes=[4, 2.5, 2]), TypeError, r"layer_sizes\[1\] must be an int"),
    ("sizes_integral_float", dict(layer_sizes=[4.0, 2]), TypeError, r"layer_sizes\[0\] must be an int"),
    ("sizes_str_entry", dict(layer_sizes=[4, "3", 2]), TypeError, r"layer_sizes\[1\] must be an int"),
    ("sizes_bool_entry", dict(layer_sizes=[4, True, 2]), TypeError, r"layer_sizes\[1\] must be an int"),
    ("sizes_none_entry", dict(layer_sizes=[4, None]), TypeError, r"layer_sizes\[1\] must be an int"),
    ("sizes_float_array", dict(layer_sizes=np.array([4.0, 2.0])), TypeError, r"layer_sizes\[0\] must be an int"),
    ("sizes_string", dict(layer_sizes="42"), TypeError, r"layer_sizes must be a sequence"),
    ("sizes_int", dict(layer_sizes=5), TypeError, r"layer_sizes must be a sequence"),
    ("sizes_none", dict(layer_sizes=None), TypeError, r"layer_sizes must be a sequence"),
    # activation
    ("act_unknown", dict(activation="softplus"), ValueError, r"unknown activation 'softplus'"),
    ("act_softmax_hidden", dict(activation="softmax"), ValueError, r"unknown activation 'softmax'"),
    ("act_case", dict(activation="ReLU"), ValueError, r"unknown activation 'ReLU'"),
    ("act_list_unknown", dict(activation=["relu", "bogus"]), ValueError, r"unknown activation 'bogus'"),
    ("act_list_short", dict(activation=["relu"]), ValueError, r"activation list has 1 entries .* 2 hidden layers"),
    ("act_list_long", dict(activation=["relu", "tanh", "relu"]), ValueError, r"activation list has 3 entries .* 2 hidden layers"),
    ("act_list_empty", dict(activation=[]), ValueError, r"activation list has 0 entries .* 2 hidden layers"),
    ("act_none", dict(activation=None), TypeError, r"activation must be a string"),
    ("act_int", dict(activation=3), TypeError, r"activation must be a string"),
    ("act_list_nonstr", dict(activation=["relu", 3]), TypeError, r"activation names must be strings"),
    # loss / output
    ("loss_unknown", dict(loss="hinge"), ValueError, r"unknown loss 'hinge'"),
    ("loss_none", dict(loss=None), TypeError, r"loss must be a string"),
    ("output_unknown", dict(output="swish"), ValueError, r"unknown output activation 'swish'"),
    ("output_int", dict(output=1), TypeError, r"output must be a string or None"),
    ("ce_sigmoid", dict(loss="cross_entropy", output="sigmoid"), ValueError, r"'sigmoid' is incompatible with loss 'cross_entropy'"),
    ("ce_identity", dict(loss="cross_entropy", output="identity"), ValueError, r"'identity' is incompatible with loss 'cross_entropy'"),
    ("ce_relu", dict(loss="cross_entropy", output="relu"), ValueError, r"'relu' is incompatible with loss 'cross_entropy'"),
    ("mse_softmax", dict(loss="mse", output="softmax"), ValueError, r"'softmax' is incompatible with loss 'mse'"),
    ("bce_softmax", dict(loss="binary_cross_entropy", output="softmax"), ValueError, r"'softmax' is incompatible with loss 'binary_cross_entropy'"),
    ("bce_identity", dict(loss="binary_cross_entropy", output="identity"), ValueError, r"'identity' is incompatible with loss 'binary_cross_entropy'"),
    ("bce_tanh", dict(loss="binary_cross_entropy", output="tanh"), ValueError, r"'tanh' is incompatible with loss 'binary_cross_entropy'"),
    # init
    ("init_unknown", dict(init="uniform"), ValueError, r"unknown init 'uniform'"),
    ("init_int", dict(init=3), TypeError, r"init must be a string or None"),
    # dtype
    ("dtype_int32", dict(dtype="int32"), ValueError, r"dtype must be float32 or float64, got int32"),
    ("dtype_float16", dict(dtype="float16"), ValueError, r"dtype must be float32 or float64, got float16"),
    ("dtype_np_int64", dict(dtype=np.int64), ValueError, r"dtype must be float32 or float64, got int64"),
    ("dtype_complex", dict(dtype="complex128"), ValueError, r"dtype must be float32 or float64, got complex128"),
    ("dtype_longdouble", dict(dtype=np.longdouble), ValueError, r"dtype must be float32 or float64"),
    ("dtype_garbage", dict(dtype="not_a_dtype"), TypeError, r"dtype must be float32 or float64"),
    ("dtype_none", dict(dtype=None), TypeError, r"dtype must be float32 or float64"),
    # seed
    ("seed_float", dict(seed=1.5), TypeError, r"seed must be None, an int or a numpy Generator"),
    ("seed_str", dict(seed="0"), TypeError, r"seed must be None, an int or a numpy Generator"),
    ("seed_bool", dict(seed=True), TypeError, r"seed must be None, an int or a numpy Generator"),
    ("seed_randomstate", dict(seed=np.random.RandomState(0)), TypeError, r"seed must be None, an int or a numpy Generator"),
    ("seed_list", dict(seed=[1, 2]), TypeError, r"seed must be None, an int or a numpy Generator"),
    ("seed_negative", dict(seed=-1), ValueError, r"seed must be a non-negative int"),
    # l2
    ("l2_negative", dict(l2=-0.1), ValueError, r"l2 must be a finite number >= 0"),
    ("l2_nan", dict(l2=float("nan")), ValueError, r"l2 must be a finite number >= 0"),
    ("l2_inf", dict(l2=float("inf")), ValueError, r"l2 must be a finite number >= 0"),
    ("l2_str", dict(l2="0.1"), TypeError, r"l2 must be a real number"),
]


@pytest.mark.parametrize(
    "kwargs, exc, match", [c[1:] for c in BAD_CONSTRUCTOR], ids=[c[0] for c in BAD_CONSTRUCTOR]
)
def test_constructor_rejects(MLP, kwargs, exc, match):
    args = dict(layer_sizes=[4, 5, 6, 3])
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        MLP(**args)


GOOD_CONSTRUCTOR = [
    ("tuple_sizes", dict(layer_sizes=(4, 3))),
    ("numpy_int_sizes", dict(layer_sizes=[np.int64(4), np.int32(5), np.uint8(3)])),
    ("numpy_array_sizes", dict(layer_sizes=np.array([4, 5, 3]))),
    ("act_list", dict(layer_sizes=[4, 5, 6, 3], activation=["relu", "leaky_relu"])),
    ("act_tuple", dict(layer_sizes=[4, 5, 6, 3], activation=("sigmoid", "identity"))),
    ("act_list_no_hidden", dict(layer_sizes=[4, 3], activation=[])),
    ("mse_sigmoid", dict(layer_sizes=[4, 3], output="sigmoid")),
    ("mse_leaky", dict(layer_sizes=[4, 3], output="leaky_relu")),
    ("ce_softmax", dict(layer_sizes=[4, 3], loss="cross_entropy", output="softmax")),
    ("bce_sigmoid", dict(layer_sizes=[4, 3], loss="binary_cross_entropy", output="sigmoid")),
    ("dtype_np32", dict(layer_sizes=[4, 3], dtype=np.float32)),
    ("dtype_npdtype64", dict(layer_sizes=[4, 3], dtype=np.dtype("float64"))),
    ("dtype_pyfloat", dict(layer_sizes=[4, 3], dtype=float)),
    ("seed_np_int", dict(layer_sizes=[4, 3], seed=np.int64(3))),
    ("seed_generator", dict(layer_sizes=[4, 3], seed=np.random.default_rng(3))),
    ("seed_big", dict(layer_sizes=[4, 3], seed=2**70)),
    ("init_glorot", dict(layer_sizes=[4, 3], init="glorot")),
    ("l2_int", dict(layer_sizes=[4, 3], l2=1)),
]


@pytest.mark.parametrize("kwargs", [c[1] for c in GOOD_CONSTRUCTOR], ids=[c[0] for c in GOOD_CONSTRUCTOR])
def test_constructor_accepts(MLP, kwargs):
    """The checks above are not over-strict: valid spellings are accepted."""
    net = MLP(**kwargs)
    sizes = [int(s) for s in kwargs["layer_sizes"]]
    assert [w.shape for w in net.weights] == [(b, a) for a, b in zip(sizes[:-1], sizes[1:])]
    out = net.forward(np.ones((2, sizes[0])))
    assert out.shape == (2, sizes[-1])


def test_dtype_names_are_honoured(MLP):
    assert MLP([4, 3], dtype="float32").weights[0].dtype == np.float32
    assert MLP([4, 3], dtype="float64").weights[0].dtype == np.float64
    assert MLP([4, 3], dtype=np.float32).forward(np.ones((2, 4))).dtype == np.float32


# ---------------------------------------------------------------------------
# X: rejected alike by fit, loss, gradients, forward and predict
# ---------------------------------------------------------------------------

X_METHODS = ["fit", "loss", "gradients", "forward", "predict"]


def _with(value, pos=(3, 2)):
    X = _X()
    X[pos] = value
    return X


def _ragged():
    return [[0.0] * D] * (N - 1) + [[0.0] * (D - 1)]


BAD_X = [
    ("nan", lambda: _with(np.nan), ValueError, r"X contains NaN or infinity \(first at row 3, column 2\)"),
    ("nan_first", lambda: _with(np.nan, (0, 0)), ValueError, r"X contains NaN or infinity"),
    ("nan_last", lambda: _with(np.nan, (N - 1, D - 1)), ValueError, r"X contains NaN or infinity"),
    ("posinf", lambda: _with(np.inf), ValueError, r"X contains NaN or infinity"),
    ("neginf", lambda: _with(-np.inf), ValueError, r"X contains NaN or infinity"),
    ("nan_float32", lambda: _with(np.nan).astype(np.float32), ValueError, r"X contains NaN or infinity"),
    ("nan_noncontig", lambda: np.repeat(_with(np.nan), 2, axis=1)[:, ::2], ValueError, r"X contains NaN or infinity"),
    ("nan_fortran", lambda: np.asfortranarray(_with(np.nan)), ValueError, r"X contains NaN or infinity"),
    ("overflow_to_float32", lambda: _with(1e300), ValueError, r"X\[3, 2\] = .* overflows"),
    ("too_many_features", lambda: _X(d=D + 1), ValueError, r"X has 5 features but the network expects 4"),
    ("too_few_features", lambda: _X(d=D - 1), ValueError, r"X has 3 features but the network expects 4"),
    ("transposed", lambda: _X(n=D, d=N), ValueError, r"X has 10 features but the network expects 4"),
    ("empty", lambda: np.empty((0, D)), ValueError, r"X is empty"),
    ("empty_list", lambda: [], ValueError, r"X must be a 2-D array"),
    ("one_d", lambda: _X()[0], ValueError, r"X must be a 2-D array .* got 1-D"),
    ("three_d", lambda: _X()[None], ValueError, r"X must be a 2-D array .* got 3-D"),
    ("scalar", lambda: 1.0, ValueError, r"X must be a 2-D array .* got 0-D"),
    ("ragged", _ragged, ValueError, r"X could not be read as a numeric array"),
    ("complex", lambda: _X().astype(np.complex128), TypeError, r"X has complex dtype"),
    ("complex_zero_imag", lambda: _X() + 0j, TypeError, r"X has complex dtype"),
    ("object", lambda: _X().astype(object), TypeError, r"X has non-numeric dtype object"),
    ("strings", lambda: _X().astype(str), TypeError, r"X has non-numeric dtype"),
    ("none", lambda: None, TypeError, r"X has non-numeric dtype object"),
]


@pytest.mark.parametrize("method", X_METHODS)
@pytest.mark.parametrize("make_X, exc, match", [c[1:] for c in BAD_X], ids=[c[0] for c in BAD_X])
def test_bad_X_rejected(MLP, method, make_X, exc, match):
    net = _net(MLP, dtype="float32")
    with pytest.raises(exc, match=match):
        _call(net, method, make_X(), _y("mse"))


@pytest.mark.parametrize("method", X_METHODS)
@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy"])
def test_nan_X_rejected_for_every_loss(MLP, method, loss):
    net = _net(MLP, loss=loss)
    with pytest.raises(ValueError, match=r"X contains NaN or infinity"):
        _call(net, method, _with(np.nan), _y(loss))


@pytest.mark.filterwarnings("error")
def test_overflow_is_a_value_error_even_with_warnings_as_errors(MLP):
    """The float64 -> float32 cast overflow is reported as the ValueError,
    not as numpy's RuntimeWarning (which ``-W error`` would turn into the
    exception)."""
    net = _net(MLP, dtype="float32")
    with pytest.raises(ValueError, match=r"X\[3, 2\] = .* overflows float32"):
        net.forward(_with(1e300))
    y = _y("mse")
    y[0, 0] = -1e300
    with pytest.raises(ValueError, match=r"y has values that overflow float32"):
        net.loss(_X(), y)


def test_overflow_only_matters_for_float32(MLP):
    X = _with(1e300)
    with pytest.raises(ValueError, match=r"overflows float32"):
        _net(MLP, dtype="float32").forward(X)
    out = _net(MLP, dtype="float64").forward(_with(1e3))
    assert np.isfinite(out).all()


# ---------------------------------------------------------------------------
# y: rejected alike by fit, loss and gradients
# ---------------------------------------------------------------------------

Y_METHODS = ["fit", "loss", "gradients"]


def _set(loss, value, pos=4, k=3, dtype=float):
    y = np.array(_y(loss, k=k), dtype=dtype)
    y[pos] = value
    return y


def _probs(rows=None):
    P = np.zeros((N, 3))
    P[np.arange(N), _y("cross_entropy")] = 1.0
    if rows is not None:
        P[2] = rows
    return P


BAD_Y = [
    # (id, loss, k, make_y, exc, match)
    ("mse_nan", "mse", 3, lambda: _set("mse", np.nan), ValueError, r"y contains NaN or infinity"),
    ("mse_inf", "mse", 3, lambda: _set("mse", np.inf), ValueError, r"y contains NaN or infinity"),
    ("mse_neginf_1d", "mse", 1, lambda: _set("mse", -np.inf, k=1), ValueError, r"y contains NaN or infinity"),
    ("mse_overflow32", "mse", 1, lambda: _set("mse", 1e300, k=1), ValueError, r"y has values that overflow float32"),
    ("mse_short", "mse", 3, lambda: _y("mse")[:-1], ValueError, r"y has 9 rows but X has 10"),
    ("mse_long", "mse", 3, lambda: _y("mse", n=N + 1), ValueError, r"y has 11 rows but X has 10"),
    ("mse_1d_multi_out", "mse", 3, lambda: _y("mse", k=1), ValueError, r"y is 1-D but the network has 3 outputs"),
    ("mse_wrong_cols", "mse", 3, lambda: _y("mse", k=2), ValueError, r"y has 2 columns but the network has 3 outputs"),
    ("mse_wrong_cols_1", "mse", 1, lambda: _y("mse", k=2), ValueError, r"y has 2 columns but the network has 1 outputs"),
    ("mse_3d", "mse", 3, lambda: _y("mse")[..., None], ValueError, r"y must be a 1-D or 2-D array"),
    ("mse_scalar", "mse", 1, lambda: 1.0, ValueError, r"y must be a 1-D or 2-D array"),
    ("mse_complex", "mse", 3, lambda: _y("mse") + 1j, TypeError, r"y has complex dtype"),
    ("mse_object", "mse", 3, lambda: _y("mse").astype(object), TypeError, r"y has non-numeric dtype object"),
    ("mse_none", "mse", 3, lambda: None, TypeError, r"y has non-numeric dtype"),
    ("ce_neg", "cross_entropy", 3, lambda: _set("cross_entropy", -1, dtype=int), ValueError, r"cross_entropy labels must be in \[0, 3\)"),
    ("ce_too_big", "cross_entropy", 3, lambda: _set("cross_entropy", 3, dtype=int), ValueError, r"cross_entropy labels must be in \[0, 3\)"),
    ("ce_huge", "cross_entropy", 3, lambda: _set("cross_entropy", 2**40, dtype=np.int64), ValueError, r"cross_entropy labels must be in \[0, 3\)"),
    ("ce_uint_too_big", "cross_entropy", 3, lambda: _set("cross_entropy", 200, dtype=np.uint8), ValueError, r"cross_entropy labels must be in \[0, 3\)"),
    ("ce_float_too_big", "cross_entropy", 3, lambda: _set("cross_entropy", 3.0), ValueError, r"cross_entropy labels must be in \[0, 3\)"),
    ("ce_float_neg", "cross_entropy", 3, lambda: _set("cross_entropy", -1.0), ValueError, r"cross_entropy labels must be in \[0, 3\)"),
    ("ce_nonintegral", "cross_entropy", 3, lambda: _set("cross_entropy", 1.5), ValueError, r"cross_entropy labels must be integers"),
    ("ce_nonintegral_small", "cross_entropy", 3, lambda: _set("cross_entropy", 1e-9), ValueError, r"cross_entropy labels must be integers"),
    ("ce_nan", "cross_entropy", 3, lambda: _set("cross_entropy", np.nan), ValueError, r"y contains NaN or infinity"),
    ("ce_inf", "cross_entropy", 3, lambda: _set("cross_entropy", np.inf), ValueError, r"y contains NaN or infinity"),
    ("ce_bool", "cross_entropy", 3, lambda: _y("cross_entropy") > 0, ValueError, r"cross_entropy labels must be integers"),
    ("ce_short", "cross_entropy", 3, lambda: _y("cross_entropy")[:-2], ValueError, r"y has 8 rows but X has 10"),
    ("ce_probs_sum_low", "cross_entropy", 3, lambda: _probs([0.5, 0.4, 0.0]), ValueError, r"probability targets must sum to 1 per row; row 2"),
    ("ce_probs_sum_high", "cross_entropy", 3, lambda: _probs([0.5, 0.5, 0.1]), ValueError, r"probability targets must sum to 1 per row; row 2"),
    ("ce_probs_sum_tol", "cross_entropy", 3, lambda: _probs([0.5, 0.5, 1e-5]), ValueError, r"probability targets must sum to 1 per row"),
    ("ce_probs_zero_row", "cross_entropy", 3, lambda: _probs([0.0, 0.0, 0.0]), ValueError, r"probability targets must sum to 1 per row"),
    ("ce_probs_negative", "cross_entropy", 3, lambda: _probs([1.5, -0.5, 0.0]), ValueError, r"probability targets must be non-negative"),
    ("ce_probs_nan", "cross_entropy", 3, lambda: _probs([np.nan, 1.0, 0.0]), ValueError, r"y contains NaN or infinity"),
    ("ce_probs_wrong_cols", "cross_entropy", 3, lambda: _probs()[:, :2], ValueError, r"probability targets must have 3 columns, got 2"),
    ("ce_probs_3d", "cross_entropy", 3, lambda: _probs()[..., None], ValueError, r"y must be a 1-D or 2-D array"),
    ("ce_labels_column", "cross_entropy", 3, lambda: _y("cross_entropy")[:, None], ValueError, r"probability targets must have 3 columns, got 1"),
    ("bce_two", "binary_cross_entropy", 1, lambda: _set("binary_cross_entropy", 2, k=1), ValueError, r"binary_cross_entropy targets must be 0 or 1"),
    ("bce_half", "binary_cross_entropy", 1, lambda: _set("binary_cross_entropy", 0.5, k=1), ValueError, r"binary_cross_entropy targets must be 0 or 1"),
    ("bce_neg", "binary_cross_entropy", 1, lambda: _set("binary_cross_entropy", -1, k=1), ValueError, r"binary_cross_entropy targets must be 0 or 1"),
    ("bce_multi_two", "binary_cross_entropy", 3, lambda: _set("binary_cross_entropy", [0, 2, 1]), ValueError, r"binary_cross_entropy targets must be 0 or 1"),
    ("bce_nan", "binary_cross_entropy", 1, lambda: _set("binary_cross_entropy", np.nan, k=1), ValueError, r"y contains NaN or infinity"),
    ("bce_1d_multi_out", "binary_cross_entropy", 3, lambda: _y("binary_cross_entropy", k=1), ValueError, r"y is 1-D but the network has 3 outputs"),
    ("bce_wrong_cols", "binary_cross_entropy", 3, lambda: _y("binary_cross_entropy", k=2), ValueError, r"y has 2 columns but the network has 3 outputs"),
    ("bce_short", "binary_cross_entropy", 1, lambda: _y("binary_cross_entropy", k=1)[:-1], ValueError, r"y has 9 rows but X has 10"),
]


@pytest.mark.parametrize("method", Y_METHODS)
@pytest.mark.parametrize("loss, k, make_y, exc, match", [c[1:] for c in BAD_Y], ids=[c[0] for c in BAD_Y])
def test_bad_y_rejected(MLP, method, loss, k, make_y, exc, match):
    net = _net(MLP, loss=loss, k=k, dtype="float32")
    with pytest.raises(exc, match=match):
        _call(net, method, _X(), make_y())


GOOD_Y = [
    ("mse_1d", "mse", 1, lambda: _y("mse", k=1)),
    ("mse_col", "mse", 1, lambda: _y("mse", k=1)[:, None]),
    ("mse_int", "mse", 3, lambda: np.arange(N * 3).reshape(N, 3)),
    ("mse_list", "mse", 3, lambda: _y("mse").tolist()),
    ("ce_int32", "cross_entropy", 3, lambda: _y("cross_entropy").astype(np.int32)),
    ("ce_uint8", "cross_entropy", 3, lambda: _y("cross_entropy").astype(np.uint8)),
    ("ce_float_integral", "cross_entropy", 3, lambda: _y("cross_entropy").astype(float)),
    ("ce_list", "cross_entropy", 3, lambda: _y("cross_entropy").tolist()),
    ("ce_probs", "cross_entropy", 3, lambda: _probs([0.2, 0.3, 0.5])),
    ("ce_probs_within_tol", "cross_entropy", 3, lambda: _probs([0.5, 0.5, 5e-7])),
    ("ce_onehot_int", "cross_entropy", 3, lambda: _probs().astype(int)),
    ("bce_1d", "binary_cross_entropy", 1, lambda: _y("binary_cross_entropy", k=1)),
    ("bce_col_float", "binary_cross_entropy", 1, lambda: _y("binary_cross_entropy", k=1)[:, None].astype(float)),
    ("bce_multi_bool", "binary_cross_entropy", 3, lambda: _y("binary_cross_entropy") > 0),
]


@pytest.mark.parametrize("loss, k, make_y", [c[1:] for c in GOOD_Y], ids=[c[0] for c in GOOD_Y])
def test_valid_y_accepted(MLP, loss, k, make_y):
    net = _net(MLP, loss=loss, k=k)
    value = net.loss(_X(), make_y())
    assert isinstance(value, float) and math.isfinite(value)
    net.fit(_X(), make_y(), epochs=1, batch_size=4)
    assert len(net.history) == 1


# ---------------------------------------------------------------------------
# fit hyperparameters
# ---------------------------------------------------------------------------

BAD_FIT = [
    ("batch_zero", dict(batch_size=0), ValueError, r"batch_size must be >= 1, got 0"),
    ("batch_negative", dict(batch_size=-1), ValueError, r"batch_size must be >= 1, got -1"),
    ("batch_float", dict(batch_size=2.5), TypeError, r"batch_size must be an int or None"),
    ("batch_integral_float", dict(batch_size=4.0), TypeError, r"batch_size must be an int or None"),
    ("batch_str", dict(batch_size="8"), TypeError, r"batch_size must be an int or None"),
    ("batch_bool", dict(batch_size=True), TypeError, r"batch_size must be an int or None"),
    ("lr_zero", dict(lr=0), ValueError, r"lr must be a finite number > 0"),
    ("lr_zero_float", dict(lr=0.0), ValueError, r"lr must be a finite number > 0"),
    ("lr_negative", dict(lr=-0.1), ValueError, r"lr must be a finite number > 0"),
    ("lr_nan", dict(lr=float("nan")), ValueError, r"lr must be a finite number > 0"),
    ("lr_inf", dict(lr=float("inf")), ValueError, r"lr must be a finite number > 0"),
    ("lr_np_nan", dict(lr=np.float32("nan")), ValueError, r"lr must be a finite number > 0"),
    ("lr_str", dict(lr="0.1"), TypeError, r"lr must be a real number"),
    ("lr_none", dict(lr=None), TypeError, r"lr must be a real number"),
    ("lr_complex", dict(lr=0.1 + 0j), TypeError, r"lr must be a real number"),
    ("momentum_negative", dict(momentum=-0.1), ValueError, r"momentum must be in \[0, 1\)"),
    ("momentum_one", dict(momentum=1.0), ValueError, r"momentum must be in \[0, 1\)"),
    ("momentum_one_int", dict(momentum=1), ValueError, r"momentum must be in \[0, 1\)"),
    ("momentum_big", dict(momentum=1.5), ValueError, r"momentum must be in \[0, 1\)"),
    ("momentum_nan", dict(momentum=float("nan")), ValueError, r"momentum must be in \[0, 1\)"),
    ("momentum_str", dict(momentum="0.9"), TypeError, r"momentum must be a real number"),
    ("momentum_none", dict(momentum=None), TypeError, r"momentum must be a real number"),
    ("epochs_negative", dict(epochs=-1), ValueError, r"epochs must be >= 0"),
    ("epochs_float", dict(epochs=2.0), TypeError, r"epochs must be an int"),
    ("shuffle_str", dict(shuffle="yes"), TypeError, r"shuffle must be a bool"),
]


@pytest.mark.parametrize("kwargs, exc, match", [c[1:] for c in BAD_FIT], ids=[c[0] for c in BAD_FIT])
def test_bad_fit_params_rejected(MLP, kwargs, exc, match):
    net = _net(MLP)
    with pytest.raises(exc, match=match):
        net.fit(_X(), _y("mse"), **kwargs)


GOOD_FIT = [
    ("momentum_zero", dict(momentum=0)),
    ("momentum_near_one", dict(momentum=0.999)),
    ("batch_np_int", dict(batch_size=np.int64(3))),
    ("batch_one", dict(batch_size=1)),
    ("batch_none", dict(batch_size=None)),
    ("lr_int", dict(lr=1)),
    ("lr_np_float32", dict(lr=np.float32(0.01))),
    ("lr_fraction", dict(lr=__import__("fractions").Fraction(1, 100))),
    ("shuffle_np_bool", dict(shuffle=np.bool_(False))),
    ("epochs_np_int", dict(epochs=np.int32(2))),
]


@pytest.mark.parametrize("kwargs", [c[1] for c in GOOD_FIT], ids=[c[0] for c in GOOD_FIT])
def test_valid_fit_params_accepted(MLP, kwargs):
    net = _net(MLP)
    args = dict(epochs=1, lr=0.01)
    args.update(kwargs)
    assert net.fit(_X(), _y("mse"), **args) is net
    assert len(net.history) == int(args["epochs"])


# ---------------------------------------------------------------------------
# A rejected call changes nothing
# ---------------------------------------------------------------------------

def _snapshot(net):
    return dict(
        weights=[w.copy() for w in net.weights],
        biases=[b.copy() for b in net.biases],
        velocity=np.array(net.velocity, copy=True),
        history=list(net.history),
        rng=copy.deepcopy(net.rng.bit_generator.state),
    )


def _assert_same_state(net, snap):
    for w, w0 in zip(net.weights, snap["weights"]):
        np.testing.assert_array_equal(w, w0)
    for b, b0 in zip(net.biases, snap["biases"]):
        np.testing.assert_array_equal(b, b0)
    np.testing.assert_array_equal(net.velocity, snap["velocity"])
    assert net.history == snap["history"]
    assert net.rng.bit_generator.state == snap["rng"]


def _trained(MLP, loss, dtype):
    k = 3
    net = MLP([D, 6, k], activation="relu", loss=loss, dtype=dtype, seed=7)
    net.fit(_X(), _y(loss, k=k), epochs=2, batch_size=3, lr=0.05, momentum=0.8, shuffle=True)
    return net


REJECTED_FITS = [
    # (id, loss, X factory, y factory, fit kwargs)
    ("nan_X", "cross_entropy", lambda: _with(np.nan), lambda: _y("cross_entropy"), {}),
    ("inf_X_last_row", "mse", lambda: _with(np.inf, (N - 1, 0)), lambda: _y("mse"), {}),
    ("nan_y", "mse", _X, lambda: _set("mse", np.nan, pos=N - 1), {}),
    ("labels_out_of_range", "cross_entropy", _X, lambda: _set("cross_entropy", 3, pos=N - 1, dtype=int), {}),
    ("labels_negative", "cross_entropy", _X, lambda: _set("cross_entropy", -1, pos=N - 1, dtype=int), {}),
    ("labels_nonintegral", "cross_entropy", _X, lambda: _set("cross_entropy", 0.5, pos=N - 1), {}),
    ("probs_bad_sum", "cross_entropy", _X, lambda: _probs([0.3, 0.3, 0.3]), {}),
    ("bce_bad_target", "binary_cross_entropy", _X, lambda: _set("binary_cross_entropy", [0, 1, 2], pos=N - 1), {}),
    ("wrong_features", "mse", lambda: _X(d=D + 1), lambda: _y("mse"), {}),
    ("y_length", "mse", _X, lambda: _y("mse", n=N - 1), {}),
    ("empty_X", "mse", lambda: np.empty((0, D)), lambda: np.empty((0, 3)), {}),
    ("lr_zero", "mse", _X, lambda: _y("mse"), dict(lr=0.0)),
    ("lr_nan", "cross_entropy", _X, lambda: _y("cross_entropy"), dict(lr=float("nan"))),
    ("lr_negative", "mse", _X, lambda: _y("mse"), dict(lr=-0.1)),
    ("momentum_one", "mse", _X, lambda: _y("mse"), dict(momentum=1.0)),
    ("momentum_negative", "mse", _X, lambda: _y("mse"), dict(momentum=-0.1)),
    ("batch_zero", "cross_entropy", _X, lambda: _y("cross_entropy"), dict(batch_size=0)),
    ("batch_float", "mse", _X, lambda: _y("mse"), dict(batch_size=2.5)),
    ("epochs_negative", "mse", _X, lambda: _y("mse"), dict(epochs=-1)),
    ("shuffle_bad", "mse", _X, lambda: _y("mse"), dict(shuffle="no")),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "loss, make_X, make_y, kwargs", [c[1:] for c in REJECTED_FITS], ids=[c[0] for c in REJECTED_FITS]
)
def test_rejected_fit_changes_nothing(MLP, dtype, loss, make_X, make_y, kwargs):
    net = _trained(MLP, loss, dtype)
    twin = _trained(MLP, loss, dtype)
    assert np.any(net.velocity != 0), "setup: velocity should be non-zero after training"
    snap = _snapshot(net)
    args = dict(epochs=3, batch_size=4, lr=0.05, momentum=0.9, shuffle=True)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError)):
        net.fit(make_X(), make_y(), **args)
    _assert_same_state(net, snap)
    # No hidden state moved either: training continues exactly like a twin
    # that never saw the rejected call.
    for m in (net, twin):
        m.fit(_X(), _y(loss), epochs=2, batch_size=4, lr=0.05, momentum=0.9, shuffle=True)
    for a, b in zip(net.weights + net.biases, twin.weights + twin.biases):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(net.velocity, twin.velocity)
    assert net.history == twin.history


@pytest.mark.parametrize("method", ["loss", "gradients", "forward", "predict"])
def test_rejected_other_calls_change_nothing(MLP, method):
    net = _trained(MLP, "cross_entropy", "float32")
    snap = _snapshot(net)
    with pytest.raises(ValueError, match=r"X contains NaN or infinity"):
        _call(net, method, _with(np.nan), _y("cross_entropy"))
    if method in ("loss", "gradients"):
        with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
            _call(net, method, _X(), _set("cross_entropy", 5, dtype=int))
    _assert_same_state(net, snap)


def test_valid_calls_other_than_fit_change_nothing(MLP):
    """loss/gradients/forward/predict are pure: no parameter, velocity,
    history or generator change."""
    net = _trained(MLP, "cross_entropy", "float64")
    snap = _snapshot(net)
    for method in ("loss", "gradients", "forward", "predict"):
        _call(net, method, _X(), _y("cross_entropy"))
    _assert_same_state(net, snap)


def test_the_finiteness_check_of_X_streams():
    """X already in the model dtype is not copied, and the NaN/inf check
    looks at it a block at a time: a 51 MB X costs about 1 MiB of mask, not
    one byte per element (12.8 MB here), and a NaN in the last block is
    still found and located."""
    import tracemalloc

    from fastmlp.inputs import validation as _validation

    X = np.zeros((200_000, 64), dtype=np.float32)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = _validation.check_X(X, 64, np.float32)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert out is X
    assert peak < 2 * _validation.FINITE_CHECK_ELEMENTS + 65536, peak
    X[199_999, 63] = np.nan
    with pytest.raises(ValueError, match="row 199999, column 63"):
        _validation.check_X(X, 64, np.float32)
