"""How a fit's steps combine their gradients: the execution strategy.

``BaseMLP.fit`` gets one strategy per call from ``net._strategy(comm)`` and
calls it at fixed points:

1. ``settings, data = strategy.begin(net, X, y, arguments)``: validates the
   call (``fastmlp.training.settings.check_fit``) and readies the strategy for
   this fit; returns the settings and data the fit trains with. Nothing of
   the model has changed when it raises.
2. ``with strategy.agreeing():`` around the making of the training buffers
   (the epoch runner's).
3. ``strategy.reduction``: what the compiled epoch reduces each step's
   gradient through (an object with ``allreduce`` and ``n_steps``, given to
   fastmlp.training.epoch.EpochLoop), or None when each step's gradient is its own
   batch's.
4. ``strategy.epoch_rows`` and ``strategy.total_weight``: the rows and the
   weight of one epoch over every process (samples per second; the
   divisor of history's mean).
5. ``with strategy.running():`` around the training, from the first epoch
   to the last: the fit's threads. ``strategy.n_threads`` (set by
   ``begin``) is how many the fit runs on; inside, ``strategy.threads`` is
   their pool (a ``_train.ThreadPool``, or None for one thread), which the
   epoch's ``StepPlan`` takes, and the BLAS and OpenMP run one thread each
   (fastmlp.execution.threads.CallThreads); all restored when it ends,
   whatever ends it.
6. ``strategy.end(net)``: once training has finished or diverged (a
   DivergenceError), both outcomes every process reaches together; not
   after other errors, which may be one process's own.

``SingleProcess`` is the default; fastmlp.training.mpi.MpiRanks extends it over the
ranks of an MPI communicator.
"""
import contextlib

from ..execution import threads as _threads
from ..execution.cost import step_flops
from .settings import check_fit, epoch_weight


class SingleProcess:
    """One process trains alone: each step's gradient is its own batch's.
    Owns, once ``begin`` has run, the epoch's rows and weight
    (``epoch_rows``, ``total_weight``) of this one fit, and its threads:
    ``n_threads`` resolved from the request ``requested`` (the model's
    n_threads: None, -1 or a count; fastmlp.execution.threads) and the
    size of a step, and ``threads``, their pool while ``running``."""

    reduction = None

    def __init__(self, requested=1):
        self.epoch_rows = self.total_weight = None
        self.requested = requested
        self.n_threads = 1
        self.threads = None

    def begin(self, net, X, y, arguments):
        """(FitSettings, FitData) of the call; see the module docstring."""
        settings, data = check_fit(net, X, y, arguments)
        self.epoch_rows = data.n_rows
        self.total_weight = epoch_weight(settings, data)
        self.n_threads = _threads.resolve(self.requested,
                                          step_flops(net.layer_sizes, settings.batch_rows))
        return settings, data

    def agreeing(self):
        """Around the making of the training buffers: nobody else to agree with."""
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def running(self):
        """Around the training: its threads (see the module docstring)."""
        with _threads.CallThreads(self.n_threads) as pool:
            self.threads = pool
            try:
                yield
            finally:
                self.threads = None

    def end(self, net):
        """After training: nothing to share."""
