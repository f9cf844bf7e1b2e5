# One training step as a sequence of small nogil stages, and the loop over
# an epoch's steps.
#
# Stages (each takes the Epoch: everything a fit's epochs read or update):
# - begin_step: the batch's rows, its weight (rows, or summed row weights)
#   and the L2 coefficient of its objective;
# - load_chunk: the chunk's input, target and weight rows, gathered by the
#   epoch's permutation into the workspace or read in place (CSR X: into
#   the Epoch's CsrBatch, _sparse.pxd);
# - forward_loss: forward pass, output activation, loss and output delta;
# - backward (backward_rows of _network.pxd) and the update (_update.pxd).
#
# Two ways of combining them, chosen once per fit (EpochKernel in
# _train.pyx) as a StepFn per precision:
# - fused_step: one chunk per batch; each layer is updated right after its
#   backward pass, while its gradient (or velocity) is still in cache;
# - formed_step: the gradient of the whole batch is formed first (over
#   several chunks when the batch is larger than the workspace), then one
#   update pass;
# - reduced_step: formed_step with a reduction across processes between
#   the two (data-parallel fit, fastmlp.training.mpi): each process forms the
#   unnormalized gradient sum of its own rows, one reduction sums it with
#   the rows, weight and loss sum of the step over every process, and every
#   process applies the same update.
from cython cimport floating
from libc.math cimport isfinite

from fastmlp._kernels._codes cimport (
    STATUS_NONFINITE_LOSS, STATUS_NONFINITE_PARAMS, STATUS_OK, STATUS_REDUCE_FAILED)
from fastmlp._kernels._passes cimport gather_x_op
from fastmlp._kernels._elementwise cimport fm_loss_spec, gather_rows, output_loss
from fastmlp._kernels._network cimport (
    Chunk, Net, backward_rows, chunk_csr, forward_rows, update_layer)
from fastmlp._kernels._sparse cimport CsrBatch, CsrRows, csr_block, gather_csr
from fastmlp._kernels._update cimport (
    GradientSink, Update, begin_update, end_mix, end_update, mix_gradient)

cdef extern from "clock.h" nogil:
    double fm_monotonic_seconds()


# Sums count elements of buf over every process, in place (buf then holds
# the same sums on every process); nonzero on failure. ctx: the
# implementation's own state.
ctypedef int (*ReduceFn)(void* ctx, void* buf, Py_ssize_t count,
                         bint is_double) noexcept nogil

# The tail of the reduced message, after the n_params gradient sums.
cdef enum:
    REDUCED_ROWS = 0
    REDUCED_DENOM = 1
    REDUCED_LOSS = 2
    REDUCED_TAIL = 3


cdef struct Reduction:
    ReduceFn fn            # NULL: one process; it reduces ep.grads (n_params
    void* ctx              # + REDUCED_TAIL elements) in place


cdef struct Epoch:
    # Raw pointers of an unspecified precision, cast by the fused stages.
    Net net
    void* params
    void* grads            # the gradient, when the backward pass does not
                           # write into the velocity; else NULL
    const void* X          # dense X; NULL when X is CSR (xs)
    CsrRows xs             # CSR X (indptr NULL when X is dense)
    CsrBatch xbatch        # CSR X: room for one gathered chunk
    const void* Y
    const void* row_weights  # NULL: every row weighs 1
    const Py_ssize_t* perm  # NULL: rows in order, read in place
    Py_ssize_t n
    Py_ssize_t n_in
    Py_ssize_t n_out
    Py_ssize_t y_cols      # values per row of Y: n_out, or 1 for class indices
    Py_ssize_t batch_rows
    void* work
    double l2
    bint l2_per_denom      # the L2 coefficient is l2 / (batch weight), as
                           # in scikit-learn; else l2 itself
    bint weighted_objective  # with row_weights: a batch of weight 0 takes no
                           # step, and the total weighs each batch by its
                           # weight instead of its rows
    double loss_coef       # batch objective = loss_coef * loss sum / denom
    double delta_coef      # data gradient = delta_coef * dLoss / denom
    Update update
    Reduction reduction
    double reduce_seconds  # time spent in the reduction (waiting for the
                           # other processes included), over the kernel's life
    double total           # sum over finished steps of rows * objective


cdef struct Batch:
    Py_ssize_t start       # first position in the epoch's row order
    Py_ssize_t rows
    double denom           # rows, or their summed weights
    double l2              # the L2 coefficient of the batch objective


ctypedef int (*StepFn)(Epoch* ep, Py_ssize_t step) noexcept nogil


cdef inline Batch begin_step(const Epoch* ep, Py_ssize_t step,
                             floating dummy) noexcept nogil:
    cdef Batch b
    cdef const floating* prw = <const floating*> ep.row_weights
    cdef Py_ssize_t i
    b.start = step * ep.batch_rows
    # (Under a reduction a process may have no rows left at a step.)
    b.rows = max(0, min(ep.batch_rows, ep.n - b.start))
    b.denom = b.rows
    if prw != NULL:
        b.denom = 0
        for i in range(b.start, b.start + b.rows):
            b.denom += prw[ep.perm[i] if ep.perm != NULL else i]
    b.l2 = ep.l2 / b.denom if ep.l2_per_denom else ep.l2
    return b


cdef inline Chunk load_chunk(Epoch* ep, Py_ssize_t first, Py_ssize_t rows,
                             floating dummy) noexcept nogil:
    """Rows [first, first + rows) of the epoch's order."""
    cdef Chunk c
    cdef const Net* net = &ep.net
    cdef floating* pw = <floating*> ep.work
    cdef const floating* px = <const floating*> ep.X
    cdef const floating* py = <const floating*> ep.Y
    cdef const floating* prw = <const floating*> ep.row_weights
    c.rows = rows
    c.w = NULL
    c.x = NULL
    c.xs = CsrRows(NULL, NULL, NULL)  # dense rows: indptr NULL
    if ep.xs.indptr != NULL:
        c.xs = (gather_csr(&ep.xs, ep.perm + first, rows, &ep.xbatch, dummy)
                if ep.perm != NULL else csr_block(&ep.xs, first))
    if ep.perm != NULL:
        if px != NULL:
            gather_x_op(net.gemm, px, ep.perm + first, <size_t> rows, <size_t> ep.n_in,
                        pw + net.off_xbuf)
            c.x = pw + net.off_xbuf
        gather_rows(py, ep.perm + first, <size_t> rows, <size_t> ep.y_cols, pw + net.off_ybuf)
        if prw != NULL:
            gather_rows(prw, ep.perm + first, <size_t> rows, 1, pw + net.off_wbuf)
            c.w = pw + net.off_wbuf
        c.y = pw + net.off_ybuf
    else:
        if px != NULL:
            c.x = px + first * ep.n_in
        c.y = py + first * ep.y_cols
        if prw != NULL:
            c.w = prw + first
    return c


cdef inline double forward_loss(Epoch* ep, const Chunk* c,
                                floating batch_scale) noexcept nogil:
    """Forward pass over the chunk; returns its (weighted) loss sum and
    leaves batch_scale * dLoss/dz of the output layer in delta_a."""
    cdef const Net* net = &ep.net
    cdef floating* pw = <floating*> ep.work
    cdef floating* block = forward_rows(net, <const floating*> ep.params, c, pw, NULL,
                                        NULL)
    cdef fm_loss_spec spec = fm_loss_spec(net.loss, <int> net.act[net.n_layers - 1],
                                          batch_scale)
    return output_loss(&spec, block, <const floating*> c.y, pw + net.off_delta_a,
                       <size_t> c.rows, <size_t> ep.n_out, <const floating*> c.w)


cdef inline double backward(Epoch* ep, const Chunk* c, GradientSink sink, Update* u,
                            floating dummy) noexcept nogil:
    """Backward pass of the chunk's delta into the sink (stepping each layer
    by u unless NULL); returns the sum of squared weights u saw."""
    cdef floating* pw = <floating*> ep.work
    return backward_rows(&ep.net, <floating*> ep.params, c, pw, sink, u, NULL)


cdef inline int finish_step(Epoch* ep, const Batch* b, double loss_sum,
                            double sq) noexcept nogil:
    if ep.update.nonfinite:
        return STATUS_NONFINITE_PARAMS
    ep.total += ((ep.loss_coef * loss_sum / b.denom + 0.5 * b.l2 * sq)
                 * (b.denom if ep.weighted_objective else b.rows))
    return STATUS_OK


cdef inline bint weightless(const Epoch* ep, const Batch* b) noexcept nogil:
    """A batch whose rows weigh nothing in total: no step under
    weighted_objective (its objective and gradient would be 0 / 0)."""
    return ep.weighted_objective and b.denom == 0


cdef inline int fused_step(Epoch* ep, Py_ssize_t step, floating dummy) noexcept nogil:
    """A batch of one chunk, each layer updated right after its backward pass."""
    cdef Batch b = begin_step(ep, step, dummy)
    cdef Chunk c
    cdef double loss_sum
    cdef GradientSink sink
    cdef double sq
    if weightless(ep, &b):
        return STATUS_OK
    c = load_chunk(ep, b.start, b.rows, dummy)
    loss_sum = forward_loss(ep, &c, <floating> (ep.delta_coef / b.denom))
    if not isfinite(loss_sum):
        return STATUS_NONFINITE_LOSS
    sink = begin_update(&ep.update, b.l2, True, ep.grads)
    sq = backward(ep, &c, sink, &ep.update, dummy)
    end_update(&ep.update, dummy)
    return finish_step(ep, &b, loss_sum, sq)


cdef inline double form_gradient(Epoch* ep, const Batch* b, floating batch_scale) noexcept nogil:
    """The batch's data gradient (each row's scaled by batch_scale) into
    ep.grads, chunk by chunk; returns the batch's loss sum."""
    cdef Chunk c
    cdef GradientSink sink
    cdef Py_ssize_t done = 0
    cdef double loss_sum = 0
    sink.out = ep.grads
    sink.alpha = 1.0
    while done < b.rows:
        c = load_chunk(ep, b.start + done, min(ep.net.chunk_rows, b.rows - done), batch_scale)
        loss_sum += forward_loss(ep, &c, batch_scale)
        sink.beta = 0.0 if done == 0 else 1.0
        backward(ep, &c, sink, NULL, batch_scale)
        done += c.rows
    return loss_sum


cdef inline int apply_formed(Epoch* ep, const Batch* b, floating* grads, floating grad_scale,
                             double loss_sum) noexcept nogil:
    """One update pass over every layer along the formed gradient
    grad_scale * grads."""
    cdef floating* direction
    cdef Py_ssize_t l
    cdef double sq = 0
    begin_update(&ep.update, b.l2, False, grads)
    direction = mix_gradient(&ep.update, grads, grad_scale)
    for l in range(ep.net.n_layers):
        sq += update_layer(&ep.net, &ep.update, <floating*> ep.params, direction, l)
    end_mix(&ep.update)
    return finish_step(ep, b, loss_sum, sq)


cdef inline int formed_step(Epoch* ep, Py_ssize_t step, floating dummy) noexcept nogil:
    """The batch's whole gradient formed first (chunk by chunk), then one
    update pass over every layer."""
    cdef Batch b = begin_step(ep, step, dummy)
    cdef double loss_sum
    if weightless(ep, &b):
        return STATUS_OK
    loss_sum = form_gradient(ep, &b, <floating> (ep.delta_coef / b.denom))
    if not isfinite(loss_sum):
        return STATUS_NONFINITE_LOSS
    return apply_formed(ep, &b, <floating*> ep.grads, <floating> 1, loss_sum)


cdef inline int reduced_step(Epoch* ep, Py_ssize_t step, floating dummy) noexcept nogil:
    """formed_step over every process: this process's unnormalized gradient
    sum (zeros when it has no rows at this step), its rows, weight and loss
    sum go in one message; the reduced sums give the step's batch over
    all processes, whose gradient is the summed one divided by its weight."""
    cdef Batch b = begin_step(ep, step, dummy)
    cdef Py_ssize_t n = ep.net.n_params, i
    cdef floating* total = <floating*> ep.grads   # sent, then reduced in place
    cdef double loss_sum = 0, started
    cdef int failed
    if b.rows > 0:
        loss_sum = form_gradient(ep, &b, <floating> ep.delta_coef)
    else:
        for i in range(n):
            total[i] = 0
    total[n + REDUCED_ROWS] = <floating> b.rows
    total[n + REDUCED_DENOM] = <floating> b.denom
    total[n + REDUCED_LOSS] = <floating> loss_sum
    # Two clock reads per step (tens of ns against a reduction of 5 us or
    # more) tell the reduction's own time from the step's.
    started = fm_monotonic_seconds()
    failed = ep.reduction.fn(ep.reduction.ctx, total, n + REDUCED_TAIL,
                             sizeof(floating) == sizeof(double))
    ep.reduce_seconds += fm_monotonic_seconds() - started
    if failed != 0:
        return STATUS_REDUCE_FAILED
    b.rows = <Py_ssize_t> total[n + REDUCED_ROWS]
    b.denom = total[n + REDUCED_DENOM]
    loss_sum = total[n + REDUCED_LOSS]
    if b.rows == 0 or weightless(ep, &b):
        return STATUS_OK
    if not isfinite(loss_sum):
        return STATUS_NONFINITE_LOSS
    b.l2 = ep.l2 / b.denom if ep.l2_per_denom else ep.l2
    return apply_formed(ep, &b, total, <floating> (1.0 / b.denom), loss_sum)


cdef inline int run_steps(Epoch* ep, StepFn step_fn, Py_ssize_t first, Py_ssize_t last,
                          Py_ssize_t* stopped_at, double deadline,
                          Py_ssize_t clock_every) noexcept nogil:
    """Steps [first, last) of the epoch, or fewer: with deadline > 0 the
    clock is read every clock_every steps and the loop returns STATUS_OK
    early once it has passed. *stopped_at is the first step not taken; on
    STATUS_NONFINITE_* it is the failing step."""
    cdef Py_ssize_t step
    cdef int status
    for step in range(first, last):
        status = step_fn(ep, step)
        if status != STATUS_OK:
            stopped_at[0] = step
            return status
        if deadline > 0 and (step - first + 1) % clock_every == 0 and step + 1 < last:
            if fm_monotonic_seconds() >= deadline:
                stopped_at[0] = step + 1
                return STATUS_OK
    stopped_at[0] = last
    return STATUS_OK
