"""The spec array and workspace buffer that the kernels run on.

``spec`` is one intp array describing the network (sizes, where each W_l and
b_l lives in the flat parameter buffer, whether W_0 is stored transposed,
the GEMM backend, activation codes) and the workspace (where each layer's
activations, the two delta buffers and the gathered batch live); the
kernels make it (``_train.make_spec``) and read it, so its format is theirs
alone. The workspace is one flat buffer in the model dtype, allocated once
per call or per fit and reused by every step; here is how many rows it
holds (the budget) and which small ones are kept between calls.
"""
import threading
from typing import NamedTuple

import numpy as np

from .._kernels._train import (
    ACTIVATION_CODES, LOSS_CODES, RULE_CODES, make_spec, workspace_row_width)

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


# Workspace elements one row needs (the workspace's layout is the kernels':
# _train.make_spec).
row_width = workspace_row_width


def chunk_rows(sizes, rows_wanted, sparse=False):
    """Rows per chunk: all wanted rows when they fit the budget."""
    return int(max(1, min(rows_wanted, WORK_BUDGET // row_width(sizes, sparse))))


class Workspace(NamedTuple):
    """The spec array and the workspace buffer of one call or fit."""
    spec: np.ndarray
    work: np.ndarray


def build(layout, activations, loss, rows, dtype, gemm="openblas", sparse=False):
    """Workspace (spec, work) for blocks of at most ``rows`` rows (of
    sparse X: no room for gathered input rows)."""
    spec, size = make_spec(layout, activations, loss, rows, gemm, sparse)
    return Workspace(spec, np.zeros(size, dtype=dtype))


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
