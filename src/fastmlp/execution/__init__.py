"""Execution: how a call runs on the machine, apart from what it computes.

Owns the size of a call (``cost``: the GEMM operations of a training step or
a forward pass) and its threads (``threads``: how many a call gets, and the
pool and the BLAS and OpenMP settings it runs with).

May import: ``fastmlp._kernels``. Nothing above (the bfloat16 library,
in ``fastmlp.network``, names its OpenMP runtime to ``threads`` when it
loads).
Internal: the public API is ``fastmlp.MLP``'s ``n_threads`` and the
estimators' ``n_jobs``.
"""
