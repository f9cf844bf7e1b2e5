# The network as the kernels see it (a Net read from the spec array that
# make_spec in _train.pyx builds: the header's positions are _codes.pxd's,
# filled there and read here, nowhere else), and its forward and backward
# passes over a block of rows, layer by layer (_dense.pxd). The spec was
# built and checked by _train.pyx; nothing here checks it again. With `xs` (not NULL) the input is
# CSR rows and x is not read: the first layer is _sparse.pxd's. Each layer
# is handed its shape over the block (layer_shape) and, backward, its part
# of the GradientSink (a LayerSink, _layer.pxd). Its products go through
# its LayerGemm (layer_gemm, backward_gemm): with bfloat16 products, the
# copies of its operands picked by name and offset from the call's
# Bf16Shadow, as the layout places their float32 data.
from cython cimport floating

from fastmlp._kernels._codes cimport (
    SPEC_CHUNK_ROWS, SPEC_FIRST_W_T, SPEC_GEMM, SPEC_HEADER, SPEC_LAYERS, SPEC_LOSS,
    SPEC_N_PARAMS, SPEC_N_WEIGHTS, SPEC_OFF_BF16, SPEC_OFF_DELTA_A, SPEC_OFF_DELTA_B,
    SPEC_OFF_WBUF,
    SPEC_OFF_XBUF, SPEC_OFF_YBUF, SPEC_WORK_SIZE)
from fastmlp._kernels._dense cimport (
    LayerUpdate, dense_backward, dense_backward_update, dense_forward, update_rows)
from fastmlp._kernels._gemm cimport GemmBackend
from fastmlp._kernels._bf16 cimport (
    Bf16Shadow, LayerGemm, bind_x, refresh, work_copy)
from fastmlp._kernels._passes cimport update_op
from fastmlp._kernels._elementwise cimport activate
from fastmlp._kernels._layer cimport LayerShape, LayerSink
from fastmlp._kernels._sparse cimport CsrRows
from fastmlp._kernels._sparse_bf16 cimport sparse_backward_op, sparse_forward_op
from fastmlp._kernels._update cimport GradientSink, Update


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
    Py_ssize_t work_size
    Py_ssize_t off_bf16         # start of the bfloat16 region (= work_size: none)
    bint first_w_t              # W_0 stored as W_0^T (see _dense.pxd)
    const GemmBackend* gemm     # every product of this network
    const Py_ssize_t* sizes     # n_layers + 1
    const Py_ssize_t* w_off     # offset of W_l in the parameter buffer
    const Py_ssize_t* b_off     # offset of b_l
    const Py_ssize_t* act       # activation code of layer l's output
    const Py_ssize_t* act_off   # offset of layer l's output in the workspace


cdef struct Chunk:
    # A block of rows the passes run on.
    const void* x          # dense rows, or NULL
    CsrRows xs             # CSR rows (indptr NULL when x is dense)
    const void* y
    const void* w          # row weights, or NULL
    Py_ssize_t rows


cdef inline const CsrRows* chunk_csr(const Chunk* c) noexcept nogil:
    """The chunk's CSR rows, or NULL when its rows are dense."""
    return &c.xs if c.xs.indptr != NULL else NULL


# What a LayerWatch is shown, layer by layer (layer_statistics' hook into
# the passes training runs): the forward pass's pre-activations and (hidden
# layers) activations, the backward pass's delta (dLoss/dz) before and the
# weight gradient after each layer's backward step.
cdef enum:
    WATCH_PRE_ACTIVATION = 0
    WATCH_ACTIVATION = 1
    WATCH_DELTA = 2
    WATCH_WEIGHT_GRADIENT = 3


cdef struct LayerWatch:
    # seen(ctx, what, layer, data, count): count values of the model dtype.
    void (*seen)(void* ctx, int what, Py_ssize_t layer, const void* data,
                 Py_ssize_t count) noexcept nogil
    void* ctx


cdef inline Py_ssize_t spec_length(Py_ssize_t n_layers) noexcept nogil:
    """Elements of the spec of an n_layers network: the header, then sizes
    (n_layers + 1), weight and bias offsets, activation codes and output
    offsets (n_layers each)."""
    return SPEC_HEADER + n_layers + 1 + 4 * n_layers


cdef inline Net net_from_spec(const Py_ssize_t* s, const GemmBackend* backends) noexcept nogil:
    """The Net a spec describes; `backends` is the table SPEC_GEMM indexes."""
    cdef Net net
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
    net.work_size = s[SPEC_WORK_SIZE]
    net.off_bf16 = s[SPEC_OFF_BF16]
    net.first_w_t = s[SPEC_FIRST_W_T] != 0
    net.gemm = &backends[s[SPEC_GEMM]]
    net.sizes = s + SPEC_HEADER
    net.w_off = net.sizes + L + 1
    net.b_off = net.w_off + L
    net.act = net.b_off + L
    net.act_off = net.act + L
    return net


cdef inline bint transposed(const Net* net, Py_ssize_t l) noexcept nogil:
    """Whether layer l's W is stored as W^T (only ever the first layer)."""
    return net.first_w_t and l == 0


cdef inline LayerShape layer_shape(const Net* net, Py_ssize_t l, int rows) noexcept nogil:
    """Layer l over a block of `rows` rows."""
    return LayerShape(rows, <int> net.sizes[l], <int> net.sizes[l + 1], transposed(net, l))


cdef inline LayerGemm layer_gemm(const Net* net, Py_ssize_t l) noexcept nogil:
    """Layer l's forward products: the copies of its input (the chunk's,
    bound by bind_x or gather_x_op, for the first layer), weights and
    output; no deltas."""
    cdef LayerGemm g
    cdef const Bf16Shadow* s = <const Bf16Shadow*> net.gemm.ctx
    g.be = net.gemm
    g.bf.delta = NULL
    g.bf.delta_prev = NULL
    if s == NULL:
        g.bf.a_in = NULL
        g.bf.w = NULL
        g.bf.out = NULL
        return g
    g.bf.a_in = s.x_bf if l == 0 else s.work_bf + net.act_off[l - 1]
    g.bf.w = s.params_bf + net.w_off[l]
    g.bf.out = s.work_bf + net.act_off[l]
    return g


cdef inline LayerGemm backward_gemm(const Net* net, Py_ssize_t l, Py_ssize_t delta_at,
                                    Py_ssize_t prev_at) noexcept nogil:
    """Layer l's backward products: layer_gemm's copies and those of the
    deltas at workspace offsets delta_at (its output's) and prev_at (its
    input's)."""
    cdef LayerGemm g = layer_gemm(net, l)
    g.bf.delta = work_copy(net.gemm, delta_at)
    g.bf.delta_prev = work_copy(net.gemm, prev_at)
    return g


cdef inline floating* forward_rows(const Net* net, const floating* params, const Chunk* c,
                                   floating* work, floating* last_out,
                                   const LayerWatch* watch) noexcept nogil:
    """Hidden layers activated; the output layer left as pre-activation, in
    last_out if given, else in the workspace. Returns the output block.
    With a watch, each layer's product is shown before its activation and
    (hidden layers) after it, the activation then being a pass of its own."""
    cdef Py_ssize_t l, L = net.n_layers
    cdef const floating* a = <const floating*> c.x
    cdef const CsrRows* xs = chunk_csr(c)
    cdef floating* out = NULL
    cdef int rows = <int> c.rows, act
    cdef size_t count
    cdef LayerGemm g
    cdef LayerShape shape
    if xs == NULL:
        bind_x(net.gemm, a, <size_t> rows * net.sizes[0])
    for l in range(L):
        # last_out is the output layer's: never an operand, so no copy.
        if l == L - 1 and last_out != NULL:
            out = last_out
        else:
            out = work + net.act_off[l]
        g = layer_gemm(net, l)
        shape = layer_shape(net, l, rows)
        act = <int> net.act[l] if l < L - 1 and watch == NULL else -1
        if l == 0 and xs != NULL:
            sparse_forward_op(&g, xs, &shape, params + net.w_off[0],
                              params + net.b_off[0], out, act)
        else:
            dense_forward(&g, &shape, a, params + net.w_off[l], params + net.b_off[l],
                          out, act)
        if watch != NULL:
            count = <size_t> rows * net.sizes[l + 1]
            watch.seen(watch.ctx, WATCH_PRE_ACTIVATION, l, out, <Py_ssize_t> count)
            if l < L - 1:
                activate(<int> net.act[l], out, count)
                refresh(net.gemm, <const floating*> out, g.bf.out, count)
                watch.seen(watch.ctx, WATCH_ACTIVATION, l, out, <Py_ssize_t> count)
        a = out
    return out


cdef inline double update_layer(const Net* net, Update* u, floating* params,
                                floating* out, Py_ssize_t l) noexcept nogil:
    """update_block on layer l's weights and biases (and their bfloat16
    copy refreshed, with bfloat16 products)."""
    return update_op(net.gemm, u, params, out, net.w_off[l],
                     <size_t> (net.sizes[l] * net.sizes[l + 1]), net.b_off[l],
                     <size_t> net.sizes[l + 1])


cdef inline double backward_rows(const Net* net, floating* params, const Chunk* c,
                                 floating* work, GradientSink sink, Update* update,
                                 const LayerWatch* watch) noexcept nogil:
    """Backpropagate the output block's delta (dLoss/dz, in the workspace's
    first delta buffer, off_delta_a) through every layer, writing
    sink.out = beta out + alpha grad; each layer's input delta goes to the
    other delta buffer, and the two swap. With an update, each layer is then
    stepped by it (update_block) while its gradient is still in cache, and
    the sum of squared weights before the step is returned (else 0). A
    watch is shown each layer's delta before its step and its weight
    gradient after."""
    cdef Py_ssize_t l, L = net.n_layers
    cdef Py_ssize_t delta_at = net.off_delta_a, spare_at = net.off_delta_b, tmp
    cdef const floating* x = <const floating*> c.x
    cdef const CsrRows* xs = chunk_csr(c)
    cdef int rows = <int> c.rows
    cdef floating* out = <floating*> sink.out
    cdef const floating* a_in
    cdef floating* delta
    cdef floating* spare
    cdef double sq = 0
    cdef LayerGemm g
    cdef LayerShape shape
    cdef LayerSink layer_sink
    cdef LayerUpdate lu
    layer_sink.alpha = sink.alpha
    layer_sink.beta = sink.beta
    refresh(net.gemm, work + delta_at, work_copy(net.gemm, delta_at),
            <size_t> rows * net.sizes[L])
    for l in range(L - 1, -1, -1):
        a_in = x if l == 0 else work + net.act_off[l - 1]
        delta = work + delta_at
        spare = work + spare_at
        g = backward_gemm(net, l, delta_at, spare_at)
        shape = layer_shape(net, l, rows)
        if watch != NULL:
            watch.seen(watch.ctx, WATCH_DELTA, l, delta, rows * net.sizes[l + 1])
        # Below the output layer, each bias gradient was summed by the
        # layer above, in the pass that formed its delta.
        layer_sink.out_w = out + net.w_off[l]
        layer_sink.out_b = out + net.b_off[l] if l == L - 1 else NULL
        layer_sink.out_b_prev = out + net.b_off[l - 1] if l > 0 else NULL
        if (update != NULL and not (l == 0 and xs != NULL)
                and update_rows(&g, &shape).count > 1):
            # A large layer: stepped as its gradient is formed.
            lu = LayerUpdate(update, params, out, net.w_off[l], net.b_off[l],
                             <size_t> net.sizes[l + 1])
            sq += dense_backward_update(&g, &shape, delta, a_in, &layer_sink,
                                        spare if l > 0 else NULL,
                                        <int> net.act[l - 1] if l > 0 else 0, &lu)
        else:
            if l == 0 and xs != NULL:
                sparse_backward_op(&g, xs, &shape, delta, &layer_sink)
            else:
                dense_backward(&g, &shape, delta, a_in, params + net.w_off[l], &layer_sink,
                               spare if l > 0 else NULL,
                               <int> net.act[l - 1] if l > 0 else 0)
            if watch != NULL:
                watch.seen(watch.ctx, WATCH_WEIGHT_GRADIENT, l, out + net.w_off[l],
                           net.sizes[l] * net.sizes[l + 1])
            if update != NULL:
                sq += update_layer(net, update, params, out, l)
        tmp = delta_at
        delta_at = spare_at
        spare_at = tmp
    return sq
