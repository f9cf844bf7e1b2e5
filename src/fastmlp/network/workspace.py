"""The spec array and workspace buffer that the kernels run on.

``spec`` is one intp array describing the network (sizes, where each W_l and
b_l lives in the flat parameter buffer, whether W_0 is stored transposed,
the GEMM backend, activation codes) and the workspace (where each layer's
activations, the two delta buffers and the gathered batch live). The
workspace is one flat buffer in the model dtype, allocated once per call or
per fit and reused by every step.

Every code and header position comes from the compiled module, where the
kernels define them (fastmlp/_kernels/_codes.pxd, csrc/elementwise.h).
"""
import threading
from typing import NamedTuple

import numpy as np

from .._kernels._train import (
    ACTIVATION_CODES, GEMM_BACKENDS, LOSS_CODES, RULE_CODES, SPEC_FIELDS,
    SPEC_HEADER_SIZE)

__all__ = ["ACTIVATION_CODES", "LOSS_CODES", "RULE_CODES", "RULE_MOMENTUM", "RULE_SGD",
           "RULE_NESTEROV", "RULE_ADAM", "WORK_BUDGET", "row_width", "chunk_rows", "build"]

# scikit-learn's solvers (fastmlp.sklearn) and fastmlp's momentum rule.
RULE_MOMENTUM = RULE_CODES["momentum"]
RULE_SGD = RULE_CODES["sklearn_sgd"]
RULE_NESTEROV = RULE_CODES["sklearn_nesterov"]
RULE_ADAM = RULE_CODES["sklearn_adam"]

# Elements of workspace a call may use before rows are processed in chunks.
# 2**25 elements is 128 MiB in float32: a mini-batch of 512 rows on a
# 1024-2048-2048-10 network takes about 5 MB, so only full-batch work on
# large data is ever chunked.
WORK_BUDGET = 2**25


def row_width(sizes, sparse=False):
    """Workspace elements one row needs: every layer output, two delta rows,
    and the gathered input (none for sparse X: its rows are gathered as
    CSR, outside the workspace), target and weight rows."""
    outs = sizes[1:]
    return sum(outs) + 2 * max(outs) + (0 if sparse else sizes[0]) + sizes[-1] + 1


def chunk_rows(sizes, rows_wanted, sparse=False):
    """Rows per chunk: all wanted rows when they fit the budget."""
    return int(max(1, min(rows_wanted, WORK_BUDGET // row_width(sizes, sparse))))


def bf16_region(layout, rows, gemm, sparse=False):
    """Workspace elements (float32) of the bfloat16 copies of the GEMM
    operands (_kernels/_bf16.pxd): one bfloat16 per element of the float32
    workspace before it, per parameter and per element of a chunk of dense
    input rows (sparse X: none; fastmlp.MLP rounds its stored values, which
    _sparse_bf16.pxd reads), two to a float32 element; none for other
    backends."""
    if gemm != "bf16":
        return 0
    halves = (rows * row_width(layout.sizes, sparse) + layout.n_params
              + (0 if sparse else rows * layout.sizes[0]))
    return (halves + 1) // 2


class Workspace(NamedTuple):
    """The spec array and the workspace buffer of one call or fit."""
    spec: np.ndarray
    work: np.ndarray


def build(layout, activations, loss, rows, dtype, gemm="openblas", sparse=False):
    """Workspace (spec, work) for blocks of at most ``rows`` rows (of
    sparse X: no room for gathered input rows)."""
    sizes = layout.sizes
    L = layout.n_layers
    outs = sizes[1:]
    act_off = np.concatenate([[0], np.cumsum([rows * s for s in outs])[:-1]])
    fields = dict(
        layers=L, loss=LOSS_CODES[loss], n_weights=layout.n_weights,
        n_params=layout.n_params, chunk_rows=rows, gemm=GEMM_BACKENDS[gemm],
        first_w_t=int(layout.first_transposed))
    fields["off_delta_a"] = rows * sum(outs)
    fields["off_delta_b"] = fields["off_delta_a"] + rows * max(outs)
    fields["off_xbuf"] = fields["off_delta_b"] + rows * max(outs)
    fields["off_ybuf"] = fields["off_xbuf"] + (0 if sparse else rows * sizes[0])
    fields["off_wbuf"] = fields["off_ybuf"] + rows * sizes[-1]
    fields["off_bf16"] = fields["off_wbuf"] + rows
    fields["work_size"] = fields["off_bf16"] + bf16_region(layout, rows, gemm, sparse)
    header = np.empty(SPEC_HEADER_SIZE, dtype=np.intp)
    for name, position in SPEC_FIELDS.items():
        header[position] = fields[name]
    spec = np.concatenate([
        header,
        np.asarray(sizes, dtype=np.intp),
        layout.w_offsets,
        layout.b_offsets,
        np.array([ACTIVATION_CODES[a] for a in activations], dtype=np.intp),
        np.asarray(act_off, dtype=np.intp),
    ]).astype(np.intp)
    work = np.zeros(fields["work_size"], dtype=dtype)
    return Workspace(spec, work)


# Workspaces of forward calls on few rows, kept between calls: building one
# costs more than a one-row forward pass. Kept per owner (a model) and per
# thread, since a workspace is scratch memory two threads must not share;
# they live on the owner, by thread id (a finished thread's id may be reused
# by a new thread, which then reuses buffers nothing else touches). Large
# ones are built per call and never kept.
KEEP_MAX_ELEMENTS = 2**18   # 1 MiB in float32: 945 rows of the digits network
KEEP_MAX_ENTRIES = 4        # row counts kept per owner and thread


def kept_entries(owner):
    """This thread's {rows: (spec, work)} kept for owner."""
    by_thread = owner.__dict__.setdefault("_kept_workspaces", {})
    return by_thread.setdefault(threading.get_ident(), {})


def kept(owner, rows, make):
    """(spec, work) for `rows` rows: this thread's kept one, or make(rows)
    (kept when small)."""
    entries = kept_entries(owner)
    found = entries.get(rows)
    if found is None:
        found = make(rows)
        if found[1].size <= KEEP_MAX_ELEMENTS:
            if len(entries) >= KEEP_MAX_ENTRIES:
                entries.pop(next(iter(entries)))
            entries[rows] = found
    return found
