# csrc/bf16.h, declared once for every module that rounds to or reads
# bfloat16 (_bf16.pxd, _sparse.pxd, _train.pyx): a second extern block
# could drift from the header without the compiler noticing.
from libc.stdint cimport uint16_t

cdef extern from "bf16.h" nogil:
    float fm_bf16_widen(uint16_t b)
    void fm_to_bf16(const float* src, uint16_t* dst, size_t n)
    void fm_gather_to_bf16(const float* src, const Py_ssize_t* idx, size_t rows,
                           size_t cols, uint16_t* dst)
    void fm_bf16_gemm_failed(float* c, int m, int n, int ldc)
    void fm_count_refused(Py_ssize_t* count)
