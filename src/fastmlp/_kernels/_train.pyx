# The def entry points of fastmlp: forward, objective, loss_and_gradients,
# train_epoch, gemm_floor (the bare GEMMs of a step, for benchmarks),
# exp_nonpositive_inplace (the kernels' exp, exposed for its accuracy test)
# and the choice of instruction set for the elementwise kernels
# (simd_paths, simd_active, simd_select; FASTMLP_SIMD at import).
#
# Design, in a few points:
# - The caller (fastmlp.mlp) has validated every shape, dtype and contiguity
#   and built `spec`, one intp array describing the network and the
#   workspace (see fastmlp/_workspace.py); bounds checks are off because of
#   that validation, not in spite of it.
# - Each entry point turns memoryviews into raw pointers while holding the
#   GIL, then does all its work in one `with nogil:` region; no allocation
#   happens inside it. Errors found inside (a non-finite objective) are
#   returned as a status and raised by Python.
# - Rows are processed in chunks of at most `chunk_rows` so that the
#   workspace stays bounded for full-batch work on large n; gradients
#   accumulate across chunks through the GEMM beta.
# - In training, a batch that fits in one chunk writes its weight gradient
#   straight into the velocity through the GEMM's alpha and beta, and each
#   layer is updated right after its backward pass, while its velocity is
#   still in cache. The velocity is kept as v = c * u with a running scale
#   c = momentum^t, so that v = m v + (1 - m) g becomes
#   u += ((1 - m) / c_new) g: a GEMM with beta = 1, which spares BLAS its
#   separate pass scaling the output by beta. u is brought back to v (one
#   pass) when c gets small and at the end of every call, so the velocity
#   the user sees is always the true one.
from libc.math cimport NAN, fabs, isfinite, pow, sqrt
from libc.string cimport memcpy
from cpython.exc cimport PyErr_CheckSignals

cdef extern from "clock.h" nogil:
    double fm_monotonic_seconds()
from cython cimport floating

from fastmlp._kernels._dense cimport (
    dense_backward, dense_forward, forward_product, input_delta_product,
    weight_gradient_product)
from fastmlp._kernels._elementwise cimport (
    FM_LEAKY_RELU, FM_RELU, FM_SIGMOID, FM_TANH, FM_SIMD_AVX2, FM_SIMD_AVX512, FM_SIMD_BASELINE, FM_SOFTMAX, activate,
    adam_update, apply_velocity, axpy, derivative_mul, sgd_update, exp_nonpositive, fm_simd_active,
    fm_simd_select, fm_simd_supported, gather_rows, momentum_mix, output_loss, scale,
    softmax_rows, sumsq)

# Positions in the spec array (mirrored in fastmlp/_workspace.py).
cdef enum:
    SPEC_LAYERS = 0
    SPEC_LOSS = 1
    SPEC_N_WEIGHTS = 2
    SPEC_N_PARAMS = 3
    SPEC_CHUNK_ROWS = 4
    SPEC_OFF_DELTA_A = 5
    SPEC_OFF_DELTA_B = 6
    SPEC_OFF_XBUF = 7
    SPEC_OFF_YBUF = 8
    SPEC_OFF_WBUF = 9
    SPEC_FIRST_W_T = 10
    SPEC_HEADER = 11

# The running velocity scale is folded back into the velocity once it falls
# below this (about every 130 steps at momentum 0.9): far from underflow of
# the scale and from overflow of u = v / c even in float32.
cdef double RESCALE_BELOW = 1e-6
# Below this momentum the scale would have to be folded back nearly every
# step; the plain beta = momentum GEMM is used instead.
cdef double SCALED_MIN_MOMENTUM = 0.5

# Update rules of train_epoch (mirrored in fastmlp/_workspace.py).
cdef enum:
    RULE_MOMENTUM = 0   # fastmlp: v = m v + (1 - m) g; w -= lr v
    RULE_SGD = 1        # scikit-learn: v = m v - lr g; w += v
    RULE_NESTEROV = 2   # scikit-learn: v = m v - lr g; w += m v - lr g
    RULE_ADAM = 3       # scikit-learn's Adam, bias-corrected step size

cdef enum:
    STATUS_OK = 0
    STATUS_NONFINITE_LOSS = 1
    STATUS_NONFINITE_PARAMS = 2


cdef struct Net:
    Py_ssize_t n_layers
    int loss
    Py_ssize_t n_weights
    Py_ssize_t n_params
    Py_ssize_t chunk_rows
    Py_ssize_t off_delta_a
    Py_ssize_t off_delta_b
    Py_ssize_t off_xbuf
    Py_ssize_t off_ybuf
    Py_ssize_t off_wbuf
    bint first_w_t              # W_0 stored as W_0^T (see _dense.pxd)
    const Py_ssize_t* sizes     # n_layers + 1
    const Py_ssize_t* w_off     # offset of W_l in the parameter buffer
    const Py_ssize_t* b_off     # offset of b_l
    const Py_ssize_t* act       # activation code of layer l's output
    const Py_ssize_t* act_off   # offset of layer l's output in the workspace


cdef inline bint transposed(const Net* net, Py_ssize_t l) noexcept nogil:
    """Whether layer l's W is stored as W^T (only ever the first layer)."""
    return net.first_w_t and l == 0


cdef Net read_spec(const Py_ssize_t[::1] spec):
    cdef Net net
    cdef const Py_ssize_t* s = &spec[0]
    cdef Py_ssize_t L = s[SPEC_LAYERS]
    net.n_layers = L
    net.loss = <int> s[SPEC_LOSS]
    net.n_weights = s[SPEC_N_WEIGHTS]
    net.n_params = s[SPEC_N_PARAMS]
    net.chunk_rows = s[SPEC_CHUNK_ROWS]
    net.off_delta_a = s[SPEC_OFF_DELTA_A]
    net.off_delta_b = s[SPEC_OFF_DELTA_B]
    net.off_xbuf = s[SPEC_OFF_XBUF]
    net.off_ybuf = s[SPEC_OFF_YBUF]
    net.off_wbuf = s[SPEC_OFF_WBUF]
    net.first_w_t = s[SPEC_FIRST_W_T] != 0
    net.sizes = s + SPEC_HEADER
    net.w_off = net.sizes + L + 1
    net.b_off = net.w_off + L
    net.act = net.b_off + L
    net.act_off = net.act + L
    return net


cdef floating* forward_rows(const Net* net, const floating* params, const floating* x,
                            floating* work, int rows, floating* last_out) noexcept nogil:
    """Hidden layers activated; the output layer left as pre-activation, in
    last_out if given, else in the workspace. Returns the output block."""
    cdef Py_ssize_t l, L = net.n_layers
    cdef const floating* a = x
    cdef floating* out = NULL
    for l in range(L):
        if l == L - 1 and last_out != NULL:
            out = last_out
        else:
            out = work + net.act_off[l]
        dense_forward(a, params + net.w_off[l], params + net.b_off[l], out, rows,
                      <int> net.sizes[l], <int> net.sizes[l + 1],
                      <int> net.act[l] if l < L - 1 else -1,
                      transposed(net, l))
        a = out
    return out


cdef struct Update:
    # How a layer's parameters move once its gradient is known.
    int rule
    void* state1        # RULE_SGD/NESTEROV: velocity; RULE_ADAM: first moment
    void* state2        # RULE_ADAM: second moment
    double lr           # RULE_ADAM: with the bias corrections folded in
    double m            # momentum
    double l2c          # coefficient of w added to the weight gradient
    double b1
    double b2
    double eps
    int nonfinite       # set when a new parameter is inf or NaN


cdef double update_layer(const Net* net, Update* u, floating* params, floating* out,
                         Py_ssize_t l) noexcept nogil:
    """Step layer l by rule u, out holding its velocity (RULE_MOMENTUM) or its
    gradient without the L2 term (the others). Returns the sum of squared
    weights before the step when u.l2c != 0, else 0."""
    cdef Py_ssize_t wo = net.w_off[l], bo = net.b_off[l]
    cdef size_t nw = <size_t> (net.sizes[l] * net.sizes[l + 1])
    cdef size_t nb = <size_t> net.sizes[l + 1]
    cdef floating* s1 = <floating*> u.state1
    cdef floating* s2 = <floating*> u.state2
    cdef floating lr = <floating> u.lr, l2c = <floating> u.l2c
    cdef double sq
    if u.rule == RULE_MOMENTUM:
        sq = apply_velocity(params + wo, out + wo, nw, lr, l2c, l2c != 0, &u.nonfinite)
        apply_velocity(params + bo, out + bo, nb, lr, <floating> 0, False, &u.nonfinite)
    elif u.rule == RULE_ADAM:
        sq = adam_update(params + wo, out + wo, s1 + wo, s2 + wo, nw, lr, <floating> u.b1,
                         <floating> u.b2, <floating> u.eps, l2c, l2c != 0, &u.nonfinite)
        adam_update(params + bo, out + bo, s1 + bo, s2 + bo, nb, lr, <floating> u.b1,
                    <floating> u.b2, <floating> u.eps, <floating> 0, False, &u.nonfinite)
    else:
        sq = sgd_update(params + wo, out + wo, s1 + wo, nw, lr, <floating> u.m, l2c,
                        u.rule == RULE_NESTEROV, l2c != 0, &u.nonfinite)
        sgd_update(params + bo, out + bo, s1 + bo, nb, lr, <floating> u.m, <floating> 0,
                   u.rule == RULE_NESTEROV, False, &u.nonfinite)
    return sq


cdef double backward_rows(const Net* net, floating* params, const floating* x,
                          floating* work, floating* delta, floating* spare, int rows,
                          floating* out, floating alpha, floating beta,
                          Update* update) noexcept nogil:
    """Backpropagate delta (dLoss/dz of the output block) through every layer,
    writing out = beta out + alpha grad. With an update, each layer is then
    stepped by it (update_layer) while its gradient is still in cache, and
    the sum of squared weights before the step is returned (else 0)."""
    cdef Py_ssize_t l, L = net.n_layers
    cdef const floating* a_in
    cdef floating* tmp
    cdef double sq = 0
    for l in range(L - 1, -1, -1):
        a_in = x if l == 0 else work + net.act_off[l - 1]
        # Below the output layer, each bias gradient was summed by the
        # layer above, in the pass that formed its delta.
        dense_backward(delta, a_in, params + net.w_off[l],
                       out + net.w_off[l], out + net.b_off[l] if l == L - 1 else NULL,
                       alpha, beta, spare if l > 0 else NULL,
                       <int> net.act[l - 1] if l > 0 else 0,
                       out + net.b_off[l - 1] if l > 0 else NULL,
                       rows, <int> net.sizes[l], <int> net.sizes[l + 1],
                       transposed(net, l))
        if update != NULL:
            sq += update_layer(net, update, params, out, l)
        tmp = delta
        delta = spare
        spare = tmp
    return sq


cdef inline floating* ptr_or_null(floating[::1] buf) noexcept:
    return &buf[0] if buf.shape[0] > 0 else NULL


def forward(const Py_ssize_t[::1] spec, const floating[::1] params,
            const floating[:, ::1] X, floating[::1] work, floating[:, ::1] out):
    """out = output-layer activations for every row of X."""
    cdef Net net = read_spec(spec)
    cdef Py_ssize_t n = X.shape[0], n_in = X.shape[1], n_out = out.shape[1]
    cdef Py_ssize_t done = 0, rows
    cdef int out_act = <int> net.act[net.n_layers - 1]
    cdef const floating* px = &X[0, 0]
    cdef const floating* pp = &params[0]
    cdef floating* pw = &work[0]
    cdef floating* po = &out[0, 0]
    cdef floating* block
    with nogil:
        while done < n:
            rows = min(net.chunk_rows, n - done)
            block = forward_rows(&net, pp, px + done * n_in, pw, <int> rows,
                                 po + done * n_out)
            if out_act == FM_SOFTMAX:
                softmax_rows(block, rows, n_out)
            else:
                activate(out_act, block, <size_t> (rows * n_out))
            done += rows


cdef inline const floating* ptr_or_null_const(const floating[::1] buf) noexcept:
    return &buf[0] if buf is not None and buf.shape[0] > 0 else NULL


def objective(const Py_ssize_t[::1] spec, const floating[::1] params,
              const floating[:, ::1] X, const floating[:, ::1] Y,
              floating[::1] work, double l2, floating[:, ::1] out=None,
              const floating[::1] row_weights=None, double loss_coef=1.0,
              double denom=0.0):
    """loss_coef * (sum of per-sample losses over X, each weighted by
    row_weights when given) / denom + (l2 / 2) * sum of squared weights;
    denom 0 means the number of rows. The output activations of the same
    pass go to `out` when it is given."""
    cdef Net net = read_spec(spec)
    cdef Py_ssize_t n = X.shape[0], n_in = X.shape[1], n_out = Y.shape[1]
    cdef Py_ssize_t done = 0, rows
    cdef int out_act = <int> net.act[net.n_layers - 1]
    cdef const floating* px = &X[0, 0]
    cdef const floating* py = &Y[0, 0]
    cdef const floating* pp = &params[0]
    cdef const floating* prw = ptr_or_null_const(row_weights)
    cdef floating* pw = &work[0]
    cdef floating* po = &out[0, 0] if out is not None else NULL
    cdef floating* block
    cdef double total = 0, sq = 0
    if denom == 0:
        denom = n
    with nogil:
        while done < n:
            rows = min(net.chunk_rows, n - done)
            block = forward_rows(&net, pp, px + done * n_in, pw, <int> rows,
                                 po + done * n_out if po != NULL else NULL)
            # The fused loss leaves the output activations in the block.
            total += output_loss(net.loss, out_act, block, py + done * n_out, NULL,
                                 <size_t> rows, <size_t> n_out, <floating> 0,
                                 prw + done if prw != NULL else NULL)
            done += rows
        if l2 != 0:
            sq = sumsq(pp, <size_t> net.n_weights)
    return loss_coef * total / denom + 0.5 * l2 * sq


def loss_and_gradients(const Py_ssize_t[::1] spec, floating[::1] params,
                       const floating[:, ::1] X, const floating[:, ::1] Y,
                       floating[::1] work, floating[::1] grads, double l2,
                       const floating[::1] row_weights=None, double loss_coef=1.0,
                       double delta_coef=1.0, double denom=0.0):
    """grads = gradient of the objective over all rows of X; returns the
    objective: loss_coef * (weighted) sum of per-sample losses / denom +
    (l2 / 2) * sum of squared weights, denom 0 meaning the number of rows.
    The data part of the gradient is scaled by delta_coef / denom, so
    delta_coef != loss_coef gives a gradient that is not the objective's
    own (what scikit-learn's squared loss does, on purpose of the caller)."""
    cdef Net net = read_spec(spec)
    cdef Py_ssize_t n = X.shape[0], n_in = X.shape[1], n_out = Y.shape[1]
    cdef Py_ssize_t done = 0, rows
    cdef int out_act = <int> net.act[net.n_layers - 1]
    cdef const floating* px = &X[0, 0]
    cdef const floating* py = &Y[0, 0]
    cdef const floating* prw = ptr_or_null_const(row_weights)
    cdef floating* pp = &params[0]
    cdef floating* pw = &work[0]
    cdef floating* pg = &grads[0]
    cdef floating* block
    cdef floating scale
    cdef double total = 0, sq = 0
    if denom == 0:
        denom = n
    scale = <floating> (delta_coef / denom)
    with nogil:
        while done < n:
            rows = min(net.chunk_rows, n - done)
            block = forward_rows(&net, pp, px + done * n_in, pw, <int> rows, NULL)
            total += output_loss(net.loss, out_act, block, py + done * n_out,
                                 pw + net.off_delta_a, <size_t> rows, <size_t> n_out,
                                 scale, prw + done if prw != NULL else NULL)
            backward_rows(&net, pp, px + done * n_in, pw, pw + net.off_delta_a,
                          pw + net.off_delta_b, <int> rows, pg, <floating> 1,
                          <floating> (0 if done == 0 else 1), NULL)
            done += rows
        if l2 != 0:
            sq = sumsq(pp, <size_t> net.n_weights)
            axpy(<floating> l2, pp, pg, <size_t> net.n_weights)
    return loss_coef * total / denom + 0.5 * l2 * sq


cdef struct Epoch:
    # Everything one epoch of training reads or updates, as raw pointers of
    # an unspecified precision (cast by the fused functions below).
    const Net* net
    void* params
    void* velocity         # RULE_MOMENTUM: the velocity; else Update.state1
    void* grads            # the gradient: only when batches span several
                           # chunks, or for the rules other than RULE_MOMENTUM
    const void* X
    const void* Y
    const void* row_weights  # NULL: every row weighs 1
    const Py_ssize_t* perm  # NULL: rows in order, read in place
    Py_ssize_t n
    Py_ssize_t n_in
    Py_ssize_t n_out
    Py_ssize_t batch_rows
    void* work
    double lr
    double momentum
    double l2
    bint l2_per_denom      # the L2 coefficient is l2 / (batch weight), as
                           # in scikit-learn; else l2 itself
    double loss_coef       # batch objective = loss_coef * loss sum / denom
    double delta_coef      # data gradient = delta_coef * dLoss / denom
    Py_ssize_t adam_t      # Adam steps taken so far
    Update update
    bint scaled            # velocity kept as c * u (momentum >= SCALED_MIN)
    double c               # the running scale: velocity = c * u
    double total           # sum over finished steps of rows * objective


cdef int run_steps(Epoch* ep, Py_ssize_t first, Py_ssize_t last, floating dummy,
                   Py_ssize_t* stopped_at, double deadline,
                   Py_ssize_t clock_every) noexcept nogil:
    """Train steps [first, last) of the epoch, or fewer: with deadline > 0
    the clock is read every clock_every steps and the loop returns
    STATUS_OK early once it has passed. *stopped_at is the first step not
    taken. Other returns: STATUS_NONFINITE_LOSS (stopped before that step's
    update) or STATUS_NONFINITE_PARAMS (that step's update made a parameter
    inf or NaN), with the failing step in *stopped_at."""
    cdef const Net* net = ep.net
    cdef Update* u = &ep.update
    cdef floating* pp = <floating*> ep.params
    cdef floating* pv = <floating*> ep.velocity
    cdef floating* pg = <floating*> ep.grads
    cdef const floating* px = <const floating*> ep.X
    cdef const floating* py = <const floating*> ep.Y
    cdef const floating* prw = <const floating*> ep.row_weights
    cdef floating* pw = <floating*> ep.work
    cdef floating* delta_a = pw + net.off_delta_a
    cdef floating* delta_b = pw + net.off_delta_b
    cdef floating* xbuf = pw + net.off_xbuf
    cdef floating* ybuf = pw + net.off_ybuf
    cdef floating* wbuf = pw + net.off_wbuf
    cdef floating* block
    cdef const floating* xb
    cdef const floating* yb
    cdef const floating* wb
    cdef bint momentum_rule = u.rule == RULE_MOMENTUM
    cdef bint one_chunk = ep.batch_rows <= net.chunk_rows
    cdef int out_act = <int> net.act[net.n_layers - 1]
    cdef Py_ssize_t step, start, nb, done, rows, i, l
    cdef double m = ep.momentum, c_new, loss_sum, sq, obj, denom, l2
    cdef floating batch_scale
    for step in range(first, last):
        start = step * ep.batch_rows
        nb = min(ep.batch_rows, ep.n - start)
        denom = nb
        if prw != NULL:
            denom = 0
            for i in range(start, start + nb):
                denom += prw[ep.perm[i] if ep.perm != NULL else i]
        l2 = ep.l2 / denom if ep.l2_per_denom else ep.l2
        batch_scale = <floating> (ep.delta_coef / denom)
        if not momentum_rule:
            u.l2c = l2
            if u.rule == RULE_ADAM:
                ep.adam_t += 1
                u.lr = (ep.lr * sqrt(1.0 - pow(u.b2, <double> ep.adam_t))
                        / (1.0 - pow(u.b1, <double> ep.adam_t)))
        loss_sum = 0
        sq = 0
        done = 0
        while done < nb:
            rows = min(net.chunk_rows, nb - done)
            wb = NULL
            if ep.perm != NULL:
                gather_rows(px, ep.perm + start + done, <size_t> rows, <size_t> ep.n_in, xbuf)
                gather_rows(py, ep.perm + start + done, <size_t> rows, <size_t> ep.n_out, ybuf)
                if prw != NULL:
                    gather_rows(prw, ep.perm + start + done, <size_t> rows, 1, wbuf)
                    wb = wbuf
                xb = xbuf
                yb = ybuf
            else:
                xb = px + (start + done) * ep.n_in
                yb = py + (start + done) * ep.n_out
                if prw != NULL:
                    wb = prw + start + done
            block = forward_rows(net, pp, xb, pw, <int> rows, NULL)
            loss_sum += output_loss(net.loss, out_act, block, yb, delta_a,
                                    <size_t> rows, <size_t> ep.n_out, batch_scale, wb)
            if one_chunk:
                if not isfinite(loss_sum):
                    break
                # Each layer is stepped as soon as its gradient is done; for
                # RULE_MOMENTUM the momentum mix happens inside the
                # weight-gradient GEMMs, which write into the velocity.
                if not momentum_rule:
                    sq = backward_rows(net, pp, xb, pw, delta_a, delta_b, <int> rows, pg,
                                       <floating> 1, <floating> 0, u)
                elif ep.scaled:
                    c_new = m * ep.c
                    u.lr = ep.lr * c_new
                    u.l2c = (1.0 - m) * l2 / c_new
                    sq = backward_rows(net, pp, xb, pw, delta_a, delta_b, <int> rows, pv,
                                       <floating> ((1.0 - m) / c_new), <floating> 1, u)
                    ep.c = c_new
                    if ep.c < RESCALE_BELOW:
                        scale(<floating> ep.c, pv, <size_t> net.n_params)
                        ep.c = 1.0
                else:
                    u.lr = ep.lr
                    u.l2c = (1.0 - m) * l2
                    sq = backward_rows(net, pp, xb, pw, delta_a, delta_b, <int> rows, pv,
                                       <floating> (1.0 - m), <floating> m, u)
            else:
                backward_rows(net, pp, xb, pw, delta_a, delta_b, <int> rows, pg,
                              <floating> 1, <floating> (0 if done == 0 else 1), NULL)
            done += rows
        if not isfinite(loss_sum):
            stopped_at[0] = step
            return STATUS_NONFINITE_LOSS
        if not one_chunk:
            # Only reached for batches larger than the workspace: the
            # gradient was accumulated over the chunks, now one update.
            if momentum_rule:
                # This rule steps along the velocity, mixed in here.
                momentum_mix(<floating> m, pg, pv, <size_t> net.n_params)
                u.lr = ep.lr
                u.l2c = (1.0 - m) * l2
            for l in range(net.n_layers):
                sq += update_layer(net, u, pp, pv if momentum_rule else pg, l)
        if u.nonfinite:
            stopped_at[0] = step
            return STATUS_NONFINITE_PARAMS
        obj = ep.loss_coef * loss_sum / denom + 0.5 * l2 * sq
        ep.total += obj * nb
        if deadline > 0 and (step - first + 1) % clock_every == 0 and step + 1 < last:
            if fm_monotonic_seconds() >= deadline:
                stopped_at[0] = step + 1
                return STATUS_OK
    stopped_at[0] = last
    return STATUS_OK


cdef void fold_velocity_scale(Epoch* ep, floating dummy) noexcept nogil:
    """velocity = c * u, so that the buffer holds the true velocity again."""
    if ep.c != 1.0:
        scale(<floating> ep.c, <floating*> ep.velocity, <size_t> ep.net.n_params)
        ep.c = 1.0


def train_epoch(const Py_ssize_t[::1] spec, floating[::1] params, floating[::1] velocity,
                floating[::1] grads, const floating[:, ::1] X, const floating[:, ::1] Y,
                const Py_ssize_t[::1] perm, Py_ssize_t batch_rows, floating[::1] work,
                double lr, double momentum, double l2,
                floating[::1] checkpoint, double signal_interval,
                Py_ssize_t clock_every, int rule=RULE_MOMENTUM,
                floating[::1] second_moment=None,
                const floating[::1] row_weights=None, bint l2_per_denom=False,
                double loss_coef=1.0, double delta_coef=1.0,
                double beta_1=0.9, double beta_2=0.999, double epsilon=1e-8,
                Py_ssize_t[::1] adam_steps=None, bint take_checkpoint=True,
                Py_ssize_t replay_epochs=0, const Py_ssize_t[:, ::1] replay_perms=None):
    """One epoch of mini-batch gradient descent.

    The update `rule` is fastmlp's momentum (RULE_MOMENTUM, the default) or
    one of scikit-learn's solvers (RULE_SGD, RULE_NESTEROV, RULE_ADAM: then
    `velocity` is their velocity or Adam's first moment, `second_moment`
    Adam's second, `grads` must hold n_params elements, and adam_steps[0]
    counts Adam's steps: read at the start, written back on every return,
    an interruption included). Each batch's objective is
    loss_coef * (loss sum, rows weighted by row_weights) / denom + l2 term,
    denom being the batch's row count or weight; its data gradient is scaled
    by delta_coef / denom, and the L2 coefficient is l2 / denom with
    l2_per_denom, else l2.

    Rows are taken in `perm` order (None: in order, read in place). Every
    `signal_interval` seconds (the clock is read every `clock_every` steps)
    the GIL is taken back briefly to run Python's signal handlers, so Ctrl-C
    interrupts between two steps: the exception propagates with the model as
    it was after the last finished step. signal_interval <= 0 never looks
    (for threads other than the main one, which never run handlers).

    Returns (status, sum over finished steps of rows * batch objective,
    failing step). STATUS_NONFINITE_LOSS: the objective of that step
    was not finite, and it was not taken. STATUS_NONFINITE_PARAMS: that
    step's update made a parameter inf or NaN. With a non-empty
    `checkpoint` (RULE_MOMENTUM only: parameters, then velocity) parameters
    and velocity are then restored and the steps before it replayed, which
    reproduces the state after the last finite step exactly, since every
    step is deterministic; without one the state is left as the failing step
    made it. The velocity buffer always holds the true velocity on return.

    The checkpoint is taken at the start of this epoch (take_checkpoint), or
    was taken by an earlier call with the same arguments, `replay_epochs`
    whole epochs ago: the replay then runs those epochs first, in the row
    orders of `replay_perms` (one row per epoch, oldest first; None: rows in
    order, as `perm` must then be too).
    """
    cdef Net net = read_spec(spec)
    cdef Epoch ep
    cdef Py_ssize_t n_steps = (X.shape[0] + batch_rows - 1) // batch_rows
    cdef Py_ssize_t step = 0, stopped = 0, n_params = params.shape[0], e
    cdef double deadline
    cdef int status = STATUS_OK
    cdef floating dummy = 0
    cdef bint restore = checkpoint is not None and checkpoint.shape[0] > 0
    # Cheap once-per-epoch checks of the buffers each rule dereferences
    # (the callers size them; a mismatch here would be a caller bug).
    if velocity.shape[0] != n_params:
        raise ValueError("velocity must hold one value per parameter")
    if rule != RULE_MOMENTUM and (grads is None or grads.shape[0] != n_params):
        raise ValueError("scikit-learn's rules need a gradient buffer of n_params")
    if rule == RULE_ADAM and (second_moment is None or second_moment.shape[0] != n_params):
        raise ValueError("RULE_ADAM needs a second-moment buffer of n_params")
    if rule < RULE_MOMENTUM or rule > RULE_ADAM:
        raise ValueError(f"unknown update rule {rule}")
    if row_weights is not None and row_weights.shape[0] != X.shape[0]:
        raise ValueError("row_weights must hold one weight per row of X")
    if restore and checkpoint.shape[0] != 2 * n_params:
        raise ValueError("checkpoint must hold the parameters and the velocity")
    if replay_epochs < 0 or (replay_epochs > 0) == take_checkpoint and restore:
        raise ValueError("replay_epochs counts the epochs since an earlier checkpoint: "
                         "0 exactly when this call takes it")
    if replay_epochs > 0 and ((replay_perms is None) != (perm is None) or (
            replay_perms is not None and (replay_perms.shape[0] < replay_epochs
                                          or replay_perms.shape[1] != X.shape[0]))):
        raise ValueError("replay_perms must hold one row order per replayed epoch, "
                         "given exactly when perm is")
    ep.net = &net
    ep.params = &params[0]
    ep.velocity = &velocity[0]
    ep.grads = ptr_or_null(grads)
    ep.X = &X[0, 0]
    ep.Y = &Y[0, 0]
    ep.row_weights = ptr_or_null_const(row_weights)
    ep.perm = &perm[0] if perm is not None else NULL
    ep.n = X.shape[0]
    ep.n_in = X.shape[1]
    ep.n_out = Y.shape[1]
    ep.batch_rows = batch_rows
    ep.work = &work[0]
    ep.lr = lr
    ep.momentum = momentum
    ep.l2 = l2
    ep.l2_per_denom = l2_per_denom
    ep.loss_coef = loss_coef
    ep.delta_coef = delta_coef
    ep.adam_t = adam_steps[0] if adam_steps is not None else 0
    ep.update.rule = rule
    ep.update.state1 = &velocity[0]
    ep.update.state2 = ptr_or_null(second_moment) if second_moment is not None else NULL
    ep.update.lr = lr
    ep.update.m = momentum
    ep.update.l2c = 0
    ep.update.b1 = beta_1
    ep.update.b2 = beta_2
    ep.update.eps = epsilon
    ep.update.nonfinite = 0
    ep.scaled = rule == RULE_MOMENTUM and momentum >= SCALED_MIN_MOMENTUM
    ep.c = 1.0
    ep.total = 0.0
    if restore and take_checkpoint:
        with nogil:
            memcpy(&checkpoint[0], &params[0], n_params * sizeof(floating))
            memcpy(&checkpoint[n_params], &velocity[0], n_params * sizeof(floating))
    try:
        while step < n_steps:
            deadline = fm_monotonic_seconds() + signal_interval if signal_interval > 0 else 0
            with nogil:
                status = run_steps(&ep, step, n_steps, dummy, &stopped, deadline,
                                   clock_every)
            if status != STATUS_OK:
                break
            step = stopped
            if step < n_steps:
                # Raises KeyboardInterrupt (or what a handler raises) here,
                # between steps; `finally` leaves the velocity consistent.
                PyErr_CheckSignals()
    finally:
        with nogil:
            fold_velocity_scale(&ep, dummy)
        if adam_steps is not None:
            adam_steps[0] = ep.adam_t
    if status == STATUS_NONFINITE_PARAMS and restore:
        with nogil:
            memcpy(&params[0], &checkpoint[0], n_params * sizeof(floating))
            memcpy(&velocity[0], &checkpoint[n_params], n_params * sizeof(floating))
            # Each replayed epoch starts as its train_epoch call did.
            for e in range(replay_epochs + 1):
                ep.c = 1.0
                ep.total = 0.0
                ep.update.nonfinite = 0
                if e < replay_epochs:
                    ep.perm = &replay_perms[e, 0] if replay_perms is not None else NULL
                    run_steps(&ep, 0, n_steps, dummy, &step, 0, 1)
                else:
                    ep.perm = &perm[0] if perm is not None else NULL
                    run_steps(&ep, 0, stopped, dummy, &step, 0, 1)
                fold_velocity_scale(&ep, dummy)
    return status, ep.total, stopped


# Columns of the table layer_statistics fills (mirrored in fastmlp/_stats.py).
cdef enum:
    STAT_PRE_MEAN = 0
    STAT_PRE_VAR = 1
    STAT_ACT_MEAN = 2
    STAT_ACT_VAR = 3
    STAT_INACTIVE = 4
    STAT_DELTA_VAR = 5
    STAT_GRAD_VAR = 6
    N_STATS = 7

# An activation counts as saturated beyond these: tanh |a| > 0.99 and
# sigmoid a < 0.01 or a > 0.99 (|z| > 2.65 and |z| > 4.6), where the
# derivative is below 0.02 and 0.01.
cdef double SATURATED_TANH = 0.99
cdef double SATURATED_SIGMOID = 0.01


cdef void moments(const floating* x, Py_ssize_t n, double* out) noexcept nogil:
    """out[0] = mean, out[1] = variance (population), two passes in double."""
    cdef Py_ssize_t i
    cdef double mean = 0, var = 0, d
    for i in range(n):
        mean += x[i]
    mean /= n
    for i in range(n):
        d = x[i] - mean
        var += d * d
    out[0] = mean
    out[1] = var / n


cdef double inactive_fraction(int act, const floating* a, Py_ssize_t rows,
                              Py_ssize_t cols) noexcept nogil:
    """relu and leaky relu: the fraction of units that are not positive on
    any row (dead units); sigmoid and tanh: the fraction of activations in
    saturation; other activations: NaN."""
    cdef Py_ssize_t i, j, count = 0
    cdef bint alive
    cdef double v
    if act == FM_RELU or act == FM_LEAKY_RELU:
        for j in range(cols):
            alive = False
            for i in range(rows):
                if a[i * cols + j] > 0:
                    alive = True
                    break
            if not alive:
                count += 1
        return count / <double> cols
    if act == FM_TANH or act == FM_SIGMOID:
        for i in range(rows * cols):
            v = a[i]
            if act == FM_TANH:
                count += fabs(v) > SATURATED_TANH
            else:
                count += v < SATURATED_SIGMOID or v > 1 - SATURATED_SIGMOID
        return count / <double> (rows * cols)
    return NAN


def layer_statistics(const Py_ssize_t[::1] spec, floating[::1] params,
                     const floating[:, ::1] X, const floating[:, ::1] Y,
                     floating[::1] work, floating[::1] grads, double[:, ::1] stats):
    """Fill stats (n_layers x N_STATS) for one forward pass over all rows of
    X (and, when Y is not None, one backward pass, its gradient left in
    grads). The workspace must hold all rows in one chunk."""
    cdef Net net = read_spec(spec)
    cdef Py_ssize_t L = net.n_layers, l, n = X.shape[0], n_in, n_out
    cdef bint with_targets = Y is not None
    cdef const floating* py = &Y[0, 0] if with_targets else NULL
    cdef const floating* a = &X[0, 0]
    cdef floating* pp = &params[0]
    cdef floating* pw = &work[0]
    cdef floating* pg = &grads[0]
    cdef floating* out
    cdef floating* delta = pw + net.off_delta_a
    cdef floating* spare = pw + net.off_delta_b
    cdef floating* tmp
    cdef int act
    cdef double m[2]
    cdef double loss_sum = 0
    with nogil:
        for l in range(L):
            n_in = net.sizes[l]
            n_out = net.sizes[l + 1]
            act = <int> net.act[l]
            out = pw + net.act_off[l]
            dense_forward(a, pp + net.w_off[l], pp + net.b_off[l], out, <int> n,
                          <int> n_in, <int> n_out, -1, transposed(&net, l))
            moments(out, n * n_out, m)
            stats[l, STAT_PRE_MEAN] = m[0]
            stats[l, STAT_PRE_VAR] = m[1]
            if l == L - 1 and with_targets:
                # Output activation, loss and delta in one pass, as in training.
                loss_sum = output_loss(net.loss, act, out, py, delta, <size_t> n,
                                       <size_t> n_out, <floating> (1.0 / n))
            elif act == FM_SOFTMAX:
                softmax_rows(out, n, n_out)
            else:
                activate(act, out, <size_t> (n * n_out))
            moments(out, n * n_out, m)
            stats[l, STAT_ACT_MEAN] = m[0]
            stats[l, STAT_ACT_VAR] = m[1]
            stats[l, STAT_INACTIVE] = inactive_fraction(act, out, n, n_out)
            stats[l, STAT_DELTA_VAR] = NAN
            stats[l, STAT_GRAD_VAR] = NAN
            a = out
        if with_targets:
            for l in range(L - 1, -1, -1):
                n_in = net.sizes[l]
                n_out = net.sizes[l + 1]
                moments(delta, n * n_out, m)
                stats[l, STAT_DELTA_VAR] = m[1]
                dense_backward(delta, &X[0, 0] if l == 0 else pw + net.act_off[l - 1],
                               pp + net.w_off[l], pg + net.w_off[l], pg + net.b_off[l],
                               <floating> 1, <floating> 0, spare if l > 0 else NULL,
                               <int> net.act[l - 1] if l > 0 else 0, NULL,
                               <int> n, <int> n_in, <int> n_out,
                               transposed(&net, l))
                moments(pg + net.w_off[l], n_in * n_out, m)
                stats[l, STAT_GRAD_VAR] = m[1]
                tmp = delta
                delta = spare
                spare = tmp
    return loss_sum / n if with_targets else None


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
    cdef int ni, no
    cdef const floating* px = &X[0, 0]
    cdef const floating* pp = &params[0]
    cdef floating* pg = &grads[0]
    cdef floating* pw = &work[0]
    cdef floating* delta_a = pw + net.off_delta_a
    cdef floating* delta_b = pw + net.off_delta_b
    cdef const floating* a
    with nogil:
        for step in range(n_steps):
            start = (step * batch_rows) % (n - batch_rows + 1)
            rows = batch_rows
            a = px + start * n_in
            for l in range(L):
                forward_product(a, pp + net.w_off[l], pw + net.act_off[l], <int> rows,
                                <int> net.sizes[l], <int> net.sizes[l + 1],
                                transposed(&net, l))
                a = pw + net.act_off[l]
            for l in range(L - 1, -1, -1):
                ni = <int> net.sizes[l]
                no = <int> net.sizes[l + 1]
                a = px + start * n_in if l == 0 else pw + net.act_off[l - 1]
                weight_gradient_product(delta_a, a, pg + net.w_off[l], <floating> 1,
                                        <floating> 0, <int> rows, ni, no,
                                        transposed(&net, l))
                if l > 0:
                    input_delta_product(delta_a, pp + net.w_off[l], delta_b, <int> rows,
                                        ni, no, False)


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
        exp_nonpositive(&x[0], <size_t> x.shape[0])


def activate_inplace(int act, floating[::1] x):
    """x = sigma(x) for an activation code of fastmlp._workspace (not softmax);
    for accuracy tests and the elementwise benchmarks."""
    _check_elementwise(act, x.shape[0])
    with nogil:
        activate(act, &x[0], <size_t> x.shape[0])


def derivative_mul_inplace(int act, const floating[::1] a, floating[::1] delta):
    """delta *= sigma'(z) given a = sigma(z); a and delta of equal length."""
    _check_elementwise(act, delta.shape[0])
    if a.shape[0] != delta.shape[0]:
        raise ValueError(f"a has {a.shape[0]} elements but delta has {delta.shape[0]}")
    with nogil:
        derivative_mul(act, &a[0], &delta[0], <size_t> delta.shape[0])


SIMD_LEVELS = {"baseline": FM_SIMD_BASELINE, "avx2": FM_SIMD_AVX2, "avx512": FM_SIMD_AVX512}
_SIMD_NAMES = {level: name for name, level in SIMD_LEVELS.items()}


def simd_paths():
    """Names of the instruction-set paths this CPU (and build) can run."""
    return [name for name, level in SIMD_LEVELS.items() if fm_simd_supported(level)]


def simd_active():
    """Name of the path the elementwise kernels use."""
    return _SIMD_NAMES[fm_simd_active()]


def simd_select(name):
    """Use the named path from now on (call it while no kernel is running)."""
    if name not in SIMD_LEVELS:
        raise ValueError(
            f"unknown SIMD path {name!r}; expected one of {', '.join(SIMD_LEVELS)}")
    if fm_simd_select(SIMD_LEVELS[name]) != 0:
        raise RuntimeError(
            f"SIMD path {name!r} is not supported by this CPU or build; "
            f"supported: {', '.join(simd_paths())}")


def _select_from_environment():
    import os
    forced = os.environ.get("FASTMLP_SIMD", "").strip().lower()
    if forced:
        try:
            simd_select(forced)
        except (ValueError, RuntimeError) as exc:
            raise ImportError(f"FASTMLP_SIMD={forced!r}: {exc}") from None
    else:
        fm_simd_active()


_select_from_environment()
