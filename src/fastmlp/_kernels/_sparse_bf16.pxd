# The sparse first layer (_sparse.pxd) with bfloat16 products: the same
# loops on the bfloat16 copies of the weights and of the delta (the
# layer's copies its LayerGemm names, written by the passes that produce
# them), summed in float32, as
# the GEMMs of _bf16.pxd do. X's stored values arrive rounded (fastmlp.MLP
# rounds a copy once per call: rounding here would repeat it for every
# output an entry enters). Without shadows (float32 and float64 products)
# the plain layer.
from cython cimport floating

from fastmlp._kernels._bf16 cimport Bf16Shadow, LayerGemm, shadow
from fastmlp._kernels._passes cimport bias_activate_op
from fastmlp._kernels._elementwise cimport colsum
from fastmlp._kernels._layer cimport LayerShape, LayerSink
from fastmlp._kernels._sparse cimport (
    CsrRows, sparse_backward, sparse_forward, sparse_product, sparse_weight_gradient)


cdef inline void sparse_forward_op(const LayerGemm* g, const CsrRows* x,
                                   const LayerShape* shape, const floating* w,
                                   const floating* b, floating* out,
                                   int act) noexcept nogil:
    """sparse_forward; with bfloat16 products on the rounded operands, and
    the output's bfloat16 copy written as bias_activate_op writes it."""
    cdef Bf16Shadow* s = shadow(g.be, <floating> 0)
    if s == NULL:
        sparse_forward(x, shape, w, b, out, act)
        return
    if floating is float:
        sparse_product(x, shape, g.bf.w, out)
        bias_activate_op(g, act, out, b, shape.rows, shape.n_out)


cdef inline void sparse_backward_op(const LayerGemm* g, const CsrRows* x,
                                    const LayerShape* shape, const floating* delta,
                                    const LayerSink* sink) noexcept nogil:
    """sparse_backward; with bfloat16 products on the rounded operands (the
    bias gradient sums the float32 delta, as dense_backward's does)."""
    cdef Bf16Shadow* s = shadow(g.be, <floating> 0)
    cdef floating alpha = <floating> sink.alpha, beta = <floating> sink.beta
    if s == NULL:
        sparse_backward(x, shape, delta, sink)
        return
    if floating is float:
        sparse_weight_gradient(x, shape, g.bf.delta, <floating*> sink.out_w, alpha,
                               beta)
        if sink.out_b != NULL:
            colsum(delta, shape.rows, shape.n_out, alpha, beta, <floating*> sink.out_b)
