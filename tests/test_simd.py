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
from fastmlp._kernels import _train

from conftest import (ACTIVATIONS, FIT_RTOL, LOSS_CASES, PASS_RTOL, assert_close,
                      loss_case_id, make_data)
from test_kernels import MAX_ULP, NORMAL_RANGE, kernel_exp

PATHS = _train.simd_paths()


@pytest.fixture(params=PATHS)
def simd_path(request):
    before = _train.simd_active()
    _train.simd_select(request.param)
    yield request.param
    _train.simd_select(before)


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
