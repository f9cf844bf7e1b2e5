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
from . import _workspace


# Below this many floating-point operations of matrix products per training
# step, a second BLAS thread costs more in synchronization than it saves
# (measured with benchmarks/threads.py; see the README), so fit runs on one.
SINGLE_THREAD_FLOPS = 2e6

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
        n = X.shape[0]
        params, velocity, l2 = self.params, self.velocity, self.l2

        def run(perm):
            if perm is not None:
                perm = np.asarray(perm, dtype=np.intp)
            status, total, steps = _train.train_epoch(
                spec, params, velocity, grads, X, Y, perm, rows, work, lr, momentum, l2)
            if status != 0:
                raise DivergenceError(
                    f"step {steps}: the training objective is not finite; "
                    f"lower the learning rate (lr={lr})")
            return total / n

        return run
