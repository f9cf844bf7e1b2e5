# The sparse first layer (_sparse.pxd) with bfloat16 products: the same
# loops on the bfloat16 copies of the weights and of the delta (the
# layer's copies its LayerGemm names, written by the passes that produce
# them), summed in float32, as
# the GEMMs of _bf16.pxd do. X's stored values arrive rounded (fastmlp.MLP
# rounds a copy once per call: rounding here would repeat it for every
# output an entry enters). Without shadows (float32 and float64 products)
# the plain layer.
from cython cimport floating

from fastmlp._kernels._bf16 cimport Bf16Shadow, LayerGemm, bias_activate_op, shadow
from fastmlp._kernels._elementwise cimport colsum
from fastmlp._kernels._sparse cimport (
    CsrRows, sparse_backward, sparse_forward, sparse_product, sparse_weight_gradient)


cdef inline void sparse_forward_op(const LayerGemm* g, const CsrRows* x,
                                   const floating* w, const floating* b, floating* out,
                                   int rows, int n_in, int n_out, int act,
                                   bint w_t) noexcept nogil:
    """sparse_forward; with bfloat16 products on the rounded operands, and
    the output's bfloat16 copy written as bias_activate_op writes it."""
    cdef Bf16Shadow* s = shadow(g.be, <floating> 0)
    if s == NULL:
        sparse_forward(x, w, b, out, rows, n_in, n_out, act, w_t)
        return
    if floating is float:
        sparse_product(x, g.bf.w, out, rows, n_in, n_out, w_t)
        bias_activate_op(g, act, out, b, rows, n_out)


cdef inline void sparse_backward_op(const LayerGemm* g, const CsrRows* x,
                                    const floating* delta, floating* out_w, floating* out_b,
                                    floating alpha, floating beta, int rows, int n_in,
                                    int n_out, bint w_t) noexcept nogil:
    """sparse_backward; with bfloat16 products on the rounded operands (the
    bias gradient sums the float32 delta, as dense_backward's does)."""
    cdef Bf16Shadow* s = shadow(g.be, <floating> 0)
    if s == NULL:
        sparse_backward(x, delta, out_w, out_b, alpha, beta, rows, n_in, n_out, w_t)
        return
    if floating is float:
        sparse_weight_gradient(x, g.bf.delta, out_w, alpha, beta, rows, n_in, n_out, w_t)
        if out_b != NULL:
            colsum(delta, rows, n_out, alpha, beta, out_b)
