# The sparse first layer (_sparse.pxd) with bfloat16 products: the same
# loops on the bfloat16 copies of the weights and of the delta (the
# layer's copies its LayerGemm names, written by the passes that produce
# them), summed in float32, as
# the GEMMs of _bf16.pxd do. X's stored values arrive rounded (fastmlp.MLP
# rounds a copy once per call: rounding here would repeat it for every
# output an entry enters). Without shadows (float32 and float64 products)
# the plain layer. Both products are cut into fixed blocks of output
# columns (each column summed as the whole product sums it, so the blocks
# change no bit), run on the call's threads.
from cython cimport floating

from libc.stdint cimport uint16_t

from fastmlp._kernels._bf16 cimport Bf16Shadow, LayerGemm, shadow
from fastmlp._kernels._passes cimport bias_activate_op, colsum_op
from fastmlp._kernels._layer cimport LayerShape, LayerSink
from fastmlp._kernels._sparse cimport CsrRows, sparse_product, sparse_weight_gradient
from fastmlp._kernels._threads cimport (
    MAX_BLOCKS, Split, block_length, block_start, run_blocks, split_for)


cdef enum:
    # Multiply-adds per block of columns at least (tens of microseconds).
    SPARSE_BLOCK_WORK = 1 << 18
    SPARSE_MIN_COLUMNS = 32


cdef struct SparseJob:
    const CsrRows* x
    const LayerShape* shape
    Split split
    const void* operand   # the weights (forward) or the delta (backward)
    bint bf16             # operand is a bfloat16 copy
    void* out
    double alpha
    double beta


cdef inline Split column_blocks(const CsrRows* x, const LayerShape* shape) noexcept nogil:
    cdef double work = <double> (x.indptr[shape.rows] - x.indptr[0]) * shape.n_out
    return split_for(shape.n_out, SPARSE_MIN_COLUMNS,
                     <Py_ssize_t> (work / SPARSE_BLOCK_WORK), 16)


cdef inline void sparse_block(const SparseJob* job, Py_ssize_t i, bint forward,
                              floating dummy) noexcept nogil:
    cdef Py_ssize_t j0 = block_start(&job.split, i)
    cdef Py_ssize_t j1 = j0 + block_length(&job.split, i)
    cdef floating* out = <floating*> job.out
    if forward:
        if job.bf16:
            sparse_product(job.x, job.shape, <const uint16_t*> job.operand, out, j0, j1)
        else:
            sparse_product(job.x, job.shape, <const floating*> job.operand, out, j0, j1)
    elif job.bf16:
        sparse_weight_gradient(job.x, job.shape, <const uint16_t*> job.operand, out,
                               <floating> job.alpha, <floating> job.beta, j0, j1)
    else:
        sparse_weight_gradient(job.x, job.shape, <const floating*> job.operand, out,
                               <floating> job.alpha, <floating> job.beta, j0, j1)


cdef inline void sparse_forward_task_f32(void* ctx, Py_ssize_t i) noexcept nogil:
    sparse_block(<const SparseJob*> ctx, i, True, <float> 0)


cdef inline void sparse_forward_task_f64(void* ctx, Py_ssize_t i) noexcept nogil:
    sparse_block(<const SparseJob*> ctx, i, True, <double> 0)


cdef inline void sparse_gradient_task_f32(void* ctx, Py_ssize_t i) noexcept nogil:
    sparse_block(<const SparseJob*> ctx, i, False, <float> 0)


cdef inline void sparse_gradient_task_f64(void* ctx, Py_ssize_t i) noexcept nogil:
    sparse_block(<const SparseJob*> ctx, i, False, <double> 0)


cdef inline SparseJob sparse_job(const LayerGemm* g, const CsrRows* x,
                                 const LayerShape* shape, const void* operand,
                                 const void* copy, floating* out) noexcept nogil:
    """A job on the operand, or on its bfloat16 copy with shadows."""
    cdef SparseJob job
    cdef Bf16Shadow* s = shadow(g.be, <floating> 0)
    job.x = x
    job.shape = shape
    job.split = column_blocks(x, shape)
    job.bf16 = s != NULL
    job.operand = copy if s != NULL else operand
    job.out = out
    job.alpha = 1
    job.beta = 0
    return job


cdef inline void sparse_forward_op(const LayerGemm* g, const CsrRows* x,
                                   const LayerShape* shape, const floating* w,
                                   const floating* b, floating* out,
                                   int act) noexcept nogil:
    """out = act(x W^T + b) (act < 0: the pre-activation); with bfloat16
    products on the rounded weights, and the output's bfloat16 copy written
    as bias_activate_op writes it."""
    cdef SparseJob job = sparse_job(g, x, shape, w, g.bf.w, out)
    run_blocks(g.be.pool, job.split.count,
               sparse_forward_task_f32 if floating is float else sparse_forward_task_f64,
               &job)
    bias_activate_op(g, act, out, b, shape.rows, shape.n_out)


cdef inline void sparse_backward_op(const LayerGemm* g, const CsrRows* x,
                                    const LayerShape* shape, const floating* delta,
                                    const LayerSink* sink) noexcept nogil:
    """sink.out_w = beta out_w + alpha delta^T x, out_b likewise with column
    sums (NULL: formed by the layer above); with bfloat16 products on the
    rounded delta (the bias gradient sums the float32 delta, as
    dense_backward's does)."""
    cdef SparseJob job = sparse_job(g, x, shape, delta, g.bf.delta,
                                    <floating*> sink.out_w)
    job.alpha = <floating> sink.alpha
    job.beta = <floating> sink.beta
    run_blocks(g.be.pool, job.split.count,
               sparse_gradient_task_f32 if floating is float else sparse_gradient_task_f64,
               &job)
    if sink.out_b != NULL:
        colsum_op(g.be, delta, shape.rows, shape.n_out, sink, <floating*> sink.out_b)
