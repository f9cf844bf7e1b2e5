"""fastmlp.show_config: the facts a bug report or benchmark log needs."""
import io

import numpy
import pytest
import scipy

import fastmlp
from fastmlp._kernels import _train


def _config_lines():
    out = io.StringIO()
    fastmlp.show_config(file=out)
    text = out.getvalue()
    return text, {line.split()[0]: line for line in text.splitlines() if line.strip()}


def test_show_config_names_versions_simd_and_blas():
    text, lines = _config_lines()
    assert fastmlp.__version__ in lines["fastmlp"]
    assert numpy.__version__ in lines["numpy"]
    assert scipy.__version__ in lines["scipy"]
    assert lines["simd"].split()[1] == _train.simd_active()
    blas = text.split("blas libraries (threadpoolctl):\n", 1)[1].splitlines()
    # scipy's BLAS, which the kernels call, is among them with its threads.
    assert any("threads=" in line and "arch=" in line for line in blas)


def test_show_config_names_the_scikit_learn_version():
    sklearn = pytest.importorskip(
        "sklearn", reason="scikit-learn is optional (the [sklearn] extra); its line "
                          "is only checked where it is installed")
    _, lines = _config_lines()
    assert sklearn.__version__ in lines["sklearn"]


def test_show_config_names_mpi4py_and_its_mpi_library():
    _, lines = _config_lines()
    try:
        import mpi4py  # noqa: F401  (only to know what to expect)
    except ImportError:
        assert "mpi4py not installed" in lines["mpi"]
        return
    from importlib import metadata
    assert f"mpi4py {metadata.version('mpi4py')}," in lines["mpi"]
    # The library's own name and version, e.g. "MPICH Version: 5.0.2".
    assert "MPI standard" in lines["mpi"] and "not usable" not in lines["mpi"]


def test_show_config_names_the_automatic_thread_count():
    """The threads line shows what n_threads=None resolves to for a large
    network here, and it follows the caller's limit."""
    from threadpoolctl import threadpool_limits

    from fastmlp.execution import threads as _threads

    _, lines = _config_lines()
    assert f"up to {_threads.resolve(None, float('inf'))} " in lines["threads"]
    assert f"{_threads.THREAD_MIN_FLOPS / 1e6:g} MFLOP" in lines["threads"]
    with threadpool_limits(1, user_api="blas"):
        _, limited = _config_lines()
    assert "up to 1 " in limited["threads"]
