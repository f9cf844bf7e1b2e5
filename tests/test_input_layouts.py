"""Input layouts and dtypes, caller data left alone, and contract details.

- fit (and every other method) never modifies the caller's X or y;
- non-contiguous, Fortran-ordered, negatively strided, read-only, integer or
  list inputs give exactly the result of a C-contiguous float copy (same
  implementation: the validated copy is identical, so results are equal,
  not merely close);
- the equivalent spellings of y (int vs float, (n,) vs (n, 1), integer labels
  vs one-hot rows) give exactly the same result;
- weights/biases shapes, writable views into one buffer, dtype kept,
  predict output per loss, batch_size > n == full batch, history.

Every test runs against both ``fastmlp.MLP`` and ``fastmlp.reference.MLP``.
"""
import copy

import numpy as np
import pytest


@pytest.fixture(params=["fastmlp.MLP", "reference.MLP"])
def MLP(request):
    import fastmlp

    if request.param == "fastmlp.MLP":
        return fastmlp.MLP
    from fastmlp import reference

    return reference.MLP


N, D = 13, 4  # 13 rows with batch_size 5: the last batch is smaller

# (id, layer_sizes, activation, loss, dtype)
CONFIGS = [
    ("mse_multi_f64", [D, 6, 2], "tanh", "mse", "float64"),
    ("mse_single_f32", [D, 5, 1], "relu", "mse", "float32"),
    ("ce_f32", [D, 6, 3], "relu", "cross_entropy", "float32"),
    ("ce_f64_deep", [D, 5, 4, 3], ["leaky_relu", "sigmoid"], "cross_entropy", "float64"),
    ("bce_single_f64", [D, 5, 1], "tanh", "binary_cross_entropy", "float64"),
    ("bce_multi_f32", [D, 5, 3], "relu", "binary_cross_entropy", "float32"),
]
CONFIG_IDS = [c[0] for c in CONFIGS]
CONFIG_ARGS = [c[1:] for c in CONFIGS]

FIT = dict(epochs=3, batch_size=5, lr=0.05, momentum=0.9, shuffle=True)


def base_X(n=N, d=D, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


def base_y(loss, k, n=N, seed=1):
    """Canonical y: float64 C array, (n, k) for mse/bce, int64 labels for ce."""
    rng = np.random.default_rng(seed)
    if loss == "mse":
        return rng.standard_normal((n, k))
    if loss == "cross_entropy":
        y = rng.integers(0, k, n).astype(np.int64)
        y[:k] = np.arange(k)
        return y
    return rng.integers(0, 2, (n, k)).astype(np.float64)


def run_all(MLP, config, X, y, seed=3):
    """Every public method on a fresh model; results copied out."""
    sizes, act, loss, dtype = config
    net = MLP(sizes, activation=act, loss=loss, dtype=dtype, seed=seed)
    res = {}
    res["forward"] = net.forward(X)
    res["predict"] = net.predict(X)
    res["loss"] = net.loss(X, y)
    dW, db = net.gradients(X, y)
    res["dW"], res["db"] = dW, db
    net.fit(X, y, **FIT)
    res["weights"] = [w.copy() for w in net.weights]
    res["biases"] = [b.copy() for b in net.biases]
    res["velocity"] = np.array(net.velocity, copy=True)
    res["history"] = list(net.history)
    res["forward_after"] = net.forward(X)
    res["rng"] = net.rng.bit_generator.state
    return res


def assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        va, vb = a[key], b[key]
        if isinstance(va, list) and va and isinstance(va[0], np.ndarray):
            assert len(va) == len(vb), key
            for x, z in zip(va, vb):
                assert x.dtype == z.dtype, key
                np.testing.assert_array_equal(x, z, err_msg=key)
        elif isinstance(va, np.ndarray):
            assert va.dtype == vb.dtype and va.shape == vb.shape, key
            np.testing.assert_array_equal(va, vb, err_msg=key)
        else:
            assert va == vb, key


def readonly(a):
    a = np.array(a, copy=True, order="K")
    a.setflags(write=False)
    return a


# ---------------------------------------------------------------------------
# X layouts: each variant has the values of a C-contiguous float64 copy
# ---------------------------------------------------------------------------

def _cols_strided(X, dtype):
    wide = np.full((X.shape[0], 2 * X.shape[1]), 7.5)
    wide[:, ::2] = X
    return wide[:, ::2]


def _rows_strided(X, dtype):
    tall = np.full((2 * X.shape[0], X.shape[1]), -7.5)
    tall[::2] = X
    return tall[::2]


def _both_strided(X, dtype):
    big = np.full((3 * X.shape[0], 3 * X.shape[1]), 3.25)
    big[::3, 1::3] = X
    return big[::3, 1::3]


def _negative_strides(X, dtype):
    return np.ascontiguousarray(X[::-1, ::-1])[::-1, ::-1]


def _column_of_wider_f32(X, dtype):
    wide = np.zeros((X.shape[0], X.shape[1] + 3), dtype=np.float32)
    wide[:, 1:1 + X.shape[1]] = X
    return wide[:, 1:1 + X.shape[1]]


X_VARIANTS = [
    ("cols_strided", _cols_strided),
    ("rows_strided", _rows_strided),
    ("both_strided", _both_strided),
    ("negative_strides", _negative_strides),
    ("fortran", lambda X, dt: np.asfortranarray(X)),
    ("fortran_model_dtype", lambda X, dt: np.asfortranarray(X, dtype=dt)),
    ("readonly_f64", lambda X, dt: readonly(X)),
    ("readonly_model_dtype", lambda X, dt: readonly(X.astype(dt))),
    ("readonly_fortran", lambda X, dt: readonly(np.asfortranarray(X))),
    ("readonly_strided", lambda X, dt: readonly(np.repeat(X, 2, axis=0))[::2]),
    ("float32_input", lambda X, dt: X.astype(np.float32)),
    ("float32_noncontig", _column_of_wider_f32),
    ("int64", lambda X, dt: np.rint(3 * X).astype(np.int64)),
    ("int32_fortran", lambda X, dt: np.asfortranarray(np.rint(3 * X).astype(np.int32))),
    ("uint8", lambda X, dt: np.rint(3 * np.abs(X)).astype(np.uint8)),
    ("int16_readonly", lambda X, dt: readonly(np.rint(3 * X).astype(np.int16))),
    ("bool", lambda X, dt: X > 0),
    ("nested_list", lambda X, dt: X.tolist()),
    ("float16", lambda X, dt: X.astype(np.float16)),
]


@pytest.mark.parametrize("config", CONFIG_ARGS, ids=CONFIG_IDS)
@pytest.mark.parametrize("make", [v[1] for v in X_VARIANTS], ids=[v[0] for v in X_VARIANTS])
def test_X_layout_matches_c_float_copy(MLP, config, make):
    sizes, act, loss, dtype = config
    Xv = make(base_X(), np.dtype(dtype))
    Xc = np.array(Xv, dtype=np.float64, order="C")  # the C-contiguous float copy
    y = base_y(loss, sizes[-1])
    before = copy.deepcopy(Xv)
    assert_same(run_all(MLP, config, Xv, y), run_all(MLP, config, Xc, y))
    np.testing.assert_array_equal(np.asarray(Xv), np.asarray(before))


# ---------------------------------------------------------------------------
# y spellings: each variant is equivalent to the canonical y
# ---------------------------------------------------------------------------

def _y_variants(loss, k):
    y = base_y(loss, k)
    out = []
    if loss == "mse":
        yi = np.rint(3 * y).astype(np.int64)
        out += [
            ("int", yi, yi.astype(np.float64)),
            ("int32_fortran", np.asfortranarray(yi.astype(np.int32)), yi.astype(np.float64)),
            ("fortran", np.asfortranarray(y), y),
            ("rows_strided", np.repeat(y, 2, axis=0)[::2], y),
            ("readonly", readonly(y), y),
            ("float32", y.astype(np.float32), y.astype(np.float32).astype(np.float64)),
            ("list", y.tolist(), y),
        ]
        if k == 1:
            out += [
                ("1d", y[:, 0].copy(), y),
                ("1d_strided", np.repeat(y[:, 0], 3)[::3], y),
                ("1d_readonly", readonly(y[:, 0]), y),
                ("1d_int", yi[:, 0].copy(), yi.astype(np.float64)),
                ("1d_list", y[:, 0].tolist(), y),
            ]
    elif loss == "binary_cross_entropy":
        out += [
            ("int", y.astype(np.int64), y),
            ("bool", y.astype(bool), y),
            ("uint8_fortran", np.asfortranarray(y.astype(np.uint8)), y),
            ("readonly", readonly(y), y),
            ("cols_strided", np.repeat(y, 2, axis=1)[:, ::2], y),
        ]
        if k == 1:
            out += [
                ("1d_float", y[:, 0].copy(), y),
                ("1d_int", y[:, 0].astype(np.int64), y),
                ("1d_int8_strided", np.repeat(y[:, 0].astype(np.int8), 2)[::2], y),
                ("1d_readonly", readonly(y[:, 0]), y),
            ]
    else:
        onehot = np.eye(k)[y]
        out += [
            ("float_integral", y.astype(np.float64), y),
            ("float32_integral", y.astype(np.float32), y),
            ("int32", y.astype(np.int32), y),
            ("uint8", y.astype(np.uint8), y),
            ("strided", np.repeat(y, 2)[::2], y),
            ("readonly", readonly(y), y),
            ("list", y.tolist(), y),
            ("onehot_float64", onehot, y),
            ("onehot_float32", onehot.astype(np.float32), y),
            ("onehot_int", onehot.astype(np.int64), y),
            ("onehot_fortran", np.asfortranarray(onehot), y),
            ("onehot_readonly", readonly(onehot), y),
        ]
    return out


Y_CASES = [
    (f"{cid}-{name}", cfg, yv, yc)
    for cid, *cfg in CONFIGS
    for name, yv, yc in _y_variants(cfg[2], cfg[0][-1])
]


@pytest.mark.parametrize(
    "config, yv, yc", [c[1:] for c in Y_CASES], ids=[c[0] for c in Y_CASES]
)
def test_y_spelling_matches_canonical(MLP, config, yv, yc):
    X = base_X()
    before = copy.deepcopy(yv)
    assert_same(run_all(MLP, tuple(config), X, yv), run_all(MLP, tuple(config), X, yc))
    np.testing.assert_array_equal(np.asarray(yv), np.asarray(before))


def test_probability_rows_are_not_just_argmax(MLP):
    """Soft probability rows are used as given (a soft target is not the
    same objective as its argmax label) and equal the weighted labels."""
    X = base_X()
    net = MLP([D, 5, 3], activation="tanh", loss="cross_entropy", dtype="float64", seed=0)
    P = np.tile([0.2, 0.5, 0.3], (N, 1))
    soft = net.loss(X, P)
    hard = [net.loss(X, np.full(N, c)) for c in range(3)]
    assert soft != pytest.approx(hard[1])
    assert soft == pytest.approx(0.2 * hard[0] + 0.5 * hard[1] + 0.3 * hard[2], rel=1e-12)


# ---------------------------------------------------------------------------
# The caller's X and y are never modified
# ---------------------------------------------------------------------------

def _caller_data(loss, k, dtype, y_form):
    X = np.ascontiguousarray(base_X(), dtype=dtype)
    y = base_y(loss, k)
    if y_form == "model_dtype":
        y = np.ascontiguousarray(y, dtype=dtype)
    elif y_form == "1d" and loss != "cross_entropy":
        y = np.ascontiguousarray(y[:, 0], dtype=dtype)
    elif y_form == "onehot":
        y = np.ascontiguousarray(np.eye(k)[y], dtype=dtype)
    return X, y


NO_MODIFY = [
    (cid, cfg, form)
    for cid, *cfg in CONFIGS
    for form in (["model_dtype", "onehot"] if cfg[2] == "cross_entropy" else
                 ["model_dtype", "1d"] if cfg[0][-1] == 1 else ["model_dtype"])
]


@pytest.mark.parametrize("batch_size", [1, 5, None])
@pytest.mark.parametrize(
    "config, y_form", [c[1:] for c in NO_MODIFY], ids=[f"{c[0]}-{c[2]}" for c in NO_MODIFY]
)
def test_fit_never_modifies_caller_data(MLP, config, y_form, batch_size):
    """Including when X (and y) already are C-contiguous arrays of the model
    dtype, so validation passes the caller's own memory through."""
    sizes, act, loss, dtype = config
    X, y = _caller_data(loss, sizes[-1], dtype, y_form)
    X0, y0 = X.copy(), y.copy()
    net = MLP(sizes, activation=act, loss=loss, dtype=dtype, seed=0)
    net.fit(X, y, epochs=3, batch_size=batch_size, lr=0.05, momentum=0.9, shuffle=True)
    net.forward(X)
    net.predict(X)
    net.loss(X, y)
    net.gradients(X, y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    assert X.dtype == X0.dtype and y.dtype == y0.dtype
    assert X.flags.writeable and y.flags.writeable


def test_results_do_not_alias_caller_or_model(MLP):
    """forward/predict/gradients return new arrays: writing into them (or
    into the caller's X afterwards) changes neither the model nor later
    results."""
    X = np.ascontiguousarray(base_X(), dtype=np.float32)
    y = np.ascontiguousarray(base_y("mse", 1)[:, 0], dtype=np.float32)
    net = MLP([D, 5, 1], activation="tanh", loss="mse", dtype="float32", seed=0)
    out = net.forward(X)
    ref = out.copy()
    assert not np.shares_memory(out, X)
    dW, db = net.gradients(X, y)
    for g in dW + db:
        for a in net.weights + net.biases + [net.velocity]:
            assert not np.shares_memory(g, a)
        g[...] = 123.0
    p = net.predict(X)
    p[...] = -5.0
    out[...] = 0.0
    np.testing.assert_array_equal(net.forward(X), ref)
    dW2, db2 = net.gradients(X, y)
    assert all(np.all(g != 123.0) for g in dW2 + db2)
    # a later call returns new arrays rather than refilling earlier ones
    kept = [g.copy() for g in dW2 + db2]
    net.gradients(X[::-1] * 2, y[::-1] + 1)
    for g, g0 in zip(dW2 + db2, kept):
        np.testing.assert_array_equal(g, g0)
    out2 = net.forward(X)
    net.forward(X * 3)
    np.testing.assert_array_equal(out2, ref)


# ---------------------------------------------------------------------------
# weights / biases
# ---------------------------------------------------------------------------

def _act(name, z):
    if name == "identity":
        return z
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise AssertionError(name)


NATURAL_OUTPUT = {"mse": "identity", "cross_entropy": "softmax",
                  "binary_cross_entropy": "sigmoid"}


def layer_acts(sizes, act, loss):
    hidden = [act] * (len(sizes) - 2) if isinstance(act, str) else list(act)
    return hidden + [NATURAL_OUTPUT[loss]]


def numpy_forward(weights, biases, acts, X):
    a = np.asarray(X, dtype=np.float64)
    for W, b, name in zip(weights, biases, acts):
        a = _act(name, a @ np.asarray(W, np.float64).T + np.asarray(b, np.float64))
    return a


def _root(a):
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_parameter_shapes_and_dtype(MLP, dtype):
    net = MLP([7, 5, 4, 3], dtype=dtype, seed=0)
    assert isinstance(net.weights, list) and isinstance(net.biases, list)
    assert [w.shape for w in net.weights] == [(5, 7), (4, 5), (3, 4)]
    assert [b.shape for b in net.biases] == [(5,), (4,), (3,)]
    assert all(a.dtype == np.dtype(dtype) for a in net.weights + net.biases)
    assert all(np.all(b == 0) for b in net.biases)
    assert all(np.any(w != 0) for w in net.weights)


def test_parameters_are_writable_views_into_one_buffer(MLP):
    net = MLP([7, 5, 4, 3], dtype="float64", seed=0)
    arrays = net.weights + net.biases
    assert all(a.flags.writeable for a in arrays)
    root = _root(arrays[0])
    assert all(_root(a) is root for a in arrays), "not views of one buffer"
    assert root.flags.c_contiguous or root.flags.f_contiguous
    assert root.size >= sum(a.size for a in arrays)
    for i, a in enumerate(arrays):  # no two parameters overlap
        for b in arrays[i + 1:]:
            assert not np.shares_memory(a, b)


@pytest.mark.parametrize("config", CONFIG_ARGS, ids=CONFIG_IDS)
def test_writing_weights_changes_the_model(MLP, config):
    sizes, act, loss, dtype = config
    net = MLP(sizes, activation=act, loss=loss, dtype=dtype, seed=0)
    X = base_X()
    before = net.forward(X).copy()
    rng = np.random.default_rng(11)
    for l, (w, b) in enumerate(zip(net.weights, net.biases)):
        net.weights[l][...] = rng.standard_normal(w.shape)
        net.biases[l][...] = rng.standard_normal(b.shape)
    after = net.forward(X)
    assert not np.allclose(after, before)
    expected = numpy_forward(net.weights, net.biases, layer_acts(sizes, act, loss), X)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(after, expected, rtol=tol, atol=tol)
    # bias of the output layer alone: moves the output as predicted
    net.biases[-1][...] += 0.25
    expected = numpy_forward(net.weights, net.biases, layer_acts(sizes, act, loss), X)
    np.testing.assert_allclose(net.forward(X), expected, rtol=tol, atol=tol)


def test_written_weights_are_what_training_starts_from(MLP):
    """Two models with different seeds, given the same weights through the
    views, train identically (shuffle=False): no private copy survives."""
    X, y = base_X(), base_y("cross_entropy", 3)
    nets = [MLP([D, 6, 3], loss="cross_entropy", dtype="float64", seed=s) for s in (1, 2)]
    rng = np.random.default_rng(5)
    values = [rng.standard_normal(w.shape) for w in nets[0].weights]
    bvals = [rng.standard_normal(b.shape) for b in nets[0].biases]
    for net in nets:
        for w, v in zip(net.weights, values):
            w[...] = v
        for b, v in zip(net.biases, bvals):
            b[...] = v
        net.fit(X, y, epochs=2, batch_size=4, lr=0.1, shuffle=False)
    for a, b in zip(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases):
        np.testing.assert_array_equal(a, b)
    assert nets[0].history == nets[1].history


def test_views_stay_live_across_fit(MLP):
    """Views taken before fit see the trained values and still drive the
    model afterwards (fit updates the buffer in place, never rebinds it)."""
    X, y = base_X(), base_y("mse", 2)
    net = MLP([D, 5, 2], activation="tanh", dtype="float64", seed=0)
    W0_view, b0_view, b1_view = net.weights[0], net.biases[0], net.biases[1]
    W0_before = W0_view.copy()
    net.fit(X, y, epochs=2, batch_size=5, lr=0.1)
    assert not np.array_equal(W0_view, W0_before), "the old view did not see training"
    np.testing.assert_array_equal(W0_view, net.weights[0])
    np.testing.assert_array_equal(b0_view, net.biases[0])
    np.testing.assert_array_equal(b1_view, net.biases[1])
    W0_view[...] = 0.0
    b0_view[...] = 0.0
    b1_view[...] = [0.5, -2.0]
    # hidden layer: tanh(0 x + 0) == 0, so the output is exactly the last bias
    np.testing.assert_array_equal(net.forward(X), np.tile([0.5, -2.0], (N, 1)))


# ---------------------------------------------------------------------------
# dtype kept
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("in_dtype", [np.float64, np.float32, np.int64])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy", "binary_cross_entropy"])
def test_dtype_kept(MLP, dtype, in_dtype, loss):
    k = 3
    X = np.rint(3 * base_X()).astype(in_dtype)
    y = base_y(loss, k)
    net = MLP([D, 5, k], activation="tanh", loss=loss, dtype=dtype, seed=0)
    out = net.forward(X)
    assert out.dtype == np.dtype(dtype) and out.shape == (N, k)
    dW, db = net.gradients(X, y)
    assert [g.shape for g in dW] == [w.shape for w in net.weights]
    assert [g.shape for g in db] == [b.shape for b in net.biases]
    assert all(g.dtype == np.dtype(dtype) for g in dW + db)
    value = net.loss(X, y)
    assert type(value) is float
    net.fit(X, y, epochs=1, batch_size=4, lr=0.01)
    assert all(a.dtype == np.dtype(dtype) for a in net.weights + net.biases)
    assert net.velocity.dtype == np.dtype(dtype)
    assert net.forward(X).dtype == np.dtype(dtype)
    if loss == "mse":
        assert net.predict(X).dtype == np.dtype(dtype)


# ---------------------------------------------------------------------------
# predict
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy", "binary_cross_entropy"])
def test_predict_kind_and_shape(MLP, loss, k, dtype):
    X = base_X(n=40, seed=4) * 3
    net = MLP([D, 8, k], activation="tanh", loss=loss, dtype=dtype, seed=2)
    for b in net.biases:  # spread the outputs so both classes show up
        b[...] = np.linspace(-1, 1, b.size)
    out = net.forward(X)
    p = net.predict(X)
    if loss == "cross_entropy":
        assert p.shape == (40,)
        assert p.dtype.kind in "iu"
        np.testing.assert_array_equal(p, np.argmax(out, axis=1))
        assert np.all((p >= 0) & (p < k))
        np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-5)
    elif loss == "binary_cross_entropy":
        assert p.shape == ((40,) if k == 1 else (40, k))
        assert p.dtype.kind in "iu"
        assert set(np.unique(p)) <= {0, 1}
        probs = out[:, 0] if k == 1 else out
        clear = np.abs(probs - 0.5) > 1e-6
        np.testing.assert_array_equal(p[clear], (probs[clear] > 0.5).astype(int))
        assert np.all((out > 0) & (out < 1))
    else:
        assert p.shape == ((40,) if k == 1 else (40, k))
        assert p.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(p, out[:, 0] if k == 1 else out)


def test_predict_binary_has_both_classes(MLP):
    """Guard for the test above: the data really exercises 0 and 1."""
    X = base_X(n=40, seed=4) * 3
    net = MLP([D, 8, 1], activation="tanh", loss="binary_cross_entropy", seed=2)
    net.weights[-1][...] = 2.0 * np.sign(net.weights[-1])
    p = net.predict(X)
    assert set(np.unique(p)) == {0, 1}


# ---------------------------------------------------------------------------
# batch_size > n, history
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("config", CONFIG_ARGS, ids=CONFIG_IDS)
def test_batch_larger_than_n_is_full_batch(MLP, config, shuffle):
    sizes, act, loss, dtype = config
    X, y = base_X(), base_y(loss, sizes[-1])
    results = []
    for bs in (None, N, N + 1, 10 * N):
        net = MLP(sizes, activation=act, loss=loss, dtype=dtype, seed=9)
        net.fit(X, y, epochs=3, batch_size=bs, lr=0.05, momentum=0.5, shuffle=shuffle)
        results.append(net)
    ref = results[0]
    for net in results[1:]:
        for a, b in zip(net.weights + net.biases, ref.weights + ref.biases):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(net.velocity, ref.velocity)
        assert net.history == ref.history
        assert net.rng.bit_generator.state == ref.rng.bit_generator.state


def test_batch_size_changes_training(MLP):
    """Guard: the test above is not vacuous, a smaller batch trains differently."""
    X, y = base_X(), base_y("mse", 2)
    a = MLP([D, 5, 2], seed=9).fit(X, y, epochs=2, batch_size=None, shuffle=False)
    b = MLP([D, 5, 2], seed=9).fit(X, y, epochs=2, batch_size=N - 1, shuffle=False)
    assert not np.array_equal(a.weights[0], b.weights[0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_history_appends_one_float_per_epoch(MLP, dtype):
    X, y = base_X(), base_y("cross_entropy", 3)
    net = MLP([D, 6, 3], loss="cross_entropy", dtype=dtype, seed=0)
    assert net.history == []
    assert net.fit(X, y, epochs=3, batch_size=5, lr=0.05) is net
    assert len(net.history) == 3
    assert all(type(h) is float and np.isfinite(h) for h in net.history)
    first = list(net.history)
    net.fit(X, y, epochs=2, batch_size=5, lr=0.05)
    assert len(net.history) == 5
    assert net.history[:3] == first
    net.fit(X, y, epochs=0)
    assert len(net.history) == 5
    net.fit(X, y, epochs=1, batch_size=None, lr=0.05)
    assert len(net.history) == 6


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_full_batch_history_is_objective_before_step(MLP, dtype, l2):
    """Full batch, no shuffle: each epoch's history entry is the objective of
    the parameters at the start of that epoch."""
    X, y = base_X(), base_y("mse", 2)
    net = MLP([D, 5, 2], activation="tanh", dtype=dtype, l2=l2, seed=0)
    expected = []
    for _ in range(3):
        expected.append(net.loss(X, y))
        net.fit(X, y, epochs=1, batch_size=None, lr=0.05, shuffle=False)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(net.history, expected, rtol=tol)
    assert expected[0] != expected[1]
