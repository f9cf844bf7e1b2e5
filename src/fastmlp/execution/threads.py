"""How many threads a call gets, and the pool it runs on.

A fit, or an inference call (forward, predict, loss, gradients), runs on
``n_threads`` threads, the calling thread included: the compiled kernels cut
every pass into fixed blocks and run them on a ``_train.ThreadPool``; the
results do not depend on the count (fastmlp.training.epoch).

``resolve(requested, flops)`` turns what the caller asked for into a count:

- an int >= 1: exactly that many;
- -1: every core of the process's CPU affinity;
- None (automatic): one thread when the call is too small for a second to
  pay (``flops``, the GEMM operations of one training step or of one
  inference chunk, below ``THREAD_MIN_FLOPS``), else as many as the cores
  of the affinity and the caller's limit allow. The caller's limit is the
  thread count of the BLAS the kernels call (scipy's OpenBLAS): what
  ``threadpoolctl.threadpool_limits`` set, or OPENBLAS_NUM_THREADS /
  OMP_NUM_THREADS, which joblib's workers get, so that a
  ``GridSearchCV(n_jobs=-1)`` over fastmlp never oversubscribes the
  machine.

``CallThreads(n)`` (a context manager) is a call's execution: for its
duration scipy's OpenBLAS runs one thread (the kernels call it on each
thread's own block; its own threads would compete with them, and on a busy
machine they make small networks several times slower) and so does the
calling thread's OpenMP when the bfloat16 library runs on OpenMP (oneDNN;
the pool's threads set theirs when they start). It yields the pool (None
for one thread), then joins it and restores the previous counts, also when
the call raises. OpenBLAS's count is process-wide: overlapping calls from
several Python threads share one save (the first in saves and lowers it,
the last out restores it), so none restores another's count in the wrong
order; while any call is inside, the caller's limit read by ``resolve`` is
that saved count, not the one the calls lowered. A limit the caller changes
while a call is inside is overwritten when the last call leaves.

The OpenMP runtime is named by the bfloat16 library when it loads
(``use_openmp``), so that this module imports nothing of the network.

Where the BLAS cannot be identified (none of the libraries threadpoolctl
lists is scipy's), the caller's limit is the affinity and its count is left
alone.
"""
import numbers
import os
import threading
from typing import NamedTuple

from .._kernels import _train

# Below this many GEMM flops per step (or per inference chunk), a second
# thread does not pay. Measured with benchmarks/threads.py (float32
# training step, n_threads 2 against 1, minimum over 60 interleaved rounds
# timed in quiet moments of a shared machine) on an AMD EPYC of family 26
# (Zen 5), 2 vCPUs under KVM, scipy's OpenBLAS 0.3.30: 0.52x-0.70x of the
# one-thread time on every config from 52 MFLOP per step up (0.70x at 52,
# 0.57x at 105, 0.52x on 1024-2048-2048-10 at 17 GFLOP), 0.92x-1.01x on
# eleven of the thirteen configs from 3 to 32 MFLOP (0.98x at 32), 0.71x
# and 0.64x on the other two. The table is in the README ("Threads: one or
# two", under Benchmarks).
THREAD_MIN_FLOPS = 4.0e7

# OpenBLAS keeps a product on one thread when m*n*k <= 65536 * 4 (gemm)
# and when m*n < 2304 * 4 (gemv, which a product with a dimension of 1 may
# be handed to): interface/gemm.c and gemv.c of 0.3.30, with the default
# GEMM_MULTITHREAD_THRESHOLD of 4. A one-thread call whose every product
# is below the smaller bound needs no setting of the BLAS count.
BLAS_SERIAL_PRODUCT = 2304 * 4

_VALID = "None (automatic), -1 (every core) or a positive int"


def check_request(value, name="n_threads"):
    """``value`` as a thread request (None, -1 or an int >= 1); TypeError
    for a value that is not an int (bool included), ValueError for 0 and
    for ints below -1. ``name`` is the parameter named in the message."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {_VALID}, got {value!r} "
                        f"({type(value).__name__})")
    value = int(value)
    if value == -1 or value >= 1:
        return value
    raise ValueError(f"{name} must be {_VALID}, got {value}")


def cores():
    """Cores the process may run on: its CPU affinity (the CPU count where
    the platform has none)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def caller_limit():
    """The caller's thread limit: the BLAS's thread count as the caller left
    it (inside a call, the count saved when the first call came in)."""
    blas = _blas()
    if blas is None:
        return cores()
    with _lock:
        if _inside["calls"]:
            return _inside["saved"]
        return blas.get()


def resolve(requested, flops):
    """The thread count of a call of ``flops`` GEMM operations per step (or
    per inference chunk) for ``requested`` (see the module docstring)."""
    if requested is None:
        if flops < THREAD_MIN_FLOPS:
            return 1
        return max(1, min(cores(), caller_limit()))
    requested = check_request(requested)
    if requested == -1:
        return cores()
    return requested


# == the BLAS's thread count ===================================================

class _BlasThreads:
    """get() and set(n) of the process-wide thread count of one BLAS
    library, through its own functions (threadpoolctl's controller lets only
    one Python thread set OpenBLAS's count, and every call here may come
    from any thread)."""

    def __init__(self, controller):
        self.get = controller.get_num_threads
        self.set = controller.set_num_threads
        if controller.internal_api == "openblas" and \
                getattr(controller, "threading_layer", None) == "pthreads":
            found = _openblas_functions(controller.dynlib)
            if found is not None:
                self.get, self.set = found


def _openblas_functions(dynlib):
    """(get, set) of an OpenBLAS build's own count functions, whatever
    affixes its symbols carry (scipy's wheels: scipy_openblas_...)."""
    import ctypes

    for prefix in ("", "scipy_"):
        for suffix in ("", "64_", "_64"):
            get = getattr(dynlib, f"{prefix}openblas_get_num_threads{suffix}", None)
            set_ = getattr(dynlib, f"{prefix}openblas_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                set_.restype, set_.argtypes = None, [ctypes.c_int]
                return get, set_
    return None


def _is_scipys(path):
    name = os.path.basename(path)
    if "libscipy_openblas" in name:
        # numpy's wheels carry their own copy, with 64-bit integers.
        return "openblas64_" not in name
    return os.sep + "scipy" in path


def _find_blas():
    """scipy's BLAS among the libraries threadpoolctl lists (the only one
    when a single BLAS is loaded), or None."""
    import scipy.linalg.cython_blas  # noqa: F401  (loaded, so that it is listed)
    from threadpoolctl import ThreadpoolController

    libs = ThreadpoolController().select(user_api="blas").lib_controllers
    chosen = [lib for lib in libs if _is_scipys(lib.filepath)]
    if not chosen and len(libs) == 1:
        chosen = libs
    return _BlasThreads(chosen[0]) if chosen else None


_lock = threading.Lock()
# Calls inside CallThreads now, and the BLAS count the first one saved.
_inside = {"calls": 0, "saved": None}
_found = {}


def _blas():
    """The kernels' BLAS (_BlasThreads), found once (threadpoolctl's scan of
    the loaded libraries takes milliseconds), or None."""
    if "blas" not in _found:
        with _lock:
            if "blas" not in _found:
                _found["blas"] = _find_blas()
    return _found["blas"]


def _enter_blas(blas):
    with _lock:
        if _inside["calls"] == 0:
            _inside["saved"] = blas.get()
            if _inside["saved"] != 1:
                blas.set(1)
        _inside["calls"] += 1


def _leave_blas(blas):
    with _lock:
        if _inside["calls"] == 0:
            return  # entered before a fork, in the parent (_after_fork)
        _inside["calls"] -= 1
        if _inside["calls"] == 0:
            if _inside["saved"] != 1:
                blas.set(_inside["saved"])
            _inside["saved"] = None


def _after_fork():
    """In a child forked while calls were inside: their threads are not in
    the child, so the caller's count comes back now; and the lock, which
    another thread may have held at the fork, is new."""
    global _lock
    _lock = threading.Lock()
    if _inside["calls"]:
        if _inside["saved"] != 1:
            _found["blas"].set(_inside["saved"])
        _inside.update(calls=0, saved=None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


# == the OpenMP runtime of the bfloat16 products ===================================

class OpenMPThreads(NamedTuple):
    """An OpenMP runtime's thread count of the calling thread: ``get()``
    (omp_get_max_threads), ``set(n)`` (omp_set_num_threads), and the
    address of ``set`` for the pool's new threads to call with 1."""
    get: object
    set: object
    set_address: int


_openmp = {"threads": None}


def use_openmp(functions):
    """From now on, calls set this OpenMP runtime (an OpenMPThreads, or
    None for none) to one thread: the bfloat16 library's, when it runs its
    products on OpenMP (fastmlp.network.bf16lib installs it)."""
    _openmp["threads"] = functions


# == a call's execution ==========================================================

class CallThreads:
    """``with CallThreads(n) as pool:`` one call on n threads (see the module
    docstring); ``pool`` is a ``_train.ThreadPool`` of n threads, or None for
    one. Entered once."""

    __slots__ = ("n_threads", "pool", "_blas", "_openmp", "_openmp_saved")

    def __init__(self, n_threads):
        if n_threads < 1:
            raise ValueError(f"a call needs at least one thread, got {n_threads}")
        self.n_threads = int(n_threads)
        self.pool = None

    def __enter__(self):
        self._blas = _blas()
        self._openmp = _openmp["threads"]
        self._openmp_saved = None
        if self._blas is not None:
            _enter_blas(self._blas)
        try:
            if self._openmp is not None:
                self._openmp_saved = self._openmp.get()
                self._openmp.set(1)
            if self.n_threads > 1:
                init = self._openmp.set_address if self._openmp is not None else 0
                self.pool = _train.ThreadPool(self.n_threads, init)
        except BaseException:
            self._restore()
            raise
        return self.pool

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        self._restore()
        return False

    def _restore(self):
        if self._openmp_saved is not None:
            self._openmp.set(self._openmp_saved)
            self._openmp_saved = None
        if self._blas is not None:
            _leave_blas(self._blas)
            self._blas = None

