# One dense layer, forward and backward, on row-major blocks of `rows` rows.
# W is (n_out x n_in) row-major, as in a_out = sigma(W a_in + b).
from cython cimport floating

from fastmlp._kernels._blas cimport gemm
from fastmlp._kernels._elementwise cimport (
    FM_IDENTITY, bias_activate, colsum, derivative_mul)


cdef inline void dense_forward(const floating* a_in,     # IN  rows x n_in
                               const floating* w,        # IN  n_out x n_in
                               const floating* b,        # IN  n_out
                               floating* out,            # OUT rows x n_out
                               int rows, int n_in, int n_out,
                               int act) noexcept nogil:
    """out = act(a_in W^T + b); act < 0 leaves the pre-activation."""
    gemm(False, True, rows, n_out, n_in, <floating> 1, a_in, n_in, w, n_in,
         <floating> 0, out, n_out)
    # One pass adds the bias and applies the activation.
    bias_activate(act if act >= 0 else FM_IDENTITY, out, b, rows, n_out)


cdef inline void dense_backward(const floating* delta,   # IN  rows x n_out, dLoss/dz
                                const floating* a_in,    # IN  rows x n_in
                                const floating* w,       # IN  n_out x n_in
                                floating* out_w,         # OUT n_out x n_in
                                floating* out_b,         # OUT n_out
                                floating alpha, floating beta,
                                floating* delta_prev,    # OUT rows x n_in, or NULL
                                int act_prev,
                                int rows, int n_in, int n_out) noexcept nogil:
    """out_w = beta out_w + alpha delta^T a_in; out_b likewise with column sums;
    delta_prev = (delta W) * act_prev'(a_in) unless delta_prev is NULL.

    With out_w the velocity, alpha = 1 - momentum and beta = momentum, the
    GEMM performs the momentum mix itself and no gradient buffer is touched.
    """
    gemm(True, False, n_out, n_in, rows, alpha, delta, n_out, a_in, n_in,
         beta, out_w, n_in)
    colsum(delta, rows, n_out, alpha, beta, out_b)
    if delta_prev != NULL:
        gemm(False, False, rows, n_in, n_out, <floating> 1, delta, n_out, w, n_in,
             <floating> 0, delta_prev, n_in)
        derivative_mul(act_prev, a_in, delta_prev, <size_t> rows * n_in)
