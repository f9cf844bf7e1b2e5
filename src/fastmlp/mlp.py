"""fastmlp.MLP: the public model, running on the compiled kernels.

Everything here is orchestration: the inputs arrive validated and converted
by BaseMLP, this module sizes the workspace once per call (once per fit for
training) and makes one kernel call per call (one per epoch for training).
"""
import numpy as np

from ._kernels import _train
from ._model import BaseMLP, DivergenceError
from . import _bf16lib, _stats, _validation, _workspace
from ._sparse import CsrRows, entry_point as _kernel_x
from ._epoch import (  # noqa: F401  (step_flops: used by the benchmarks and tests)
    STATUS_NONFINITE_LOSS, STATUS_NONFINITE_PARAMS, STATUS_REDUCE_FAILED, EpochLoop,
    step_flops)

# The divergence checkpoint copies parameters and velocity: on the medium
# benchmark network (535k parameters, float32) about 200 us, the time of
# about 20 rows of training. Renewed once per CHECKPOINT_ROWS rows rather
# than once per epoch, it stays near 0.1% of the time even when epochs are a
# few steps long; the replay after a divergence is then at most that many
# rows plus an epoch (fastmlp._recovery).
CHECKPOINT_ROWS = 16384


_FORWARD = {np.float32: _train.forward["float"], np.float64: _train.forward["double"]}


def _after(step):
    return f"after step {step - 1}" if step > 0 else "at the start of the epoch"


def _bfloat16_values(values):
    """float32 values rounded to bfloat16 (as float32), by the kernels' own
    rounding."""
    bits = np.empty(values.shape[0], dtype=np.uint16)
    _train.bfloat16_bits(np.ascontiguousarray(values, dtype=np.float32), bits)
    return (bits.astype(np.uint32) << 16).view(np.float32)


class MLP(BaseMLP):
    """Multilayer perceptron trained by fused Cython kernels over BLAS.

    See the package README (and ``fastmlp.reference.MLP``, its NumPy twin)
    for the full contract.
    """

    # The kernels take class labels as indices: no n x K target in fit.
    _fit_class_indices = True

    def _check_X(self, X):
        Xc = super()._check_X(X)
        if self.matmul_dtype is not None and isinstance(Xc, CsrRows):
            # The sparse first layer reads X's stored values already rounded
            # (_kernels/_sparse_bf16.pxd): rounded here once per call, into
            # a copy, not once per product they enter.
            Xc = CsrRows(Xc.indptr, Xc.indices, _bfloat16_values(Xc.data), Xc.shape)
        return Xc

    def _check_matmul_support(self):
        if self.matmul_dtype == "bfloat16":
            _bf16lib.library()  # ImportError naming the extra when missing

    @property
    def _gemm(self):
        """The kernels' GEMM backend (_workspace.build) for self.matmul_dtype."""
        return "bf16" if self.matmul_dtype == "bfloat16" else "openblas"

    def _strategy(self, comm):
        if comm is None:
            return super()._strategy(comm)
        # Here, not at the top: import fastmlp never imports mpi4py.
        from . import _mpi
        return _mpi.strategy(comm)

    def _workspace(self, rows, sparse=False, Y=None):
        rows = _workspace.chunk_rows(self.layer_sizes, rows, sparse)
        return _workspace.build(self._layout, self.layer_activations, self._kernel_loss(Y),
                                rows, self.dtype, self._gemm, sparse=sparse)

    def _kernel_loss(self, Y):
        """The kernels' loss for target Y: class indices (v.check_y's
        as_indices) have their own, so no n x K one-hot array is formed."""
        if Y is not None and _validation.holds_class_indices(Y, self.loss_name,
                                                             self.layer_sizes[-1]):
            return "cross_entropy_labels"
        return self.loss_name

    def _forward(self, X):
        out = np.empty((X.shape[0], self.layer_sizes[-1]), dtype=self.dtype)
        if isinstance(X, CsrRows):
            spec, work = self._workspace(X.shape[0], sparse=True)
            _train.forward_csr(spec, self.params, X.indptr, X.indices, X.data, work, out)
        else:
            spec, work = _workspace.kept(self, X.shape[0], self._workspace)
            # The kernel's specialization for the model dtype: skips the fused
            # function's dispatch on argument types (0.2 us of a 5 us call).
            _FORWARD[self.dtype.type](spec, self.params, X, work, out)
        if self.matmul_dtype is not None:
            _bf16lib.check_products()
        return out

    def _objective(self, X, Y, outputs=None):
        spec, work = self._workspace(X.shape[0], isinstance(X, CsrRows), Y)
        objective, xargs = _kernel_x("objective", X)
        value = objective(spec, self.params, *xargs, Y, work, self.l2, outputs)
        if self.matmul_dtype is not None:
            _bf16lib.check_products()
        return value

    def _gradients(self, X, Y):
        spec, work = self._workspace(X.shape[0], isinstance(X, CsrRows), Y)
        grads = np.empty_like(self.params)
        gradients, xargs = _kernel_x("loss_and_gradients", X)
        gradients(spec, self.params, *xargs, Y, work, grads, self.l2)
        if self.matmul_dtype is not None:
            _bf16lib.check_products()
        return grads

    def _layer_stats(self, X, Y):
        # One chunk for all rows: statistics are over the whole batch.
        spec, work = _workspace.build(self._layout, self.layer_activations, self.loss_name,
                                      X.shape[0], self.dtype, self._gemm,
                                      sparse=isinstance(X, CsrRows))
        grads = np.empty_like(self.params)
        table = np.empty((self._layout.n_layers, len(_stats.COLUMNS)))
        statistics, xargs = _kernel_x("layer_statistics", X)
        statistics(spec, self.params, *xargs, Y, work, grads, table)
        if self.matmul_dtype is not None:
            _bf16lib.check_products()
        return table

    def _epoch_runner(self, data, settings, strategy):
        """run(perm, lr=None): one epoch of data (a FitData) in the row
        order perm (None: in order), at learning rate lr (None: the
        settings' constant one).

        settings (a FitSettings) give the batch rows, momentum (Adam's
        beta_1), beta_2, epsilon and row weights; the update rule is
        self.optimizer. strategy (fastmlp._strategy) gives the steps'
        reduction, agrees on the training buffers, and weighs the epoch.
        """
        # The divergence checkpoint one call takes stays valid for the next
        # only if nothing but run changes the model in between (a callback
        # may), and if no other process must take its own at the same epoch
        # to replay a divergence with it (a reduced step's): else every call
        # takes its own (see CHECKPOINT_ROWS).
        isolated = settings.callback is None and strategy.reduction is None
        with strategy.agreeing():
            loop = EpochLoop.for_model(self, data.X, data.Y, settings.batch_rows,
                                       momentum=settings.momentum, beta_2=settings.beta_2,
                                       epsilon=settings.epsilon,
                                       row_weights=settings.row_weights,
                                       checkpoint_rows=CHECKPOINT_ROWS, isolated=isolated,
                                       reduction=strategy.reduction)
        # Over every process's rows: history's mean is the same float on each.
        total_weight = strategy.total_weight
        default_lr = settings.constant_lr

        def run(perm, lr=None):
            lr = default_lr if lr is None else lr
            status, total, step = loop.run(perm, lr)
            if self.matmul_dtype is not None:
                _bf16lib.check_products()
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
            if status == STATUS_REDUCE_FAILED:
                raise RuntimeError(f"step {step}: MPI_Allreduce of the gradient failed")
            return total / total_weight

        return run
