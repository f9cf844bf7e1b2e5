# One dense layer, forward and backward, on row-major blocks of `rows` rows.
# W is (n_out x n_in) row-major, as in a_out = sigma(W a_in + b), unless
# w_t: then the buffer holds W^T, (n_in x n_out) row-major. Every product
# goes through the layer's LayerGemm `g` (_bf16.pxd): the GEMM backend
# (_gemm.pxd) and the layer's bfloat16 copies, each product naming the
# copies of its own two operands.
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

from fastmlp._kernels._gemm cimport bf16_operands, gemm
from fastmlp._kernels._elementwise cimport colsum
from fastmlp._kernels._bf16 cimport LayerGemm, bias_activate_op, derivative_op


cdef inline void forward_product(const LayerGemm* g,
        const floating* a_in, const floating* w, floating* out,
                                 int rows, int n_in, int n_out, bint w_t) noexcept nogil:
    """out (rows x n_out) = a_in W^T."""
    if w_t:
        gemm(g.be, False, False, rows, n_out, n_in, <floating> 1, a_in, n_in, w, n_out,
             <floating> 0, out, n_out, bf16_operands(g.bf.a_in, g.bf.w))
    else:
        gemm(g.be, False, True, rows, n_out, n_in, <floating> 1, a_in, n_in, w, n_in,
             <floating> 0, out, n_out, bf16_operands(g.bf.a_in, g.bf.w))


cdef inline void weight_gradient_product(const LayerGemm* g,
        const floating* delta, const floating* a_in,
                                         floating* out_w, floating alpha, floating beta,
                                         int rows, int n_in, int n_out,
                                         bint w_t) noexcept nogil:
    """out_w = beta out_w + alpha delta^T a_in, in the layer's W layout."""
    if w_t:
        gemm(g.be, True, False, n_in, n_out, rows, alpha, a_in, n_in, delta, n_out,
             beta, out_w, n_out, bf16_operands(g.bf.a_in, g.bf.delta))
    else:
        gemm(g.be, True, False, n_out, n_in, rows, alpha, delta, n_out, a_in, n_in,
             beta, out_w, n_in, bf16_operands(g.bf.delta, g.bf.a_in))


cdef inline void input_delta_product(const LayerGemm* g,
        const floating* delta, const floating* w,
                                     floating* delta_prev, int rows, int n_in, int n_out,
                                     bint w_t) noexcept nogil:
    """delta_prev (rows x n_in) = delta W."""
    if w_t:
        gemm(g.be, False, True, rows, n_in, n_out, <floating> 1, delta, n_out, w, n_out,
             <floating> 0, delta_prev, n_in, bf16_operands(g.bf.delta, g.bf.w))
    else:
        gemm(g.be, False, False, rows, n_in, n_out, <floating> 1, delta, n_out, w, n_in,
             <floating> 0, delta_prev, n_in, bf16_operands(g.bf.delta, g.bf.w))


cdef inline void dense_forward(const LayerGemm* g,
        const floating* a_in,     # IN  rows x n_in
                               const floating* w,        # IN  W (or W^T if w_t)
                               const floating* b,        # IN  n_out
                               floating* out,            # OUT rows x n_out
                               int rows, int n_in, int n_out,
                               int act, bint w_t) noexcept nogil:
    """out = act(a_in W^T + b); act < 0 leaves the pre-activation."""
    forward_product(g, a_in, w, out, rows, n_in, n_out, w_t)
    # One pass adds the bias and applies the activation (and writes the
    # bfloat16 copy of a hidden output, with bfloat16 products).
    bias_activate_op(g, act, out, b, rows, n_out)


cdef inline void dense_backward(const LayerGemm* g,
        const floating* delta,   # IN  rows x n_out, dLoss/dz
                                const floating* a_in,    # IN  rows x n_in
                                const floating* w,       # IN  W (or W^T if w_t)
                                floating* out_w,         # OUT in the layout of w
                                floating* out_b,         # OUT n_out, or NULL
                                floating alpha, floating beta,
                                floating* delta_prev,    # OUT rows x n_in, or NULL
                                int act_prev,
                                floating* out_b_prev,    # OUT n_in, or NULL
                                int rows, int n_in, int n_out, bint w_t) noexcept nogil:
    """out_w = beta out_w + alpha delta^T a_in; out_b likewise with column sums
    (NULL: already done, by the layer above's out_b_prev); delta_prev =
    (delta W) * act_prev'(a_in) unless delta_prev is NULL, and then
    out_b_prev (the layer below's bias gradient) from delta_prev's column
    sums in the same pass, unless NULL.

    With out_w the velocity, alpha = 1 - momentum and beta = momentum, the
    GEMM performs the momentum mix itself and no gradient buffer is touched.
    """
    weight_gradient_product(g, delta, a_in, out_w, alpha, beta, rows, n_in, n_out, w_t)
    if out_b != NULL:
        colsum(delta, rows, n_out, alpha, beta, out_b)
    if delta_prev != NULL:
        input_delta_product(g, delta, w, delta_prev, rows, n_in, n_out, w_t)
        derivative_op(g, act_prev, a_in, delta_prev, rows, n_in, alpha, beta, out_b_prev)
