"""One fit's epochs, for every caller: ``fastmlp.MLP`` and ``fastmlp.sklearn``.

An ``EpochLoop`` is made once per fit (from the model's ``KernelNetwork``) and
owns what the fit's epochs need: the workspace (fastmlp.network.workspace), the
compiled ``EpochKernel`` made from the fit's objects (the input source, the
``Objective``, the ``OptimizerState``, the ``StepPlan``) as one C struct,
the divergence ``Recovery`` when asked for, and the signal settings. ``run(perm, lr)`` then trains one epoch in one compiled call
(several only when Ctrl-C is polled), allocating nothing.

The update rule's state lives in an ``OptimizerState``, which outlives a fit
(the velocity persists across fit and partial_fit calls).
"""
import dataclasses
import threading

import numpy as np

from .._kernels import _train
from .recovery import Recovery
from .settings import ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON
from ..execution.cost import step_flops  # noqa: F401  (also this module's name for it)
from ..inputs.sparse import input_rows

STATUS_OK = _train.STATUS_CODES["ok"]
STATUS_NONFINITE_LOSS = _train.STATUS_CODES["nonfinite_loss"]
STATUS_NONFINITE_PARAMS = _train.STATUS_CODES["nonfinite_params"]
STATUS_REDUCE_FAILED = _train.STATUS_CODES["reduce_failed"]

# The epoch loop takes the GIL back to let Python run signal handlers
# (Ctrl-C) every SIGNAL_CHECK_SECONDS, reading the clock every
# CLOCK_CHECK_FLOPS of matrix-product work (a fraction of a millisecond).
# Taking the GIL back can wait for another busy Python thread's switch
# interval (5 ms), so it is done rarely, and only on the main thread: the
# only one that runs signal handlers.
SIGNAL_CHECK_SECONDS = 0.1
CLOCK_CHECK_FLOPS = 2e7


class OptimizerState:
    """An update rule (a name of _train.RULE_CODES: fastmlp's "momentum",
    "nesterov" and "adam", scikit-learn's "sklearn_sgd", "sklearn_nesterov"
    and "sklearn_adam"), its hyperparameters for a fit (``momentum``;
    Adam's ``beta_1``, ``beta_2``, ``epsilon``) and its state: ``first`` the
    velocity (Adam: the first moment), ``second`` Adam's second moment
    (else None), ``steps`` a 1-element intp array with Adam's step count,
    which the kernel keeps current even when an epoch is interrupted. The
    buffers may be given (fastmlp.MLP's own)."""

    def __init__(self, rule, n_params, dtype, first=None, second=None, steps=None):
        self.rule = _train.RULE_CODES[rule]
        self.first = np.zeros(n_params, dtype=dtype) if first is None else first
        self.second = None
        if rule in ("adam", "sklearn_adam"):
            self.second = np.zeros(n_params, dtype=dtype) if second is None else second
        self.steps = np.zeros(1, dtype=np.intp) if steps is None else steps
        self.with_hyperparameters()

    def with_hyperparameters(self, momentum=0.0, beta_1=ADAM_BETA_1, beta_2=ADAM_BETA_2,
                             epsilon=ADAM_EPSILON):
        """This state with a fit's hyperparameters (returns self)."""
        self.momentum, self.beta_1 = float(momentum), float(beta_1)
        self.beta_2, self.epsilon = float(beta_2), float(epsilon)
        return self


@dataclasses.dataclass(frozen=True)
class StepPlan:
    """How an epoch's steps run: ``batch_rows`` rows per batch (the last
    one smaller); ``combine`` None (chosen by the kernel: "fused" when a
    batch fits one workspace chunk, else "formed") or one of them forced
    (tests); ``reduction`` a data-parallel fit's (fastmlp.training.mpi: the
    MPI_Allreduce and the epoch's steps over every process), else None;
    ``threads`` the fit's ``_train.ThreadPool``, or None (the calling
    thread alone)."""
    batch_rows: int
    combine: str = None
    reduction: object = None
    threads: object = None


class EpochLoop:
    """One fit's epochs of ``network`` (a fastmlp.network.kernels.
    KernelNetwork) over validated data: X (n, n_in) C-contiguous in the
    model dtype, or a fastmlp.inputs.sparse.CsrRows of it; Y (n, n_out), or
    a ClassIndices column (n, 1) of class indices; the
    objective's terms (``_train.Objective``: row weights, l2 and the
    coefficients; see ``EpochKernel``), the optimizer (``OptimizerState``
    with the fit's hyperparameters) and the steps (``StepPlan``).

    ``checkpoint_rows``: recover from a divergence (``Recovery``), renewing
    the checkpoint about every that many rows when ``isolated`` (nothing but
    this loop changes the model between epochs); None: no recovery.
    """

    def __init__(self, network, params, X, Y, objective, optimizer, plan, recovery=None):
        rows = input_rows(X)
        # The spec carries the loss the kernels read for this kind of target.
        workspace = network.chunked_workspace(plan.batch_rows, rows.is_sparse, Y)
        self.spec, self.work = workspace
        self.network = network
        self.kernel = _train.EpochKernel(workspace, params,
                                         rows, Y, objective, optimizer, plan)
        self.n_rows = X.shape[0]
        self.clock_every = max(1, int(CLOCK_CHECK_FLOPS // step_flops(network.sizes,
                                                                      plan.batch_rows)))
        self.recovery = None
        if recovery is not None:
            checkpoint_rows, isolated = recovery
            self.recovery = Recovery(self.kernel, self.n_rows, checkpoint_rows, isolated)

    @property
    def grads(self):
        """The kernel's gradient buffer (None for a fused momentum step)."""
        return self.kernel.grads

    @property
    def x_batch(self):
        """CSR X: the room a chunk's rows are gathered into (else None)."""
        return self.kernel.x_batch

    def run(self, perm, lr):
        """One epoch, rows in ``perm`` order (None: in order), learning rate
        ``lr``. Returns (status, sum over finished steps of rows * batch
        objective, failing step); see ``EpochKernel.run``. With recovery, a
        STATUS_NONFINITE_PARAMS epoch has already been rolled back; a
        bfloat16 product of this fit that the library refused raises
        RuntimeError (after the rollback)."""
        on_main = threading.current_thread() is threading.main_thread()
        interval = SIGNAL_CHECK_SECONDS if on_main else 0.0
        run = self.kernel.run if self.recovery is None else self.recovery.run
        result = run(perm, float(lr), signal_interval=interval, clock_every=self.clock_every)
        self.kernel.check_products()
        return result
