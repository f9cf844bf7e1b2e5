# The plain C elementwise kernels (csrc/elementwise.h), dispatched on the
# fused type so Cython code calls one name for float and double.
from cython cimport floating

cdef extern from "elementwise.h" nogil:
    enum:
        FM_IDENTITY
        FM_SIGMOID
        FM_TANH
        FM_RELU
        FM_LEAKY_RELU
        FM_SOFTMAX
        FM_EXP
        FM_MSE
        FM_CROSS_ENTROPY
        FM_BINARY_CROSS_ENTROPY
        FM_POISSON
        FM_CROSS_ENTROPY_LABELS
        FM_SIMD_BASELINE
        FM_SIMD_AVX2
        FM_SIMD_AVX512
        FM_NESTEROV_AVERAGED

    double FM_LEAKY_SLOPE

    ctypedef struct fm_loss_spec:
        int loss
        int out_act
        double scale

    ctypedef struct fm_update_coefs:
        double lr
        double m
        double b2
        double eps
        double l2c
        double gs
        int nesterov
        int want_sumsq
        int* nonfinite

    int fm_simd_supported(int level)
    int fm_simd_best()
    int fm_simd_select(int level)
    int fm_simd_active()

    void fm_activate_f(int act, float* x, size_t n)
    void fm_activate_d(int act, double* x, size_t n)
    void fm_exp_nonpositive_f(float* x, size_t n)
    void fm_exp_nonpositive_d(double* x, size_t n)
    void fm_softmax_rows_f(float* x, size_t rows, size_t cols)
    void fm_softmax_rows_d(double* x, size_t rows, size_t cols)
    void fm_derivative_mul_f(int act, const float* a, float* delta, size_t n)
    void fm_derivative_mul_d(int act, const double* a, double* delta, size_t n)
    void fm_bias_activate_f(int act, float* z, const float* b, size_t rows, size_t cols)
    void fm_bias_activate_d(int act, double* z, const double* b, size_t rows, size_t cols)
    void fm_colsum_f(const float* d, size_t rows, size_t cols, size_t ld, float alpha,
                     float beta, float* out)
    void fm_colsum_d(const double* d, size_t rows, size_t cols, size_t ld, double alpha,
                     double beta, double* out)
    void fm_derivative_mul_colsum_f(int act, const float* a, float* delta, size_t rows,
                                    size_t cols, float alpha, float beta, float* out)
    void fm_derivative_mul_colsum_d(int act, const double* a, double* delta, size_t rows,
                                    size_t cols, double alpha, double beta, double* out)
    double fm_output_loss_f(const fm_loss_spec* spec, float* z, const float* y,
                            float* delta, size_t rows, size_t k, const float* row_weight)
    double fm_output_loss_d(const fm_loss_spec* spec, double* z, const double* y,
                            double* delta, size_t rows, size_t k, const double* row_weight)
    double fm_sumsq_f(const float* x, size_t n)
    double fm_sumsq_d(const double* x, size_t n)
    void fm_axpy_f(float c, const float* w, float* g, size_t n)
    void fm_axpy_d(double c, const double* w, double* g, size_t n)
    void fm_scale_f(float c, float* x, size_t n)
    void fm_scale_d(double c, double* x, size_t n)
    double fm_apply_velocity_f(float* w, float* v, size_t n, const fm_update_coefs* c)
    double fm_apply_velocity_d(double* w, double* v, size_t n, const fm_update_coefs* c)
    double fm_mix_apply_velocity_f(float* w, float* v, const float* g, size_t n,
                                   const fm_update_coefs* c)
    double fm_mix_apply_velocity_d(double* w, double* v, const double* g, size_t n,
                                   const fm_update_coefs* c)
    void fm_gather_rows_f(const float* src, const Py_ssize_t* idx, size_t rows,
                          size_t cols, float* dst)
    void fm_gather_rows_d(const double* src, const Py_ssize_t* idx, size_t rows,
                          size_t cols, double* dst)
    double fm_sgd_update_f(float* w, const float* g, float* v, size_t n,
                           const fm_update_coefs* c)
    double fm_sgd_update_d(double* w, const double* g, double* v, size_t n,
                           const fm_update_coefs* c)
    double fm_adam_update_f(float* w, const float* g, float* m1, float* m2, size_t n,
                            const fm_update_coefs* c)
    double fm_adam_update_d(double* w, const double* g, double* m1, double* m2,
                            size_t n, const fm_update_coefs* c)


cdef inline void activate(int act, floating* x, size_t n) noexcept nogil:
    if act == FM_SOFTMAX:
        return  # rows are needed; callers use softmax_rows
    if floating is float:
        fm_activate_f(act, x, n)
    else:
        fm_activate_d(act, x, n)


cdef inline void exp_nonpositive(floating* x, size_t n) noexcept nogil:
    if floating is float:
        fm_exp_nonpositive_f(x, n)
    else:
        fm_exp_nonpositive_d(x, n)


cdef inline void softmax_rows(floating* x, size_t rows, size_t cols) noexcept nogil:
    if floating is float:
        fm_softmax_rows_f(x, rows, cols)
    else:
        fm_softmax_rows_d(x, rows, cols)


cdef inline void derivative_mul(int act, const floating* a, floating* delta,
                                size_t n) noexcept nogil:
    if floating is float:
        fm_derivative_mul_f(act, a, delta, n)
    else:
        fm_derivative_mul_d(act, a, delta, n)


cdef inline void bias_activate(int act, floating* z, const floating* b, size_t rows,
                               size_t cols) noexcept nogil:
    if floating is float:
        fm_bias_activate_f(act, z, b, rows, cols)
    else:
        fm_bias_activate_d(act, z, b, rows, cols)


cdef inline void colsum(const floating* d, size_t rows, size_t cols,
                        floating alpha, floating beta, floating* out) noexcept nogil:
    colsum_ld(d, rows, cols, cols, alpha, beta, out)


cdef inline void colsum_ld(const floating* d, size_t rows, size_t cols, size_t ld,
                           floating alpha, floating beta, floating* out) noexcept nogil:
    """colsum of the rows x cols block whose rows are ld elements apart."""
    if floating is float:
        fm_colsum_f(d, rows, cols, ld, alpha, beta, out)
    else:
        fm_colsum_d(d, rows, cols, ld, alpha, beta, out)


cdef inline void derivative_mul_colsum(int act, const floating* a, floating* delta,
                                       size_t rows, size_t cols, floating alpha,
                                       floating beta, floating* out) noexcept nogil:
    if floating is float:
        fm_derivative_mul_colsum_f(act, a, delta, rows, cols, alpha, beta, out)
    else:
        fm_derivative_mul_colsum_d(act, a, delta, rows, cols, alpha, beta, out)


cdef inline double output_loss(const fm_loss_spec* spec, floating* z, const floating* y,
                               floating* delta, size_t rows, size_t k,
                               const floating* row_weight=NULL) noexcept nogil:
    if floating is float:
        return fm_output_loss_f(spec, z, y, delta, rows, k, row_weight)
    else:
        return fm_output_loss_d(spec, z, y, delta, rows, k, row_weight)


cdef inline double sumsq(const floating* x, size_t n) noexcept nogil:
    if floating is float:
        return fm_sumsq_f(x, n)
    else:
        return fm_sumsq_d(x, n)


cdef inline void axpy(floating c, const floating* w, floating* g, size_t n) noexcept nogil:
    if floating is float:
        fm_axpy_f(c, w, g, n)
    else:
        fm_axpy_d(c, w, g, n)


cdef inline void scale(floating c, floating* x, size_t n) noexcept nogil:
    if floating is float:
        fm_scale_f(c, x, n)
    else:
        fm_scale_d(c, x, n)


cdef inline double apply_velocity(floating* w, floating* v, size_t n,
                                  const fm_update_coefs* c) noexcept nogil:
    if floating is float:
        return fm_apply_velocity_f(w, v, n, c)
    else:
        return fm_apply_velocity_d(w, v, n, c)


cdef inline double mix_apply_velocity(floating* w, floating* v, const floating* g,
                                      size_t n, const fm_update_coefs* c) noexcept nogil:
    if floating is float:
        return fm_mix_apply_velocity_f(w, v, g, n, c)
    else:
        return fm_mix_apply_velocity_d(w, v, g, n, c)


cdef inline void gather_rows(const floating* src, const Py_ssize_t* idx, size_t rows,
                             size_t cols, floating* dst) noexcept nogil:
    if floating is float:
        fm_gather_rows_f(src, idx, rows, cols, dst)
    else:
        fm_gather_rows_d(src, idx, rows, cols, dst)


cdef inline double sgd_update(floating* w, const floating* g, floating* v, size_t n,
                              const fm_update_coefs* c) noexcept nogil:
    if floating is float:
        return fm_sgd_update_f(w, g, v, n, c)
    else:
        return fm_sgd_update_d(w, g, v, n, c)


cdef inline double adam_update(floating* w, const floating* g, floating* m1,
                               floating* m2, size_t n,
                               const fm_update_coefs* c) noexcept nogil:
    if floating is float:
        return fm_adam_update_f(w, g, m1, m2, n, c)
    else:
        return fm_adam_update_d(w, g, m1, m2, n, c)
