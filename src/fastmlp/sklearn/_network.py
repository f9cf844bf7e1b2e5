"""The fitted network of a scikit-learn-style estimator, on one flat buffer.

scikit-learn keeps ``coefs_[l]`` as a (fan_in, fan_out) array per layer. Here
every parameter lives in one flat buffer laid out as fastmlp's kernels want
it (W_0 as (fan_in, fan_out) rows, the faster form for its GEMMs, each
later W_l as (fan_out, fan_in) rows; all weights, then all biases), and
``coefs_[l]`` / ``intercepts_[l]`` are views into it: ``coefs_[l]`` is the
transpose of W_l, C-contiguous for the first layer. Writing into those
arrays therefore changes the model, and L-BFGS and the epoch kernels work on
the buffer with no packing.

This module is the only one in fastmlp.sklearn that calls the kernels; every
array it passes has been made C-contiguous, of the network's dtype and of
the right shape here or by the estimator's validation.
"""
import numpy as np
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

from ..training.epoch import EpochLoop, OptimizerState, StepPlan
from ..network.kernels import KernelNetwork, Objective
from ..network.layout import Layout
from ..network import workspace as _workspace

# Activation names of scikit-learn and the kernels' names for them.
KERNEL_ACTIVATION = {
    "identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
    "softmax": "softmax", "exp": "exp",
}

# For each output activation of scikit-learn's MLPs: the kernel loss, the
# coefficient of the summed loss in the objective and that of the output
# delta (with k outputs). scikit-learn's squared error is half the mean
# over outputs while its gradient is that of half the sum over outputs;
# the kernels' squared error is the plain sum with gradient 2 * diff.
def loss_terms(out_activation, n_outputs):
    if out_activation == "softmax":
        return "cross_entropy", 1.0, 1.0
    if out_activation == "logistic":
        return "binary_cross_entropy", 1.0, 1.0
    if out_activation == "exp":
        return "poisson", 1.0, 1.0
    return "mse", 1.0 / (2 * n_outputs), 0.5


class Network:
    """Sizes, activations, dtype and the flat parameter buffer of a fitted MLP."""

    def __init__(self, layer_units, hidden_activation, out_activation, dtype):
        self.sizes = tuple(int(u) for u in layer_units)
        self.dtype = np.dtype(dtype)
        self.layout = Layout(self.sizes, first_transposed=True)
        n_layers = self.layout.n_layers
        self.activations = ([KERNEL_ACTIVATION[hidden_activation]] * (n_layers - 1)
                            + [KERNEL_ACTIVATION[out_activation]])
        self.loss, self.loss_coef, self.delta_coef = loss_terms(out_activation,
                                                                self.sizes[-1])
        self.kernels = KernelNetwork(self.layout, self.activations, self.loss, self.dtype)
        self.flat = np.zeros(self.layout.n_params, dtype=self.dtype)
        self.coefs = [w.T for w in self.layout.weight_views(self.flat)]
        self.intercepts = self.layout.bias_views(self.flat)

    def load(self, coefs, intercepts):
        """Copy per-layer arrays (scikit-learn's shapes) into the buffer."""
        for view, c in zip(self.coefs, coefs):
            view[...] = c
        for view, b in zip(self.intercepts, intercepts):
            view[...] = b

    def owns(self, coefs, intercepts):
        """Whether these attribute lists are still this buffer's views."""
        return (len(coefs) == len(self.coefs) and len(intercepts) == len(self.intercepts)
                and all(a is b for a, b in zip(coefs, self.coefs))
                and all(a is b for a, b in zip(intercepts, self.intercepts)))

    def matches(self, layer_units, dtype):
        return self.sizes == tuple(layer_units) and self.dtype == np.dtype(dtype)

    def forward(self, X, n_threads=None):
        """Output activations for the rows of X (C-contiguous, network dtype,
        or a fastmlp.inputs.sparse.CsrRows of it), on the threads n_threads
        asks for (fastmlp.execution.threads)."""
        return self.kernels.forward(self.flat, X, n_threads)

    def loss_and_gradients(self, X, Y, sample_weight, denom, alpha, grads, n_threads=None):
        """scikit-learn's objective over all rows, its gradient into grads."""
        terms = self.objective(alpha / denom, sample_weight, denom=denom)
        return self.kernels.loss_and_gradients(self.flat, X, Y, grads, terms, n_threads)

    def objective(self, l2, sample_weight, **l2_scale):
        """The kernels' Objective for scikit-learn's loss on this network's
        outputs (its loss and delta coefficients), with L2 coefficient l2
        and row weights sample_weight (or None); l2_scale: Objective's denom
        (one denominator for all rows) or l2_per_denom (each batch's)."""
        return Objective(l2, row_weights=sample_weight, loss_coef=self.loss_coef,
                         delta_coef=self.delta_coef, **l2_scale)


class SolverState(OptimizerState):
    """What a stochastic solver carries from one step (and one partial_fit)
    to the next: its velocity or first moment, Adam's second moment and
    step count (OptimizerState's buffers, which the kernel updates), and
    scikit-learn's own optimizer object, made without parameters (so it
    allocates nothing). That object holds the hyperparameters it was
    created with (a later set_params does not reach a solver that
    partial_fit continues), the current learning rate, and the schedule and
    stopping rules (iteration_ends, trigger_stopping), which are
    scikit-learn's code; the kernel's update rule is read from it."""

    def __init__(self, optimizer, n_params, dtype):
        self.optimizer = optimizer
        super().__init__(_kernel_rule(optimizer), n_params, dtype)

    @property
    def adam_steps(self):
        """Adam's step count, in the buffer the kernel keeps current even when
        Ctrl-C interrupts an epoch."""
        return self.steps

    @property
    def adam_t(self):
        return int(self.steps[0])

    def sklearn_optimizer(self):
        """The scikit-learn optimizer object, with Adam's step count t and
        bias-corrected learning_rate brought to the values scikit-learn's
        would hold after the same steps (its per-parameter lists, velocities
        or ms / vs, stay empty: those values are this state's flat buffers)."""
        opt = self.optimizer
        if self.rule == _workspace.RULE_ADAM and self.adam_t > 0:
            opt.t = self.adam_t
            opt.learning_rate = (opt.learning_rate_init * np.sqrt(1 - opt.beta_2 ** opt.t)
                                 / (1 - opt.beta_1 ** opt.t))
        return opt

    def for_fit(self):
        """This state with the hyperparameters of scikit-learn's optimizer
        object, fixed for a fit."""
        opt = self.optimizer
        if self.rule == _workspace.RULE_ADAM:
            return self.with_hyperparameters(0.0, opt.beta_1, opt.beta_2, opt.epsilon)
        return self.with_hyperparameters(opt.momentum)

    def learning_rate(self):
        """This epoch's learning rate; for Adam learning_rate_init, which the
        kernel bias-corrects per step."""
        opt = self.optimizer
        if self.rule == _workspace.RULE_ADAM:
            return float(opt.learning_rate_init)
        return float(opt.learning_rate)


def new_sklearn_optimizer(est):
    """scikit-learn's optimizer object for the stochastic solver of
    estimator ``est``, made from its parameters as scikit-learn's
    _fit_stochastic makes it, but for no parameter arrays: the kernels keep
    the per-parameter state in flat buffers."""
    if est.solver == "adam":
        return AdamOptimizer([], est.learning_rate_init, est.beta_1, est.beta_2, est.epsilon)
    return SGDOptimizer([], est.learning_rate_init, est.learning_rate, est.momentum,
                        est.nesterovs_momentum, est.power_t)


def _kernel_rule(optimizer):
    """The kernel's update rule that does what scikit-learn's optimizer
    object does."""
    if isinstance(optimizer, AdamOptimizer):
        return "sklearn_adam"
    return "sklearn_nesterov" if optimizer.nesterov else "sklearn_sgd"


class EpochRunner:
    """One fit's epochs of scikit-learn's SGD / Adam rules (an EpochLoop with
    scikit-learn's objective conventions) on ``threads`` (the fit's
    _train.ThreadPool, or None); run() trains one epoch with no allocation
    per step."""

    def __init__(self, net, data, batch_size, state, alpha, threads=None):
        X, Y, sample_weight = data
        self.state = state
        terms = net.objective(float(alpha), sample_weight, l2_per_denom=True)
        self.loop = EpochLoop(net.kernels, net.flat, X, Y, terms, state.for_fit(),
                              StepPlan(int(batch_size), threads=threads))

    def run(self, perm):
        """Returns (status, sum of batch sizes * batch losses, failing step)."""
        return self.loop.run(perm, self.state.learning_rate())
