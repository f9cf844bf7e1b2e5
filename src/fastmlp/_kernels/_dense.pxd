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

from fastmlp._kernels._gemm cimport Bf16Operands, Product, gemm
from fastmlp._kernels._bf16 cimport LayerGemm
from fastmlp._kernels._passes cimport bias_activate_op, colsum_op, derivative_op
from fastmlp._kernels._layer cimport LayerShape, LayerSink


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
