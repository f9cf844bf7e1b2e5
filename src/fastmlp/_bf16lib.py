"""The bfloat16 GEMM library, found and loaded at run time (extra fastmlp[bf16]).

fastmlp links no BLAS: scipy's OpenBLAS serves float32 and float64 through
scipy.linalg.cython_blas, and OpenBLAS has no bfloat16 GEMM. The bfloat16
products (bfloat16 operands, float32 accumulation) come from the ``mkl``
wheel's ``cblas_gemm_bf16bf16f32``, chosen on measured speed, robustness
and upkeep (docs/bf16-backend.md). The wheel puts ``libmkl_rt.so.N`` in
``<prefix>/lib``, outside site-packages; it is opened with ctypes the first
time a model asks for bfloat16, and its function's address is handed to the
kernels' GEMM table (``_train.bf16_install``).

MKL runs on its sequential threading layer (``MKL_Set_Threading_Layer(1)``,
the first MKL call, as MKL requires): one thread per GEMM, like fastmlp's
float32 benchmarks, no OpenMP runtime loaded beside scipy's OpenBLAS, and
the same results whatever the machine's core count. threadpoolctl lists the
library (``internal_api`` "mkl", ``threading_layer`` "sequential") once it
is loaded; its limits have no thread to take away.
"""
import ctypes
import os
import sys
import threading

INSTALL_HINT = 'pip install "fastmlp[bf16]"'
MKL_THREADING_SEQUENTIAL = 1

_lock = threading.Lock()
_state = {"lib": None, "path": None, "error": None}


def _candidates():
    """Paths where the mkl wheel may have put libmkl_rt, most likely first."""
    names = ("libmkl_rt.so.2", "libmkl_rt.so.3", "libmkl_rt.so")
    if sys.platform == "win32":
        names = ("mkl_rt.2.dll", "mkl_rt.3.dll")
    elif sys.platform == "darwin":
        names = ("libmkl_rt.2.dylib", "libmkl_rt.dylib")
    dirs = [os.path.join(sys.prefix, "lib"), os.path.join(sys.prefix, "Library", "bin")]
    try:
        from importlib import metadata
        for f in metadata.files("mkl") or ():
            if os.path.basename(str(f)) in names:
                dirs.insert(0, os.path.dirname(str(f.locate())))
    except Exception:   # no mkl distribution, or no RECORD: the prefix remains
        pass
    seen = []
    for d in dirs:
        for name in names:
            path = os.path.normpath(os.path.join(d, name))
            if path not in seen and os.path.exists(path):
                seen.append(path)
    return seen


def _open():
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
            lib.cblas_gemm_bf16bf16f32  # noqa: B018  (raises if absent)
        except (OSError, AttributeError):
            continue
        lib.MKL_Set_Threading_Layer.argtypes = [ctypes.c_int]
        lib.MKL_Set_Threading_Layer(MKL_THREADING_SEQUENTIAL)
        return lib, path
    return None, None


def library():
    """(ctypes library, path), loading it on first use; raises ImportError
    naming the extra when the library is not installed."""
    with _lock:
        if _state["lib"] is None:
            lib, path = _open()
            if lib is None:
                raise ImportError(
                    'matmul_dtype="bfloat16" needs a bfloat16 GEMM library (MKL\'s '
                    f"cblas_gemm_bf16bf16f32), which is not installed: {INSTALL_HINT}")
            from ._kernels import _train
            _train.bf16_install(ctypes.cast(lib.cblas_gemm_bf16bf16f32,
                                            ctypes.c_void_p).value)
            _state["lib"], _state["path"] = lib, path
    return _state["lib"], _state["path"]


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
        lib, path = library()
    except ImportError as exc:
        return f"none ({exc})"
    buf = ctypes.create_string_buffer(256)
    try:
        lib.MKL_Get_Version_String(buf, len(buf))
        version = buf.value.decode(errors="replace").strip()
    except AttributeError:
        version = "MKL"
    return f"{version}, cblas_gemm_bf16bf16f32, sequential, file={path}"


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
