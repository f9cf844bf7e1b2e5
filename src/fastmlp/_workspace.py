"""The spec array and workspace buffer that the kernels run on.

``spec`` is one intp array describing the network (sizes, where each W_l and
b_l lives in the flat parameter buffer, whether W_0 is stored transposed,
activation codes) and the workspace (where each layer's activations, the two
delta buffers and the gathered batch live). The workspace is one flat buffer
in the model dtype, allocated once per call or per fit and reused by every
step.
"""
import numpy as np

ACTIVATION_CODES = {
    "identity": 0, "sigmoid": 1, "tanh": 2, "relu": 3, "leaky_relu": 4, "softmax": 5,
    "exp": 6,
}
LOSS_CODES = {"mse": 0, "cross_entropy": 1, "binary_cross_entropy": 2, "poisson": 3}

# Update rules of _train.train_epoch; mirrored by the enum in _train.pyx.
RULE_MOMENTUM = 0
RULE_SGD = 1
RULE_NESTEROV = 2
RULE_ADAM = 3

# Header positions; mirrored by the enum in _kernels/_train.pyx.
SPEC_CHUNK_ROWS = 4
SPEC_HEADER = 11

# Elements of workspace a call may use before rows are processed in chunks.
# 2**25 elements is 128 MiB in float32: a mini-batch of 512 rows on a
# 1024-2048-2048-10 network takes about 5 MB, so only full-batch work on
# large data is ever chunked.
WORK_BUDGET = 2**25


def row_width(sizes):
    """Workspace elements one row needs: every layer output, two delta rows,
    and the gathered input, target and weight rows."""
    outs = sizes[1:]
    return sum(outs) + 2 * max(outs) + sizes[0] + sizes[-1] + 1


def chunk_rows(sizes, rows_wanted):
    """Rows per chunk: all wanted rows when they fit the budget."""
    return int(max(1, min(rows_wanted, WORK_BUDGET // row_width(sizes))))


def build(layout, activations, loss, rows, dtype):
    """(spec, work) for blocks of at most ``rows`` rows."""
    sizes = layout.sizes
    L = layout.n_layers
    outs = sizes[1:]
    act_off = np.concatenate([[0], np.cumsum([rows * s for s in outs])[:-1]])
    end_acts = rows * sum(outs)
    off_delta_a = end_acts
    off_delta_b = off_delta_a + rows * max(outs)
    off_xbuf = off_delta_b + rows * max(outs)
    off_ybuf = off_xbuf + rows * sizes[0]
    off_wbuf = off_ybuf + rows * sizes[-1]
    total = off_wbuf + rows
    header = [L, LOSS_CODES[loss], layout.n_weights, layout.n_params, rows,
              off_delta_a, off_delta_b, off_xbuf, off_ybuf, off_wbuf,
              int(layout.first_transposed)]
    assert len(header) == SPEC_HEADER
    spec = np.concatenate([
        np.array(header, dtype=np.intp),
        np.asarray(sizes, dtype=np.intp),
        layout.w_offsets,
        layout.b_offsets,
        np.array([ACTIVATION_CODES[a] for a in activations], dtype=np.intp),
        np.asarray(act_off, dtype=np.intp),
    ]).astype(np.intp)
    work = np.zeros(total, dtype=dtype)
    return spec, work
