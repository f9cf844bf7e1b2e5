# The GEMM backend table: every matrix product of the kernels goes through
# one of these, chosen per network (the spec's SPEC_GEMM) and read once per
# call, never branched on at the call sites. A backend is one row-major
# GEMM per precision with the signature of _blas.openblas_gemm; a new
# precision or library is a new field or a new table, not a new branch in
# _dense.pxd. The tables themselves are filled in _train.pyx
# (gemm_backend()). Every call names the bfloat16 copies of its two
# operands too (Bf16Operands): only the bfloat16 backend reads them, and it
# reads nothing else, so no product can find a copy by its float32 address
# or fall back to the float32 values.
from cython cimport floating
from libc.stdint cimport uint16_t

ctypedef void (*sgemm_fn)(bint trans_a, bint trans_b, int m, int n, int k,
                          float alpha, const float* a, int lda, const float* b, int ldb,
                          float beta, float* c, int ldc) noexcept nogil
ctypedef void (*dgemm_fn)(bint trans_a, bint trans_b, int m, int n, int k,
                          double alpha, const double* a, int lda, const double* b,
                          int ldb, double beta, double* c, int ldc) noexcept nogil
# A float32 product on the operands' bfloat16 copies, through a context
# (the call's Bf16Shadow, _bf16.pxd).
ctypedef void (*bf16_ctx_fn)(void* ctx, bint trans_a, bint trans_b, int m, int n, int k,
                             float alpha, const uint16_t* a, int lda, const uint16_t* b,
                             int ldb, float beta, float* c, int ldc) noexcept nogil


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


cdef inline Bf16Operands bf16_operands(const uint16_t* a, const uint16_t* b) noexcept nogil:
    cdef Bf16Operands ops
    ops.a = a
    ops.b = b
    return ops


cdef inline void gemm(const GemmBackend* be, bint trans_a, bint trans_b, int m, int n,
                      int k, floating alpha, const floating* a, int lda,
                      const floating* b, int ldb, floating beta,
                      floating* c, int ldc, Bf16Operands copies) noexcept nogil:
    """c (m x n, row-major, leading dim ldc) = alpha op(a) op(b) + beta c;
    with bfloat16 products, op(copies.a) op(copies.b) instead."""
    if floating is float:
        if be.ctx != NULL:
            be.bf16(be.ctx, trans_a, trans_b, m, n, k, alpha, copies.a, lda, copies.b, ldb,
                    beta, c, ldc)
            return
        be.f32(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    else:
        be.f64(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
