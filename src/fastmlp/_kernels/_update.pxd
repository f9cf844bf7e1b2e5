# The update stage: how parameters move once a step's gradient is known.
#
# An Update holds the rule, its state buffers and hyperparameters (fixed for
# a fit) and the coefficients of the current step. Those coefficients are
# set in one place, begin_update, which also says where the backward pass
# must write the gradient (a GradientSink):
# - RULE_MOMENTUM in a fused step writes straight into the velocity, the
#   GEMM's alpha and beta performing the momentum mix. The velocity is kept
#   as v = c u with a running scale c = momentum^t, so that
#   v = m v + (1 - m) g becomes u += ((1 - m) / c_new) g: a GEMM with
#   beta = 1, which spares BLAS its separate pass scaling the output by
#   beta. u is folded back into v (fold_velocity) when c gets small
#   (end_update) and at the end of every run, so the velocity outside a run
#   is always the true one. Below SCALED_MIN_MOMENTUM the fold would be due
#   nearly every step, and the plain beta = momentum GEMM is used.
# - Every other case (the scikit-learn rules, and any step whose gradient
#   is formed first: batches over several chunks) writes the plain
#   gradient; the update pass (mix_gradient, then update_block on every
#   layer) then steps every layer. RULE_MOMENTUM mixes that gradient into
#   the velocity in the update pass itself (mix_from), so a formed step
#   reads and writes the velocity once.
from cython cimport floating
from libc.math cimport pow, sqrt

from fastmlp._kernels._codes cimport (
    RULE_ADAM, RULE_ADAM_CORRECTED, RULE_AVERAGED_NESTEROV, RULE_MOMENTUM, RULE_NESTEROV)
from fastmlp._kernels._elementwise cimport (
    FM_NESTEROV_AVERAGED, adam_update, apply_velocity, fm_update_coefs, mix_apply_velocity,
    scale, sgd_update)

cdef extern from *:
    """
    /* The running velocity scale is folded back once it falls below this
     * (about every 130 steps at momentum 0.9): far from underflow of the
     * scale and from overflow of u = v / c even in float32. */
    #define FM_RESCALE_BELOW 1e-6
    /* Below this momentum the scale would be folded back nearly every step. */
    #define FM_SCALED_MIN_MOMENTUM 0.5
    """
    const double FM_RESCALE_BELOW
    const double FM_SCALED_MIN_MOMENTUM


cdef struct UpdateRule:
    # A rule and its hyperparameters, as the optimizer gives them for a fit.
    int rule
    double momentum
    double beta_1
    double beta_2
    double epsilon


cdef struct Update:
    # fixed for a fit
    int rule
    void* state1        # the velocity (momentum, sgd, nesterov) or Adam's first moment
    void* state2        # Adam's second moment, else NULL
    Py_ssize_t* adam_t  # Adam's step count, kept current in the caller's buffer
    Py_ssize_t n_params
    double m            # momentum (Adam: beta_1)
    double b1
    double b2
    double eps
    bint scaled         # RULE_MOMENTUM keeps v = c u in fused steps
    # set by the run: its learning rate and the running velocity scale
    double base_lr
    double c
    int nonfinite       # set when a new parameter is inf or NaN
    # the current step's coefficients (begin_update)
    double lr
    double l2c          # coefficient of w added to the weight gradient
    double eps_t        # Adam's epsilon as the update kernel adds it
    # RULE_MOMENTUM along a formed gradient (mix_gradient): the update pass
    # mixes mix_scale * mix_from into the velocity first; else NULL
    const void* mix_from
    double mix_scale


cdef inline bint has_second_moment(int rule) noexcept nogil:
    """The Adams, whose state is two moments and a step count."""
    return rule == RULE_ADAM or rule == RULE_ADAM_CORRECTED


cdef struct GradientSink:
    # The backward pass writes out = beta out + alpha (gradient).
    void* out
    double alpha
    double beta


cdef inline void init_update(Update* u, const UpdateRule* hyper, void* state1, void* state2,
                             Py_ssize_t* adam_t, Py_ssize_t n_params) noexcept nogil:
    u.rule = hyper.rule
    u.state1 = state1
    u.state2 = state2
    u.adam_t = adam_t
    u.n_params = n_params
    u.m = hyper.momentum
    u.b1 = hyper.beta_1
    u.b2 = hyper.beta_2
    u.eps = hyper.epsilon
    u.scaled = u.rule == RULE_MOMENTUM and u.m >= FM_SCALED_MIN_MOMENTUM
    u.base_lr = 0
    u.c = 1.0
    u.nonfinite = 0
    u.lr = 0
    u.l2c = 0
    u.eps_t = u.eps
    u.mix_from = NULL
    u.mix_scale = 1.0


cdef inline void start_run(Update* u, double lr) noexcept nogil:
    """A run of steps starts with its learning rate and a true velocity."""
    u.base_lr = lr
    u.lr = lr
    u.c = 1.0
    u.nonfinite = 0


cdef inline GradientSink begin_update(Update* u, double l2, bint fused,
                                      void* grads) noexcept nogil:
    """Set this step's coefficients (l2: the L2 coefficient of the step's
    objective) and say where its gradient goes: fused, each layer is stepped
    as soon as its gradient is formed (backward_rows with this Update);
    else the gradient is formed whole in `grads`, then apply_gradient."""
    cdef GradientSink sink
    cdef double m = u.m, c_new, root
    sink.out = grads
    sink.alpha = 1.0
    sink.beta = 0.0
    if u.rule == RULE_MOMENTUM:
        u.lr = u.base_lr
        u.l2c = (1.0 - m) * l2
        if fused:
            sink.out = u.state1
            if u.scaled:
                c_new = m * u.c
                u.lr = u.base_lr * c_new
                u.l2c = (1.0 - m) * l2 / c_new
                sink.alpha = (1.0 - m) / c_new
                sink.beta = 1.0
                u.c = c_new
            else:
                sink.alpha = 1.0 - m
                sink.beta = m
        return sink
    u.l2c = l2
    if has_second_moment(u.rule):
        # Both Adams step by lr_t m1 / (sqrt(m2) + eps_t) with
        # lr_t = lr sqrt(1 - b2^t) / (1 - b1^t). scikit-learn's adds eps to
        # sqrt(m2) (eps_t = eps); fastmlp's adds it to the square root of
        # the corrected m2 / (1 - b2^t), which is eps_t = eps sqrt(1 - b2^t).
        u.adam_t[0] += 1
        root = sqrt(1.0 - pow(u.b2, <double> u.adam_t[0]))
        u.lr = u.base_lr * root / (1.0 - pow(u.b1, <double> u.adam_t[0]))
        u.eps_t = u.eps * root if u.rule == RULE_ADAM_CORRECTED else u.eps
    return sink


cdef inline double update_span(const Update* u, const fm_update_coefs* k,
                               floating* params, floating* out, Py_ssize_t at,
                               size_t n) noexcept nogil:
    """Step the n parameters at `at` by u's rule with the coefficients k."""
    cdef const floating* g = <const floating*> u.mix_from
    if g != NULL:
        return mix_apply_velocity(params + at, out + at, g + at, n, k)
    if u.rule == RULE_MOMENTUM:
        return apply_velocity(params + at, out + at, n, k)
    if has_second_moment(u.rule):
        return adam_update(params + at, out + at, <floating*> u.state1 + at,
                           <floating*> u.state2 + at, n, k)
    return sgd_update(params + at, out + at, <floating*> u.state1 + at, n, k)


cdef inline fm_update_coefs step_coefs(Update* u, floating dummy) noexcept nogil:
    """The kernels' coefficients of this step for weights (the L2 term
    in), flagging a non-finite parameter in u.nonfinite."""
    cdef fm_update_coefs k
    # The kernels take these in double and convert them to their precision.
    k.lr = u.lr
    k.m = u.b1 if has_second_moment(u.rule) else u.m
    k.b2 = u.b2
    k.eps = u.eps_t
    k.l2c = u.l2c
    k.gs = u.mix_scale
    k.nesterov = (FM_NESTEROV_AVERAGED if u.rule == RULE_AVERAGED_NESTEROV
                  else 1 if u.rule == RULE_NESTEROV else 0)
    # Tested in the kernels' precision, as the kernels test l2c.
    k.want_sumsq = <floating> u.l2c != 0
    k.nonfinite = &u.nonfinite
    return k


cdef inline double update_block(Update* u, floating* params, floating* out,
                                Py_ssize_t wo, size_t nw, Py_ssize_t bo,
                                size_t nb) noexcept nogil:
    """Step one layer's weights (nw at wo) and biases (nb at bo), `out`
    holding the velocity (RULE_MOMENTUM) or the gradient without its L2 term
    (the others). Returns the sum of squared weights before the step when
    u.l2c != 0, else 0."""
    cdef fm_update_coefs k = step_coefs(u, <floating> 0)
    cdef double sq
    sq = update_span(u, &k, params, out, wo, nw)
    # The biases take no L2 term.
    k.l2c = 0
    k.want_sumsq = False
    update_span(u, &k, params, out, bo, nb)
    return sq


cdef inline void fold_velocity(Update* u, floating dummy) noexcept nogil:
    """velocity = c u: the buffer holds the true velocity again."""
    if u.c != 1.0:
        scale(<floating> u.c, <floating*> u.state1, <size_t> u.n_params)
        u.c = 1.0


cdef inline void end_update(Update* u, floating dummy) noexcept nogil:
    """After a fused step: fold the velocity scale back before it gets small."""
    if u.c < FM_RESCALE_BELOW:
        fold_velocity(u, dummy)


cdef inline floating* mix_gradient(Update* u, floating* grads,
                                   floating grad_scale) noexcept nogil:
    """A formed gradient (grad_scale * grads) becomes the step direction:
    RULE_MOMENTUM steps along the velocity, into which the update pass mixes
    it (v = m v + (1 - m) g, see update_block; end_mix after the pass); the
    other rules step along the gradient itself, scaled here when
    grad_scale != 1. Returns the buffer to step along."""
    if u.rule == RULE_MOMENTUM:
        u.mix_from = grads
        u.mix_scale = grad_scale
        return <floating*> u.state1
    if grad_scale != 1:
        scale(grad_scale, grads, <size_t> u.n_params)
    return grads


cdef inline void end_mix(Update* u) noexcept nogil:
    """After the update pass along a formed gradient."""
    u.mix_from = NULL
    u.mix_scale = 1.0
