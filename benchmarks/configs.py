"""Benchmark configurations and the three timed callables of each
(fastmlp's step, the NumPy reference's step, and the GEMM floor).

Shared by ``benchmarks/test_step.py`` (pytest-benchmark) and
``benchmarks/report.py`` (the interleaved report). The definitions, and
their documentation, live in the package, in ``fastmlp.cli.bench``, so that the
installed ``fastmlp bench`` command measures exactly the same things; this
module re-exports them under the names the benchmarks use. The performance
targets are not among them: they are the benchmarks' own (targets.py). All
of it must run with one BLAS thread (``blas_single_thread()``).
"""
from fastmlp.cli.bench import (  # noqa: F401
    BLAS_KEYS,
    CONFIGS,
    KINDS,
    LR,
    MOMENTUM,
    Case,
    Config,
    blas_info,
    blas_single_thread,
    build_case,
    machine_summary,
    make_data,
    select,
)
