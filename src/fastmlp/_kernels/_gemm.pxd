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
from cython cimport floating
from libc.stdint cimport uint16_t


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


cdef struct Bf16Operands:
    # The bfloat16 copies of a product's a and b, laid out as a and b are;
    # NULL where the caller has none (no bfloat16 products).
    const uint16_t* a
    const uint16_t* b


cdef inline void gemm(const GemmBackend* be, const Product* p, floating alpha,
                      const floating* a, const floating* b, floating beta, floating* c,
                      Bf16Operands copies) noexcept nogil:
    """c = alpha op(a) op(b) + beta c, shaped by p; with bfloat16 products,
    op(copies.a) op(copies.b) instead."""
    if floating is float:
        if be.ctx != NULL:
            be.bf16(be.ctx, p, alpha, copies.a, copies.b, beta, c)
            return
        be.f32(p, alpha, a, b, beta, c)
    else:
        be.f64(p, alpha, a, b, beta, c)
