"""show_config: what fastmlp runs on, for bug reports and benchmark logs."""
import os
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


_MPI_QUERY = ("import mpi4py; from mpi4py import MPI; "
              "print(mpi4py.__version__); print('.'.join(map(str, MPI.Get_version()))); "
              "print(' '.join(MPI.Get_library_version().split()[:3]))")


def _mpi_line():
    """mpi4py and its MPI library when mpi4py is installed. Asked of a child
    interpreter: importing mpi4py.MPI initializes MPI, which neither
    ``import fastmlp`` nor show_config does to the caller's process."""
    import subprocess
    if _optional_version("mpi4py") == "not installed":
        return 'mpi        mpi4py not installed (optional: fit(comm=...), "fastmlp[mpi]")'
    # The child is a lone MPI process (a singleton), even when this one is a
    # rank of an mpiexec job: it must not join the job's process manager.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PMI_", "PMIX_", "OMPI_", "HYDRA_", "MPIR_"))}
    try:
        done = subprocess.run([sys.executable, "-c", _MPI_QUERY], capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL, env=env)
        version, standard, library = done.stdout.strip().splitlines()
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return f"mpi        mpi4py {_optional_version('mpi4py')} (MPI not usable: {exc})"
    return f"mpi        mpi4py {version}, {library} (MPI standard {standard})"


def _threads_line():
    """What n_threads=None gives here for a network large enough to gain."""
    from .execution import threads as _threads

    return (f"threads    n_threads=None: up to {_threads.resolve(None, float('inf'))} "
            f"(CPU affinity {_threads.cores()} cores, caller's limit "
            f"{_threads.caller_limit()}); one below "
            f"{_threads.THREAD_MIN_FLOPS / 1e6:g} MFLOP per step")


def show_config(file=None):
    """Print the versions of fastmlp and its dependencies and the BLAS in use."""
    import numpy
    import scipy
    from threadpoolctl import threadpool_info

    from . import __version__
    from .network import bf16lib as _bf16lib
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
        _mpi_line(),
        _threads_line(),
        "blas libraries (threadpoolctl):",
    ]
    for lib in blas:
        lines.append(
            f"  {lib.get('internal_api')} {lib.get('version')} "
            f"arch={lib.get('architecture')} threads={lib.get('num_threads')} "
            f"file={lib.get('filepath')}"
        )
    # oneDNN's bfloat16 GEMMs run on OpenMP threads (fastmlp.network.bf16lib).
    openmp = [lib for lib in threadpool_info() if lib.get("user_api") == "openmp"]
    if openmp:
        lines.append("openmp libraries (threadpoolctl):")
        lines.extend(f"  {lib.get('internal_api')} threads={lib.get('num_threads')} "
                     f"file={lib.get('filepath')}" for lib in openmp)
    print("\n".join(lines), file=out)
