"""fastmlp.show_config: the facts a bug report or benchmark log needs."""
import io

import numpy
import scipy
import sklearn

import fastmlp
from fastmlp._kernels import _train


def test_show_config_names_versions_simd_and_blas():
    out = io.StringIO()
    fastmlp.show_config(file=out)
    text = out.getvalue()
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert fastmlp.__version__ in lines["fastmlp"]
    assert numpy.__version__ in lines["numpy"]
    assert scipy.__version__ in lines["scipy"]
    assert sklearn.__version__ in lines["sklearn"]
    assert lines["simd"].split()[1] == _train.simd_active()
    blas = text.split("blas libraries (threadpoolctl):\n", 1)[1].splitlines()
    # scipy's BLAS, which the kernels call, is among them with its threads.
    assert any("threads=" in line and "arch=" in line for line in blas)
