"""Shared test data and tolerances.

Tolerances per dtype, for comparing fastmlp with the NumPy reference (the
two sum in different orders, so they agree to rounding, not bit for bit):
- float64: eps = 2.2e-16; a forward pass of a few layers of width <= 16
  accumulates O(width * depth * eps) relative error, so 1e-10 relative to the
  largest magnitude leaves four orders of margin; fit trajectories over a
  few epochs amplify it by the number of steps (~100), hence 1e-8.
- float32: eps = 1.2e-7; the same argument gives 1e-5 for a single pass and
  1e-4 after training (about 1000 eps, for ~100 steps each adding a few eps).
"""
import numpy as np
import pytest

import fastmlp
import fastmlp.reference
from fastmlp._kernels import _train

IMPLEMENTATIONS = {"fastmlp": fastmlp.MLP, "reference": fastmlp.reference.MLP}

PASS_RTOL = {"float32": 1e-5, "float64": 1e-10}
FIT_RTOL = {"float32": 1e-4, "float64": 1e-8}

# (loss, output activation, target kind)
LOSS_CASES = [
    ("mse", None, "regression"),
    ("mse", "sigmoid", "unit"),
    ("mse", "tanh", "regression"),
    ("mse", "relu", "regression"),
    ("mse", "leaky_relu", "regression"),
    ("cross_entropy", None, "labels"),
    ("cross_entropy", None, "probabilities"),
    ("binary_cross_entropy", None, "binary"),
]
ACTIVATIONS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu"]


def loss_case_id(case):
    loss, out, kind = case
    return f"{loss}-{out or 'natural'}-{kind}"


def make_targets(kind, n, n_out, rng):
    if kind == "regression":
        return rng.standard_normal((n, n_out))
    if kind == "unit":
        return rng.uniform(0, 1, (n, n_out))
    if kind == "labels":
        return rng.integers(0, n_out, n)
    if kind == "probabilities":
        p = rng.uniform(0.01, 1, (n, n_out))
        return p / p.sum(axis=1, keepdims=True)
    if kind == "binary":
        return rng.integers(0, 2, (n, n_out))
    raise ValueError(kind)


def make_data(kind, n, sizes, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0]))
    return X, make_targets(kind, n, sizes[-1], rng)


def assert_close(actual, expected, rtol, what=""):
    """max |a - e| <= rtol * max(1, max |e|): relative to the data's scale."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, what
    scale = max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    err = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
    assert err <= rtol * scale, f"{what}: max abs diff {err:.3e} > {rtol:.1e} * {scale:.3e}"


@pytest.fixture(params=list(IMPLEMENTATIONS), ids=list(IMPLEMENTATIONS))
def impl(request):
    return IMPLEMENTATIONS[request.param]


@pytest.fixture(params=_train.simd_paths())
def simd_path(request):
    """Each instruction-set path of the elementwise kernels this machine
    runs, selected for the test and restored after it."""
    before = _train.simd_active()
    _train.simd_select(request.param)
    yield request.param
    _train.simd_select(before)
