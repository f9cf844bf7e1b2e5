"""fastmlp.MLP: the public model, running on the compiled kernels.

Everything here is orchestration: the inputs arrive validated and converted
by BaseMLP, this module sizes the workspace once per call (once per fit for
training) and makes one kernel call per call (one per epoch for training).
"""
import threading

import numpy as np

from ._kernels import _train
from ._model import BaseMLP, DivergenceError
from . import _stats, _workspace


# fit's epoch loop takes the GIL back to let Python run signal handlers
# (Ctrl-C) every SIGNAL_CHECK_SECONDS, reading the clock every
# CLOCK_CHECK_FLOPS of matrix-product work (a fraction of a millisecond).
# Taking the GIL back can wait for another busy Python thread's switch
# interval (5 ms), so it is done rarely, and only on the main thread: the
# only one that runs signal handlers.
SIGNAL_CHECK_SECONDS = 0.1
CLOCK_CHECK_FLOPS = 2e7

# The divergence checkpoint copies parameters and velocity: on the medium
# benchmark network (535k parameters, float32) about 200 us, the time of
# about 20 rows of training. Renewed once per CHECKPOINT_ROWS rows rather
# than once per epoch, it stays near 0.1% of the time even when epochs are a
# few steps long; the replay after a divergence is then at most that many
# rows plus an epoch.
CHECKPOINT_ROWS = 16384

# Status codes of _train.train_epoch.
STATUS_OK = 0
STATUS_NONFINITE_LOSS = 1
STATUS_NONFINITE_PARAMS = 2


def step_flops(sizes, rows):
    """Floating-point operations of the GEMMs in one training step: the
    forward product, the weight gradient, and the input delta of every layer
    but the first."""
    pairs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * rows * (3 * sum(pairs) - pairs[0])


def _after(step):
    return f"after step {step - 1}" if step > 0 else "at the start of the epoch"


class MLP(BaseMLP):
    """Multilayer perceptron trained by fused Cython kernels over BLAS.

    See the package README (and ``fastmlp.reference.MLP``, its NumPy twin)
    for the full contract.
    """

    def _workspace(self, rows):
        rows = _workspace.chunk_rows(self.layer_sizes, rows)
        return _workspace.build(self._layout, self.layer_activations, self.loss_name,
                                rows, self.dtype)

    def _forward(self, X):
        spec, work = self._workspace(X.shape[0])
        out = np.empty((X.shape[0], self.layer_sizes[-1]), dtype=self.dtype)
        _train.forward(spec, self.params, X, work, out)
        return out

    def _objective(self, X, Y, outputs=None):
        spec, work = self._workspace(X.shape[0])
        return _train.objective(spec, self.params, X, Y, work, self.l2, outputs)

    def _gradients(self, X, Y):
        spec, work = self._workspace(X.shape[0])
        grads = np.empty_like(self.params)
        _train.loss_and_gradients(spec, self.params, X, Y, work, grads, self.l2)
        return grads

    def _layer_stats(self, X, Y):
        # One chunk for all rows: statistics are over the whole batch.
        spec, work = _workspace.build(self._layout, self.layer_activations, self.loss_name,
                                      X.shape[0], self.dtype)
        grads = np.empty_like(self.params)
        table = np.empty((self._layout.n_layers, len(_stats.COLUMNS)))
        _train.layer_statistics(spec, self.params, X, Y, work, grads, table)
        return table

    def _epoch_runner(self, X, Y, rows, lr, momentum, isolated=True):
        """run(perm): one epoch in the row order perm (None: in order).

        isolated: nothing but run changes the model between two calls (fit
        without a callback), so the divergence checkpoint taken by one call
        stays valid for the next ones (see CHECKPOINT_ROWS); else every call
        takes its own.
        """
        spec, work = self._workspace(rows)
        chunk = int(spec[_workspace.SPEC_CHUNK_ROWS])
        # A batch larger than one chunk accumulates its gradient before the
        # momentum step, so it needs a gradient buffer; otherwise the GEMMs
        # write straight into the velocity and none is allocated.
        grads = np.empty(self._layout.n_params if rows > chunk else 0, dtype=self.dtype)
        n = X.shape[0]
        # Parameters and velocity at the start of the epoch `since` epochs
        # ago, and the row orders of those epochs: with them the kernel
        # recovers the last finite state if an update produces inf or NaN.
        checkpoint = np.empty(2 * self._layout.n_params, dtype=self.dtype)
        every = -(-CHECKPOINT_ROWS // n) if isolated else 1
        orders = np.empty((every - 1, n), dtype=np.intp)
        since = every     # the first call takes the checkpoint
        in_order = None   # whether the epochs since then had perm None
        clock_every = max(1, int(CLOCK_CHECK_FLOPS // step_flops(self.layer_sizes, rows)))
        params, velocity, l2 = self.params, self.velocity, self.l2

        def run(perm):
            nonlocal since, in_order
            if since == every or in_order != (perm is None):
                since, in_order = 0, perm is None
            on_main = threading.current_thread() is threading.main_thread()
            try:
                status, total, step = _train.train_epoch(
                    spec, params, velocity, grads, X, Y, perm, rows, work, lr, momentum,
                    l2, checkpoint, SIGNAL_CHECK_SECONDS if on_main else 0.0, clock_every,
                    take_checkpoint=since == 0, replay_epochs=since,
                    replay_perms=None if perm is None else orders)
            except BaseException:
                # An interrupted epoch cannot be replayed: start afresh.
                since = every
                raise
            if status != STATUS_OK:
                since = every
            else:
                if perm is not None and since + 1 < every:
                    orders[since] = perm
                since += 1
            if status == STATUS_NONFINITE_LOSS:
                raise DivergenceError(
                    f"step {step}: the training objective is not finite; the step was "
                    f"not taken and the model is as it was {_after(step)}; "
                    f"lower the learning rate (lr={lr})", step=step)
            if status == STATUS_NONFINITE_PARAMS:
                raise DivergenceError(
                    f"step {step}: the update made a parameter inf or NaN; parameters "
                    f"and velocity are restored to their state {_after(step)}; "
                    f"lower the learning rate (lr={lr})", step=step)
            return total / n

        return run
