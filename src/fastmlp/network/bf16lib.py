"""The bfloat16 GEMM library, found and loaded at run time (extra fastmlp[bf16]).

fastmlp links no BLAS: scipy's OpenBLAS serves float32 and float64 through
scipy.linalg.cython_blas, and OpenBLAS has no bfloat16 GEMM. The bfloat16
products (bfloat16 operands, float32 accumulation) come from one of two
libraries, chosen on measured speed per CPU (docs/bf16-backend.md):

- MKL (the ``mkl`` wheel), ``cblas_gemm_bf16bf16f32``: the fastest on CPUs
  with AMX, and the only one that computes (at float32 speed, emulated) on
  CPUs without bfloat16 instructions;
- oneDNN (the ``onednn-cpu-gomp`` wheel), ``dnnl_gemm_bf16bf16f32``: on
  CPUs with AVX512_BF16 and no AMX (AMD Zen 4) it runs the AVX512_BF16
  instructions at about twice float32's speed, where MKL stays at
  float32's; it refuses CPUs without them.

``preferred()`` orders them for the CPU; the first that loads (and, for
oneDNN, computes a probe product correctly) is used, and
``FASTMLP_BF16_LIBRARY=mkl`` or ``=onednn`` forces one. The library is
opened with ctypes the first time a model asks for bfloat16 (both wheels
put their shared library in ``<prefix>/lib``, outside site-packages), and
its function's address is handed to the kernels' GEMM table
(``_train.bf16_install``, with the adapter of _kernels/_bf16_libs.pxd).

Threads: MKL runs on its sequential threading layer
(``MKL_Set_Threading_Layer(1)``, the first MKL call, as MKL requires): one
thread per GEMM, which threadpoolctl lists (``internal_api`` "mkl"). oneDNN's
wheel runs on GNU OpenMP: as many threads as OpenMP gives the calling
thread (all cores unless ``OMP_NUM_THREADS`` or threadpoolctl's limits on
its "openmp" library say less), as OpenBLAS's float32 products do.

A GEMM the library refuses (oneDNN returns a status instead of computing)
leaves NaN in its output and is counted in the context of the kernel call it
was in, never process-wide: that call raises RuntimeError (a fit stops at
that step as on divergence, its model restored, then raises it:
``EpochKernel.check_products``), and no other model's call, in this thread or
another, sees it.
"""
import ctypes
import os
import sys
import threading

from .._kernels import _train
from ..execution import threads as _threads

INSTALL_HINT = 'pip install "fastmlp[bf16]"'
LIBRARIES = _train.BF16_ADAPTERS    # one adapter each in the kernels
FORCE_VARIABLE = "FASTMLP_BF16_LIBRARY"
MKL_THREADING_SEQUENTIAL = 1

_lock = threading.Lock()
_state = {"name": None, "lib": None, "path": None, "openmp": None}


def _library_dirs(distribution, names):
    """Paths of the shared library `names` of a wheel, most likely first."""
    dirs = [os.path.join(sys.prefix, "lib"), os.path.join(sys.prefix, "Library", "bin")]
    try:
        from importlib import metadata
        for f in metadata.files(distribution) or ():
            if os.path.basename(str(f)) in names:
                dirs.insert(0, os.path.dirname(str(f.locate())))
    except Exception:   # no such distribution, or no RECORD: the prefix remains
        pass
    seen = []
    for d in dirs:
        for name in names:
            path = os.path.normpath(os.path.join(d, name))
            if path not in seen and os.path.exists(path):
                seen.append(path)
    return seen


def _mkl_candidates():
    names = ("libmkl_rt.so.2", "libmkl_rt.so.3", "libmkl_rt.so")
    if sys.platform == "win32":
        names = ("mkl_rt.2.dll", "mkl_rt.3.dll")
    elif sys.platform == "darwin":
        names = ("libmkl_rt.2.dylib", "libmkl_rt.dylib")
    return _library_dirs("mkl", names)


def _onednn_candidates():
    return _library_dirs("onednn-cpu-gomp", ("libdnnl.so.3", "libdnnl.so"))


_CANDIDATES = {"mkl": _mkl_candidates, "onednn": _onednn_candidates}


def _open_mkl(path):
    lib = ctypes.CDLL(path)
    function = lib.cblas_gemm_bf16bf16f32
    lib.MKL_Set_Threading_Layer.argtypes = [ctypes.c_int]
    lib.MKL_Set_Threading_Layer(MKL_THREADING_SEQUENTIAL)
    return lib, function


def _onednn_probe(function):
    """None if oneDNN computes a small product of every transpose pair
    exactly (bfloat16-exact integers), else why not: it returns a status
    instead of computing on CPUs without bfloat16 instructions."""
    import numpy as np
    dim, sz = ctypes.c_int64, ctypes.c_void_p
    function.restype = ctypes.c_int
    function.argtypes = [ctypes.c_char, ctypes.c_char, dim, dim, dim, ctypes.c_float, sz,
                         dim, sz, dim, ctypes.c_float, sz, dim]
    m, n, k = 3, 5, 4
    a = np.arange(m * k, dtype=np.float32).reshape(m, k) - 5
    b = np.arange(k * n, dtype=np.float32).reshape(k, n) % 7 - 3
    want = a @ b
    for ta in (False, True):
        for tb in (False, True):
            a_op = np.ascontiguousarray(a.T if ta else a)
            b_op = np.ascontiguousarray(b.T if tb else b)
            a16 = (a_op.view(np.uint32) >> 16).astype(np.uint16)
            b16 = (b_op.view(np.uint32) >> 16).astype(np.uint16)
            c = np.full((m, n), np.nan, np.float32)
            status = function(b"T" if ta else b"N", b"T" if tb else b"N", m, n, k, 1.0,
                              a16.ctypes.data, a_op.shape[1], b16.ctypes.data,
                              b_op.shape[1], 0.0, c.ctypes.data, n)
            if status != 0:
                return f"dnnl_gemm_bf16bf16f32 returned status {status} on this CPU"
            if not np.array_equal(c, want):
                return "dnnl_gemm_bf16bf16f32 computed a wrong probe product"
    return None


def _open_onednn(path):
    lib = ctypes.CDLL(path)
    function = lib.dnnl_gemm_bf16bf16f32
    why = _onednn_probe(function)
    if why is not None:
        raise OSError(why)
    return lib, function


_OPENERS = {"mkl": _open_mkl, "onednn": _open_onednn}


def cpu_flags():
    """The CPU's feature flags (/proc/cpuinfo; empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_bf16_flags():
    """The CPU's bfloat16 instruction sets: {"amx_bf16": bool, "avx512_bf16": bool}."""
    flags = cpu_flags()
    return {"amx_bf16": "amx_bf16" in flags, "avx512_bf16": "avx512_bf16" in flags}


def preferred(flags=None):
    """The libraries to try, fastest on this CPU first (measured:
    docs/bf16-backend.md): oneDNN where the CPU has AVX512_BF16 but no AMX
    (2.2x MKL on an AMD Zen 4), MKL elsewhere (5-10% ahead of oneDNN with
    AMX; the only one that computes without bfloat16 instructions).
    FASTMLP_BF16_LIBRARY names one library to use instead."""
    forced = os.environ.get(FORCE_VARIABLE, "").strip().lower()
    if forced:
        if forced not in LIBRARIES:
            raise ValueError(f"{FORCE_VARIABLE} must be one of {', '.join(LIBRARIES)}, "
                             f"got {forced!r}")
        return (forced,)
    flags = cpu_bf16_flags() if flags is None else flags
    if flags["avx512_bf16"] and not flags["amx_bf16"]:
        return ("onednn", "mkl")
    return ("mkl", "onednn")


def _load(name):
    """(ctypes library, path, function) of `name`, or (None, None, reason)."""
    reasons = []
    for path in _CANDIDATES[name]():
        try:
            lib, function = _OPENERS[name](path)
        except (OSError, AttributeError) as exc:
            reasons.append(f"{path}: {exc}")
            continue
        return lib, path, function
    return None, None, "; ".join(reasons) or "not installed"


def use(names=None):
    """Load the first library of `names` (default: preferred()) that works
    here and install it in the kernels, from the next kernel call on.
    Returns its name; ImportError naming the extra when none works."""
    names = preferred() if names is None else tuple(names)
    with _lock:
        reasons = []
        for name in names:
            lib, path, function = _load(name)
            if lib is None:
                reasons.append(f"{name}: {function}")
                continue
            _train.bf16_install(ctypes.cast(function, ctypes.c_void_p).value, name)
            openmp = _openmp_of(name, lib)
            _state.update(name=name, lib=lib, path=path, openmp=openmp)
            # Calls set its calling thread's count to one, and their pools'
            # threads theirs, while they run.
            _threads.use_openmp(openmp)
            return name
    raise ImportError(
        'matmul_dtype="bfloat16" needs a bfloat16 GEMM library (MKL\'s '
        "cblas_gemm_bf16bf16f32 or oneDNN's dnnl_gemm_bf16bf16f32), and none works "
        f"here ({'; '.join(reasons)}): {INSTALL_HINT}")


def library():
    """(name, ctypes library, path) of the library in use, loading one on
    first use; raises ImportError naming the extra when none is installed."""
    if _state["lib"] is None:
        use()
    return _state["name"], _state["lib"], _state["path"]


def openmp_threads():
    """The thread-count functions of the OpenMP runtime the library in use
    runs its GEMMs on (an execution.threads.OpenMPThreads), or None when no
    library is loaded yet or when it is MKL, whose sequential layer never
    starts threads."""
    return _state["openmp"]


def _openmp_of(name, lib):
    """oneDNN's GNU OpenMP, found through oneDNN's own handle so that it is
    the runtime oneDNN loaded: omp_get_max_threads and omp_set_num_threads
    of the calling thread, and the latter's address for new threads."""
    if name != "onednn":
        return None
    get, set_ = lib.omp_get_max_threads, lib.omp_set_num_threads
    get.restype, get.argtypes = ctypes.c_int, []
    set_.restype, set_.argtypes = None, [ctypes.c_int]
    return _threads.OpenMPThreads(get, set_, ctypes.cast(set_, ctypes.c_void_p).value)


def available():
    """Whether bfloat16 products can run here (loads the library if so)."""
    try:
        library()
    except ImportError:
        return False
    return True


def describe():
    """One line for show_config: the bfloat16 GEMM library, or why none."""
    try:
        name, lib, path = library()
    except ImportError as exc:
        return f"none ({exc})"
    if name == "mkl":
        buf = ctypes.create_string_buffer(256)
        try:
            lib.MKL_Get_Version_String(buf, len(buf))
            version = buf.value.decode(errors="replace").strip()
        except AttributeError:
            version = "MKL"
        return f"{version}, cblas_gemm_bf16bf16f32, sequential, file={path}"

    class Version(ctypes.Structure):
        _fields_ = [("major", ctypes.c_int), ("minor", ctypes.c_int),
                    ("patch", ctypes.c_int), ("hash", ctypes.c_char_p)]
    lib.dnnl_version.restype = ctypes.POINTER(Version)
    v = lib.dnnl_version().contents
    return (f"oneDNN {v.major}.{v.minor}.{v.patch}, dnnl_gemm_bf16bf16f32, OpenMP threads, "
            f"file={path}")
