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
from fastmlp import _stats, _workspace
from fastmlp._kernels import _train

from conftest import (ACTIVATIONS, FIT_RTOL, LOSS_CASES, PASS_RTOL, assert_close,
                      loss_case_id, make_data)
from test_kernels import MAX_ULP, NORMAL_RANGE, kernel_exp

PATHS = _train.simd_paths()


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
    _train.activate_inplace(2, th)
    sg = x.copy()
    _train.activate_inplace(1, sg)
    assert _ulp_error(th, np.tanh(x64), dtype).max() <= ACTIVATION_MAX_ULP[dtype]
    assert _ulp_error(sg, 1 / (1 + np.exp(-x64)), dtype).max() <= ACTIVATION_MAX_ULP[dtype]
    # Saturation and special values.
    ends = np.array([-1e30, 1e30, -np.inf, np.inf, 0.0, np.nan], dtype=dtype)
    t, s = ends.copy(), ends.copy()
    _train.activate_inplace(2, t)
    _train.activate_inplace(1, s)
    np.testing.assert_array_equal(t[:5], [-1, 1, -1, 1, 0])
    np.testing.assert_array_equal(s[:5], [0, 1, 0, 1, 0.5])
    assert np.isnan(t[5]) and np.isnan(s[5])
    # tanh is odd down to the sign of zero, as numpy's is.
    zeros = np.array([0.0, -0.0], dtype=dtype)
    _train.activate_inplace(2, zeros)
    np.testing.assert_array_equal(np.signbit(zeros), np.signbit(np.tanh([0.0, -0.0])))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_path_piecewise_activations_and_derivatives_exact(simd_path, dtype):
    rng = np.random.default_rng(0)
    z = rng.standard_normal(10_001).astype(dtype)
    z[::7] = 0
    expected_act = {0: z, 3: np.maximum(z, 0), 4: np.where(z > 0, z, dtype(0.01) * z)}
    for code, expected in expected_act.items():
        a = z.copy()
        _train.activate_inplace(code, a)
        np.testing.assert_array_equal(a, expected)
        d = rng.standard_normal(z.size).astype(dtype)
        got = d.copy()
        _train.derivative_mul_inplace(code, a, got)
        slope = {0: np.ones_like(z), 3: (a > 0).astype(dtype),
                 4: np.where(a > 0, dtype(1), dtype(0.01))}[code]
        np.testing.assert_array_equal(got, d * slope)
    # Smooth activations: derivative from the output, a(1-a) and 1-a^2.
    a = rng.uniform(-0.99, 0.99, z.size).astype(dtype)
    d = rng.standard_normal(z.size).astype(dtype)
    got = d.copy()
    _train.derivative_mul_inplace(2, a, got)
    # 1 - a^2 may be formed with one rounding (FMA) or two: the difference is
    # an ulp of 1, times |d|.
    eps = np.finfo(dtype).eps
    assert np.all(np.abs(got - d * (1 - a * a)) <= 4 * eps * np.abs(d))
    a = rng.uniform(0.01, 0.99, z.size).astype(dtype)
    got = d.copy()
    _train.derivative_mul_inplace(1, a, got)
    assert np.all(np.abs(got - d * a * (1 - a)) <= 4 * eps * np.abs(d))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu", "identity"])
def test_every_path_fused_bias_gradient_sums_as_the_separate_pass(simd_path, dtype,
                                                                  activation):
    """Training sums each hidden layer's bias gradient in the pass that
    applies the activation derivative to its delta (fm_derivative_mul_colsum);
    layer_statistics still runs the two passes apart. The additions happen
    in the same order, so the gradients must agree to the bit."""
    rng = np.random.default_rng(0)
    net = fastmlp.MLP([7, 45, 19, 4], activation=activation, loss="cross_entropy",
                      dtype=dtype, seed=1)
    X, Y = net._check_Xy(rng.standard_normal((50, 7)), rng.integers(0, 4, 50))
    fused = net._gradients(X, Y)
    spec, work = _workspace.build(net._layout, net.layer_activations, net.loss_name, 50,
                                  net.dtype)
    apart = np.empty_like(net.params)
    _train.layer_statistics(spec, net.params, X, Y, work, apart,
                            np.empty((3, len(_stats.COLUMNS))))
    for b_fused, b_apart in zip(net._layout.bias_views(fused), net._layout.bias_views(apart)):
        np.testing.assert_array_equal(b_fused, b_apart)
    np.testing.assert_array_equal(fused, apart)
