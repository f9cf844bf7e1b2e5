"""Every instruction-set path of the elementwise kernels that this machine
can run gives the reference's results (and the exp accuracy bound).

The paths are switched in-process with fastmlp._kernels._train.simd_select;
FASTMLP_SIMD, read at import, is checked in a subprocess.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastmlp
import fastmlp.reference
from fastmlp._kernels._rows import DenseRows
from fastmlp._kernels import _probes, _train
from fastmlp.network import workspace as _workspace
from fastmlp.network.workspace import ACTIVATION_CODES

from conftest import (ACTIVATIONS, FIT_RTOL, LOSS_CASES, PASS_RTOL, assert_close,
                      loss_case_id, make_data)
from test_kernels import MAX_ULP, NORMAL_RANGE, kernel_exp

PATHS = _train.simd_paths()
TANH, SIGMOID = ACTIVATION_CODES["tanh"], ACTIVATION_CODES["sigmoid"]


def test_baseline_always_available():
    assert PATHS[0] == "baseline"
    assert _train.simd_active() in PATHS


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", LOSS_CASES, ids=loss_case_id)
def test_every_path_matches_reference(simd_path, case, dtype):
    loss, output, kind = case
    sizes = [6, 9, 7, 4]
    X, y = make_data(kind, 37, sizes, seed=4)
    for activation in ACTIVATIONS:
        kw = dict(activation=activation, loss=loss, output=output, l2=0.02,
                  dtype=dtype, seed=6)
        a, b = fastmlp.MLP(sizes, **kw), fastmlp.reference.MLP(sizes, **kw)
        assert_close(a.forward(X), b.forward(X), PASS_RTOL[dtype], f"{simd_path} forward")
        assert_close(a.loss(X, y), b.loss(X, y), PASS_RTOL[dtype], f"{simd_path} loss")
        for ga, gb in zip(sum(a.gradients(X, y), []), sum(b.gradients(X, y), [])):
            assert_close(ga, gb, 10 * PASS_RTOL[dtype], f"{simd_path} gradients")
        for net in (a, b):
            net.fit(X, y, epochs=2, batch_size=5, lr=0.05, momentum=0.9)
        assert_close(a.params, b.params, FIT_RTOL[dtype], f"{simd_path} fit")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_path_exp_accuracy(simd_path, dtype):
    x = np.linspace(NORMAL_RANGE[dtype], 0, 200_001).astype(dtype)
    exact = np.exp(x.astype(np.float64)) if dtype is np.float32 else np.exp(x)
    ulp = np.abs(kernel_exp(x).astype(np.float64) - exact) / np.spacing(exact.astype(dtype))
    assert ulp.max() <= MAX_ULP[dtype]


def test_paths_agree_closely():
    """Different paths may round differently (FMA contraction), never more."""
    if len(PATHS) < 2:
        pytest.skip("only the baseline path on this CPU")
    sizes = [8, 16, 3]
    X, y = make_data("labels", 64, sizes, seed=1)
    before = _train.simd_active()
    results = []
    try:
        for path in PATHS:
            _train.simd_select(path)
            net = fastmlp.MLP(sizes, activation="sigmoid", loss="cross_entropy",
                              dtype="float64", seed=0)
            net.fit(X, y, epochs=3, batch_size=8, lr=0.1)
            results.append(net.params.copy())
    finally:
        _train.simd_select(before)
    for other in results[1:]:
        assert_close(other, results[0], 1e-12, "paths")


def _run_with_simd(value):
    env = dict(os.environ, FASTMLP_SIMD=value)
    code = "from fastmlp._kernels import _train; print(_train.simd_active())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("path", PATHS)
def test_environment_variable_forces_path(path):
    proc = _run_with_simd(path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == path


def test_environment_variable_rejects_unknown_path():
    proc = _run_with_simd("sse9")
    assert proc.returncode != 0
    assert "FASTMLP_SIMD='sse9'" in proc.stderr and "unknown SIMD path" in proc.stderr


def test_select_rejects_unknown_name():
    with pytest.raises(ValueError, match="unknown SIMD path"):
        _train.simd_select("neon9")


# Activation accuracy, in ulp of the exact value (float64 arithmetic as the
# reference for float32; libm's float64 tanh and exp for float64). Measured
# on every path: tanh 2.49 ulp (float32) and 3.0 (float64), sigmoid 2.25 and
# 3.0. The kernels build both from their own exp/expm1 so that the loops
# vectorize; the bounds leave a little margin.
ACTIVATION_MAX_ULP = {np.float32: 3.0, np.float64: 4.0}


def _ulp_error(got, exact, dtype):
    return np.abs(got.astype(np.float64) - exact) / np.spacing(
        np.abs(exact).astype(dtype)).astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_path_tanh_and_sigmoid_accuracy(simd_path, dtype):
    x = np.concatenate([np.linspace(-25, 25, 200_001), np.logspace(-30, 1.4, 50_001),
                        -np.logspace(-30, 1.4, 50_001)]).astype(dtype)
    x64 = x.astype(np.float64)
    th = x.copy()
    _probes.activate_inplace(TANH, th)
    sg = x.copy()
    _probes.activate_inplace(SIGMOID, sg)
    assert _ulp_error(th, np.tanh(x64), dtype).max() <= ACTIVATION_MAX_ULP[dtype]
    assert _ulp_error(sg, 1 / (1 + np.exp(-x64)), dtype).max() <= ACTIVATION_MAX_ULP[dtype]
    # Saturation and special values.
    ends = np.array([-1e30, 1e30, -np.inf, np.inf, 0.0, np.nan], dtype=dtype)
    t, s = ends.copy(), ends.copy()
    _probes.activate_inplace(TANH, t)
    _probes.activate_inplace(SIGMOID, s)
    np.testing.assert_array_equal(t[:5], [-1, 1, -1, 1, 0])
    np.testing.assert_array_equal(s[:5], [0, 1, 0, 1, 0.5])
    assert np.isnan(t[5]) and np.isnan(s[5])
    # tanh is odd down to the sign of zero, as numpy's is.
    zeros = np.array([0.0, -0.0], dtype=dtype)
    _probes.activate_inplace(TANH, zeros)
    np.testing.assert_array_equal(np.signbit(zeros), np.signbit(np.tanh([0.0, -0.0])))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_probes_run_the_path_training_runs(simd_path, dtype):
    # _probes runs _train's C kernels (_train.pxd), under the one record of
    # the path simd_select sets: a probe must give training's bits on every
    # path. A 1 -> 1 network with weight 1 and bias 0 makes _train.forward
    # apply the output activation to X as it is (paths differ in sigmoid's
    # last bits, so a probe on a path of its own would not match).
    net = fastmlp.MLP([1, 1], loss="binary_cross_entropy", dtype=dtype, seed=0)
    net.params[:] = [1, 0]
    x = np.random.default_rng(3).normal(0, 4, 4_001).astype(dtype)
    spec, work = _workspace.build(net._layout, net.layer_activations, net.loss_name,
                                  x.size, net.dtype)
    trained = np.empty((x.size, 1), dtype=dtype)
    _train.forward(spec, net.params, DenseRows(x.reshape(-1, 1)), work, trained)
    probed = x.copy()
    _probes.activate_inplace(SIGMOID, probed)
    np.testing.assert_array_equal(probed, trained[:, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_path_piecewise_activations_and_derivatives_exact(simd_path, dtype):
    rng = np.random.default_rng(0)
    z = rng.standard_normal(10_001).astype(dtype)
    z[::7] = 0
    expected_act = {"identity": z, "relu": np.maximum(z, 0),
                    "leaky_relu": np.where(z > 0, z, dtype(0.01) * z)}
    for name, expected in expected_act.items():
        a = z.copy()
        _probes.activate_inplace(ACTIVATION_CODES[name], a)
        np.testing.assert_array_equal(a, expected)
        d = rng.standard_normal(z.size).astype(dtype)
        got = d.copy()
        _probes.derivative_mul_inplace(ACTIVATION_CODES[name], a, got)
        slope = {"identity": np.ones_like(z), "relu": (a > 0).astype(dtype),
                 "leaky_relu": np.where(a > 0, dtype(1), dtype(0.01))}[name]
        np.testing.assert_array_equal(got, d * slope)
    # Smooth activations: derivative from the output, a(1-a) and 1-a^2.
    a = rng.uniform(-0.99, 0.99, z.size).astype(dtype)
    d = rng.standard_normal(z.size).astype(dtype)
    got = d.copy()
    _probes.derivative_mul_inplace(TANH, a, got)
    # 1 - a^2 may be formed with one rounding (FMA) or two: the difference is
    # an ulp of 1, times |d|.
    eps = np.finfo(dtype).eps
    assert np.all(np.abs(got - d * (1 - a * a)) <= 4 * eps * np.abs(d))
    a = rng.uniform(0.01, 0.99, z.size).astype(dtype)
    got = d.copy()
    _probes.derivative_mul_inplace(SIGMOID, a, got)
    assert np.all(np.abs(got - d * a * (1 - a)) <= 4 * eps * np.abs(d))


# sigma'(z) from a = sigma(z), the form the kernels use; written out here
# so that the oracle shares no code with them.
DERIVATIVE_FROM_OUTPUT = {
    "sigmoid": lambda a: a * (1 - a),
    "tanh": lambda a: 1 - a * a,
    "relu": lambda a: (a > 0).astype(a.dtype),
    "leaky_relu": lambda a: np.where(a > 0, 1.0, 0.01),
    "identity": lambda a: np.ones_like(a),
}
ACT = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh,
       "relu": lambda z: np.maximum(z, 0), "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
       "identity": lambda z: z}

# Tolerance relative to the magnitude bound below, which is what rounding
# errors scale with (a plain relative error is meaningless for a column sum
# whose terms cancel). Each gradient entry is reached through at most three
# products and sums of at most 50 terms (the rows) or 45 (the widest layer),
# plus activations accurate to 4 ulp: the classic worst-case bound is
# about (50 + 45 + 19 + 4) eps, so 256 eps holds with margin for any
# summation order, and a wrong derivative product (an error of order 1 in a
# term) cannot hide under it.
ORACLE_EPS_FACTOR = 256


def _numpy_gradients(net, X, Y):
    """(gradient, magnitude bound) of the mean softmax cross-entropy in
    float64, by layer, in the canonical layout. The bound runs the same
    recursion on absolute values: sum over terms of |term|."""
    Ws = [w.astype(np.float64) for w in net.weights]
    bs = [b.astype(np.float64) for b in net.biases]
    acts = [X.astype(np.float64)]
    for l, (W, b) in enumerate(zip(Ws, bs)):
        z = acts[-1] @ W.T + b
        if l < len(Ws) - 1:
            acts.append(ACT[net.layer_activations[l]](z))
        else:
            e = np.exp(z - z.max(axis=1, keepdims=True))
            acts.append(e / e.sum(axis=1, keepdims=True))
    n = X.shape[0]
    delta = (acts[-1] - Y) / n
    bound = np.abs(acts[-1]) / n + np.abs(Y) / n
    dW, db, mW, mb = [], [], [], []
    for l in range(len(Ws) - 1, -1, -1):
        dW.append(delta.T @ acts[l])
        mW.append(bound.T @ np.abs(acts[l]))
        db.append(delta.sum(axis=0))
        mb.append(bound.sum(axis=0))
        if l > 0:
            slope = DERIVATIVE_FROM_OUTPUT[net.layer_activations[l - 1]](acts[l])
            delta = (delta @ Ws[l]) * slope
            bound = (bound @ np.abs(Ws[l])) * np.abs(slope)
    flat = lambda ws, bs_: np.concatenate([w.ravel() for w in ws[::-1]] + bs_[::-1])
    return flat(dW, db), flat(mW, mb)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu", "identity"])
def test_every_path_fused_bias_gradient_matches_numpy(simd_path, dtype, activation):
    """Training sums each hidden layer's bias gradient in the pass that
    applies the activation derivative to its delta (fm_derivative_mul_colsum).
    The oracle is the same gradient in float64 NumPy, the derivative taken
    from the activation's output as the kernels take it."""
    rng = np.random.default_rng(0)
    net = fastmlp.MLP([7, 45, 19, 4], activation=activation, loss="cross_entropy",
                      dtype=dtype, seed=1)
    X, Y = net._check_Xy(rng.standard_normal((50, 7)), rng.integers(0, 4, 50))
    fused = net._gradients(X, Y)
    got = np.concatenate([w.ravel() for w in net._layout.weight_views(fused)]
                         + net._layout.bias_views(fused)).astype(np.float64)
    exact, bound = _numpy_gradients(net, X, Y)
    tol = ORACLE_EPS_FACTOR * np.finfo(dtype).eps * bound
    err = np.abs(got - exact)
    # Entries with a zero bound (a dead relu unit) must be exactly zero.
    assert np.all(err <= tol), (
        f"{simd_path}: worst entry off by {np.max(err - tol):.2e} beyond its tolerance")
    # The hidden layers' bias gradients are the fused column sums: most must
    # stand well above the tolerance, or it would let a wrong sum through.
    hidden = slice(net._layout.n_weights, net._layout.n_weights + 45 + 19)
    assert np.count_nonzero(np.abs(exact[hidden]) > 10 * tol[hidden]) > 48
