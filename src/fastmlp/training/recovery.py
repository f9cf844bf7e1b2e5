"""Divergence recovery: back to the last finite state when an update makes a
parameter inf or NaN.

Every training step is deterministic, so the state after step s of an epoch
is a checkpoint's state replayed through the same steps in the same row
orders with the same learning rates. A ``Recovery`` wraps one fit's
``EpochKernel`` and keeps, for that:

- a checkpoint: the parameters and the update rule's whole state (velocity;
  for Adam both moments and the step count: ``EpochKernel.save_state``),
  taken at the start of an epoch;
- the row order and learning rate of every epoch finished since.

After an epoch ends with ``STATUS_NONFINITE_PARAMS`` at step s, ``run``
restores the checkpoint, replays the recorded epochs, then steps [0, s) of
the failed one, and returns the status unchanged: the caller raises, with
the model exactly as it was after step s - 1.

Copying the checkpoint costs a pass over the parameters and state, so it is
renewed only every ``every`` epochs (about ``checkpoint_rows`` rows of
training) when nothing else changes the model between epochs (``isolated``:
a fit without a callback); otherwise every epoch. Whatever breaks the chain
of replayable epochs (an interruption, a failure) makes the next epoch take
a new checkpoint. The replay costs at most ``every`` epochs, once, when
training has already failed.
"""
import numpy as np

from .._kernels._train import STATUS_CODES

STATUS_OK = STATUS_CODES["ok"]
STATUS_NONFINITE_PARAMS = STATUS_CODES["nonfinite_params"]


class Recovery:
    """One fit's checkpoint and the epochs since; ``run`` trains one epoch."""

    def __init__(self, kernel, n_rows, checkpoint_rows, isolated=True):
        self.kernel = kernel
        self.every = max(1, -(-checkpoint_rows // max(n_rows, 1))) if isolated else 1
        self.checkpoint = np.empty(kernel.state_size, dtype=kernel.dtype)
        self.adam_steps = 0
        # The epochs since the checkpoint: how many, and of all but the
        # last (which the next epoch's new checkpoint makes unnecessary)
        # the row order (a row each; unused for an epoch run in order) and
        # the learning rate. Preallocated: recording allocates nothing.
        self.since = 0
        self.orders = np.empty((self.every - 1, n_rows), dtype=np.intp)
        self.shuffled = np.zeros(self.every - 1, dtype=bool)
        self.lrs = np.zeros(self.every - 1)
        self.valid = False      # whether checkpoint + epochs replay to now

    def run(self, perm, lr, signal_interval=0.0, clock_every=1):
        """kernel.run with these arguments, restoring the last finite state
        if it fails with STATUS_NONFINITE_PARAMS."""
        if not self.valid or self.since == self.every:
            self.adam_steps = self.kernel.save_state(self.checkpoint)
            self.since = 0
            self.valid = True
        try:
            status, total, step = self.kernel.run(perm, lr, signal_interval=signal_interval,
                                                  clock_every=clock_every)
        except BaseException:
            # An interrupted epoch cannot be replayed: start afresh.
            self.valid = False
            raise
        if status == STATUS_NONFINITE_PARAMS:
            self._restore(perm, lr, step)
        if status != STATUS_OK:
            self.valid = False
        else:
            self._record(perm, lr)
        return status, total, step

    def _record(self, perm, lr):
        k = self.since
        if k < len(self.orders):
            self.shuffled[k] = perm is not None
            if perm is not None:
                self.orders[k] = perm
            self.lrs[k] = lr
        self.since += 1

    def _restore(self, perm, lr, step):
        self.kernel.restore_state(self.checkpoint, self.adam_steps)
        for k in range(self.since):
            self.kernel.run(self.orders[k] if self.shuffled[k] else None, float(self.lrs[k]))
        if step > 0:
            self.kernel.run(perm, lr, steps=step)
