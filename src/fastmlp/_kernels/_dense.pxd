# One dense layer, forward and backward, on row-major blocks of `rows` rows,
# its shape a LayerShape and (backward) its gradient's destinations a
# LayerSink (_layer.pxd). W is (n_out x n_in) row-major, as in
# a_out = sigma(W a_in + b), unless w_t: then the buffer holds W^T,
# (n_in x n_out) row-major. Every product derives its GEMM's Product from
# the layer's shape and goes through the layer's LayerGemm `g` (_bf16.pxd):
# the GEMM backend (_gemm.pxd) and the layer's bfloat16 copies, each
# product naming the copies of its own two operands.
#
# Why a layer may be stored transposed: with W row-major, the forward GEMM
# has both operands contiguous along its inner dimension (column-major
# "TN"), the one form OpenBLAS has no small-matrix path for; on a 32 x 64
# x 64 product that form takes about twice the time of the others. W^T
# turns the forward product into "NN" and keeps the weight gradient fast,
# but makes the input-delta product "TN" instead, so only a layer without
# an input delta (the first) gains from it; on large layers the forms cost
# the same within a few percent.
from cython cimport floating

from fastmlp._kernels._gemm cimport (
    GEMM_MIN_BLOCK, Bf16Operands, GemmCall, Product, gemm, gemm_block, gemm_blocks)
from fastmlp._kernels._bf16 cimport LayerGemm, update_weights
from fastmlp._kernels._passes cimport (
    PASS_MIN_ELEMENTS, bias_activate_op, colsum_op, derivative_op)
from fastmlp._kernels._layer cimport LayerShape, LayerSink
from fastmlp._kernels._threads cimport (
    MAX_BLOCKS, Split, block_length, block_start, run_blocks, split_for)
from fastmlp._kernels._update cimport Update, update_block


cdef inline void forward_product(const LayerGemm* g, const LayerShape* shape,
                                 const floating* a_in, const floating* w,
                                 floating* out) noexcept nogil:
    """out (rows x n_out) = a_in W^T: W^T as stored, or W transposed."""
    cdef int rows = shape.rows, n_in = shape.n_in, n_out = shape.n_out
    cdef bint w_t = shape.w_t
    cdef Product p = Product(False, not w_t, rows, n_out, n_in, n_in,
                             n_out if w_t else n_in, n_out)
    gemm(g.be, &p, <floating> 1, a_in, w, <floating> 0, out,
         Bf16Operands(g.bf.a_in, g.bf.w))


cdef inline void weight_gradient_product(const LayerGemm* g, const LayerShape* shape,
                                         const floating* delta, const floating* a_in,
                                         const LayerSink* sink) noexcept nogil:
    """sink.out_w = beta out_w + alpha delta^T a_in, in the layer's W layout."""
    cdef int rows = shape.rows, n_in = shape.n_in, n_out = shape.n_out
    cdef floating alpha = <floating> sink.alpha, beta = <floating> sink.beta
    cdef floating* out_w = <floating*> sink.out_w
    cdef Product p
    if shape.w_t:
        p = Product(True, False, n_in, n_out, rows, n_in, n_out, n_out)
        gemm(g.be, &p, alpha, a_in, delta, beta, out_w,
             Bf16Operands(g.bf.a_in, g.bf.delta))
    else:
        p = Product(True, False, n_out, n_in, rows, n_out, n_in, n_in)
        gemm(g.be, &p, alpha, delta, a_in, beta, out_w,
             Bf16Operands(g.bf.delta, g.bf.a_in))


cdef inline void input_delta_product(const LayerGemm* g, const LayerShape* shape,
                                     const floating* delta, const floating* w,
                                     floating* delta_prev) noexcept nogil:
    """delta_prev (rows x n_in) = delta W: W as stored, or W^T transposed."""
    cdef int rows = shape.rows, n_in = shape.n_in, n_out = shape.n_out
    cdef bint w_t = shape.w_t
    cdef Product p = Product(False, w_t, rows, n_in, n_out, n_out,
                             n_out if w_t else n_in, n_in)
    gemm(g.be, &p, <floating> 1, delta, w, <floating> 0, delta_prev,
         Bf16Operands(g.bf.delta, g.bf.w))


cdef inline void dense_forward(const LayerGemm* g, const LayerShape* shape,
                               const floating* a_in,     # IN  rows x n_in
                               const floating* w,        # IN  W (or W^T if w_t)
                               const floating* b,        # IN  n_out
                               floating* out,            # OUT rows x n_out
                               int act) noexcept nogil:
    """out = act(a_in W^T + b); act < 0 leaves the pre-activation."""
    forward_product(g, shape, a_in, w, out)
    # One pass adds the bias and applies the activation (and writes the
    # bfloat16 copy of a hidden output, with bfloat16 products).
    bias_activate_op(g, act, out, b, shape.rows, shape.n_out)


cdef inline void dense_backward(const LayerGemm* g, const LayerShape* shape,
                                const floating* delta,   # IN  rows x n_out, dLoss/dz
                                const floating* a_in,    # IN  rows x n_in
                                const floating* w,       # IN  W (or W^T if w_t)
                                const LayerSink* sink,   # OUT out_w, out_b, out_b_prev
                                floating* delta_prev,    # OUT rows x n_in, or NULL
                                int act_prev) noexcept nogil:
    """sink.out_w = beta out_w + alpha delta^T a_in; out_b likewise with
    column sums (NULL: already done, by the layer above's out_b_prev);
    delta_prev = (delta W) * act_prev'(a_in) unless delta_prev is NULL, and
    then out_b_prev (the layer below's bias gradient) from delta_prev's
    column sums in the same pass, unless NULL.

    With out_w the velocity, alpha = 1 - momentum and beta = momentum, the
    GEMM performs the momentum mix itself and no gradient buffer is touched.
    """
    weight_gradient_product(g, shape, delta, a_in, sink)
    if sink.out_b != NULL:
        colsum_op(g.be, delta, shape.rows, shape.n_out, sink, <floating*> sink.out_b)
    if delta_prev != NULL:
        input_delta_product(g, shape, delta, w, delta_prev)
        derivative_op(g, shape, act_prev, a_in, delta_prev, sink)


# == the update inside the backward pass ======================================
# A large layer's weight gradient is formed in blocks of rows of W as
# stored (its GEMM cut along its rows), and each block of weights is
# stepped right after its block of gradient is formed, while that is in
# cache (on a 2048-wide layer a block is 1 MiB: it stays in L2), instead of
# in a second pass over the whole gradient. The input delta is formed
# first, from W before the update moves it. Each weight gets the same
# arithmetic as in the separate pass; the sum of squared weights is summed
# per block, in block order.

cdef enum:
    # Layers with fewer weights are updated in their own pass: their
    # gradient (4 MiB of float32 at this size) still fits in L2, and the
    # blocks cost one thread about 3% on a 784-256-128-10 network.
    UPDATE_INSIDE_MIN_WEIGHTS = 1 << 20


cdef struct LayerUpdate:
    # A layer's update inside its backward pass (dense_backward_update).
    Update* u
    void* params        # the whole parameter buffer
    void* out           # the whole buffer the sink writes (velocity or gradient)
    Py_ssize_t wo       # the layer's weights, at the same offset in both
    Py_ssize_t bo       # its biases
    size_t nb


cdef struct GradientUpdate:
    GemmCall call       # the weight-gradient product, cut along its rows
    const LayerUpdate* lu
    Py_ssize_t row      # elements of a row of W as stored (= of the gradient)
    double sq[MAX_BLOCKS]
    int nonfinite[MAX_BLOCKS]


cdef inline GemmCall weight_gradient_call(const LayerGemm* g, const LayerShape* shape,
                                          const floating* delta, const floating* a_in,
                                          const LayerSink* sink, Product* p) noexcept nogil:
    """weight_gradient_product as one GemmCall on *p, not yet cut."""
    cdef int rows = shape.rows, n_in = shape.n_in, n_out = shape.n_out
    cdef GemmCall call
    call.be = g.be
    call.p = p
    call.alpha = <floating> sink.alpha
    call.beta = <floating> sink.beta
    call.c = sink.out_w
    call.along_n = False
    if shape.w_t:
        p[0] = Product(True, False, n_in, n_out, rows, n_in, n_out, n_out)
        call.a = a_in
        call.b = delta
        call.copies = Bf16Operands(g.bf.a_in, g.bf.delta)
    else:
        p[0] = Product(True, False, n_out, n_in, rows, n_out, n_in, n_in)
        call.a = delta
        call.b = a_in
        call.copies = Bf16Operands(g.bf.delta, g.bf.a_in)
    return call


cdef inline Split update_rows(const LayerGemm* g, const LayerShape* shape) noexcept nogil:
    """The blocks of rows of W (as stored) a layer's update inside its
    backward pass takes (gemm_blocks' count for the weight gradient along
    its rows); one block: the layer is updated in its own pass."""
    cdef Py_ssize_t m = shape.n_in if shape.w_t else shape.n_out
    cdef Py_ssize_t n = shape.n_out if shape.w_t else shape.n_in
    cdef double work = <double> m * n * shape.rows
    if m * n < UPDATE_INSIDE_MIN_WEIGHTS or n * GEMM_MIN_BLOCK < PASS_MIN_ELEMENTS:
        return split_for(m, m, 1, 1)
    return split_for(m, GEMM_MIN_BLOCK, gemm_blocks(g.be, work, m), 16)


cdef inline void gradient_update_block(GradientUpdate* job, Py_ssize_t i,
                                       floating dummy) noexcept nogil:
    cdef const LayerUpdate* lu = job.lu
    gemm_block(&job.call, i, dummy)
    job.nonfinite[i] = 0
    job.sq[i] = update_weights(job.call.be, lu.u, <floating*> lu.params,
                               <floating*> lu.out,
                               lu.wo + block_start(&job.call.split, i) * job.row,
                               <size_t> (block_length(&job.call.split, i) * job.row),
                               &job.nonfinite[i])


cdef inline void gradient_update_task_f32(void* ctx, Py_ssize_t i) noexcept nogil:
    gradient_update_block(<GradientUpdate*> ctx, i, <float> 0)


cdef inline void gradient_update_task_f64(void* ctx, Py_ssize_t i) noexcept nogil:
    gradient_update_block(<GradientUpdate*> ctx, i, <double> 0)


cdef inline double dense_backward_update(const LayerGemm* g, const LayerShape* shape,
                                         const floating* delta, const floating* a_in,
                                         const LayerSink* sink, floating* delta_prev,
                                         int act_prev, const LayerUpdate* lu) noexcept nogil:
    """dense_backward, then lu's update of the layer, with the weights
    stepped block by block as their gradient is formed (update_rows must
    give more than one block). Returns the sum of squared weights before
    the step."""
    cdef GradientUpdate job
    cdef Product p
    cdef Py_ssize_t i
    cdef double sq = 0
    if sink.out_b != NULL:
        colsum_op(g.be, delta, shape.rows, shape.n_out, sink, <floating*> sink.out_b)
    if delta_prev != NULL:
        input_delta_product(g, shape, delta, <const floating*> lu.params + lu.wo,
                            delta_prev)
        derivative_op(g, shape, act_prev, a_in, delta_prev, sink)
    job.call = weight_gradient_call(g, shape, delta, a_in, sink, &p)
    job.call.split = update_rows(g, shape)
    job.lu = lu
    job.row = p.n
    run_blocks(g.be.pool, job.call.split.count,
               gradient_update_task_f32 if floating is float else gradient_update_task_f64,
               &job)
    for i in range(job.call.split.count):
        sq += job.sq[i]
        if job.nonfinite[i]:
            lu.u.nonfinite = 1
    update_block(lu.u, <floating*> lu.params, <floating*> lu.out, lu.wo, 0, lu.bo, lu.nb)
    return sq
