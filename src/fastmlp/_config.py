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

    from . import __version__
    from ._kernels import _train

    out = file if file is not None else sys.stdout
    lines = [
        f"fastmlp    {__version__}",
        f"python     {platform.python_version()} ({platform.machine()})",
        f"numpy      {numpy.__version__}",
        f"scipy      {scipy.__version__}",
        f"sklearn    {_optional_version('sklearn')} (optional: fastmlp.sklearn)",
        f"simd       {_train.simd_active()} (supported: {', '.join(_train.simd_paths())}; "
        "FASTMLP_SIMD forces one)",
        "blas libraries (threadpoolctl):",
    ]
    for lib in threadpool_info():
        if lib.get("user_api") != "blas":
            continue
        lines.append(
            f"  {lib.get('internal_api')} {lib.get('version')} "
            f"arch={lib.get('architecture')} threads={lib.get('num_threads')} "
            f"file={lib.get('filepath')}"
        )
    print("\n".join(lines), file=out)
