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
5. ``strategy.end(net)``: once training has finished or diverged (a
   DivergenceError), both outcomes every process reaches together; not
   after other errors, which may be one process's own.

``SingleProcess`` is the default; fastmlp.training.mpi.MpiRanks extends it over the
ranks of an MPI communicator.
"""
import contextlib

from .settings import check_fit, epoch_weight


class SingleProcess:
    """One process trains alone: each step's gradient is its own batch's.
    Owns, once ``begin`` has run, the epoch's rows and weight
    (``epoch_rows``, ``total_weight``) of this one fit."""

    reduction = None

    def __init__(self):
        self.epoch_rows = self.total_weight = None

    def begin(self, net, X, y, arguments):
        """(FitSettings, FitData) of the call; see the module docstring."""
        settings, data = check_fit(net, X, y, arguments)
        self.epoch_rows = data.n_rows
        self.total_weight = epoch_weight(settings, data)
        return settings, data

    def agreeing(self):
        """Around the making of the training buffers: nobody else to agree with."""
        return contextlib.nullcontext()

    def end(self, net):
        """After training: nothing to share."""
