"""Build the compiled kernels; all metadata lives in pyproject.toml.

Set FASTMLP_DEBUG_BOUNDS=1 to rebuild with Cython bounds checks on (a debug
run of the test suite), never for a release.
"""
import os
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG_BOUNDS = os.environ.get("FASTMLP_DEBUG_BOUNDS", "") not in ("", "0")

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
    compile_args = ["-O3", "-fno-math-errno"]

macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]

extensions = [
    Extension(
        "fastmlp._kernels._train",
        sources=["src/fastmlp/_kernels/_train.pyx", "csrc/elementwise.c"],
        include_dirs=[np.get_include(), "csrc"],
        define_macros=macros,
        extra_compile_args=compile_args,
    ),
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives))
