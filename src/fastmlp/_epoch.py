"""One fit's epochs, for every caller: ``fastmlp.MLP`` and ``fastmlp.sklearn``.

An ``EpochLoop`` is made once per fit and owns what the fit's epochs need:
the spec and workspace (fastmlp._workspace), the gradient buffer when the
rule or the batch needs one, the compiled ``EpochKernel`` that holds all of
it as one C struct, the divergence ``Recovery`` when asked for, and the
signal settings. ``run(perm, lr)`` then trains one epoch in one compiled call
(several only when Ctrl-C is polled), allocating nothing.

The update rule's state lives in an ``OptimizerState``, which outlives a fit
(the velocity persists across fit and partial_fit calls).
"""
import threading

import numpy as np

from . import _sparse, _validation, _workspace
from ._kernels import _train
from ._recovery import Recovery

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


def step_flops(sizes, rows):
    """Floating-point operations of the GEMMs in one training step: the
    forward product, the weight gradient, and the input delta of every layer
    but the first."""
    pairs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * rows * (3 * sum(pairs) - pairs[0])


class OptimizerState:
    """An update rule (a name of _train.RULE_CODES: fastmlp's "momentum",
    "nesterov" and "adam", scikit-learn's "sklearn_sgd", "sklearn_nesterov"
    and "sklearn_adam") and its state: ``first`` the velocity (Adam: the first moment), ``second``
    Adam's second moment (else None), ``steps`` a 1-element intp array with
    Adam's step count, which the kernel keeps current even when an epoch is
    interrupted. The buffers may be given (fastmlp.MLP's own)."""

    def __init__(self, rule, n_params, dtype, first=None, second=None, steps=None):
        self.rule = _train.RULE_CODES[rule]
        self.first = np.zeros(n_params, dtype=dtype) if first is None else first
        self.second = None
        if rule in ("adam", "sklearn_adam"):
            self.second = np.zeros(n_params, dtype=dtype) if second is None else second
        self.steps = np.zeros(1, dtype=np.intp) if steps is None else steps


class EpochLoop:
    """One fit's epochs over validated data: X (n, n_in) and Y (n, n_out)
    C-contiguous in the model dtype (or X a fastmlp._sparse.CsrRows of it),
    ``row_weights`` (n,) or None, batches of ``batch_rows`` rows (the last
    one smaller).

    Per batch the objective is ``loss_coef * (loss sum, rows weighted) /
    denom + (l2c / 2) * sum of squared weights``, denom the batch's row count
    or weight, ``l2c = l2 / denom`` with ``l2_per_denom`` (scikit-learn's
    convention) else ``l2``; the data gradient is scaled by ``delta_coef /
    denom``. ``momentum`` is the rule's momentum (Adam: ``beta_1``).
    ``weighted_objective``: fastmlp.MLP's sample weights (a batch of weight 0
    takes no step; the total weighs batches by weight; EpochKernel).

    ``checkpoint_rows``: recover from a divergence (``Recovery``), renewing
    the checkpoint about every that many rows when ``isolated`` (nothing but
    this loop changes the model between epochs); None: no recovery.
    ``combine`` picks how a step's stages combine (``EpochKernel``); ``gemm`` the
    GEMM backend (``_workspace.build``: "bf16" for bfloat16 products).
    ``reduction``: a data-parallel fit's (fastmlp._mpi.Reduction: the
    MPI_Allreduce, and the epoch's steps over every process); each step's
    gradient is then summed over the processes (reduced_step).
    """

    def __init__(self, layout, activations, loss, dtype, params, X, Y, batch_rows, state,
                 *, momentum=0.0, beta_1=0.9, beta_2=0.999, epsilon=1e-8, l2=0.0,
                 l2_per_denom=False, loss_coef=1.0, delta_coef=1.0, row_weights=None,
                 weighted_objective=False, checkpoint_rows=None, isolated=True,
                 combine=None, gemm="openblas", reduction=None):
        batch_rows = int(batch_rows)
        sparse = isinstance(X, _sparse.CsrRows)
        chunk = _workspace.chunk_rows(layout.sizes, batch_rows, sparse)
        self.spec, self.work = _workspace.build(layout, activations, loss, chunk, dtype,
                                                gemm, sparse=sparse)
        # CSR X: a chunk's rows are gathered into buffers made here, sized
        # for the fullest chunk any row order can give.
        self.x_batch = None
        if sparse:
            rows = min(batch_rows, chunk)
            room = _sparse.batch_capacity(X, rows)
            self.x_batch = (np.empty(rows + 1, dtype=np.intp), np.empty(room, dtype=np.intc),
                            np.empty(room, dtype=dtype))
        formed = combine == "formed" or (combine is None and batch_rows > chunk)
        # A momentum step that fits one chunk writes its gradient straight
        # into the velocity; every other step needs a gradient buffer.
        self.grads = None
        parallel = {}
        if reduction is not None:
            # The message, reduced in place: the gradient sums, then the
            # step's rows, weight and loss sum.
            self.grads = np.zeros(layout.n_params + _train.REDUCED_EXTRA, dtype)
            parallel = dict(allreduce=reduction.allreduce, n_steps=reduction.n_steps)
        elif formed or state.rule != _workspace.RULE_MOMENTUM:
            self.grads = np.empty(layout.n_params, dtype=dtype)
        self.kernel = _train.EpochKernel(
            self.spec, params, X, Y, row_weights, batch_rows, self.work,
            x_batch=self.x_batch, rule=state.rule,
            state1=state.first, state2=state.second, steps=state.steps, grads=self.grads,
            momentum=momentum, l2=l2, l2_per_denom=l2_per_denom,
            weighted_objective=weighted_objective, loss_coef=loss_coef,
            delta_coef=delta_coef, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
            combine=combine, **parallel)
        self.n_rows = X.shape[0]
        self.clock_every = max(1, int(CLOCK_CHECK_FLOPS // step_flops(layout.sizes,
                                                                      batch_rows)))
        self.recovery = None
        if checkpoint_rows is not None:
            self.recovery = Recovery(self.kernel, self.n_rows, checkpoint_rows, isolated)

    @classmethod
    def for_model(cls, net, X, Y, batch_rows, *, momentum, beta_2=0.999, epsilon=1e-8,
                  row_weights=None, checkpoint_rows=None, isolated=True, reduction=None):
        """The epochs of fastmlp.MLP.fit on validated X, Y (and sample
        weights): its layout, parameters, l2, and its optimizer (net.optimizer)
        with the state buffers the model keeps; momentum is Adam's beta_1.
        Y may be the column of class indices of cross_entropy labels
        (fastmlp._validation.holds_class_indices)."""
        state = OptimizerState(net.optimizer, net.params.size, net.dtype, first=net.velocity,
                               second=net.second_moment, steps=net._optimizer_steps)
        loss = net.loss_name
        if _validation.holds_class_indices(Y, loss, net.layer_sizes[-1]):
            loss = "cross_entropy_labels"
        return cls(net._layout, net.layer_activations, loss, net.dtype, net.params,
                   X, Y, batch_rows, state, momentum=momentum, beta_1=momentum,
                   beta_2=beta_2, epsilon=epsilon, l2=net.l2,
                   row_weights=row_weights, weighted_objective=row_weights is not None,
                   checkpoint_rows=checkpoint_rows, isolated=isolated,
                   gemm=getattr(net, "_gemm", "openblas"), reduction=reduction)

    def run(self, perm, lr):
        """One epoch, rows in ``perm`` order (None: in order), learning rate
        ``lr``. Returns (status, sum over finished steps of rows * batch
        objective, failing step); see ``EpochKernel.run``. With recovery, a
        STATUS_NONFINITE_PARAMS epoch has already been rolled back."""
        on_main = threading.current_thread() is threading.main_thread()
        interval = SIGNAL_CHECK_SECONDS if on_main else 0.0
        run = self.kernel.run if self.recovery is None else self.recovery.run
        return run(perm, float(lr), signal_interval=interval, clock_every=self.clock_every)
