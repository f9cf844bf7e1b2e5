# The bfloat16 GEMM libraries (loaded at run time by fastmlp/network/bf16lib.py),
# each behind an adapter of one signature, bf16_gemm_fn: row-major
# c = alpha op(a) op(b) + beta c on bfloat16 operands, float32 accumulation,
# returning 0, or nonzero when the library refused the product (c is then
# not written). _bf16.pxd calls the adapter of the library installed
# (_train.bf16_install) with that library's function and records a refusal
# in the call's own context; a new library is a new adapter here.
from libc.stdint cimport int64_t, uint16_t

from fastmlp._kernels._gemm cimport Product

ctypedef int (*bf16_gemm_fn)(const void* fn, const Product* p, float alpha,
                             const uint16_t* a, const uint16_t* b, float beta,
                             float* c) noexcept nogil

# MKL's cblas_gemm_bf16bf16f32 (MKL_INT = int: the LP64 interface of libmkl_rt).
ctypedef void (*cblas_bf16_fn)(int layout, int trans_a, int trans_b, int m, int n, int k,
                               float alpha, const uint16_t* a, int lda,
                               const uint16_t* b, int ldb, float beta, float* c,
                               int ldc) noexcept nogil
# oneDNN's dnnl_gemm_bf16bf16f32: row-major, dnnl_dim_t = int64_t, a status
# (0: dnnl_success).
ctypedef int (*dnnl_bf16_fn)(char trans_a, char trans_b, int64_t m, int64_t n, int64_t k,
                             float alpha, const uint16_t* a, int64_t lda,
                             const uint16_t* b, int64_t ldb, float beta, float* c,
                             int64_t ldc) noexcept nogil

cdef enum:
    CBLAS_ROW_MAJOR = 101
    CBLAS_NO_TRANS = 111
    CBLAS_TRANS = 112


cdef inline int mkl_bf16_gemm(const void* fn, const Product* p, float alpha,
                              const uint16_t* a, const uint16_t* b, float beta,
                              float* c) noexcept nogil:
    # CBLAS has no status: MKL computes (emulated where the CPU lacks
    # bfloat16 instructions).
    (<cblas_bf16_fn> fn)(CBLAS_ROW_MAJOR, CBLAS_TRANS if p.trans_a else CBLAS_NO_TRANS,
                         CBLAS_TRANS if p.trans_b else CBLAS_NO_TRANS, p.m, p.n, p.k, alpha,
                         a, p.lda, b, p.ldb, beta, c, p.ldc)
    return 0


cdef inline int onednn_bf16_gemm(const void* fn, const Product* p, float alpha,
                                 const uint16_t* a, const uint16_t* b, float beta,
                                 float* c) noexcept nogil:
    # oneDNN reports what it cannot do (an instruction set it lacks, memory
    # for its packed copies) instead of computing: loud, never a silent
    # stale c (fastmlp.network.bf16lib probes it once before using it).
    return (<dnnl_bf16_fn> fn)(b'T' if p.trans_a else b'N', b'T' if p.trans_b else b'N',
                               p.m, p.n, p.k, alpha, a, p.lda, b, p.ldb, beta, c, p.ldc)
