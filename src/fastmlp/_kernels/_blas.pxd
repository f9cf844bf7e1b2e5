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


cdef inline void openblas_gemm(bint trans_a, bint trans_b, int m, int n, int k,
                               floating alpha, const floating* a, int lda,
                               const floating* b, int ldb, floating beta,
                               floating* c, int ldc) noexcept nogil:
    """c (m x n, row-major, leading dim ldc) = alpha op(a) op(b) + beta c."""
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*> b, &ldb, <float*> a, &lda, &beta,
              c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*> b, &ldb, <double*> a, &lda, &beta,
              c, &ldc)
