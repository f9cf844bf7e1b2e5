"""Training: one fit's orchestration around the compiled epoch.

Owns fit's settings as typed objects (``settings``: ``FitArguments`` as
given, ``check_fit`` making ``FitSettings`` and ``FitData``), the epoch loop
and the optimizer state that outlives a fit (``epoch``), divergence
recovery (``recovery``), the execution strategies that say how a step's
gradient is combined and on how many threads a fit runs
(``strategy.SingleProcess``; ``mpi.MpiRanks`` over an mpi4py communicator,
the only module that imports mpi4py) and the per-epoch progress line
(``progress``).

May import: ``fastmlp._kernels``, ``fastmlp.inputs``, ``fastmlp.execution``
(the strategies' threads, the size of a step), ``fastmlp.network``
(``epoch`` only the workspace's sizes). Nothing above (``fastmlp._model``
and the faces use this package, not the other way round).
Internal: the public API is ``fastmlp.MLP`` and the modules it names.
"""
