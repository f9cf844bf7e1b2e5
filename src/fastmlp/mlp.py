"""fastmlp.MLP: the public model, running on the compiled kernels.

Everything here is orchestration: the inputs arrive validated and converted
by BaseMLP, this module sizes the workspace once per call (once per fit for
training) and makes one kernel call per call (one per epoch for training).
"""
import contextlib

import numpy as np
from threadpoolctl import ThreadpoolController

from ._kernels import _train
from ._model import BaseMLP, DivergenceError
from . import _stats, _workspace


# Below this many floating-point operations of matrix products per training
# step, a second BLAS thread costs more in synchronization than it saves
# (measured with benchmarks/threads.py; see the README), so fit runs on one.
SINGLE_THREAD_FLOPS = 2e6

# Matrix-product work between two checks for pending signals in fit.
SIGNAL_CHECK_FLOPS = 2e7

# Status codes of _train.train_epoch.
STATUS_NONFINITE_LOSS = 1
STATUS_NONFINITE_PARAMS = 2

_controller = None


def _blas_controller():
    # Created on first use, after the kernels have loaded scipy's BLAS.
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


def step_flops(sizes, rows):
    """Floating-point operations of the GEMMs in one training step: the
    forward product, the weight gradient, and the input delta of every layer
    but the first."""
    pairs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * rows * (3 * sum(pairs) - pairs[0])


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

    def _objective(self, X, Y):
        spec, work = self._workspace(X.shape[0])
        return _train.objective(spec, self.params, X, Y, work, self.l2)

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

    def _training_threads(self, rows):
        """One BLAS thread for small steps, else whatever the BLAS (and any
        threadpoolctl limit the caller set) allows: fit only ever lowers the
        thread count, so a caller's limit is never exceeded."""
        if step_flops(self.layer_sizes, rows) >= SINGLE_THREAD_FLOPS:
            return contextlib.nullcontext()
        return _blas_controller().limit(limits=1, user_api="blas")

    def _epoch_runner(self, X, Y, rows, lr, momentum):
        spec, work = self._workspace(rows)
        chunk = int(spec[4])
        # A batch larger than one chunk accumulates its gradient before the
        # momentum step, so it needs a gradient buffer; otherwise the GEMMs
        # write straight into the velocity and none is allocated.
        grads = np.empty(self._layout.n_params if rows > chunk else 0, dtype=self.dtype)
        # Parameters and velocity at the start of each epoch, to recover the
        # last finite state if an update produces inf or NaN.
        checkpoint = np.empty(2 * self._layout.n_params, dtype=self.dtype)
        # Steps between two looks at pending signals (Ctrl-C): about
        # SIGNAL_CHECK_FLOPS of work, so an interrupt is served within
        # milliseconds and the check costs nothing measurable.
        check_every = max(1, int(SIGNAL_CHECK_FLOPS // step_flops(self.layer_sizes, rows)))
        n = X.shape[0]
        params, velocity, l2 = self.params, self.velocity, self.l2

        def run(perm):
            status, total, step = _train.train_epoch(
                spec, params, velocity, grads, X, Y, perm, rows, work, lr, momentum, l2,
                checkpoint, check_every)
            if status == STATUS_NONFINITE_LOSS:
                raise DivergenceError(
                    f"step {step}: the training objective is not finite; the step was "
                    f"not taken and the model is as it was after step {step - 1}; "
                    f"lower the learning rate (lr={lr})", step=step)
            if status == STATUS_NONFINITE_PARAMS:
                raise DivergenceError(
                    f"step {step}: the update made a parameter inf or NaN; parameters "
                    f"and velocity are restored to their state after step {step - 1}; "
                    f"lower the learning rate (lr={lr})", step=step)
            return total / n

        return run
