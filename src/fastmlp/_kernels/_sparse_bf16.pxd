# The sparse first layer (_sparse.pxd) with bfloat16 products: the same
# loops, their two operands rounded to bfloat16 and the products summed in
# float32, as the GEMMs of _bf16.pxd do. X's stored values arrive rounded
# (fastmlp.MLP rounds a copy once per call: rounding here would repeat it
# for every output an entry enters); the weights and the delta are read
# from their bfloat16 copies (the shadows, written by the passes that
# produce them). Without shadows (float32 and float64 products) the plain
# loops.
from cython cimport floating
from libc.stdint cimport uint16_t
from libc.string cimport memset

from fastmlp._kernels._bf16 cimport Bf16Shadow, bias_activate_op, shadow, shadow_of
from fastmlp._kernels._elementwise cimport colsum
from fastmlp._kernels._gemm cimport GemmBackend
from fastmlp._kernels._sparse cimport CsrRows, scale_block, sparse_backward, sparse_forward

cdef extern from "bf16.h" nogil:
    float fm_bf16_widen(uint16_t b)


cdef inline void rounded_forward(const CsrRows* x, const uint16_t* w, float* out, int rows,
                                 int n_in, int n_out, bint w_t) noexcept nogil:
    """out = x bf16(W)^T (x's values rounded already), in sparse_forward's
    loop orders."""
    cdef const float* val = <const float*> x.data
    cdef const uint16_t* wj
    cdef float* o
    cdef float v, acc
    cdef Py_ssize_t r, k, j
    if w_t:
        for r in range(rows):
            o = out + <Py_ssize_t> r * n_out
            memset(o, 0, <size_t> n_out * sizeof(float))
            for k in range(x.indptr[r], x.indptr[r + 1]):
                v = val[k]
                wj = w + <Py_ssize_t> x.indices[k] * n_out
                for j in range(n_out):
                    o[j] += v * fm_bf16_widen(wj[j])
    else:
        for j in range(n_out):
            wj = w + <Py_ssize_t> j * n_in
            for r in range(rows):
                acc = 0
                for k in range(x.indptr[r], x.indptr[r + 1]):
                    acc += val[k] * fm_bf16_widen(wj[x.indices[k]])
                out[<Py_ssize_t> r * n_out + j] = acc


cdef inline void rounded_backward(const CsrRows* x, const uint16_t* delta, float* out_w,
                                  float alpha, float beta, int rows, int n_in, int n_out,
                                  bint w_t) noexcept nogil:
    """out_w = beta out_w + alpha bf16(delta)^T x (x's values rounded
    already), in sparse_backward's loop orders."""
    cdef const float* val = <const float*> x.data
    cdef const uint16_t* d
    cdef float* gj
    cdef float v
    cdef Py_ssize_t r, k, j
    scale_block(out_w, <size_t> n_in * n_out, beta)
    if w_t:
        for r in range(rows):
            d = delta + <Py_ssize_t> r * n_out
            for k in range(x.indptr[r], x.indptr[r + 1]):
                v = alpha * val[k]
                gj = out_w + <Py_ssize_t> x.indices[k] * n_out
                for j in range(n_out):
                    gj[j] += v * fm_bf16_widen(d[j])
    else:
        for j in range(n_out):
            gj = out_w + <Py_ssize_t> j * n_in
            for r in range(rows):
                v = alpha * fm_bf16_widen(delta[<Py_ssize_t> r * n_out + j])
                for k in range(x.indptr[r], x.indptr[r + 1]):
                    gj[x.indices[k]] += v * val[k]


cdef inline void sparse_forward_op(const GemmBackend* be, const CsrRows* x,
                                   const floating* w, const floating* b, floating* out,
                                   int rows, int n_in, int n_out, int act,
                                   bint w_t) noexcept nogil:
    """sparse_forward; with bfloat16 products on the rounded operands, and
    the output's bfloat16 copy written as bias_activate_op writes it."""
    cdef Bf16Shadow* s = shadow(be, <floating> 0)
    if s == NULL:
        sparse_forward(x, w, b, out, rows, n_in, n_out, act, w_t)
        return
    if floating is float:
        rounded_forward(x, shadow_of(s, w), out, rows, n_in, n_out, w_t)
        bias_activate_op(be, act, out, b, rows, n_out)


cdef inline void sparse_backward_op(const GemmBackend* be, const CsrRows* x,
                                    const floating* delta, floating* out_w, floating* out_b,
                                    floating alpha, floating beta, int rows, int n_in,
                                    int n_out, bint w_t) noexcept nogil:
    """sparse_backward; with bfloat16 products on the rounded operands (the
    bias gradient sums the float32 delta, as dense_backward's does)."""
    cdef Bf16Shadow* s = shadow(be, <floating> 0)
    if s == NULL:
        sparse_backward(x, delta, out_w, out_b, alpha, beta, rows, n_in, n_out, w_t)
        return
    if floating is float:
        rounded_backward(x, shadow_of(s, delta), out_w, alpha, beta, rows, n_in, n_out, w_t)
        if out_b != NULL:
            colsum(delta, rows, n_out, alpha, beta, out_b)
