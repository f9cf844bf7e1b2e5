"""Benchmark configurations and the three timed callables of each.

Shared by ``benchmarks/test_step.py`` (pytest-benchmark) and
``benchmarks/report.py`` (the interleaved report). The definitions live in
the package, in ``fastmlp._bench``, so that the installed ``fastmlp bench``
command measures exactly the same things; this module re-exports them under
the names the benchmarks use. Nothing here times anything; it only builds
models, data and the callables:

- ``fastmlp``: one epoch of ``fastmlp.MLP``'s compiled training loop, with the
  permutation drawn from the model's generator as ``fit(shuffle=True)`` does
  (the draw is part of the cost);
- ``reference``: one epoch of ``fastmlp.reference.MLP`` (the NumPy loop) on
  the same data and steps, again with a fresh permutation (fewer epochs per
  round, since it is slower);
- ``gemm_floor``: only the GEMMs of the same steps (``_train.gemm_floor``),
  in one nogil call: what a step cannot go below.

Each callable runs a whole epoch of ``steps`` training steps; per-step time
is the epoch time divided by ``steps``. A "round" is ``epochs`` such calls,
chosen so that one round takes about 20 ms or more while the data set stays
small (a few MB), so that the timer and per-call overhead are amortized
without turning the benchmark into a memory-bandwidth test.

All of this must run with one BLAS thread (``blas_single_thread()``).
"""
from fastmlp._bench import (  # noqa: F401
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
