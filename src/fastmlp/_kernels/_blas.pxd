# Row-major GEMM over scipy's BLAS (OpenBLAS in scipy's wheels): the entries
# of the default GEMM backend (_gemm.pxd), one per precision
# (openblas_gemm[float], openblas_gemm[double]). BLAS is column-major: a
# row-major C = op(A) op(B) is the column-major C^T = op(B)^T op(A)^T, so the
# operands are swapped and the dimensions exchanged; no transposed copies
# are ever made. Nothing is linked: scipy.linalg.cython_blas hands out its
# own function pointers, so threadpoolctl governs the threads.
#
# Dimensions are C ints: the Python layer guarantees every one of them (and
# every leading dimension) is below 2**31.
from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm

from fastmlp._kernels._gemm cimport Product


cdef inline void openblas_gemm(const Product* p, floating alpha, const floating* a,
                               const floating* b, floating beta,
                               floating* c) noexcept nogil:
    """c = alpha op(a) op(b) + beta c, row-major, shaped by p."""
    cdef char ta = b'T' if p.trans_a else b'N'
    cdef char tb = b'T' if p.trans_b else b'N'
    # BLAS takes every argument by pointer and writes none but c: p's own
    # fields are handed over, not copies of them.
    cdef Product* q = <Product*> p
    if floating is float:
        sgemm(&tb, &ta, &q.n, &q.m, &q.k, &alpha, <float*> b, &q.ldb, <float*> a, &q.lda,
              &beta, c, &q.ldc)
    else:
        dgemm(&tb, &ta, &q.n, &q.m, &q.k, &alpha, <double*> b, &q.ldb, <double*> a,
              &q.lda, &beta, c, &q.ldc)
