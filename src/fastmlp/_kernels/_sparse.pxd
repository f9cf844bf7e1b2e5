# The first layer on CSR input: its forward product and weight gradient
# read the rows' stored entries directly; X is never densified. Only the
# first layer sees X, and it has no input delta.
#
# The forward product makes each output row the sum, over its row's
# non-zeros (j, v), of v times row j of W^T; with W_0 stored as W^T
# ((n_in, n_out) rows, the first_w_t layout) that row is contiguous, else it
# is column j of W, read with stride n_in. The weight gradient is the
# transpose: each non-zero scatter-adds v times its row's delta into the
# same row of dW^T. The rest of the gradient (beta times what was there) is
# one pass over dW_0, so the update stays dense and exact.
#
# Batches: rows read in place share X's arrays (indptr advanced to the
# first row); rows taken by a permutation are gathered into a CsrBatch,
# preallocated for the fullest batch (SparseBatch, _rows.pyx).
from cython cimport floating
from libc.stdint cimport uint16_t
from libc.string cimport memcpy, memset


from fastmlp._kernels._bf16_c cimport fm_bf16_widen
from fastmlp._kernels._layer cimport LayerShape, LayerSink

# A weight or delta operand of the sparse layer's products: in the model
# dtype, or the bfloat16 bits of its copy (bfloat16 products,
# _sparse_bf16.pxd; read as float32 values).
ctypedef fused sparse_operand:
    float
    double
    uint16_t


cdef struct CsrRows:
    # Row i's entries are [indptr[i], indptr[i + 1]) of indices and data:
    # offsets into the whole matrix's arrays.
    const Py_ssize_t* indptr
    const int* indices
    const void* data       # the model dtype


cdef struct CsrBatch:
    # Room for the rows of one chunk: indptr of chunk_rows + 1, indices and
    # data of the fullest batch's stored entries.
    Py_ssize_t* indptr
    int* indices
    void* data


cdef inline CsrRows csr_block(const CsrRows* x, Py_ssize_t first) noexcept nogil:
    """Rows first, first + 1, ... of x, read in place."""
    cdef CsrRows out = x[0]
    out.indptr = x.indptr + first
    return out


cdef inline CsrRows gather_csr(const CsrRows* x, const Py_ssize_t* rows, Py_ssize_t n,
                               const CsrBatch* buf, floating dummy) noexcept nogil:
    """Rows rows[0..n) of x, copied into buf in that order."""
    cdef const floating* src = <const floating*> x.data
    cdef floating* dst = <floating*> buf.data
    cdef Py_ssize_t i, start, count, pos = 0
    cdef CsrRows out
    buf.indptr[0] = 0
    for i in range(n):
        start = x.indptr[rows[i]]
        count = x.indptr[rows[i] + 1] - start
        if count > 0:  # X with no stored entries has NULL arrays (memcpy's UB)
            memcpy(buf.indices + pos, x.indices + start, <size_t> count * sizeof(int))
            memcpy(dst + pos, src + start, <size_t> count * sizeof(floating))
        pos += count
        buf.indptr[i + 1] = pos
    out.indptr = buf.indptr
    out.indices = buf.indices
    out.data = buf.data
    return out


cdef inline floating operand_value(const sparse_operand* p, Py_ssize_t i,
                                   floating dummy) noexcept nogil:
    """Element i of a weight or delta operand: the value itself, or the
    float32 value of bfloat16 bits (the operand's bfloat16 copy)."""
    if sparse_operand is uint16_t:
        return fm_bf16_widen(p[i])
    else:
        return <floating> p[i]


cdef inline void sparse_product(const CsrRows* x,        # IN  rows of CSR input
                                const LayerShape* shape, # IN  rows, n_in, n_out, w_t
                                const sparse_operand* w, # IN  W (or W^T if w_t)
                                floating* out,           # OUT rows x n_out
                                Py_ssize_t j0, Py_ssize_t j1) noexcept nogil:
    """out[:, j0:j1] = (x W^T)[:, j0:j1] (no bias, no activation): a block
    of columns, each summed as the whole product sums it."""
    cdef int rows = shape.rows, n_in = shape.n_in, n_out = shape.n_out
    cdef const floating* val = <const floating*> x.data
    cdef const sparse_operand* wj
    cdef floating* o
    cdef floating v
    cdef Py_ssize_t r, k, j
    cdef floating acc
    if shape.w_t:
        for r in range(rows):
            o = out + <Py_ssize_t> r * n_out
            memset(o + j0, 0, <size_t> (j1 - j0) * sizeof(floating))
            for k in range(x.indptr[r], x.indptr[r + 1]):
                v = val[k]
                wj = w + <Py_ssize_t> x.indices[k] * n_out
                for j in range(j0, j1):
                    o[j] += v * operand_value(wj, j, v)
    else:
        # One row of W at a time, for every row of the block: the row stays
        # in cache while the block's entries pick from it (the other order
        # touches n_out rows of W, n_in apart, per entry). Each output is
        # still summed in its row's entry order.
        for j in range(j0, j1):
            wj = w + <Py_ssize_t> j * n_in
            for r in range(rows):
                acc = 0
                for k in range(x.indptr[r], x.indptr[r + 1]):
                    acc += val[k] * operand_value(wj, x.indices[k], acc)
                out[<Py_ssize_t> r * n_out + j] = acc


cdef inline void scale_block(floating* a, size_t n, floating beta) noexcept nogil:
    """a = beta a (beta 0 writes zeros: what was there may be anything)."""
    cdef size_t i
    if beta == 0:
        memset(a, 0, n * sizeof(floating))
    elif beta != 1:
        for i in range(n):
            a[i] *= beta


cdef inline void sparse_weight_gradient(const CsrRows* x,           # IN  rows of CSR input
                                        const LayerShape* shape,      # IN  its shape
                                        const sparse_operand* delta,  # IN  rows x n_out
                                        floating* out_w,              # OUT in W's layout
                                        floating alpha, floating beta,
                                        Py_ssize_t j0, Py_ssize_t j1) noexcept nogil:
    """out_w = beta out_w + alpha delta^T x for the weights of outputs
    [j0, j1): a block of them, each summed as the whole gradient sums it."""
    cdef int rows = shape.rows, n_in = shape.n_in, n_out = shape.n_out
    cdef const floating* val = <const floating*> x.data
    cdef const sparse_operand* d
    cdef floating* gj
    cdef floating v
    cdef Py_ssize_t r, k, j, i
    if shape.w_t:
        for i in range(n_in):
            scale_block(out_w + i * n_out + j0, <size_t> (j1 - j0), beta)
        for r in range(rows):
            d = delta + <Py_ssize_t> r * n_out
            for k in range(x.indptr[r], x.indptr[r + 1]):
                v = alpha * val[k]
                gj = out_w + <Py_ssize_t> x.indices[k] * n_out
                for j in range(j0, j1):
                    gj[j] += v * operand_value(d, j, v)
    else:
        scale_block(out_w + j0 * n_in, <size_t> ((j1 - j0) * n_in), beta)
        # Row by row of dW, as in sparse_product; each weight still
        # accumulates its terms in the same order.
        for j in range(j0, j1):
            gj = out_w + <Py_ssize_t> j * n_in
            for r in range(rows):
                v = alpha * operand_value(delta, <Py_ssize_t> r * n_out + j, alpha)
                for k in range(x.indptr[r], x.indptr[r + 1]):
                    gj[x.indices[k]] += v * val[k]
