# Entry points for tests and benchmarks only, kept out of _train (what the
# library runs): gemm_floor (the bare GEMMs of training steps, the floor a
# step is measured against) and exp_nonpositive_inplace / activate_inplace /
# derivative_mul_inplace (the elementwise kernels on one array).
#
# This module compiles no C: specs are read, bfloat16 products bound and
# their refusals checked by _train's own read_spec, bound and
# check_products, and the C kernels run as _train's activate_array,
# derivative_mul_array, exp_nonpositive_array and bind_input (_train.pxd):
# its GEMM table, its installed bfloat16 GEMM, its one record of the
# instruction-set path (simd_select, FASTMLP_SIMD), so a probe runs the
# code training runs.
from cython cimport floating

from fastmlp._kernels._dense cimport (
    forward_product, input_delta_product, weight_gradient_product)
from fastmlp._kernels._bf16 cimport LayerGemm
from fastmlp._kernels._layer cimport LayerShape, LayerSink
from fastmlp._kernels._network cimport Net, backward_gemm, layer_gemm, layer_shape
from fastmlp._kernels._train cimport (
    Binding, activate_array, bind_input, bound, check_products, derivative_mul_array,
    exp_nonpositive_array, read_spec)


def gemm_floor(const Py_ssize_t[::1] spec, const floating[::1] params, floating[::1] grads,
               const floating[:, ::1] X, floating[::1] work, Py_ssize_t batch_rows,
               Py_ssize_t n_steps):
    """Only the GEMMs of `n_steps` training steps on batches of `batch_rows`
    rows, with the shapes of train_epoch: per layer the forward product, the
    weight gradient (into `grads`, a scratch buffer of the parameters' size)
    and, but for the first layer, the input delta; each written with
    beta = 0, as a plain `out = A @ B` would. The floor a step cannot go
    below; nothing else is computed."""
    cdef Net net = read_spec(spec)
    cdef Py_ssize_t n = X.shape[0], n_in = X.shape[1]
    cdef Py_ssize_t step, l, L = net.n_layers, start, rows
    cdef const floating* px = &X[0, 0]
    cdef const floating* pp = &params[0]
    cdef floating* pg = &grads[0]
    cdef floating* pw = &work[0]
    cdef floating* delta_a = pw + net.off_delta_a
    cdef floating* delta_b = pw + net.off_delta_b
    cdef const floating* a
    cdef LayerGemm g
    cdef LayerShape shape
    cdef LayerSink sink
    cdef Binding bb
    cdef bint bf16 = False
    bound(&net, &bb, <floating*> pp, pw, NULL)
    bf16 = net.gemm == &bb.be
    sink.out_b = NULL
    sink.out_b_prev = NULL
    sink.alpha = 1
    sink.beta = 0
    with nogil:
        if bf16:
            # The first batch's bfloat16 copy serves every step: the floor
            # times products only.
            bind_input(net.gemm, px, <size_t> (batch_rows * n_in))
        for step in range(n_steps):
            start = 0 if bf16 else (step * batch_rows) % (n - batch_rows + 1)
            rows = batch_rows
            a = px + start * n_in
            for l in range(L):
                g = layer_gemm(&net, l)
                shape = layer_shape(&net, l, <int> rows)
                forward_product(&g, &shape, a, pp + net.w_off[l], pw + net.act_off[l])
                a = pw + net.act_off[l]
            for l in range(L - 1, -1, -1):
                a = px + start * n_in if l == 0 else pw + net.act_off[l - 1]
                g = backward_gemm(&net, l, net.off_delta_a, net.off_delta_b)
                shape = layer_shape(&net, l, <int> rows)
                sink.out_w = pg + net.w_off[l]
                weight_gradient_product(&g, &shape, delta_a, a, &sink)
                if l > 0:
                    input_delta_product(&g, &shape, delta_a, pp + net.w_off[l], delta_b)
    check_products(&bb)


def _check_elementwise(int act, Py_ssize_t n):
    # These entry points serve tests and benchmarks; they still validate,
    # since the kernels below them check nothing.
    if n == 0:
        raise ValueError("empty array")
    if act < 0 or act > 4:
        raise ValueError(f"activation code {act} is not one of 0..4 (softmax needs rows)")


def exp_nonpositive_inplace(floating[::1] x):
    """x = exp(x) with the kernels' own exp (valid for x <= 0)."""
    _check_elementwise(0, x.shape[0])
    with nogil:
        exp_nonpositive_array(&x[0], <size_t> x.shape[0])


def activate_inplace(int act, floating[::1] x):
    """x = sigma(x) for an activation code of fastmlp.network.workspace (not softmax);
    for accuracy tests and the elementwise benchmarks."""
    _check_elementwise(act, x.shape[0])
    with nogil:
        activate_array(act, &x[0], <size_t> x.shape[0])


def derivative_mul_inplace(int act, const floating[::1] a, floating[::1] delta):
    """delta *= sigma'(z) given a = sigma(z); a and delta of equal length."""
    _check_elementwise(act, delta.shape[0])
    if a.shape[0] != delta.shape[0]:
        raise ValueError(f"a has {a.shape[0]} elements but delta has {delta.shape[0]}")
    with nogil:
        derivative_mul_array(act, &a[0], &delta[0], <size_t> delta.shape[0])
