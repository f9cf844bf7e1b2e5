"""The one adapter between a network and the compiled kernels, used by both
``fastmlp.MLP`` and ``fastmlp.sklearn``.

A ``KernelNetwork`` holds what the kernels need to know of a network (its
layout, activations, loss, dtype and GEMM backend) and runs every one-shot
operation on a parameter buffer it is given: forward, objective, loss and
gradients, layer statistics, and the workspace of a fit's ``EpochLoop``. It
sizes the workspace, turns X into the kernels' input source (``input_rows``:
the type of X decides, dense or CSR) and picks the loss the kernels read by
the kind of target validation made (``ClassIndices`` or rows). A bfloat16
product the library refuses raises RuntimeError from the kernel call it was
in, which keeps its own record. Inputs arrive validated
(fastmlp.inputs.validation, fastmlp.inputs.sparse): C-contiguous, in the model dtype.

The one-shot operations take the caller's thread request (``n_threads``:
None, -1 or a count, fastmlp.execution.threads) and run on the threads it
resolves to for the size of one chunk of the call.
"""
import numpy as np

from . import workspace as _workspace
from .._kernels import _train
from ..execution import threads as _threads
from ..execution.cost import forward_flops, step_flops
from ..inputs.sparse import input_rows
from ..inputs.validation import holds_class_indices

# The kernels' specializations per model dtype: they skip the fused
# function's dispatch on argument types (0.2 us of a 5 us forward call).
_FORWARD = {np.dtype(np.float32): _train.forward["float"],
            np.dtype(np.float64): _train.forward["double"]}

Objective = _train.Objective


class KernelNetwork:
    """A network as the kernels see it (see the module docstring).

    layout: fastmlp.network.layout.Layout; activations: one kernel activation name
    per layer (the output's last); loss: the kernel loss for target rows
    ("mse", "cross_entropy", "binary_cross_entropy", "poisson"); gemm:
    "openblas", or "bf16" for bfloat16 products."""

    def __init__(self, layout, activations, loss, dtype, gemm="openblas"):
        self.layout = layout
        self.sizes = tuple(layout.sizes)
        self.activations = list(activations)
        self.loss = loss
        self.dtype = np.dtype(dtype)
        self.gemm = gemm
        self._forward = _FORWARD[self.dtype]
        # What a call's thread count is decided from, worked out once: a
        # one-row forward pass takes about 5 us, and these a few tenths each.
        self._chunk_limit = {sparse: _workspace.chunk_rows(self.sizes, 2**62, sparse)
                             for sparse in (False, True)}
        self._flops_per_row = {False: forward_flops(self.sizes, 1),
                               True: step_flops(self.sizes, 1)}
        self._largest_product = max(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))

    def kernel_loss(self, Y=None):
        """The loss the kernels read for target Y: class indices have their
        own, so no n x K one-hot array is formed."""
        return "cross_entropy_labels" if Y is not None and holds_class_indices(Y) \
            else self.loss

    def workspace(self, rows, sparse=False, Y=None):
        """A Workspace for blocks of at most ``rows`` rows (no more than the
        workspace budget allows)."""
        return _workspace.build(self.layout, self.activations, self.kernel_loss(Y), rows,
                                self.dtype, self.gemm, sparse=sparse)

    def chunked_workspace(self, rows, sparse=False, Y=None):
        """A Workspace for ``rows`` rows, in chunks when they exceed the
        workspace budget."""
        return self.workspace(_workspace.chunk_rows(self.sizes, rows, sparse), sparse, Y)

    def call_threads(self, rows, n_threads, sparse=False, backward=False):
        """The thread count of a call over ``rows`` rows (a backward pass
        too when ``backward``) for the request ``n_threads``: decided by the
        GEMM work of one of its chunks."""
        chunk = min(rows, self._chunk_limit[sparse])
        return _threads.resolve(n_threads, chunk * self._flops_per_row[backward])

    def _execution(self, rows, n_threads, sparse, backward=False):
        """The CallThreads of a call, or None when it runs as it is: on one
        thread with every product small enough that BLAS keeps it on one
        thread itself (setting the count would cost a fifth of a one-row
        forward pass)."""
        n = self.call_threads(rows, n_threads, sparse, backward)
        if n == 1 and min(rows, self._chunk_limit[sparse]) * self._largest_product \
                < _threads.BLAS_SERIAL_PRODUCT:
            return None
        return _threads.CallThreads(n)

    def forward(self, params, X, n_threads=1):
        """Output activations of every row of X."""
        out = np.empty((X.shape[0], self.sizes[-1]), dtype=self.dtype)
        rows = input_rows(X)
        if rows.is_sparse:
            spec, work = self.chunked_workspace(X.shape[0], True)
        else:
            # Small workspaces are kept between calls (building one costs
            # more than a one-row forward pass).
            spec, work = _workspace.kept(self, X.shape[0], self.chunked_workspace)
        execution = self._execution(X.shape[0], n_threads, rows.is_sparse)
        if execution is None:
            self._forward(spec, params, rows, work, out)
            return out
        with execution as pool:
            self._forward(spec, params, rows, work, out, pool)
        return out

    def objective(self, params, X, Y, terms, outputs=None, n_threads=1):
        """The objective ``terms`` (an Objective) describe over X and Y; the
        output activations go to ``outputs`` when given."""
        rows = input_rows(X)
        spec, work = self.chunked_workspace(X.shape[0], rows.is_sparse, Y)
        execution = self._execution(X.shape[0], n_threads, rows.is_sparse)
        if execution is None:
            return _train.objective(spec, params, rows, Y, work, terms, outputs)
        with execution as pool:
            return _train.objective(spec, params, rows, Y, work, terms, outputs, pool)

    def loss_and_gradients(self, params, X, Y, grads, terms, n_threads=1):
        """grads = the gradient of the objective ``terms`` describe; returns
        the objective."""
        rows = input_rows(X)
        spec, work = self.chunked_workspace(X.shape[0], rows.is_sparse, Y)
        execution = self._execution(X.shape[0], n_threads, rows.is_sparse, backward=True)
        if execution is None:
            return _train.loss_and_gradients(spec, params, rows, Y, work, grads, terms)
        with execution as pool:
            return _train.loss_and_gradients(spec, params, rows, Y, work, grads, terms, pool)

    def layer_statistics(self, params, X, Y, table):
        """Fill ``table`` (n_layers x 7, fastmlp.network.stats.COLUMNS) for one pass
        over all rows of X (with Y, a backward pass too)."""
        rows = input_rows(X)
        # One chunk for all rows: statistics are over the whole batch.
        spec, work = self.workspace(X.shape[0], rows.is_sparse, Y)
        grads = np.empty_like(params)
        _train.layer_statistics(spec, params, rows, Y, work, grads, table)
        return table
