# The def entry points of fastmlp: forward, objective, loss_and_gradients,
# EpochKernel (training epochs), layer_statistics, the bfloat16 GEMM library
# (bf16_install) and the choice of instruction set for the elementwise
# kernels (simd_paths, simd_active, simd_select; FASTMLP_SIMD at import).
# Entry points only tests and benchmarks call live in _probes.pyx, which
# reads specs, binds bfloat16 products and runs the C kernels through this
# module's own read_spec, bound, activate_array, ... (declared in
# _train.pxd, so there is one GEMM table, one installed bfloat16 GEMM and
# one compiled copy of the C kernels, with one record of the instruction-set
# path: simd_select's). The kernels' constants are published
# here by name (ACTIVATION_CODES, LOSS_CODES, RULE_CODES, STATUS_CODES,
# GEMM_BACKENDS, STAT_COLUMNS, LEAKY_SLOPE, SATURATED) for the
# Python layer; their one definition is in _codes.pxd and csrc/elementwise.h
# (the saturation thresholds, which no C code reads: here). The spec array
# is made here (make_spec, with the workspace's size) and read by
# _network.pxd's net_from_spec: its format never reaches Python.
#
# Design, in a few points:
# - The caller (fastmlp.mlp, fastmlp.training.epoch, fastmlp.sklearn._network) has
#   validated every shape, dtype and contiguity and built `spec`, one intp
#   array describing the network and the workspace (see
#   fastmlp/network/workspace.py); bounds checks are off because of that
#   validation, not in spite of it. EpochKernel, which keeps raw pointers
#   for a whole fit, checks its buffers once more when it is made.
# - Each entry point turns its buffers into raw pointers while holding the
#   GIL, then does all its work in one `with nogil:` region; no allocation
#   happens inside it. Errors found inside (a non-finite objective) are
#   returned as a status and raised by Python; a bfloat16 product the
#   library refused is raised here, after the work, from the call's own
#   record (check_products; EpochKernel's per fit), so it can never be
#   reported to another model's call.
# - Rows are processed in chunks of at most `chunk_rows` so that the
#   workspace stays bounded for full-batch work on large n; gradients
#   accumulate across chunks through the GEMM beta.
# - X is an input source (_rows.pxd): DenseRows or SparseRows behind one
#   type, so each operation has one entry point; only the first layer
#   tells them apart (_sparse.pxd), the rest is the same code.
# - Training steps are stages (_steps.pxd) over the network's passes
#   (_network.pxd, _dense.pxd), the update (_update.pxd) and one GEMM
#   backend table (_gemm.pxd); how they combine is chosen once per fit.
from libc.stdint cimport uint16_t, uintptr_t
from libc.string cimport memcpy
from libc.math cimport NAN, fabs
from cpython.exc cimport PyErr_CheckSignals
from cython cimport floating

from fastmlp._kernels._blas cimport openblas_gemm
from fastmlp._kernels._bf16 cimport bf16_product, bind_x
from fastmlp._kernels._bf16_c cimport fm_to_bf16
from fastmlp._kernels._bf16_libs cimport bf16_gemm_fn, mkl_bf16_gemm, onednn_bf16_gemm
from fastmlp._kernels._codes cimport *
from fastmlp._kernels._elementwise cimport (
    FM_BINARY_CROSS_ENTROPY, FM_CROSS_ENTROPY, FM_CROSS_ENTROPY_LABELS, FM_EXP, FM_IDENTITY, FM_LEAKY_RELU,
    FM_LEAKY_SLOPE, FM_MSE, FM_POISSON, FM_RELU, FM_SIGMOID, FM_SIMD_AVX2, FM_SIMD_AVX512,
    FM_SIMD_BASELINE, FM_SOFTMAX, FM_TANH, activate, axpy, derivative_mul, exp_nonpositive,
    fm_loss_spec, fm_simd_active, fm_simd_select, fm_simd_supported, output_loss,
    softmax_rows, sumsq)
from fastmlp._kernels._gemm cimport GemmBackend
from fastmlp._kernels._threads cimport (
    fm_pool, fm_pool_free, fm_pool_jobs, fm_pool_new, fm_thread_init_fn)
from fastmlp._kernels._network cimport (
    WATCH_ACTIVATION, WATCH_DELTA, WATCH_PRE_ACTIVATION, Chunk, LayerWatch, Net,
    backward_rows, forward_rows, net_from_spec, spec_length)
from fastmlp._kernels._rows cimport Rows, SparseBatch, SparseRows, csr_of
from fastmlp._kernels._sparse cimport CsrRows, csr_block
from fastmlp._kernels._steps cimport (
    REDUCED_TAIL, Epoch, ReduceFn, StepFn, fm_monotonic_seconds, formed_step, fused_step,
    reduced_step, run_steps)
from fastmlp._kernels._update cimport (
    GradientSink, UpdateRule, fold_velocity, has_second_moment, init_update, start_run)

# == the constants, by name ====================================================

ACTIVATION_CODES = {
    "identity": FM_IDENTITY, "sigmoid": FM_SIGMOID, "tanh": FM_TANH, "relu": FM_RELU,
    "leaky_relu": FM_LEAKY_RELU, "softmax": FM_SOFTMAX, "exp": FM_EXP,
}
LOSS_CODES = {
    "mse": FM_MSE, "cross_entropy": FM_CROSS_ENTROPY,
    "binary_cross_entropy": FM_BINARY_CROSS_ENTROPY, "poisson": FM_POISSON,
    # cross_entropy with Y holding each row's class index (EpochKernel only).
    "cross_entropy_labels": FM_CROSS_ENTROPY_LABELS,
}
# fastmlp's rules by their fit(optimizer=...) names; scikit-learn's solvers'
# by theirs with a prefix.
RULE_CODES = {"momentum": RULE_MOMENTUM, "nesterov": RULE_AVERAGED_NESTEROV,
              "adam": RULE_ADAM_CORRECTED, "sklearn_sgd": RULE_SGD,
              "sklearn_nesterov": RULE_NESTEROV, "sklearn_adam": RULE_ADAM}
STATUS_CODES = {"ok": STATUS_OK, "nonfinite_loss": STATUS_NONFINITE_LOSS,
                "nonfinite_params": STATUS_NONFINITE_PARAMS,
                "reduce_failed": STATUS_REDUCE_FAILED}
# Elements the reduced message of a data-parallel step holds beyond the
# gradient: its rows, weight and loss sum (_steps.pxd).
REDUCED_EXTRA = REDUCED_TAIL
GEMM_BACKENDS = {"openblas": GEMM_OPENBLAS, "bf16": GEMM_BF16}
_STAT_POSITIONS = {
    "pre_mean": STAT_PRE_MEAN, "pre_var": STAT_PRE_VAR, "act_mean": STAT_ACT_MEAN,
    "act_var": STAT_ACT_VAR, "inactive": STAT_INACTIVE, "delta_var": STAT_DELTA_VAR,
    "grad_var": STAT_GRAD_VAR,
}
# Columns of the layer_statistics table, in order.
STAT_COLUMNS = tuple(sorted(_STAT_POSITIONS, key=_STAT_POSITIONS.get))
assert len(STAT_COLUMNS) == N_STATS
# leaky_relu(z) = z for z > 0, else LEAKY_SLOPE * z.
LEAKY_SLOPE = FM_LEAKY_SLOPE
# An activation counts as saturated (the statistics' "inactive" column)
# beyond these: tanh |a| > 0.99 and sigmoid a < 0.01 or a > 0.99
# (|z| > 2.65 and |z| > 4.6), where the derivative is below 0.02 and 0.01.
cdef double SATURATED_TANH = 0.99
cdef double SATURATED_SIGMOID = 0.01
SATURATED = {"tanh": SATURATED_TANH, "sigmoid": SATURATED_SIGMOID}


# == GEMM backends ==============================================================

cdef GemmBackend BACKENDS[N_GEMM]
BACKENDS[GEMM_OPENBLAS].f32 = openblas_gemm[float]
BACKENDS[GEMM_OPENBLAS].f64 = openblas_gemm[double]
BACKENDS[GEMM_OPENBLAS].bf16 = NULL
BACKENDS[GEMM_OPENBLAS].ctx = NULL
BACKENDS[GEMM_OPENBLAS].pool = NULL
# bfloat16: float32 products through the shadows a call binds (bound());
# float64 never gets here (matmul_dtype is validated against the dtype).
BACKENDS[GEMM_BF16].f32 = openblas_gemm[float]
BACKENDS[GEMM_BF16].f64 = openblas_gemm[double]
BACKENDS[GEMM_BF16].bf16 = bf16_product
BACKENDS[GEMM_BF16].ctx = NULL
BACKENDS[GEMM_BF16].pool = NULL

# The bfloat16 GEMM: a library's function and its adapter (_bf16_libs.pxd),
# installed by fastmlp.network.bf16lib once it loaded the library.
cdef bf16_gemm_fn BF16_ADAPTER = NULL
cdef const void* BF16_GEMM = NULL
cdef int BF16_LIBRARY = 0           # the installed one's place in BF16_ADAPTERS
BF16_ADAPTERS = ("mkl", "onednn")   # the function each takes: cblas_gemm_bf16bf16f32
                                    # (MKL), dnnl_gemm_bf16bf16f32 (oneDNN)


def bf16_install(uintptr_t address, str library):
    """Use the bfloat16 GEMM at `address` (from fastmlp.network.bf16lib, which
    loaded `library`, one of BF16_ADAPTERS, and looked the symbol up) for
    bfloat16 products, from the next call on."""
    global BF16_GEMM, BF16_ADAPTER, BF16_LIBRARY
    if address == 0:
        raise ValueError("null function address")
    if library not in BF16_ADAPTERS:
        raise ValueError(f"library must be one of {BF16_ADAPTERS}, got {library!r}")
    BF16_ADAPTER = mkl_bf16_gemm if library == "mkl" else onednn_bf16_gemm
    BF16_LIBRARY = BF16_ADAPTERS.index(library)
    BF16_GEMM = <const void*> address


def bf16_installed():
    return BF16_GEMM != NULL


def bfloat16_bits(const float[::1] x, uint16_t[::1] out):
    """out = the bfloat16 bits of x, rounded as the kernels round GEMM
    operands (csrc/bf16.h); for tests against the reference's emulation."""
    if out.shape[0] != x.shape[0]:
        raise ValueError(f"out has {out.shape[0]} elements but x has {x.shape[0]}")
    if x.shape[0] > 0:
        with nogil:
            fm_to_bf16(&x[0], &out[0], <size_t> x.shape[0])


cdef int bound(Net* net, Binding* bb, floating* params, floating* work,
               void* pool) except -1:
    """net's products through bb, the call's own copy of its backend,
    running on `pool` (an fm_pool, or NULL: this thread). For a spec with
    bfloat16 products, bb's shadows live in work's bfloat16 region
    (fastmlp.network.workspace) and every weight is converted. Every call
    gets a clean failure record (check_products)."""
    cdef uint16_t* region
    bb.sh.refused = 0
    bb.be = net.gemm[0]
    bb.be.pool = pool
    if net.gemm != &BACKENDS[GEMM_BF16]:
        net.gemm = &bb.be
        return 0
    if floating is double:
        raise ValueError("bfloat16 products need float32 parameters")
    else:
        if BF16_GEMM == NULL:
            raise ImportError("bfloat16 products need the library of fastmlp[bf16], "
                              "loaded by fastmlp.network.bf16lib")
        region = <uint16_t*> (work + net.off_bf16)
        bb.sh.gemm = BF16_ADAPTER
        bb.sh.gemm_fn = BF16_GEMM
        bb.sh.library = BF16_LIBRARY
        # The region's layout (make_spec): the copy of the float32
        # workspace before it, of the parameters, of a chunk.
        bb.sh.work_bf = region
        bb.sh.params_bf = region + net.off_bf16
        bb.sh.x_bf = region + net.off_bf16 + net.n_params
        bb.sh.x = 0
        bb.sh.x_n = 0
        bb.sh.x_gathered = False
        bb.be.ctx = &bb.sh
        net.gemm = &bb.be
        with nogil:
            fm_to_bf16(params, bb.sh.params_bf, <size_t> net.n_weights)
    return 0


cdef int check_products(Binding* bb) except -1:
    """RuntimeError if the library refused a product bound to bb since it
    was bound or last checked (each left NaN in its output). The record is
    the call's (or the fit's) own: a refusal elsewhere, in another model or
    thread, never shows here."""
    cdef Py_ssize_t refused = bb.sh.refused
    if refused == 0:
        return 0
    bb.sh.refused = 0
    raise RuntimeError(
        f"the bfloat16 GEMM library ({BF16_ADAPTERS[bb.sh.library]}) refused {refused} "
        "product(s) (out of memory?); their outputs were NaN, and a fit stopped at that "
        "step with the model as it was before it")


cdef Net read_spec(const Py_ssize_t[::1] spec) except *:
    if (spec.shape[0] < SPEC_HEADER or not 0 <= spec[SPEC_GEMM] < N_GEMM
            or spec.shape[0] != spec_length(spec[SPEC_LAYERS])):
        raise ValueError("not a spec array of make_spec")
    return net_from_spec(&spec[0], BACKENDS)


# The C kernels _probes runs, exported (_train.pxd) so that it compiles none.
cdef void activate_array(int act, floating* x, size_t n) noexcept nogil:
    activate(act, x, n)


cdef void derivative_mul_array(int act, const floating* a, floating* delta,
                               size_t n) noexcept nogil:
    derivative_mul(act, a, delta, n)


cdef void exp_nonpositive_array(floating* x, size_t n) noexcept nogil:
    exp_nonpositive(x, n)


cdef void bind_input(const GemmBackend* be, const floating* x, size_t n) noexcept nogil:
    bind_x(be, x, n)


# == threads ====================================================================

cdef class ThreadPool:
    """The threads of one fit or one call: n_threads in all, the caller's
    included (n_threads - 1 started here, joined by close() or when the
    object goes). Passes cut into blocks (_threads.pxd) run their blocks on
    them; the blocks, and so the results, do not depend on n_threads.
    thread_init: the address of a C function void f(int) that each new
    thread calls with 1 before its first task (a threading runtime's own
    thread count, which is per thread), or 0."""
    cdef fm_pool* pool
    cdef readonly int n_threads

    def __cinit__(self, int n_threads, uintptr_t thread_init=0):
        if n_threads < 1:
            raise ValueError(f"n_threads must be at least 1, got {n_threads}")
        self.n_threads = n_threads
        self.pool = fm_pool_new(n_threads, <fm_thread_init_fn> thread_init, 1)
        if self.pool == NULL:
            raise RuntimeError(f"could not start {n_threads - 1} thread(s)")

    def close(self):
        """Join the threads (a closed pool runs every task on its caller)."""
        fm_pool_free(self.pool)
        self.pool = NULL

    @property
    def jobs(self):
        """Jobs run on more than one thread since the pool was made."""
        return fm_pool_jobs(self.pool)

    def __dealloc__(self):
        fm_pool_free(self.pool)


cdef void* pool_of(ThreadPool threads):
    return <void*> threads.pool if threads is not None else NULL


# == the spec: made, and read, here only =========================================

def workspace_row_width(sizes, bint sparse=False):
    """Workspace elements one row needs: every layer output, two delta rows,
    and the gathered input (none for sparse X: its rows are gathered as
    CSR, outside the workspace), target and weight rows."""
    outs = [int(s) for s in sizes[1:]]
    return sum(outs) + 2 * max(outs) + (0 if sparse else int(sizes[0])) + outs[len(outs) - 1] + 1


def make_spec(layout, activations, loss, Py_ssize_t rows, gemm, bint sparse):
    """(spec, work_size): the spec array of a network (a fastmlp.network.
    layout.Layout; activations and loss by name) and of its workspace for
    chunks of ``rows`` rows, and the workspace's elements. With bfloat16
    products (gemm "bf16") the workspace ends with the bfloat16 copies of
    the GEMM operands, two to an element: one per element of the float32
    workspace before it, per parameter and per element of a chunk of dense
    input rows (sparse X: none; its stored values are rounded once per call
    by fastmlp.MLP and read by _sparse_bf16.pxd)."""
    if gemm not in GEMM_BACKENDS:
        raise ValueError(f"unknown GEMM backend {gemm!r}; expected one of "
                         f"{', '.join(GEMM_BACKENDS)}")
    sizes = [int(size) for size in layout.sizes]
    cdef Py_ssize_t L = len(sizes) - 1, l, acc = 0
    if len(activations) != L or rows < 1:
        raise ValueError("one activation per layer and at least one row are needed")
    outs = sizes[1:]
    spec = np.empty(spec_length(L), dtype=np.intp)
    cdef Py_ssize_t[::1] h = spec
    h[SPEC_LAYERS] = L
    h[SPEC_LOSS] = LOSS_CODES[loss]
    h[SPEC_N_WEIGHTS] = layout.n_weights
    h[SPEC_N_PARAMS] = layout.n_params
    h[SPEC_CHUNK_ROWS] = rows
    h[SPEC_GEMM] = GEMM_BACKENDS[gemm]
    h[SPEC_FIRST_W_T] = bool(layout.first_transposed)
    h[SPEC_OFF_DELTA_A] = rows * sum(outs)
    h[SPEC_OFF_DELTA_B] = h[SPEC_OFF_DELTA_A] + rows * max(outs)
    h[SPEC_OFF_XBUF] = h[SPEC_OFF_DELTA_B] + rows * max(outs)
    h[SPEC_OFF_YBUF] = h[SPEC_OFF_XBUF] + (0 if sparse else rows * sizes[0])
    h[SPEC_OFF_WBUF] = h[SPEC_OFF_YBUF] + rows * sizes[L]
    h[SPEC_OFF_BF16] = h[SPEC_OFF_WBUF] + rows
    halves = 0
    if gemm == "bf16":
        halves = (rows * workspace_row_width(sizes, sparse) + layout.n_params
                  + (0 if sparse else rows * sizes[0]))
    h[SPEC_WORK_SIZE] = h[SPEC_OFF_BF16] + (halves + 1) // 2
    tables = (sizes, layout.w_offsets, layout.b_offsets,
              [ACTIVATION_CODES[a] for a in activations])
    cdef Py_ssize_t at = SPEC_HEADER
    for table in tables:
        for value in table:
            h[at] = value
            at += 1
    for l in range(L):
        h[at + l] = acc
        acc += rows * outs[l]
    return spec, int(h[SPEC_WORK_SIZE])


cdef inline const floating* ptr_or_null_const(const floating[::1] buf) noexcept:
    return &buf[0] if buf is not None and buf.shape[0] > 0 else NULL


cdef inline Chunk chunk_of(const floating* px, const CsrRows* xs, Py_ssize_t first,
                           Py_ssize_t rows, Py_ssize_t n_in) noexcept nogil:
    """Rows [first, first + rows) of X, dense (px) or CSR (xs), read in place."""
    cdef Chunk c
    c.x = px + first * n_in if px != NULL else NULL
    c.xs = CsrRows(NULL, NULL, NULL)  # dense rows: indptr NULL
    if xs != NULL:
        c.xs = csr_block(xs, first)
    c.y = NULL
    c.w = NULL
    c.rows = rows
    return c


cdef int check_rows(const Net* net, Rows X, Py_ssize_t n_rows, bint is_double) except -1:
    """X holds n_rows rows of the network's inputs, in the parameters' dtype."""
    if X.n != n_rows or X.n_cols != net.sizes[0]:
        raise ValueError(f"X ({X.n} x {X.n_cols}) does not match {n_rows} rows of the "
                         f"network's {net.sizes[0]} inputs")
    if (X.dtype.itemsize == 8) != is_double:
        raise ValueError(f"X holds {X.dtype} values but the parameters do not")
    return 0


cdef class Objective:
    """The terms of an objective over rows: loss_coef * (sum of per-row
    losses, each weighted by row_weights when given) / denom + (l2 / 2) *
    sum of squared weights, denom 0 meaning the number of rows; its data
    gradient is scaled by delta_coef / denom, so delta_coef != loss_coef
    gives a gradient that is not the objective's own (what scikit-learn's
    squared loss does, on purpose of the caller).

    For training batches (EpochKernel) denom is each batch's row count or
    weight, the L2 coefficient is l2 / denom with l2_per_denom (scikit-learn's
    convention), and with weighted (row_weights needed) a batch of weight 0
    takes no step and the epoch's total weighs batches by their weight
    (fastmlp.MLP's sample weights)."""
    cdef readonly double l2, loss_coef, delta_coef, denom
    cdef readonly object row_weights
    cdef readonly bint l2_per_denom, weighted

    def __init__(self, double l2=0.0, *, row_weights=None, double loss_coef=1.0,
                 double delta_coef=1.0, double denom=0.0, bint l2_per_denom=False,
                 bint weighted=False):
        self.l2 = l2
        self.row_weights = row_weights
        self.loss_coef = loss_coef
        self.delta_coef = delta_coef
        self.denom = denom
        self.l2_per_denom = l2_per_denom
        self.weighted = weighted


cdef void forward_loop(const Net* net, const floating* pp, Rows X, Py_ssize_t n_out,
                       floating* pw, floating* po) noexcept:
    cdef Py_ssize_t done = 0, rows, n = X.n
    cdef int out_act = <int> net.act[net.n_layers - 1]
    cdef const floating* px = <const floating*> X.x
    cdef const CsrRows* xs = csr_of(X)
    cdef floating* block
    cdef Chunk c
    with nogil:
        while done < n:
            rows = min(net.chunk_rows, n - done)
            c = chunk_of(px, xs, done, rows, net.sizes[0])
            block = forward_rows(net, pp, &c, pw, po + done * n_out, NULL)
            if out_act == FM_SOFTMAX:
                softmax_rows(block, rows, n_out)
            else:
                activate(out_act, block, <size_t> (rows * n_out))
            done += rows


def forward(const Py_ssize_t[::1] spec, const floating[::1] params, Rows X,
            floating[::1] work, floating[:, ::1] out, ThreadPool threads=None):
    """out = output-layer activations for every row of X (DenseRows or
    SparseRows), on `threads` (None: this thread)."""
    cdef Net net = read_spec(spec)
    check_rows(&net, X, out.shape[0], floating is double)
    cdef Binding bb
    bound(&net, &bb, <floating*> &params[0], &work[0], pool_of(threads))
    forward_loop(&net, &params[0], X, out.shape[1], &work[0], &out[0, 0])
    check_products(&bb)


cdef Py_ssize_t target_columns(const Net* net, const floating[:, ::1] Y) except -1:
    """Values per row of Y the network's loss reads (1: class indices, in
    range; else one per output); ValueError when Y has another width."""
    cdef Py_ssize_t n_out = net.sizes[net.n_layers]
    cdef Py_ssize_t y_cols = 1 if net.loss == FM_CROSS_ENTROPY_LABELS else n_out
    if Y.shape[1] != y_cols:
        raise ValueError(f"Y has {Y.shape[1]} columns but the loss reads {y_cols}")
    if y_cols != n_out and Y.shape[0] and not (0 <= np.min(Y) and np.max(Y) < n_out):
        raise ValueError(f"class indices in Y must be in [0, {n_out})")
    return y_cols


def objective(const Py_ssize_t[::1] spec, const floating[::1] params, Rows X,
              const floating[:, ::1] Y, floating[::1] work, Objective terms,
              floating[:, ::1] out=None, ThreadPool threads=None):
    """The objective `terms` describe over the rows of X (DenseRows or
    SparseRows) and Y. The output activations of the same pass go to
    `out` when it is given. On `threads` (None: this thread)."""
    cdef Net net = read_spec(spec)
    check_rows(&net, X, Y.shape[0], floating is double)
    cdef Binding bb
    bound(&net, &bb, <floating*> &params[0], &work[0], pool_of(threads))
    value = objective_pass(&net, <floating*> &params[0], X, Y, &work[0], terms,
                           &out[0, 0] if out is not None else NULL, NULL)
    check_products(&bb)
    return value


def loss_and_gradients(const Py_ssize_t[::1] spec, floating[::1] params, Rows X,
                       const floating[:, ::1] Y, floating[::1] work, floating[::1] grads,
                       Objective terms, ThreadPool threads=None):
    """grads = the gradient `terms` describe over all rows of X (DenseRows
    or SparseRows) and Y; returns the objective. On `threads` (None: this
    thread)."""
    cdef Net net = read_spec(spec)
    check_rows(&net, X, Y.shape[0], floating is double)
    cdef Binding bb
    bound(&net, &bb, <floating*> &params[0], &work[0], pool_of(threads))
    value = objective_pass(&net, &params[0], X, Y, &work[0], terms, NULL, &grads[0])
    check_products(&bb)
    return value


cdef double objective_pass(const Net* net, floating* pp, Rows X, const floating[:, ::1] Y,
                           floating* pw, Objective terms, floating* po,
                           floating* pg) except? -1:
    """One pass of the objective over all rows, chunk by chunk: its value,
    the output activations into po (when not NULL), and with pg (not NULL)
    its gradient, the backward pass of each chunk accumulated through the
    GEMM beta."""
    cdef const floating[::1] row_weights = terms.row_weights
    cdef Py_ssize_t n = Y.shape[0], n_out = net.sizes[net.n_layers]
    cdef Py_ssize_t y_cols = target_columns(net, Y)
    cdef Py_ssize_t done = 0, rows
    cdef int out_act = <int> net.act[net.n_layers - 1]
    cdef const floating* px = <const floating*> X.x
    cdef const CsrRows* xs = csr_of(X)
    cdef const floating* py = &Y[0, 0]
    cdef const floating* prw = ptr_or_null_const(row_weights)
    cdef floating* block
    cdef Chunk c
    cdef GradientSink sink
    cdef double total = 0, sq = 0, denom = terms.denom if terms.denom != 0 else n
    cdef double l2 = terms.l2
    # Without a gradient the fused loss forms no delta (scale 0, no buffer).
    cdef floating scale = <floating> (terms.delta_coef / denom) if pg != NULL else 0
    cdef fm_loss_spec spec = fm_loss_spec(net.loss, out_act, scale)
    cdef floating* delta = pw + net.off_delta_a if pg != NULL else NULL
    sink.out = pg
    sink.alpha = 1
    with nogil:
        while done < n:
            rows = min(net.chunk_rows, n - done)
            c = chunk_of(px, xs, done, rows, net.sizes[0])
            block = forward_rows(net, pp, &c, pw, po + done * n_out if po != NULL else NULL,
                                 NULL)
            # The fused loss leaves the output activations in the block.
            total += output_loss(&spec, block, py + done * y_cols, delta, <size_t> rows,
                                 <size_t> n_out, prw + done if prw != NULL else NULL)
            if pg != NULL:
                # Chunk gradients accumulate through the GEMM beta.
                sink.beta = 0 if done == 0 else 1
                backward_rows(net, pp, &c, pw, sink, NULL, NULL)
            done += rows
        if l2 != 0:
            sq = sumsq(pp, <size_t> net.n_weights)
            if pg != NULL:
                axpy(<floating> l2, pp, pg, <size_t> net.n_weights)
    return terms.loss_coef * total / denom + 0.5 * l2 * sq


# == training epochs ============================================================

import numpy as np


def _address(arr, dtype, shape, name, writable=False):
    """The address of arr's data, once arr is known to be a C-contiguous
    ndarray of this dtype and shape (EpochKernel keeps raw pointers into it
    for a whole fit)."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(arr).__name__}")
    if (arr.dtype != dtype or arr.shape != shape or not arr.flags.c_contiguous
            or (writable and not arr.flags.writeable)):
        raise ValueError(
            f"{name} must be a C-contiguous{' writable' if writable else ''} {dtype} "
            f"array of shape {shape}; got {arr.dtype} {arr.shape}")
    return arr.ctypes.data if arr.size else 0


cdef int fused_step_f32(Epoch* ep, Py_ssize_t step) noexcept nogil:
    return fused_step(ep, step, <float> 0)


cdef int fused_step_f64(Epoch* ep, Py_ssize_t step) noexcept nogil:
    return fused_step(ep, step, <double> 0)


cdef int formed_step_f32(Epoch* ep, Py_ssize_t step) noexcept nogil:
    return formed_step(ep, step, <float> 0)


cdef int formed_step_f64(Epoch* ep, Py_ssize_t step) noexcept nogil:
    return formed_step(ep, step, <double> 0)


cdef int reduced_step_f32(Epoch* ep, Py_ssize_t step) noexcept nogil:
    return reduced_step(ep, step, <float> 0)


cdef int reduced_step_f64(Epoch* ep, Py_ssize_t step) noexcept nogil:
    return reduced_step(ep, step, <double> 0)


# The reduction of a data-parallel step: MPI_Allreduce(MPI_IN_PLACE, buf,
# count, datatype, MPI_SUM, comm) of the MPI library that mpi4py loaded, called
# without the GIL through its address; fastmlp.training.mpi finds the address and
# the handles at run time, so the core never builds against MPI. Handles
# are ints in the MPICH ABI and pointers in Open MPI's: two signatures. In
# place, because MPICH then skips copying the message into the receive
# buffer first (measured on 2 local ranks: 13-20% off the Allreduce of
# 101,773 and 535,821 floats), and no second buffer is needed.
ctypedef int (*AllreduceIntHandles)(const void*, void*, int, int, int, int) noexcept nogil
ctypedef int (*AllreducePtrHandles)(const void*, void*, int, void*, void*,
                                    void*) noexcept nogil


cdef struct MpiAllreduce:
    void* fn
    bint pointer_handles
    uintptr_t in_place     # MPI_IN_PLACE of that library
    uintptr_t comm
    uintptr_t op_sum
    uintptr_t dtype[2]     # float32, float64


cdef int mpi_allreduce(void* ctx, void* buf, Py_ssize_t count, bint is_double) noexcept nogil:
    cdef MpiAllreduce* m = <MpiAllreduce*> ctx
    cdef const void* in_place = <const void*> m.in_place
    if m.pointer_handles:
        return (<AllreducePtrHandles> m.fn)(in_place, buf, <int> count,
                                            <void*> m.dtype[is_double],
                                            <void*> m.op_sum, <void*> m.comm)
    return (<AllreduceIntHandles> m.fn)(in_place, buf, <int> count,
                                        <int> m.dtype[is_double], <int> m.op_sum,
                                        <int> m.comm)


cdef class EpochKernel:
    """The compiled side of a fit's epochs: the fit's objects, read once into
    one C struct (an Epoch of _steps.pxd) when it is made (its _read_*
    steps, one per object); each run() then
    trains one epoch, or its first steps, in the row order it is given.

    Made by fastmlp.training.epoch.EpochLoop from:

    - workspace: fastmlp.network.workspace.build's (spec, work) for the fit's
      chunk of rows;
    - params: the flat parameters, updated in place;
    - X: the rows (DenseRows or SparseRows); Y (n, n_out), or (n, 1) of
      class indices in [0, n_out) (an integer held in the model dtype) with
      the loss "cross_entropy_labels";
    - objective: an Objective (row weights, l2, loss and delta
      coefficients); each batch's objective is loss_coef * (loss sum, rows
      weighted by row_weights) / denom + (l2c / 2) * sum of squared
      weights, denom being the batch's row count or weight and l2c = l2 /
      denom with l2_per_denom, else l2; its data gradient is scaled by
      delta_coef / denom. With weighted (row_weights needed) a batch whose
      weights sum to 0 takes no step and the returned total weighs each
      batch by its weight (fastmlp.MLP's sample weights); else by its rows
      (scikit-learn's);
    - optimizer: the update rule and its state (fastmlp.training.epoch.
      OptimizerState: rule, first, second, steps and the hyperparameters
      momentum, beta_1, beta_2, epsilon), updated in place (the step count
      too, even when an epoch is interrupted);
    - plan: the steps (fastmlp.training.epoch.StepPlan): batch_rows; combine,
      "fused" (each layer updated right after its backward pass; batches
      must fit one workspace chunk), "formed" (the batch's gradient formed
      whole, then updated) or None: fused when the batch fits one chunk;
      reduction, None (one process) or a data-parallel fit's (fastmlp.training.mpi:
      ``allreduce``, a dict with "address" of MPI_Allreduce,
      "pointer_handles", "in_place", "comm", "op_sum", "float32" and
      "float64", and ``n_steps``, the steps of an epoch on every process,
      which may exceed this process's batches): the gradient message is
      then reduced in place and the steps are reduced_step's.

    The kernel decides here, once, how steps combine and whether a gradient
    buffer is needed (``grads``: every rule but "momentum", and every
    combination but "fused", need one), and makes it.
    """
    cdef Epoch ep
    cdef MpiAllreduce mpi
    cdef Binding bf16       # the fit's bfloat16 shadows, when its spec has them,
                                # and the products refused since check_products
    cdef StepFn step_fn
    cdef bint is_double
    cdef readonly object grads      # the gradient (or reduced message) buffer, or None
    cdef readonly object x_batch    # CSR X: the SparseBatch chunks are gathered into
    cdef object keep                # the buffers the struct points into
    cdef readonly Py_ssize_t n_steps
    cdef readonly str combine
    cdef readonly object dtype
    cdef readonly ThreadPool threads  # the fit's threads (plan.threads), or None

    def __init__(self, workspace, params, Rows X, Y, Objective objective, optimizer, plan):
        dtype = getattr(params, "dtype", None)
        if dtype not in (np.float32, np.float64):
            raise TypeError("params must be a float32 or float64 array")
        self.dtype = np.dtype(dtype)
        self.is_double = dtype == np.float64
        # The Net points into the spec: keep the very array it was read from.
        spec = np.ascontiguousarray(workspace.spec, dtype=np.intp)
        self.ep.net = read_spec(spec)
        self.combine = self._choose_combination(plan)
        self.threads = getattr(plan, "threads", None)
        self._read_network(params, workspace.work)
        self._read_data(X, Y, objective, plan.batch_rows)
        self._read_update(optimizer)
        self._read_steps(plan)
        self.keep = (spec, params, workspace.work, X, Y, objective.row_weights, optimizer,
                     self.grads, self.threads)

    cdef str _choose_combination(self, plan):
        cdef Py_ssize_t chunk = self.ep.net.chunk_rows
        if plan.batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")
        combine = plan.combine
        if combine is None:
            combine = "fused" if plan.batch_rows <= chunk else "formed"
        if plan.reduction is not None:
            combine = "reduced"
        if combine not in ("fused", "formed", "reduced"):
            raise ValueError(f"combine must be 'fused', 'formed' or None, got {combine!r}")
        if combine == "fused" and plan.batch_rows > chunk:
            raise ValueError("a fused step needs the batch in one workspace chunk")
        return combine

    cdef _read_network(self, params, work):
        cdef Net* net = &self.ep.net
        self.ep.params = <void*> <uintptr_t> _address(params, self.dtype, (net.n_params,),
                                                      "params", True)
        self.ep.work = <void*> <uintptr_t> _address(work, self.dtype, (net.work_size,),
                                                    "work", True)
        if self.is_double:
            bound(net, &self.bf16, <double*> self.ep.params, <double*> self.ep.work,
                  pool_of(self.threads))
        else:
            bound(net, &self.bf16, <float*> self.ep.params, <float*> self.ep.work,
                  pool_of(self.threads))

    cdef _read_data(self, Rows X, Y, Objective objective, Py_ssize_t batch_rows):
        cdef Net* net = &self.ep.net
        cdef Py_ssize_t n = X.n, n_out = net.sizes[net.n_layers]
        cdef SparseBatch room
        if X.dtype != self.dtype or X.n_cols != net.sizes[0]:
            raise ValueError(f"X ({X.dtype}, {X.n_cols} columns) does not match the "
                             f"network's {net.sizes[0]} {self.dtype} inputs")
        self.ep.X = X.x
        self.ep.xs = X.xs
        if X.is_sparse:
            # CSR X: a chunk's rows are gathered into room made here, sized
            # for the fullest chunk any row order can give.
            room = (<SparseRows> X).batch(min(batch_rows, net.chunk_rows))
            self.ep.xbatch = room.buf
            self.x_batch = room
        y_cols = 1 if net.loss == FM_CROSS_ENTROPY_LABELS else n_out
        self.ep.Y = <const void*> <uintptr_t> _address(Y, self.dtype, (n, y_cols), "Y")
        if y_cols != n_out and n and not (0 <= np.min(Y) and np.max(Y) < n_out):
            raise ValueError(f"class indices in Y must be in [0, {n_out})")
        row_weights = objective.row_weights
        self.ep.row_weights = NULL
        if row_weights is not None:
            self.ep.row_weights = <const void*> <uintptr_t> _address(
                row_weights, self.dtype, (n,), "row_weights")
        if objective.weighted and row_weights is None:
            raise ValueError("a weighted objective needs row_weights")
        self.ep.n = n
        self.ep.n_in = X.n_cols
        self.ep.n_out = n_out
        self.ep.y_cols = y_cols
        self.ep.batch_rows = batch_rows
        self.ep.l2 = objective.l2
        self.ep.l2_per_denom = objective.l2_per_denom
        self.ep.weighted_objective = objective.weighted
        self.ep.loss_coef = objective.loss_coef
        self.ep.delta_coef = objective.delta_coef

    cdef _read_update(self, optimizer):
        cdef Py_ssize_t n_params = self.ep.net.n_params
        cdef int rule = optimizer.rule
        cdef UpdateRule hyper
        if not 0 <= rule < N_RULES:
            raise ValueError(f"unknown update rule {rule}")
        s1 = <uintptr_t> _address(optimizer.first, self.dtype, (n_params,), "the velocity",
                                  True)
        s2 = 0
        if has_second_moment(rule):
            s2 = <uintptr_t> _address(optimizer.second, self.dtype, (n_params,),
                                      "the second moment", True)
        steps_at = <uintptr_t> _address(optimizer.steps, np.intp, (1,), "steps", True)
        hyper = UpdateRule(rule, optimizer.momentum, optimizer.beta_1, optimizer.beta_2,
                           optimizer.epsilon)
        init_update(&self.ep.update, &hyper, <void*> s1, <void*> s2,
                    <Py_ssize_t*> steps_at, n_params)

    cdef _read_steps(self, plan):
        cdef Py_ssize_t n_params = self.ep.net.n_params
        cdef bint reduced = self.combine == "reduced"
        self.ep.grads = NULL
        self.ep.reduction.fn = NULL
        self.ep.reduction.ctx = NULL
        self.grads = None
        if self.ep.update.rule != RULE_MOMENTUM or self.combine != "fused":
            # The reduced message: the gradient sums, then the step's rows,
            # weight and loss sum (_steps.pxd), reduced in place.
            self.grads = (np.zeros(n_params + REDUCED_TAIL, self.dtype) if reduced
                          else np.empty(n_params, self.dtype))
            self.ep.grads = <void*> <uintptr_t> self.grads.ctypes.data
        if reduced:
            self._read_reduction(plan.reduction.allreduce, n_params + REDUCED_TAIL)
        self.ep.perm = NULL
        self.ep.total = 0
        self.ep.reduce_seconds = 0
        if self.combine == "fused":
            self.step_fn = fused_step_f64 if self.is_double else fused_step_f32
        elif self.combine == "formed":
            self.step_fn = formed_step_f64 if self.is_double else formed_step_f32
        else:
            self.step_fn = reduced_step_f64 if self.is_double else reduced_step_f32
        self.n_steps = (self.ep.n + self.ep.batch_rows - 1) // self.ep.batch_rows
        if reduced:
            self.n_steps = plan.reduction.n_steps

    cdef _read_reduction(self, allreduce, Py_ssize_t count):
        if count > 2**31 - 1:
            raise ValueError("a reduced message is limited to 2**31 - 1 elements")
        self.mpi.fn = <void*> <uintptr_t> allreduce["address"]
        if self.mpi.fn == NULL:
            raise ValueError("allreduce needs the address of MPI_Allreduce")
        self.mpi.pointer_handles = bool(allreduce["pointer_handles"])
        self.mpi.in_place = <uintptr_t> allreduce["in_place"]
        self.mpi.comm = <uintptr_t> allreduce["comm"]
        self.mpi.op_sum = <uintptr_t> allreduce["op_sum"]
        self.mpi.dtype[0] = <uintptr_t> allreduce["float32"]
        self.mpi.dtype[1] = <uintptr_t> allreduce["float64"]
        self.ep.reduction.fn = mpi_allreduce
        self.ep.reduction.ctx = &self.mpi

    def run(self, const Py_ssize_t[::1] perm, double lr, *, Py_ssize_t steps=-1,
            double signal_interval=0.0, Py_ssize_t clock_every=1):
        """Train the epoch's steps (its first `steps` when steps >= 0) with
        learning rate lr, rows in `perm` order (None: in order, read in
        place; a permutation of range(n) from the caller, not checked here).

        Every `signal_interval` seconds (the clock is read every
        `clock_every` steps) the GIL is taken back briefly to run Python's
        signal handlers, so Ctrl-C interrupts between two steps: the
        exception propagates with the model as it was after the last
        finished step. signal_interval <= 0 never looks (threads other than
        the main one never run handlers).

        Returns (status, sum over finished steps of rows * batch objective,
        first step not taken). STATUS_NONFINITE_LOSS: that step's objective
        was not finite and it was not taken; STATUS_NONFINITE_PARAMS: its
        update made a parameter inf or NaN, and the state is as that update
        left it (fastmlp.training.recovery restores it). The velocity buffer holds
        the true velocity on every return."""
        cdef Py_ssize_t last = self.n_steps if steps < 0 else min(steps, self.n_steps)
        cdef Py_ssize_t step = 0, stopped = 0
        cdef int status = STATUS_OK
        cdef double deadline
        if perm is not None and perm.shape[0] != self.ep.n:
            raise ValueError(f"perm must hold {self.ep.n} row indices")
        if clock_every < 1:
            raise ValueError("clock_every must be at least 1")
        self.ep.perm = &perm[0] if perm is not None and self.ep.n > 0 else NULL
        self.ep.total = 0
        start_run(&self.ep.update, lr)
        if self.bf16.be.ctx != NULL:
            # The parameters may have changed since the last run (a
            # restored checkpoint, the caller's writes): their bfloat16
            # copy is redone once per run, then kept by each update.
            fm_to_bf16(<const float*> self.ep.params, self.bf16.sh.params_bf,
                       <size_t> self.ep.net.n_weights)
        try:
            while step < last:
                deadline = (fm_monotonic_seconds() + signal_interval
                            if signal_interval > 0 else 0)
                with nogil:
                    status = run_steps(&self.ep, self.step_fn, step, last, &stopped,
                                       deadline, clock_every)
                if status != STATUS_OK:
                    break
                step = stopped
                if step < last:
                    # Raises KeyboardInterrupt (or what a handler raises)
                    # here, between steps; `finally` leaves the velocity
                    # consistent.
                    PyErr_CheckSignals()
        finally:
            self.ep.perm = NULL
            with nogil:
                if self.is_double:
                    fold_velocity(&self.ep.update, <double> 0)
                else:
                    fold_velocity(&self.ep.update, <float> 0)
        return status, self.ep.total, stopped

    def check_products(self):
        """RuntimeError if the bfloat16 library refused a product of this
        kernel's runs since the last check (each left NaN in its output, so
        the step it was in was not taken, or was rolled back by
        fastmlp.training.recovery). Called after each run, with the rolled-back
        state in place; only this fit's refusals count."""
        check_products(&self.bf16)

    @property
    def reduce_seconds(self):
        """Seconds this kernel's steps spent in the reduction (waiting for
        the other processes included); 0 without one."""
        return self.ep.reduce_seconds

    @property
    def state_size(self):
        """Elements of a checkpoint: the parameters and every buffer of the
        rule's state (Adam's step count is returned by save_state)."""
        return self.ep.update.n_params * (3 if has_second_moment(self.ep.update.rule) else 2)

    def _state_buffers(self):
        out = [(<uintptr_t> self.ep.params), (<uintptr_t> self.ep.update.state1)]
        if has_second_moment(self.ep.update.rule):
            out.append(<uintptr_t> self.ep.update.state2)
        return out

    def save_state(self, checkpoint):
        """Copy the parameters and the rule's whole state into checkpoint
        (state_size elements); returns Adam's step count, to hand back to
        restore_state."""
        self._copy_state(checkpoint, True)
        return self.ep.update.adam_t[0]

    def restore_state(self, checkpoint, Py_ssize_t adam_steps):
        """The state save_state copied, back into the model's buffers."""
        self._copy_state(checkpoint, False)
        self.ep.update.adam_t[0] = adam_steps

    def _copy_state(self, checkpoint, bint save):
        cdef Py_ssize_t n = self.ep.update.n_params
        cdef size_t nbytes = n * self.dtype.itemsize
        cdef uintptr_t base = <uintptr_t> _address(checkpoint, self.dtype,
                                                   (self.state_size,), "checkpoint", save)
        cdef uintptr_t buf
        cdef Py_ssize_t i
        for i, buf in enumerate(self._state_buffers()):
            if save:
                memcpy(<void*> (base + i * nbytes), <void*> buf, nbytes)
            else:
                memcpy(<void*> buf, <void*> (base + i * nbytes), nbytes)


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


def layer_statistics(const Py_ssize_t[::1] spec, floating[::1] params, Rows X,
                     const floating[:, ::1] Y, floating[::1] work, floating[::1] grads,
                     double[:, ::1] stats):
    """Fill stats (n_layers x N_STATS) for one forward pass over all rows of
    X (DenseRows or SparseRows; and, when Y is not None, one backward pass,
    its gradient left in grads). The workspace must hold all rows in one
    chunk."""
    cdef Net net = read_spec(spec)
    check_rows(&net, X, X.n if Y is None else Y.shape[0], floating is double)
    cdef Binding bb
    bound(&net, &bb, <floating*> &params[0], &work[0], NULL)
    loss = statistics_of(&net, params, X, Y, work, grads, stats)
    check_products(&bb)
    return loss


cdef struct StatsWatch:
    # layer_statistics' LayerWatch context: the table it fills.
    double* table          # n_layers x N_STATS, row-major
    const Py_ssize_t* act  # each layer's activation code
    Py_ssize_t rows
    bint is_double


cdef void stats_seen(void* ctx, int what, Py_ssize_t l, const void* data,
                     Py_ssize_t count) noexcept nogil:
    """A layer's values as the passes show them, into its row of the table."""
    cdef StatsWatch* w = <StatsWatch*> ctx
    cdef double* row = w.table + l * N_STATS
    cdef double m[2]
    if w.is_double:
        moments(<const double*> data, count, m)
    else:
        moments(<const float*> data, count, m)
    if what == WATCH_PRE_ACTIVATION:
        row[STAT_PRE_MEAN] = m[0]
        row[STAT_PRE_VAR] = m[1]
    elif what == WATCH_ACTIVATION:
        row[STAT_ACT_MEAN] = m[0]
        row[STAT_ACT_VAR] = m[1]
        if w.is_double:
            row[STAT_INACTIVE] = inactive_fraction(<int> w.act[l], <const double*> data,
                                                   w.rows, count // w.rows)
        else:
            row[STAT_INACTIVE] = inactive_fraction(<int> w.act[l], <const float*> data,
                                                   w.rows, count // w.rows)
    elif what == WATCH_DELTA:
        row[STAT_DELTA_VAR] = m[1]
    else:
        row[STAT_GRAD_VAR] = m[1]


cdef object statistics_of(const Net* netp, floating[::1] params, Rows X,
                          const floating[:, ::1] Y, floating[::1] work, floating[::1] grads,
                          double[:, ::1] stats):
    """The passes training runs, over all rows in one chunk, with a watch
    that fills the table; the output layer's activation and loss are made
    here, as the training step makes them."""
    cdef Net net = netp[0]
    cdef Py_ssize_t L = net.n_layers, l, n = X.n, n_out = net.sizes[L]
    cdef bint with_targets = Y is not None
    cdef const floating* py = &Y[0, 0] if with_targets else NULL
    cdef floating* pp = &params[0]
    cdef floating* pw = &work[0]
    cdef floating* out
    cdef int act = <int> net.act[L - 1]
    cdef fm_loss_spec spec = fm_loss_spec(net.loss, act, <floating> (1.0 / n))
    cdef double loss_sum = 0
    cdef Chunk c = chunk_of(<const floating*> X.x, csr_of(X), 0, n, net.sizes[0])
    cdef StatsWatch sw
    cdef LayerWatch watch
    cdef GradientSink sink
    sw.table = &stats[0, 0]
    sw.act = net.act
    sw.rows = n
    sw.is_double = floating is double
    watch.seen = stats_seen
    watch.ctx = &sw
    sink.out = &grads[0]
    sink.alpha = 1
    sink.beta = 0
    for l in range(L):
        stats[l, STAT_DELTA_VAR] = NAN
        stats[l, STAT_GRAD_VAR] = NAN
    with nogil:
        out = forward_rows(&net, pp, &c, pw, NULL, &watch)
        if with_targets:
            # Output activation, loss and delta in one pass, as in training.
            loss_sum = output_loss(&spec, out, py, pw + net.off_delta_a, <size_t> n,
                                   <size_t> n_out)
        elif act == FM_SOFTMAX:
            softmax_rows(out, n, n_out)
        else:
            activate(act, out, <size_t> (n * n_out))
        stats_seen(&sw, WATCH_ACTIVATION, L - 1, out, n * n_out)
        if with_targets:
            backward_rows(&net, pp, &c, pw, sink, NULL, &watch)
    return loss_sum / n if with_targets else None


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
