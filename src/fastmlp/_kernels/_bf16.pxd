# bfloat16 matrix products (matmul_dtype="bfloat16"): every GEMM operand
# rounded to bfloat16, the products accumulated in float32 by a bfloat16
# GEMM library (MKL or oneDNN, loaded at run time: fastmlp/network/bf16lib.py,
# called through its adapter in _bf16_libs.pxd).
#
# Each float32 buffer a GEMM reads has a bfloat16 copy (its shadow) in the
# workspace's bfloat16 region (fastmlp/network/workspace.py): one shadow element
# per element of the float32 workspace, of the parameters and of one chunk
# of input rows. A call's Bf16Shadow names the three regions (work_bf,
# params_bf, x_bf); the network's passes (_network.pxd: layer_gemm) pick
# from them, by name and offset, the copies of each layer (a Bf16Layer)
# and hand them to the products (gemm's Bf16Operands) and to the hooks
# below that write them, so no copy is ever found from a float32 address
# and none can silently stand for the float32 data. The shadows are written
# where the float32 data is produced, in the passes that produce it:
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

from fastmlp._kernels._bf16_c cimport (
    fm_bf16_gemm_failed, fm_count_refused, fm_gather_to_bf16, fm_to_bf16)
from fastmlp._kernels._bf16_libs cimport bf16_gemm_fn
from fastmlp._kernels._gemm cimport GemmBackend, Product
from fastmlp._kernels._layer cimport LayerShape, LayerSink
from fastmlp._kernels._elementwise cimport (
    FM_IDENTITY, bias_activate, derivative_mul, derivative_mul_colsum, gather_rows)
from fastmlp._kernels._elementwise cimport fm_update_coefs
from fastmlp._kernels._update cimport Update, step_coefs, update_block, update_span

cdef enum:
    # Rows per block of a fused pass: a block of a 2048-wide layer (64 KiB
    # of float32 and its copy) stays in L2 between its two writes.
    BF16_BLOCK_BYTES = 65536


cdef struct Bf16Shadow:
    bf16_gemm_fn gemm       # the library's adapter (_bf16_libs.pxd)
    const void* gemm_fn     # and the library's function
    int library             # its name's place in _train.BF16_ADAPTERS
    Py_ssize_t refused      # products the library refused since the last check
    uint16_t* work_bf       # the copy of the float32 workspace, element by element
    uint16_t* params_bf     # of the parameters
    uint16_t* x_bf          # of the current chunk of input rows
    uintptr_t x             # that chunk, if bound
    size_t x_n
    bint x_gathered         # x_bf holds the rows gather_x_op gathered to x


cdef struct Bf16Layer:
    # One layer's copies, from its call's Bf16Shadow (_network.pxd); all
    # NULL without bfloat16 products.
    const uint16_t* a_in    # its input (the chunk's, for the first layer)
    const uint16_t* w       # its weights, as stored (W or W^T)
    uint16_t* out           # its output, written by bias_activate_op
    const uint16_t* delta   # dLoss/dz of its output (backward passes)
    uint16_t* delta_prev    # its input delta, written by derivative_op


cdef struct LayerGemm:
    # What one layer's products and hooks go through: the network's backend
    # and the layer's copies.
    const GemmBackend* be
    Bf16Layer bf


cdef inline void bf16_product(void* ctx, const Product* p, float alpha, const uint16_t* a,
                              const uint16_t* b, float beta, float* c) noexcept nogil:
    """c = alpha op(a) op(b) + beta c, row-major, shaped by p, on the
    bfloat16 copies a and b. A refused product leaves NaN in c, so that it
    cannot pass for a result, and is counted in this call's context, which
    the entry point checks (_train.check_products): never another call's. A
    missing copy counts as refused: loud, never a product of stale or
    float32 data."""
    cdef Bf16Shadow* s = <Bf16Shadow*> ctx
    if a == NULL or b == NULL or s.gemm(s.gemm_fn, p, alpha, a, b, beta, c) != 0:
        fm_bf16_gemm_failed(c, p.m, p.n, p.ldc)
        # Blocks of one product may fail on several threads at once.
        fm_count_refused(&s.refused)


cdef inline Bf16Shadow* shadow(const GemmBackend* be, floating dummy) noexcept nogil:
    """The backend's shadows: NULL for float64 and for plain backends."""
    if floating is float:
        return <Bf16Shadow*> be.ctx
    else:
        return NULL


cdef inline uint16_t* work_copy(const GemmBackend* be, Py_ssize_t at) noexcept nogil:
    """The copy of the workspace from its element `at` on (NULL without
    bfloat16 products)."""
    cdef Bf16Shadow* s = <Bf16Shadow*> be.ctx
    return s.work_bf + at if s != NULL else NULL


cdef inline void refresh(const GemmBackend* be, const floating* p, uint16_t* copy,
                         size_t n) noexcept nogil:
    """copy[0:n], p's copy, rewritten from p (nothing without shadows)."""
    cdef Bf16Shadow* s = shadow(be, <floating> 0)
    if floating is float:
        if s != NULL and n > 0:
            fm_to_bf16(p, copy, n)


cdef inline void bind_x(const GemmBackend* be, const floating* x, size_t n) noexcept nogil:
    """x[0:n], the chunk of input rows the next products read, converted
    into x_bf (unless gather_x_op just gathered it so)."""
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


cdef inline void bias_activate_op(const LayerGemm* g, int act, floating* out,
                                  const floating* b, int rows, int cols) noexcept nogil:
    """out = act(out + b) (act < 0: out + b), and its copy g.bf.out for a
    hidden layer (act >= 0), block by block in the same pass."""
    cdef Bf16Shadow* s = shadow(g.be, <floating> 0)
    cdef int r0 = 0, r, step
    if act < 0 or s == NULL:
        bias_activate(act if act >= 0 else FM_IDENTITY, out, b, rows, cols)
        return
    step = block_rows(cols)
    while r0 < rows:
        r = min(step, rows - r0)
        bias_activate(act, out + <size_t> r0 * cols, b, r, cols)
        refresh(g.be, out + <size_t> r0 * cols, g.bf.out + <size_t> r0 * cols,
                <size_t> r * cols)
        r0 += r


cdef inline void derivative_op(const LayerGemm* g, const LayerShape* shape, int act,
                               const floating* a, floating* delta,
                               const LayerSink* sink) noexcept nogil:
    """delta, the layer's input delta (rows x n_in), *= act'(a) (and
    sink.out_b_prev = beta out_b_prev + alpha colsum(delta) unless NULL),
    with its copy g.bf.delta_prev written block by block in the same pass."""
    cdef Bf16Shadow* s = shadow(g.be, <floating> 0)
    cdef int rows = shape.rows, cols = shape.n_in
    cdef floating alpha = <floating> sink.alpha, beta = <floating> sink.beta
    cdef floating* out_b = <floating*> sink.out_b_prev
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
        refresh(g.be, delta + o, g.bf.delta_prev + o, <size_t> r * cols)
        r0 += r


cdef inline double update_op(const GemmBackend* be, Update* u, floating* params,
                             floating* out, Py_ssize_t wo, size_t nw, Py_ssize_t bo,
                             size_t nb) noexcept nogil:
    """update_block on one layer, and with shadows the new weights' copy
    (params_bf from wo on) written block by block in the same pass."""
    cdef Bf16Shadow* s = shadow(be, <floating> 0)
    cdef size_t done = 0, m, step = BF16_BLOCK_BYTES // sizeof(floating)
    cdef double sq = 0
    if s == NULL:
        return update_block(u, params, out, wo, nw, bo, nb)
    while done < nw:
        m = min(step, nw - done)
        sq += update_block(u, params, out, wo + <Py_ssize_t> done, m, bo, 0)
        refresh(be, params + wo + done, s.params_bf + wo + done, m)
        done += m
    update_block(u, params, out, wo, 0, bo, nb)
    return sq


cdef inline double update_weights(const GemmBackend* be, Update* u, floating* params,
                                  floating* out, Py_ssize_t at, size_t n,
                                  int* nonfinite) noexcept nogil:
    """One block of a layer's weights (n at `at`) stepped as update_op
    steps them, a non-finite result flagged in *nonfinite (the block's
    own); returns the block's sum of squared weights before the step."""
    cdef fm_update_coefs k = step_coefs(u, <floating> 0)
    cdef Bf16Shadow* s = shadow(be, <floating> 0)
    cdef size_t done = 0, m, step = BF16_BLOCK_BYTES // sizeof(floating)
    cdef double sq = 0
    k.nonfinite = nonfinite
    if s == NULL:
        return update_span(u, &k, params, out, at, n)
    while done < n:
        m = min(step, n - done)
        sq += update_span(u, &k, params, out, at + <Py_ssize_t> done, m)
        refresh(be, params + at + done, s.params_bf + at + done, m)
        done += m
    return sq
