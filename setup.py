"""Build the compiled kernels; all metadata lives in pyproject.toml.

Build switches, read from the environment (all off by default; never set
them for a release):

FASTMLP_DEBUG_BOUNDS=1
    Rebuild with Cython bounds checks on (boundscheck, initializedcheck), for
    a debug run of the test suite.

FASTMLP_SANITIZE=1
    Compile and link the extension with AddressSanitizer and
    UndefinedBehaviorSanitizer (GCC or Clang, not MSVC):
    ``-fsanitize=address,undefined -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined -g``. The interpreter itself is not
    instrumented, so the ASan runtime must be loaded first, e.g.
    ``LD_PRELOAD=$(gcc -print-file-name=libasan.so)
    ASAN_OPTIONS=detect_leaks=0 python -m pytest tests``;
    ``tools/sanitize.sh`` does all of it (with FASTMLP_DEBUG_BOUNDS=1 too) in
    a separate virtualenv.

FASTMLP_SANITIZE=thread
    Compile and link the extension with ThreadSanitizer instead
    (``-fsanitize=thread -g``), to check the threads of a fit
    (csrc/pool.c) for data races. Its runtime must be loaded first too,
    ``LD_PRELOAD=$(gcc -print-file-name=libtsan.so)``; ``tools/tsan.sh``
    builds it in a separate virtualenv and runs the threaded passes on it.

Both sanitized builds keep the optimization level of a release build, so
they run the same code (and the same floating-point contractions).
Any other non-empty value of FASTMLP_SANITIZE but 0 is an error.

The Cython sources are always re-translated (``force=True``, about a second):
Cython only compares timestamps, so without it a _train.c left by an earlier
build with other compiler directives would be reused and, for instance,
FASTMLP_DEBUG_BOUNDS=1 would silently build without bounds checks.
"""
import os
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup


def _flag(name):
    return os.environ.get(name, "") not in ("", "0")


DEBUG_BOUNDS = _flag("FASTMLP_DEBUG_BOUNDS")

# FASTMLP_SANITIZE's values: the compile and link flags of each sanitizer.
SANITIZERS = {
    "1": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
          "-fno-sanitize-recover=undefined"],
    "thread": ["-fsanitize=thread"],
}
SANITIZE = os.environ.get("FASTMLP_SANITIZE", "")
if SANITIZE in ("", "0"):
    SANITIZE = None
elif SANITIZE not in SANITIZERS:
    sys.exit(f"FASTMLP_SANITIZE={SANITIZE!r}: expected one of {', '.join(SANITIZERS)} (or 0)")

directives = {
    "language_level": 3,
    "boundscheck": DEBUG_BOUNDS,
    "wraparound": False,
    "initializedcheck": DEBUG_BOUNDS,
    "cdivision": True,
    "nonecheck": False,
}

# Portable flags only: no -march=native (illegal instructions on older CPUs)
# and no -ffast-math (it breaks the isfinite checks the loop relies on).
if sys.platform == "win32":
    compile_args = ["/O2"]
else:
    # -fno-trapping-math: the kernels never read floating-point exception
    # flags, and without it the compiler may not vectorize a select whose arms
    # compute (x > 0 ? x : slope * x stays a branch per element). It changes
    # no result and, unlike -ffast-math, keeps NaN, inf and isfinite intact.
    compile_args = ["-O3", "-fno-math-errno", "-fno-trapping-math"]
link_args = []
if sys.platform != "win32":
    # The threads of a fit (csrc/pool.c).
    compile_args.append("-pthread")
    link_args.append("-pthread")

if SANITIZE is not None:
    sanitize_args = SANITIZERS[SANITIZE]
    if sys.platform == "win32":
        sys.exit(f"FASTMLP_SANITIZE={SANITIZE} needs GCC or Clang ({sanitize_args[0]})")
    # The optimization level stays as above, so the sanitized build runs the
    # same code (and the same floating-point contractions) as a release one.
    compile_args += sanitize_args + ["-g"]
    link_args += sanitize_args

macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]



def kernel_module(name, c_sources):
    """fastmlp._kernels.<name> from its .pyx and the C it calls."""
    return Extension(
        f"fastmlp._kernels.{name}",
        sources=[f"src/fastmlp/_kernels/{name}.pyx"] + [f"csrc/{c}" for c in c_sources],
        include_dirs=[np.get_include(), "csrc"],
        define_macros=macros,
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )


extensions = [
    kernel_module("_train", ["elementwise.c", "clock.c", "bf16.c", "pool.c"]),
    # Test and benchmark entry points; an extension of its own so the library
    # never loads them. No C of its own: it runs _train's, exported by
    # _train.pxd (one extension cannot link against another's symbols).
    kernel_module("_probes", []),
    # The input source (DenseRows, SparseRows): its own module, so that its
    # types are shared by cimport with every kernel module.
    kernel_module("_rows", []),
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives, force=True))
