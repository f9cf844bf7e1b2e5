"""The network: what a model is made of, apart from how it is trained.

Owns the parameter layout (``layout``), initialization (``init``), the
per-layer statistics table (``stats``), the workspace of a call or fit
(``workspace``), the one adapter through which every face runs the compiled
kernels (``kernels.KernelNetwork``), and the bfloat16 products: the run-time
library they use (``bf16lib``) and their rounding in NumPy (``bfloat16``).

May import: ``fastmlp._kernels``, ``fastmlp.inputs`` (the kernels' input
source and the kind of a validated target) and ``fastmlp.execution`` (a
call's threads; the bfloat16 library names its OpenMP runtime there);
``kernels`` also
``fastmlp.training.epoch``, whose epoch loop it makes. Nothing above.
Internal: the public API is ``fastmlp.MLP`` and the modules it names.
"""
