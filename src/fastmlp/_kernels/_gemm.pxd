# The GEMM backend table: every matrix product of the kernels goes through
# one of these, chosen per network (the spec's SPEC_GEMM) and read once per
# call, never branched on at the call sites. A backend is one row-major
# GEMM per precision with the signature of _blas.openblas_gemm; a new
# precision or library is a new field or a new table, not a new branch in
# _dense.pxd. The tables themselves are filled in _train.pyx (BACKENDS).
# A product's shape (transposes, dimensions, leading dimensions) is one
# Product, which the products of _dense.pxd derive from their layer's
# shape. Every call names the bfloat16 copies of its two operands too
# (Bf16Operands): only the bfloat16 backend reads them, and it reads
# nothing else, so no product can find a copy by its float32 address or
# fall back to the float32 values.
#
# A large product is cut into fixed blocks of rows or columns of c
# (gemm_split, from its shape alone: _threads.pxd), each one call of the
# backend on one thread, run on the backend's pool when it has one; a
# product below GEMM_SPLIT_WORK multiply-adds is one call, as
# it always was.
from cython cimport floating
from libc.stdint cimport uint16_t

from fastmlp._kernels._threads cimport (
    Split, block_length, block_start, fm_task_fn, run_blocks, split_for)


cdef struct Product:
    # The shape of one row-major product c = alpha op(a) op(b) + beta c:
    # op(a) is m x k, op(b) k x n, c m x n; each leading dimension is its
    # matrix's row stride as stored (before op).
    bint trans_a
    bint trans_b
    int m
    int n
    int k
    int lda
    int ldb
    int ldc


ctypedef void (*sgemm_fn)(const Product* p, float alpha, const float* a, const float* b,
                          float beta, float* c) noexcept nogil
ctypedef void (*dgemm_fn)(const Product* p, double alpha, const double* a, const double* b,
                          double beta, double* c) noexcept nogil
# A float32 product on the operands' bfloat16 copies, through a context
# (the call's Bf16Shadow, _bf16.pxd).
ctypedef void (*bf16_ctx_fn)(void* ctx, const Product* p, float alpha, const uint16_t* a,
                             const uint16_t* b, float beta, float* c) noexcept nogil


cdef struct GemmBackend:
    sgemm_fn f32        # float32 operands, float32 accumulation
    dgemm_fn f64        # float64 operands, float64 accumulation
    bf16_ctx_fn bf16    # float32 products when ctx is set (then f32 is unused)
    void* ctx           # NULL in the static tables; a per-call Bf16Shadow
    void* pool          # the call's threads (an fm_pool), which its products
                        # and the passes beside them run their blocks on;
                        # NULL: the calling thread alone


cdef struct Bf16Operands:
    # The bfloat16 copies of a product's a and b, laid out as a and b are;
    # NULL where the caller has none (no bfloat16 products).
    const uint16_t* a
    const uint16_t* b


cdef enum:
    # A product of at least GEMM_SPLIT_WORK multiply-adds is cut into two
    # blocks or more, of at least GEMM_MIN_BLOCK rows or columns of c; one
    # more pair of blocks per GEMM_PAIR_WORK multiply-adds. Every block's
    # call packs its own copy of the operand the cut does not divide, so a
    # product is cut into as few blocks as keep threads busy: an even
    # count (two threads share it evenly), about 8M multiply-adds or more
    # each (over 100 microseconds on one core).
    GEMM_SPLIT_WORK = 1 << 21
    GEMM_PAIR_WORK = 1 << 24
    GEMM_MIN_BLOCK = 64
    # The bfloat16 libraries pack both operands into their own layout on
    # every call: at most BF16_MAX_BLOCKS blocks (16 blocks of a 2048-wide
    # product cost one thread 5-14%, 4 cost nothing measurable).
    BF16_MAX_BLOCKS = 4


cdef struct GemmCall:
    # One product cut into blocks: block i is rows (along_n False) or
    # columns (along_n True) split's block i of c. alpha and beta are the
    # product's, held in double (exact for float32 values).
    const GemmBackend* be
    const Product* p
    Split split
    bint along_n
    double alpha
    double beta
    const void* a
    const void* b
    void* c
    Bf16Operands copies


cdef inline void gemm_one(const GemmBackend* be, const Product* p, floating alpha,
                          const floating* a, const floating* b, floating beta, floating* c,
                          Bf16Operands copies) noexcept nogil:
    """One call of the backend on this thread."""
    if floating is float:
        if be.ctx != NULL:
            be.bf16(be.ctx, p, alpha, copies.a, copies.b, beta, c)
            return
        be.f32(p, alpha, a, b, beta, c)
    else:
        be.f64(p, alpha, a, b, beta, c)


cdef inline Py_ssize_t gemm_blocks(const GemmBackend* be, double work,
                                   Py_ssize_t dim) noexcept nogil:
    """How many blocks a product of `work` multiply-adds is cut into along
    a dimension of `dim` (blocks of at least GEMM_MIN_BLOCK)."""
    cdef Py_ssize_t most = dim // GEMM_MIN_BLOCK, count
    if be.ctx != NULL:
        most = min(most, BF16_MAX_BLOCKS)
    if work < GEMM_SPLIT_WORK or most < 2:
        return 1
    count = 2 * max(1, <Py_ssize_t> (work / GEMM_PAIR_WORK))
    return min(count, most - most % 2)


cdef inline Split gemm_split(const GemmBackend* be, const Product* p,
                             bint* along_n) noexcept nogil:
    """The blocks of c a product is cut into (gemm_blocks): along the
    longer of its rows and columns (columns on a tie), so that each
    block's call copies the smaller of the two operands; along the other
    when the longer is too short to cut."""
    cdef double work = <double> p.m * p.n * p.k
    cdef Py_ssize_t cols = gemm_blocks(be, work, p.n)
    cdef Py_ssize_t rows = gemm_blocks(be, work, p.m)
    along_n[0] = cols > 1 and (p.n >= p.m or rows == 1)
    if along_n[0]:
        return split_for(p.n, GEMM_MIN_BLOCK, cols, 16)
    return split_for(p.m, GEMM_MIN_BLOCK, rows, 16)


cdef inline const uint16_t* copy_at(const uint16_t* copy, Py_ssize_t at) noexcept nogil:
    return copy + at if copy != NULL else NULL


cdef inline void gemm_block(const GemmCall* call, Py_ssize_t i, floating dummy) noexcept nogil:
    """Block i of the call's product (a product of its own: same k, same
    leading dimensions, its share of c and of the operand it cuts)."""
    cdef Product q = call.p[0]
    cdef Py_ssize_t s0 = block_start(&call.split, i), at_a = 0, at_b = 0, at_c
    cdef int length = <int> block_length(&call.split, i)
    if call.along_n:
        q.n = length
        at_b = s0 * q.ldb if q.trans_b else s0
        at_c = s0
    else:
        q.m = length
        at_a = s0 if q.trans_a else s0 * q.lda
        at_c = s0 * q.ldc
    gemm_one(call.be, &q, <floating> call.alpha, <const floating*> call.a + at_a,
             <const floating*> call.b + at_b, <floating> call.beta,
             <floating*> call.c + at_c,
             Bf16Operands(copy_at(call.copies.a, at_a), copy_at(call.copies.b, at_b)))


cdef inline void gemm_task_f32(void* ctx, Py_ssize_t i) noexcept nogil:
    gemm_block(<const GemmCall*> ctx, i, <float> 0)


cdef inline void gemm_task_f64(void* ctx, Py_ssize_t i) noexcept nogil:
    gemm_block(<const GemmCall*> ctx, i, <double> 0)


cdef inline void gemm(const GemmBackend* be, const Product* p, floating alpha,
                      const floating* a, const floating* b, floating beta, floating* c,
                      Bf16Operands copies) noexcept nogil:
    """c = alpha op(a) op(b) + beta c, shaped by p; with bfloat16 products,
    op(copies.a) op(copies.b) instead. Cut into gemm_split's blocks, on
    be's pool."""
    cdef GemmCall call
    call.split = gemm_split(be, p, &call.along_n)
    if call.split.count == 1:
        gemm_one(be, p, alpha, a, b, beta, c, copies)
        return
    call.be = be
    call.p = p
    call.alpha = alpha
    call.beta = beta
    call.a = a
    call.b = b
    call.c = c
    call.copies = copies
    run_blocks(be.pool, call.split.count,
               gemm_task_f32 if floating is float else gemm_task_f64, &call)
