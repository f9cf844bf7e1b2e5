# bfloat16 matrix products (matmul_dtype="bfloat16"): every GEMM operand
# rounded to bfloat16, the products accumulated in float32 by a bfloat16
# GEMM library (MKL or oneDNN, loaded at run time: fastmlp/_bf16lib.py,
# called through its adapter in _bf16_libs.pxd).
#
# Each float32 buffer a GEMM reads has a bfloat16 copy (its shadow) in the
# workspace's bfloat16 region (fastmlp/_workspace.py): one shadow element
# per element of the float32 workspace, of the parameters and of one chunk
# of input rows. A GemmBackend whose ctx is a Bf16Shadow sends float32
# products to bf16_product, which hands the library the shadows of its two float32
# operands; so _dense.pxd and _network.pxd keep passing float32 pointers
# and the shadows are written where the float32 data is produced, in the
# passes that produce it (the hooks below):
# - bias_activate_op: the bias+activation pass, block by block, each block's
#   bfloat16 copy written while it is in cache;
# - derivative_op: the derivative pass of the input delta, likewise;
# - update_op: the update pass, block by block, each block of new weights
#   converted while in cache;
# - refresh: the output delta (and all weights when a call or a training
#   run starts);
# - bind_x: the chunk of input rows, when forward_rows starts on it, unless
#   gather_x_op wrote its copy as it gathered the rows (then the chunk's
#   float32 rows are never written: only the GEMMs read them).
# Float64 and the float32 backends without a ctx take the plain paths.
from cython cimport floating
from libc.stdint cimport uint16_t, uintptr_t

from fastmlp._kernels._bf16_libs cimport bf16_gemm_fn
from fastmlp._kernels._gemm cimport GemmBackend
from fastmlp._kernels._elementwise cimport (
    FM_IDENTITY, bias_activate, derivative_mul, derivative_mul_colsum, gather_rows)
from fastmlp._kernels._update cimport Update, update_block

from fastmlp._kernels._bf16_c cimport fm_bf16_gemm_failed, fm_gather_to_bf16, fm_to_bf16

cdef enum:
    # Rows per block of a fused pass: a block of a 2048-wide layer (64 KiB
    # of float32 and its copy) stays in L2 between its two writes.
    BF16_BLOCK_BYTES = 65536


cdef struct Bf16Shadow:
    bf16_gemm_fn gemm       # the library's adapter (_bf16_libs.pxd)
    const void* gemm_fn     # and the library's function
    int library             # its name's place in _train.BF16_ADAPTERS
    Py_ssize_t refused      # products the library refused since the last check
    uintptr_t work          # the float32 workspace [work, work + work_n)
    size_t work_n
    uint16_t* work_bf
    uintptr_t params        # the parameters
    size_t params_n
    uint16_t* params_bf
    uintptr_t x             # the current chunk of input rows, if bound
    size_t x_n
    uint16_t* x_bf
    bint x_gathered         # x_bf holds the rows gather_x_op gathered to x


cdef inline bint within(uintptr_t p, uintptr_t base, size_t n) noexcept nogil:
    return p >= base and p < base + n * sizeof(float)


cdef inline uint16_t* shadow_of(const Bf16Shadow* s, const float* p) noexcept nogil:
    """The bfloat16 copy of float32 element *p (a chunk, workspace or
    parameter element: the only operands a product ever reads)."""
    cdef uintptr_t a = <uintptr_t> p
    if s.x_n != 0 and within(a, s.x, s.x_n):
        return s.x_bf + (a - s.x) // sizeof(float)
    if within(a, s.work, s.work_n):
        return s.work_bf + (a - s.work) // sizeof(float)
    return s.params_bf + (a - s.params) // sizeof(float)


cdef inline void bf16_product(void* ctx, bint trans_a, bint trans_b, int m, int n, int k,
                              float alpha, const float* a, int lda, const float* b,
                              int ldb, float beta, float* c, int ldc) noexcept nogil:
    """c = alpha op(bf16(a)) op(bf16(b)) + beta c, row-major, through the
    operands' shadows. A refused product leaves NaN in c, so that it cannot
    pass for a result, and is counted in this call's context, which the
    entry point checks (_train.check_products): never another call's."""
    cdef Bf16Shadow* s = <Bf16Shadow*> ctx
    if s.gemm(s.gemm_fn, trans_a, trans_b, m, n, k, alpha, shadow_of(s, a), lda,
              shadow_of(s, b), ldb, beta, c, ldc) != 0:
        fm_bf16_gemm_failed(c, m, n, ldc)
        s.refused += 1


cdef inline Bf16Shadow* shadow(const GemmBackend* be, floating dummy) noexcept nogil:
    """The backend's shadows: NULL for float64 and for plain backends."""
    if floating is float:
        return <Bf16Shadow*> be.ctx
    else:
        return NULL


cdef inline void refresh(const GemmBackend* be, const floating* p, size_t n) noexcept nogil:
    """The shadow of p[0:n] rewritten from p (nothing without shadows)."""
    cdef Bf16Shadow* s = shadow(be, <floating> 0)
    if floating is float:
        if s != NULL and n > 0:
            fm_to_bf16(p, shadow_of(s, p), n)


cdef inline void bind_x(const GemmBackend* be, const floating* x, size_t n) noexcept nogil:
    """x[0:n], the chunk of input rows the next products read, converted
    (unless gather_x_op just gathered it so)."""
    cdef Bf16Shadow* s = shadow(be, <floating> 0)
    if floating is float:
        if s != NULL:
            if s.x_gathered and s.x == <uintptr_t> x and s.x_n == n:
                s.x_gathered = False
                return
            s.x_gathered = False
            s.x = <uintptr_t> x
            s.x_n = n
            fm_to_bf16(x, s.x_bf, n)


cdef inline void gather_x_op(const GemmBackend* be, const floating* src,
                             const Py_ssize_t* idx, size_t rows, size_t cols,
                             floating* x) noexcept nogil:
    """x = the rows idx[0..rows) of src; with shadows only x's bfloat16
    copy is written, in the gather itself, and bound for the next forward
    pass on x (bind_x)."""
    cdef Bf16Shadow* s = shadow(be, <floating> 0)
    if s == NULL:
        gather_rows(src, idx, rows, cols, x)
        return
    if floating is float:
        fm_gather_to_bf16(src, idx, rows, cols, s.x_bf)
        s.x = <uintptr_t> x
        s.x_n = rows * cols
        s.x_gathered = True


cdef inline int block_rows(size_t cols) noexcept nogil:
    cdef size_t r = BF16_BLOCK_BYTES // (sizeof(float) * (cols if cols > 0 else 1))
    return <int> (r if r > 0 else 1)


cdef inline void bias_activate_op(const GemmBackend* be, int act, floating* out,
                                  const floating* b, int rows, int cols) noexcept nogil:
    """out = act(out + b) (act < 0: out + b), and out's shadow for a hidden
    layer (act >= 0), block by block in the same pass."""
    cdef Bf16Shadow* s = shadow(be, <floating> 0)
    cdef int r0 = 0, r, step
    if act < 0 or s == NULL:
        bias_activate(act if act >= 0 else FM_IDENTITY, out, b, rows, cols)
        return
    step = block_rows(cols)
    while r0 < rows:
        r = min(step, rows - r0)
        bias_activate(act, out + <size_t> r0 * cols, b, r, cols)
        refresh(be, out + <size_t> r0 * cols, <size_t> r * cols)
        r0 += r


cdef inline void derivative_op(const GemmBackend* be, int act, const floating* a,
                               floating* delta, int rows, int cols, floating alpha,
                               floating beta, floating* out_b) noexcept nogil:
    """delta *= act'(a) (and out_b = beta out_b + alpha colsum(delta) unless
    NULL), with delta's shadow written block by block in the same pass."""
    cdef Bf16Shadow* s = shadow(be, <floating> 0)
    cdef int r0 = 0, r, step
    cdef size_t o
    if s == NULL:
        if out_b != NULL:
            derivative_mul_colsum(act, a, delta, rows, cols, alpha, beta, out_b)
        else:
            derivative_mul(act, a, delta, <size_t> rows * cols)
        return
    step = block_rows(cols)
    while r0 < rows:
        r = min(step, rows - r0)
        o = <size_t> r0 * cols
        if out_b != NULL:
            # beta applies once, to the first block; later blocks add on.
            derivative_mul_colsum(act, a + o, delta + o, r, cols, alpha,
                                  beta if r0 == 0 else <floating> 1, out_b)
        else:
            derivative_mul(act, a + o, delta + o, <size_t> r * cols)
        refresh(be, delta + o, <size_t> r * cols)
        r0 += r


cdef inline double update_op(const GemmBackend* be, Update* u, floating* params,
                             floating* out, Py_ssize_t wo, size_t nw, Py_ssize_t bo,
                             size_t nb) noexcept nogil:
    """update_block on one layer, and with shadows the new weights' bfloat16
    copy written block by block in the same pass."""
    cdef Bf16Shadow* s = shadow(be, <floating> 0)
    cdef size_t done = 0, m, step = BF16_BLOCK_BYTES // sizeof(floating)
    cdef double sq = 0
    if s == NULL:
        return update_block(u, params, out, wo, nw, bo, nb)
    while done < nw:
        m = min(step, nw - done)
        sq += update_block(u, params, out, wo + <Py_ssize_t> done, m, bo, 0)
        refresh(be, params + wo + done, m)
        done += m
    update_block(u, params, out, wo, 0, bo, nb)
    return sq
