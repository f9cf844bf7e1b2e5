"""The threaded passes of fastmlp, run for tools/tsan.sh (ThreadSanitizer).

Every kind of pass the pool of a fit runs (csrc/pool.c, the blocks of
src/fastmlp/_kernels/_threads.pxd) on pools of 2, 3 and 4 threads: fits
through ``StepPlan(threads=pool)`` on float32 and float64 rows, CSR rows,
bfloat16 products (when a bfloat16 library loads), steps formed over
several workspace chunks, row weights, the mse, cross_entropy and
binary_cross_entropy losses and fastmlp's three update rules; then the
inference entry points (``_train.forward``, ``objective``,
``loss_and_gradients`` with ``threads=pool``) on the trained parameters.
Each result must equal, to the bit, the one of a pool of one thread: a
race that ThreadSanitizer misses can still show as a difference, and a
pool that ran no job across threads (``pool.jobs``) would leave
ThreadSanitizer nothing to check, so that fails too.

    python tools/tsan_workload.py        exit 0 when every case matched
"""
import contextlib
import dataclasses
import sys
import time

import numpy as np
import scipy.sparse as sp

import fastmlp
from fastmlp._kernels import _train
from fastmlp.inputs.sparse import input_rows
from fastmlp.inputs.validation import check_X, check_y
from fastmlp.network import bf16lib as _bf16lib
from fastmlp.network import workspace as _workspace
from fastmlp.training.epoch import EpochLoop, OptimizerState, StepPlan

THREADS = (2, 3, 4)
# Large enough that every product, elementwise pass and update is cut into
# several blocks at a batch of 256 rows (tests/test_thread_identity.py),
# small enough for ThreadSanitizer's slowdown (the workload takes about 4 s
# uninstrumented with BLAS on one thread, 45 s under it): the first layer
# stored transposed (n0 * n1 <= 2**17) and not.
TRANSPOSED_FIRST = (320, 384, 256, 6)
PLAIN_FIRST = (420, 384, 256, 6)
ROWS = 768
EPOCHS = 2
# A workspace budget of this many rows makes a batch of 300 (or all 768
# rows) a formed step over several chunks.
FORMED_CHUNK_ROWS = 130


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    sizes: tuple
    dtype: str = "float32"
    loss: str = "cross_entropy"
    optimizer: str = "adam"
    sparse: bool = False
    bf16: bool = False
    batch: int = 256
    chunk_rows: int = None     # a workspace budget of this many rows, else the default
    weighted: bool = False


def cases(with_bf16):
    out = [
        Case("dense float32 adam", PLAIN_FIRST),
        Case("dense float32 transposed first", TRANSPOSED_FIRST, optimizer="nesterov"),
        Case("dense float64 mse momentum", PLAIN_FIRST, "float64", "mse", "momentum"),
        Case("dense float64 binary_cross_entropy", TRANSPOSED_FIRST, "float64",
             "binary_cross_entropy"),
        Case("row weights", PLAIN_FIRST, weighted=True),
        Case("sparse float32", PLAIN_FIRST, sparse=True),
        Case("sparse float64 transposed first", TRANSPOSED_FIRST, "float64", sparse=True,
             optimizer="momentum"),
        Case("formed float32 batch 300", PLAIN_FIRST, batch=300,
             chunk_rows=FORMED_CHUNK_ROWS),
        Case("formed float64 whole batch", PLAIN_FIRST, "float64", batch=ROWS,
             chunk_rows=FORMED_CHUNK_ROWS),
        Case("formed sparse float32 batch 300", TRANSPOSED_FIRST, sparse=True, batch=300,
             chunk_rows=FORMED_CHUNK_ROWS),
    ]
    if with_bf16:
        out += [Case("bfloat16 dense", PLAIN_FIRST, bf16=True),
                Case("bfloat16 sparse transposed first", TRANSPOSED_FIRST, sparse=True,
                     bf16=True)]
    return out


def data(case, seed=0):
    """(X, y, row weights or None), before validation."""
    rng = np.random.default_rng(seed)
    n_in, n_out = case.sizes[0], case.sizes[-1]
    X = rng.standard_normal((ROWS, n_in))
    if case.sparse:
        X[rng.random(X.shape) < 0.9] = 0
        X = sp.csr_matrix(X)
    if case.loss == "cross_entropy":
        y = rng.integers(0, n_out, ROWS)
    elif case.loss == "binary_cross_entropy":
        y = rng.integers(0, 2, (ROWS, n_out))
    else:
        y = rng.standard_normal((ROWS, n_out))
    weights = rng.random(ROWS).astype(case.dtype) if case.weighted else None
    return X, y, weights


@contextlib.contextmanager
def workspace_budget(case):
    """The workspace budget the case asks for, restored after."""
    before = _workspace.WORK_BUDGET
    if case.chunk_rows is not None:
        _workspace.WORK_BUDGET = case.chunk_rows * _workspace.row_width(case.sizes,
                                                                        case.sparse)
    try:
        yield
    finally:
        _workspace.WORK_BUDGET = before


def fit(case, pool):
    """Everything EPOCHS epochs of the case leave, trained on `pool`, then
    the inference passes on the trained parameters."""
    net = fastmlp.MLP(list(case.sizes), loss=case.loss, dtype=case.dtype, seed=3,
                      l2=1e-3, matmul_dtype="bfloat16" if case.bf16 else None)
    kernels = net._kernels
    X_raw, y_raw, weights = data(case)
    X = check_X(X_raw, case.sizes[0], net.dtype)
    # Class indices, as a fit hands them to the kernels.
    Y = check_y(y_raw, ROWS, case.loss, case.sizes[-1], net.dtype, as_indices=True)
    params = net.params.copy()
    state = OptimizerState(case.optimizer, params.size, net.dtype).with_hyperparameters(0.9)
    terms = _train.Objective(1e-3, row_weights=weights, weighted=weights is not None)
    loop = EpochLoop(kernels, params, X, Y, terms, state, StepPlan(case.batch, threads=pool))
    order = np.random.default_rng(1)
    totals = []
    for _ in range(EPOCHS):
        status, total, step = loop.run(order.permutation(ROWS).astype(np.intp), 0.01)
        if status != 0:
            raise SystemExit(f"{case.name}: epoch status {status} at step {step}")
        totals.append(total)
    out = {"params": params, "first": state.first, "steps": state.steps.copy(),
           "totals": np.array(totals)}
    if state.second is not None:
        out["second"] = state.second
    out.update(inference(kernels, params, X, Y, pool))
    return out


def inference(kernels, params, X, Y, pool):
    """forward, objective (with outputs) and loss_and_gradients on `pool`."""
    rows = input_rows(X)
    n_out = kernels.sizes[-1]
    spec, work = kernels.chunked_workspace(ROWS, rows.is_sparse)
    forward = np.empty((ROWS, n_out), dtype=kernels.dtype)
    _train.forward(spec, params, rows, work, forward, threads=pool)
    spec, work = kernels.chunked_workspace(ROWS, rows.is_sparse, Y)
    outputs = np.empty((ROWS, n_out), dtype=kernels.dtype)
    value = _train.objective(spec, params, rows, Y, work, _train.Objective(1e-3), outputs,
                             threads=pool)
    grads = np.empty_like(params)
    loss = _train.loss_and_gradients(spec, params, rows, Y, work, grads,
                                     _train.Objective(1e-3), threads=pool)
    return {"forward": forward, "objective": np.array([value]), "outputs": outputs,
            "loss": np.array([loss]), "gradients": grads}


def run_case(case):
    """Problems found (a list of strings) and the jobs each pool ran."""
    with workspace_budget(case):
        one = _train.ThreadPool(1)
        try:
            expected = fit(case, one)
        finally:
            one.close()
        problems, jobs = [], {}
        for n in THREADS:
            pool = _train.ThreadPool(n)
            try:
                got = fit(case, pool)
                jobs[n] = pool.jobs
            finally:
                pool.close()
            if jobs[n] == 0:
                problems.append(f"{n} threads: the pool ran no job across threads")
            for key, value in expected.items():
                if not np.array_equal(value, got[key]):
                    differ = np.count_nonzero(value != got[key])
                    problems.append(f"{n} threads: {key} differs from one thread's "
                                    f"in {differ} of {value.size}")
    if not np.isfinite(expected["totals"]).all() or not expected["params"].any():
        problems.append("one thread's fit learned nothing finite")
    return problems, jobs


def main():
    try:
        _bf16lib.library()
        with_bf16, bf16_note = True, ""
    except ImportError as exc:
        with_bf16, bf16_note = False, f" (no bfloat16 cases: {exc})"
    print(f"tsan workload: pools of {', '.join(map(str, THREADS))} threads against one"
          f"{bf16_note}", flush=True)
    failed = 0
    for case in cases(with_bf16):
        start = time.perf_counter()
        problems, jobs = run_case(case)
        seconds = time.perf_counter() - start
        if problems:
            failed += 1
            print(f"FAILED {case.name}:", *problems, sep="\n  ", flush=True)
        else:
            print(f"ok {case.name}: identical to one thread; jobs across threads "
                  f"{jobs}; {seconds:.1f} s", flush=True)
    print(f"tsan workload: {len(cases(with_bf16)) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
