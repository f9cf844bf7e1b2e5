# The elementwise passes of a layer cut into fixed blocks (_threads.pxd) and
# run on the threads of the call (its GemmBackend's pool), each block doing
# what _bf16.pxd's pass does on the whole (the bfloat16 copy of the block
# written while it is in cache):
# - bias_activate_op: blocks of rows;
# - derivative_op: blocks of rows for the derivative, then blocks of
#   columns for the bias gradient's column sums (each block sums all rows
#   of its columns in row order: the bits of the one-pass kernel);
# - colsum_op: blocks of columns;
# - update_op: blocks of a layer's weights, each block's sum of squared
#   weights and non-finite flag its own, combined afterwards in block order;
# - gather_x_op: blocks of the rows a step gathers (or only their bfloat16
#   copy, with shadows).
# A pass under PASS_MIN_ELEMENTS elements per block is one block, run as
# _bf16.pxd's pass on the calling thread.
from cython cimport floating

from libc.stdint cimport uint16_t, uintptr_t

from fastmlp._kernels._bf16 cimport Bf16Layer, Bf16Shadow, LayerGemm, shadow
from fastmlp._kernels._bf16 cimport gather_x_op as gather_rows_once
from fastmlp._kernels._bf16_c cimport fm_gather_to_bf16
from fastmlp._kernels._elementwise cimport gather_rows
from fastmlp._kernels._bf16 cimport bias_activate_op as bias_activate_rows
from fastmlp._kernels._bf16 cimport derivative_op as derivative_rows
from fastmlp._kernels._bf16 cimport update_op as update_one
from fastmlp._kernels._bf16 cimport update_weights
from fastmlp._kernels._elementwise cimport colsum_ld
from fastmlp._kernels._gemm cimport GemmBackend
from fastmlp._kernels._layer cimport LayerShape, LayerSink
from fastmlp._kernels._threads cimport (
    MAX_BLOCKS, Split, block_length, block_start, run_blocks, split_for)
from fastmlp._kernels._update cimport Update, update_block


cdef enum:
    # 64 KiB of float32 per block at least: a task's hand-over (about a
    # microsecond) stays a few percent of the block's pass.
    PASS_MIN_ELEMENTS = 16384
    # Column blocks of column sums: whole 32-column groups of fm_colsum.
    COLUMN_ALIGN = 32


cdef inline Split row_split(Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    return split_for(rows, (PASS_MIN_ELEMENTS + cols - 1) // max(cols, 1), MAX_BLOCKS, 1)


cdef inline Split column_split(Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    return split_for(cols, max(COLUMN_ALIGN, PASS_MIN_ELEMENTS // max(rows, 1)), MAX_BLOCKS,
                     COLUMN_ALIGN)


cdef inline Bf16Layer copies_from(const Bf16Layer* bf, Py_ssize_t at) noexcept nogil:
    """The layer's output and input-delta copies from element `at` on (the
    copies a row block's pass writes)."""
    cdef Bf16Layer c = bf[0]
    c.out = bf.out + at if bf.out != NULL else NULL
    c.delta_prev = bf.delta_prev + at if bf.delta_prev != NULL else NULL
    return c


# == bias and activation ======================================================

cdef struct RowPass:
    const LayerGemm* g
    Split split
    int act
    int cols
    void* x             # the rows x cols block (output, or input delta)
    const void* other   # the bias (bias_activate), the activations (derivative)


cdef inline void bias_block(const RowPass* job, Py_ssize_t i, floating dummy) noexcept nogil:
    cdef Py_ssize_t at = block_start(&job.split, i) * job.cols
    cdef LayerGemm g = job.g[0]
    g.bf = copies_from(&job.g.bf, at)
    bias_activate_rows(&g, job.act, <floating*> job.x + at, <const floating*> job.other,
                       <int> block_length(&job.split, i), job.cols)


cdef inline void bias_task_f32(void* ctx, Py_ssize_t i) noexcept nogil:
    bias_block(<const RowPass*> ctx, i, <float> 0)


cdef inline void bias_task_f64(void* ctx, Py_ssize_t i) noexcept nogil:
    bias_block(<const RowPass*> ctx, i, <double> 0)


cdef inline void bias_activate_op(const LayerGemm* g, int act, floating* out,
                                  const floating* b, int rows, int cols) noexcept nogil:
    """out = act(out + b) (act < 0: out + b), and its copy for a hidden
    layer, in blocks of rows."""
    cdef RowPass job
    job.split = row_split(rows, cols)
    if job.split.count == 1:
        bias_activate_rows(g, act, out, b, rows, cols)
        return
    job.g = g
    job.act = act
    job.cols = cols
    job.x = out
    job.other = b
    run_blocks(g.be.pool, job.split.count,
               bias_task_f32 if floating is float else bias_task_f64, &job)


# == column sums ==============================================================

cdef struct ColumnSums:
    Split split
    const void* d
    Py_ssize_t rows
    Py_ssize_t ld
    double alpha
    double beta
    void* out


cdef inline void colsum_block(const ColumnSums* job, Py_ssize_t i,
                              floating dummy) noexcept nogil:
    cdef Py_ssize_t j0 = block_start(&job.split, i)
    colsum_ld(<const floating*> job.d + j0, <size_t> job.rows,
              <size_t> block_length(&job.split, i), <size_t> job.ld,
              <floating> job.alpha, <floating> job.beta, <floating*> job.out + j0)


cdef inline void colsum_task_f32(void* ctx, Py_ssize_t i) noexcept nogil:
    colsum_block(<const ColumnSums*> ctx, i, <float> 0)


cdef inline void colsum_task_f64(void* ctx, Py_ssize_t i) noexcept nogil:
    colsum_block(<const ColumnSums*> ctx, i, <double> 0)


cdef inline void colsum_op(const GemmBackend* be, const floating* d, int rows, int cols,
                           const LayerSink* sink, floating* out) noexcept nogil:
    """out = beta out + alpha (column sums of the rows x cols block d), in
    blocks of columns (alpha and beta: the sink's)."""
    cdef ColumnSums job
    job.split = column_split(rows, cols)
    job.d = d
    job.rows = rows
    job.ld = cols
    job.alpha = <floating> sink.alpha
    job.beta = <floating> sink.beta
    job.out = out
    run_blocks(be.pool, job.split.count,
               colsum_task_f32 if floating is float else colsum_task_f64, &job)


# == the input delta's derivative =============================================

cdef inline void derivative_block(const RowPass* job, Py_ssize_t i,
                                  floating dummy) noexcept nogil:
    cdef Py_ssize_t at = block_start(&job.split, i) * job.cols
    cdef LayerGemm g = job.g[0]
    cdef LayerShape shape = LayerShape(<int> block_length(&job.split, i), job.cols, 0, False)
    cdef LayerSink none = LayerSink(NULL, NULL, NULL, 1.0, 0.0)
    g.bf = copies_from(&job.g.bf, at)
    derivative_rows(&g, &shape, job.act, <const floating*> job.other + at,
                    <floating*> job.x + at, &none)


cdef inline void derivative_task_f32(void* ctx, Py_ssize_t i) noexcept nogil:
    derivative_block(<const RowPass*> ctx, i, <float> 0)


cdef inline void derivative_task_f64(void* ctx, Py_ssize_t i) noexcept nogil:
    derivative_block(<const RowPass*> ctx, i, <double> 0)


cdef inline void derivative_op(const LayerGemm* g, const LayerShape* shape, int act,
                               const floating* a, floating* delta,
                               const LayerSink* sink) noexcept nogil:
    """delta, the layer's input delta (rows x n_in), *= act'(a), its copy
    written, and sink.out_b_prev = beta out_b_prev + alpha colsum(delta)
    unless NULL: in blocks of rows, then of columns."""
    cdef RowPass job
    job.split = row_split(shape.rows, shape.n_in)
    if job.split.count == 1:
        derivative_rows(g, shape, act, a, delta, sink)
        return
    job.g = g
    job.act = act
    job.cols = shape.n_in
    job.x = delta
    job.other = a
    run_blocks(g.be.pool, job.split.count,
               derivative_task_f32 if floating is float else derivative_task_f64, &job)
    if sink.out_b_prev != NULL:
        colsum_op(g.be, <const floating*> delta, shape.rows, shape.n_in, sink,
                  <floating*> sink.out_b_prev)


# == the update ===============================================================

cdef struct WeightUpdate:
    const GemmBackend* be
    Update* u
    Split split
    Py_ssize_t wo
    void* params
    void* out
    double sq[MAX_BLOCKS]
    int nonfinite[MAX_BLOCKS]


cdef inline void update_weights_block(WeightUpdate* job, Py_ssize_t i,
                                      floating dummy) noexcept nogil:
    job.nonfinite[i] = 0
    job.sq[i] = update_weights(job.be, job.u, <floating*> job.params, <floating*> job.out,
                               job.wo + block_start(&job.split, i),
                               <size_t> block_length(&job.split, i), &job.nonfinite[i])


cdef inline void update_task_f32(void* ctx, Py_ssize_t i) noexcept nogil:
    update_weights_block(<WeightUpdate*> ctx, i, <float> 0)


cdef inline void update_task_f64(void* ctx, Py_ssize_t i) noexcept nogil:
    update_weights_block(<WeightUpdate*> ctx, i, <double> 0)


cdef inline double update_op(const GemmBackend* be, Update* u, floating* params,
                             floating* out, Py_ssize_t wo, size_t nw, Py_ssize_t bo,
                             size_t nb) noexcept nogil:
    """_bf16.update_op on one layer, its weights in blocks; returns the sum
    of squared weights before the step (summed in block order)."""
    cdef WeightUpdate job
    cdef Py_ssize_t i
    cdef double sq = 0
    job.split = split_for(<Py_ssize_t> nw, PASS_MIN_ELEMENTS, MAX_BLOCKS, 16)
    if job.split.count == 1:
        return update_one(be, u, params, out, wo, nw, bo, nb)
    job.be = be
    job.u = u
    job.wo = wo
    job.params = params
    job.out = out
    run_blocks(be.pool, job.split.count,
               update_task_f32 if floating is float else update_task_f64, &job)
    for i in range(job.split.count):
        sq += job.sq[i]
        if job.nonfinite[i]:
            u.nonfinite = 1
    update_block(u, params, out, wo, 0, bo, nb)
    return sq


# == gathering a step's rows ==================================================

cdef struct Gather:
    Split split
    const void* src
    const Py_ssize_t* idx
    Py_ssize_t cols
    void* x             # the gathered rows, or
    uint16_t* x_bf      # with shadows, only their bfloat16 copy


cdef inline void gather_block(const Gather* job, Py_ssize_t i, floating dummy) noexcept nogil:
    cdef Py_ssize_t r0 = block_start(&job.split, i)
    cdef size_t rows = <size_t> block_length(&job.split, i)
    if job.x_bf != NULL:
        if floating is float:
            fm_gather_to_bf16(<const float*> job.src, job.idx + r0, rows, <size_t> job.cols,
                              job.x_bf + r0 * job.cols)
    else:
        gather_rows(<const floating*> job.src, job.idx + r0, rows, <size_t> job.cols,
                    <floating*> job.x + r0 * job.cols)


cdef inline void gather_task_f32(void* ctx, Py_ssize_t i) noexcept nogil:
    gather_block(<const Gather*> ctx, i, <float> 0)


cdef inline void gather_task_f64(void* ctx, Py_ssize_t i) noexcept nogil:
    gather_block(<const Gather*> ctx, i, <double> 0)


cdef inline void gather_x_op(const GemmBackend* be, const floating* src,
                             const Py_ssize_t* idx, size_t rows, size_t cols,
                             floating* x) noexcept nogil:
    """_bf16.gather_x_op in blocks of rows: x = the rows idx[0..rows) of
    src, or with shadows only x's bfloat16 copy, bound for the next forward
    pass on x."""
    cdef Gather job
    cdef Bf16Shadow* s = shadow(be, <floating> 0)
    job.split = row_split(<Py_ssize_t> rows, <Py_ssize_t> cols)
    if job.split.count == 1:
        gather_rows_once(be, src, idx, rows, cols, x)
        return
    job.src = src
    job.idx = idx
    job.cols = <Py_ssize_t> cols
    job.x = x
    job.x_bf = s.x_bf if s != NULL else NULL
    run_blocks(be.pool, job.split.count,
               gather_task_f32 if floating is float else gather_task_f64, &job)
    if s != NULL:
        s.x = <uintptr_t> x
        s.x_n = rows * cols
        s.x_gathered = True
