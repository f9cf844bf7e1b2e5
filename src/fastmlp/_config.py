"""show_config: what fastmlp runs on, for bug reports and benchmark logs."""
import platform
import sys


def _optional_version(module):
    """The installed version of an optional dependency, without importing it."""
    from importlib import metadata
    dist = {"sklearn": "scikit-learn"}.get(module, module)
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def show_config(file=None):
    """Print the versions of fastmlp and its dependencies and the BLAS in use."""
    import numpy
    import scipy
    from threadpoolctl import threadpool_info

    from . import __version__, _bf16lib
    from ._kernels import _train

    out = file if file is not None else sys.stdout
    # Loads the bfloat16 library when installed, so threadpoolctl lists it.
    bf16_line = _bf16lib.describe()
    blas = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    # scipy.linalg.cython_blas hands out the BLAS scipy was built with.
    scipy_blas = next((f"{lib.get('internal_api')} {lib.get('version')}" for lib in blas
                       if "scipy.libs" in str(lib.get("filepath"))), "scipy's BLAS")
    lines = [
        f"fastmlp    {__version__}",
        f"python     {platform.python_version()} ({platform.machine()})",
        f"numpy      {numpy.__version__}",
        f"scipy      {scipy.__version__}",
        f"sklearn    {_optional_version('sklearn')} (optional: fastmlp.sklearn)",
        f"simd       {_train.simd_active()} (supported: {', '.join(_train.simd_paths())}; "
        "FASTMLP_SIMD forces one)",
        f"gemm       float32: {scipy_blas} (scipy.linalg.cython_blas sgemm)",
        f"           float64: {scipy_blas} (scipy.linalg.cython_blas dgemm)",
        f"           bfloat16: {bf16_line}",
        "cpu bf16   " + ", ".join(f"{name} {'yes' if present else 'no'}" for name, present
                                  in _bf16lib.cpu_bf16_flags().items()),
        "blas libraries (threadpoolctl):",
    ]
    for lib in blas:
        lines.append(
            f"  {lib.get('internal_api')} {lib.get('version')} "
            f"arch={lib.get('architecture')} threads={lib.get('num_threads')} "
            f"file={lib.get('filepath')}"
        )
    print("\n".join(lines), file=out)
