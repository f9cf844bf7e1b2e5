"""The kernels' own exp (used by softmax, sigmoid and binary cross-entropy):
accuracy against libm, measured in units in the last place (ulp)."""
import numpy as np
import pytest

from fastmlp._kernels import _probes
from fastmlp.network.workspace import ACTIVATION_CODES

# Measured on this project's machine: float32 at most 0.88 ulp from the
# exactly rounded value (float64 exp as the reference) on the AVX2 and
# AVX-512 paths, where the polynomial uses fused multiply-adds, and 1.15 ulp
# on the baseline path, which rounds each multiply and add; float64 at most
# 1.0 ulp from numpy's exp (libm, itself within about 0.5 ulp of exact) on
# every path. The bounds leave a little margin over those.
MAX_ULP = {np.float32: 1.5, np.float64: 1.5}
NORMAL_RANGE = {np.float32: -87.33, np.float64: -708.39}


def kernel_exp(x):
    out = np.array(x, copy=True)
    _probes.exp_nonpositive_inplace(out)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_within_bound_in_ulp(dtype):
    lo = NORMAL_RANGE[dtype]
    rng = np.random.default_rng(0)
    x = np.concatenate([
        np.linspace(lo, 0, 400_001),
        -np.logspace(-30, np.log10(-lo), 100_001),
        rng.uniform(lo, 0, 100_000),
    ]).astype(dtype)
    exact = np.exp(x.astype(np.float64)) if dtype is np.float32 else np.exp(x)
    got = kernel_exp(x)
    assert got.dtype == dtype
    ulp = np.abs(got.astype(np.float64) - exact) / np.spacing(exact.astype(dtype)).astype(np.float64)
    assert ulp.max() <= MAX_ULP[dtype], f"max error {ulp.max():.3f} ulp at x = {x[ulp.argmax()]!r}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_special_values(dtype):
    x = np.array([0.0, -0.0, NORMAL_RANGE[dtype] - 1, -1e30, -np.inf, np.nan], dtype=dtype)
    got = kernel_exp(x)
    assert got[0] == 1 and got[1] == 1
    # Below the normal range the result is 0, never garbage from the
    # exponent bits.
    assert got[2] == 0 and got[3] == 0 and got[4] == 0
    # NaN propagates, so a diverged network is still detected downstream.
    assert np.isnan(got[5])


def test_elementwise_entry_points_validate():
    x = np.zeros(4)
    with pytest.raises(ValueError, match="elements"):
        _probes.derivative_mul_inplace(ACTIVATION_CODES["relu"], np.zeros(3), x)
    with pytest.raises(ValueError, match="empty"):
        _probes.activate_inplace(ACTIVATION_CODES["relu"], np.zeros(0))
    with pytest.raises(ValueError, match="activation code"):
        _probes.activate_inplace(ACTIVATION_CODES["softmax"], x)  # row-wise, not elementwise
    with pytest.raises(ValueError, match="empty"):
        _probes.exp_nonpositive_inplace(np.zeros(0, dtype=np.float32))
