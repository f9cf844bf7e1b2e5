"""fastmlp.MLP: the public model, running on the compiled kernels.

Everything here is orchestration: the inputs arrive validated and converted
by BaseMLP, this module sizes the workspace once per call (once per fit for
training) and makes one kernel call per call (one per epoch for training).
"""
import numpy as np

from ._kernels import _train
from .network.kernels import KernelNetwork, Objective
from ._model import BaseMLP, DivergenceError
from .network import bf16lib as _bf16lib
from .network import stats as _stats
from .inputs.sparse import CsrRows
from .training.strategy import SingleProcess
from .training.epoch import (  # noqa: F401  (step_flops: used by the benchmarks and tests)
    STATUS_NONFINITE_LOSS, STATUS_NONFINITE_PARAMS, STATUS_REDUCE_FAILED, EpochLoop,
    OptimizerState, StepPlan, step_flops)

# The divergence checkpoint copies parameters and velocity: on the medium
# benchmark network (535k parameters, float32) about 200 us, the time of
# about 20 rows of training. Renewed once per CHECKPOINT_ROWS rows rather
# than once per epoch, it stays near 0.1% of the time even when epochs are a
# few steps long; the replay after a divergence is then at most that many
# rows plus an epoch (fastmlp.training.recovery).
CHECKPOINT_ROWS = 16384


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

    @property
    def _kernels(self):
        """The model's network as the kernels run it (made once)."""
        kernels = self.__dict__.get("_kernel_network")
        if kernels is None:
            kernels = self._kernel_network = KernelNetwork(
                self._layout, self.layer_activations, self.loss_name, self.dtype,
                self._gemm)
        return kernels


    def _strategy(self, comm):
        """A fit on self.n_threads threads, alone or over comm's ranks."""
        if comm is None:
            return SingleProcess(self.n_threads)
        # Here, not at the top: import fastmlp never imports mpi4py.
        from .training import mpi as _mpi
        return _mpi.strategy(comm, self.n_threads)

    def _forward(self, X):
        return self._kernels.forward(self.params, X, self.n_threads)

    def _objective(self, X, Y, outputs=None):
        return self._kernels.objective(self.params, X, Y, Objective(self.l2), outputs,
                                       self.n_threads)

    def _gradients(self, X, Y):
        grads = np.empty_like(self.params)
        self._kernels.loss_and_gradients(self.params, X, Y, grads, Objective(self.l2),
                                         self.n_threads)
        return grads

    def _layer_stats(self, X, Y):
        table = np.empty((self._layout.n_layers, len(_stats.COLUMNS)))
        return self._kernels.layer_statistics(self.params, X, Y, table)

    def _epochs(self, data, settings, reduction=None, recovery=None, threads=None):
        """The EpochLoop of a fit of data (a FitData) with settings (a
        FitSettings): the model's parameters, l2 and optimizer
        (self.optimizer, with the state buffers the model keeps; momentum is
        Adam's beta_1); reduction, threads and recovery as StepPlan and
        EpochLoop take them."""
        state = OptimizerState(self.optimizer, self.params.size, self.dtype,
                               first=self.velocity, second=self.second_moment,
                               steps=self._optimizer_steps)
        state.with_hyperparameters(settings.momentum, beta_1=settings.momentum,
                                   beta_2=settings.beta_2, epsilon=settings.epsilon)
        weights = settings.row_weights
        terms = Objective(self.l2, row_weights=weights, weighted=weights is not None)
        plan = StepPlan(settings.batch_rows, reduction=reduction, threads=threads)
        return EpochLoop(self._kernels, self.params, data.X, data.Y, terms, state, plan,
                         recovery)

    def _epoch_runner(self, data, settings, strategy):
        """run(perm, lr=None): one epoch of data (a FitData) in the row
        order perm (None: in order), at learning rate lr (None: the
        settings' constant one).

        settings (a FitSettings) give the batch rows, momentum (Adam's
        beta_1), beta_2, epsilon and row weights; the update rule is
        self.optimizer. strategy (fastmlp.training.strategy) gives the steps'
        reduction, agrees on the training buffers, and weighs the epoch.
        """
        # The divergence checkpoint one call takes stays valid for the next
        # only if nothing but run changes the model in between (a callback
        # may), and if no other process must take its own at the same epoch
        # to replay a divergence with it (a reduced step's): else every call
        # takes its own (see CHECKPOINT_ROWS).
        isolated = settings.callback is None and strategy.reduction is None
        with strategy.agreeing():
            loop = self._epochs(data, settings, strategy.reduction,
                                recovery=(CHECKPOINT_ROWS, isolated), threads=strategy.threads)
        # Over every process's rows: history's mean is the same float on each.
        total_weight = strategy.total_weight
        default_lr = settings.constant_lr

        def run(perm, lr=None):
            lr = default_lr if lr is None else lr
            status, total, step = loop.run(perm, lr)
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
