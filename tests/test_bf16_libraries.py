"""The two bfloat16 GEMM libraries of fastmlp.network.bf16lib: which one is used on
which CPU, the fallback when one cannot run, and the adapters of
_kernels/_bf16_libs.pxd. The adapters are tested on NumPy stand-ins of each
library's function (ctypes callbacks with the library's own signature), so
they are covered on any CPU, oneDNN's included where oneDNN itself refuses
to run (no bfloat16 instructions); the real libraries run in test_bf16.py
wherever they can."""
import ctypes
import threading

import numpy as np
import pytest

import fastmlp
import fastmlp.reference
from fastmlp.network import bf16lib as _bf16lib
from fastmlp._kernels import _train

from bf16_support import FIT_RTOL, LIBRARY_SKIPS, PASS_RTOL
from conftest import assert_close, make_data

BF16 = "bfloat16"
DIM, PTR = ctypes.c_int64, ctypes.c_void_p
DNNL_GEMM = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char, ctypes.c_char, DIM, DIM, DIM,
                             ctypes.c_float, PTR, DIM, PTR, DIM, ctypes.c_float, PTR, DIM)
CBLAS_GEMM = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_int, ctypes.c_float, PTR, ctypes.c_int,
                              PTR, ctypes.c_int, ctypes.c_float, PTR, ctypes.c_int)
# Stand-ins stay alive for the whole session: the kernels keep their
# address until another library is installed.
_ALIVE = []


def _operand(address, trans, rows, cols, ld):
    """op(X) of a row-major bfloat16 operand: stored rows x cols (cols x rows
    when transposed) with leading dimension ld, widened to float32."""
    stored = (cols, rows) if trans else (rows, cols)
    raw = np.ctypeslib.as_array((ctypes.c_uint16 * (stored[0] * ld)).from_address(address))
    x = (raw.reshape(stored[0], ld)[:, :stored[1]].astype(np.uint32) << 16).view(np.float32)
    return x.T if trans else x


def _product(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    out = np.ctypeslib.as_array((ctypes.c_float * (m * ldc)).from_address(c))
    out = out.reshape(m, ldc)[:, :n]
    prod = _operand(a, ta, m, k, lda).astype(np.float64) @ _operand(b, tb, k, n, ldb)
    out[...] = (alpha * prod + (beta * out if beta != 0 else 0)).astype(np.float32)


class StandIn:
    """One library's bfloat16 GEMM in NumPy; records the transposes seen.
    fail_status: what the oneDNN stand-in returns instead of computing;
    refuse(m, n, k), when given, picks the products it refuses (else all)."""

    def __init__(self, library, fail_status=0, refuse=None):
        self.library, self.fail_status, self.calls = library, fail_status, []
        self.refuse = refuse
        if library == "onednn":
            self.fn = DNNL_GEMM(self._dnnl)
        else:
            self.fn = CBLAS_GEMM(self._cblas)
        _ALIVE.append(self)

    def _dnnl(self, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        self.calls.append((ta, tb))
        if self.fail_status and (self.refuse is None or self.refuse(m, n, k)):
            return self.fail_status
        _product(ta == b"T", tb == b"T", m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        return 0

    def _cblas(self, layout, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        assert layout == 101     # CblasRowMajor
        self.calls.append((ta, tb))
        _product(ta == 112, tb == 112, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    @property
    def address(self):
        return ctypes.cast(self.fn, ctypes.c_void_p).value


@pytest.fixture
def installed(monkeypatch):
    """install(stand_in): the kernels' bfloat16 products go to the stand-in
    until the test ends (then the library that was in use, if any)."""
    before = _bf16lib._state.get("name")

    def install(stand_in):
        _train.bf16_install(stand_in.address, stand_in.library)
        for key, value in (("name", stand_in.library), ("lib", stand_in),
                           ("path", "a stand-in")):
            monkeypatch.setitem(_bf16lib._state, key, value)
    yield install
    monkeypatch.undo()     # the real candidates and state back first
    if before is not None:
        _bf16lib.use([before])


# -- which library -----------------------------------------------------------------

def test_the_preferred_library_follows_the_cpu(monkeypatch):
    monkeypatch.delenv(_bf16lib.FORCE_VARIABLE, raising=False)
    zen4 = {"amx_bf16": False, "avx512_bf16": True}
    amx = {"amx_bf16": True, "avx512_bf16": True}
    none = {"amx_bf16": False, "avx512_bf16": False}
    assert _bf16lib.preferred(zen4) == ("onednn", "mkl")
    assert _bf16lib.preferred(amx) == ("mkl", "onednn")
    assert _bf16lib.preferred(none) == ("mkl", "onednn")
    monkeypatch.setenv(_bf16lib.FORCE_VARIABLE, "oneDNN")
    assert _bf16lib.preferred(amx) == ("onednn",)
    monkeypatch.setenv(_bf16lib.FORCE_VARIABLE, "openblas")
    with pytest.raises(ValueError, match="FASTMLP_BF16_LIBRARY must be one of mkl, onednn"):
        _bf16lib.preferred(amx)


def test_a_library_that_cannot_run_gives_way_to_the_next(monkeypatch, tmp_path, installed):
    fake = tmp_path / "libdnnl.so.3"
    fake.write_bytes(b"not a shared library")
    monkeypatch.setitem(_bf16lib._CANDIDATES, "onednn", lambda: [str(fake)])
    if LIBRARY_SKIPS["mkl"] is None:
        assert _bf16lib.use(["onednn", "mkl"]) == "mkl"
        assert _bf16lib.library()[0] == "mkl"
    monkeypatch.setitem(_bf16lib._CANDIDATES, "mkl", lambda: [])
    with pytest.raises(ImportError) as info:
        _bf16lib.use(["onednn", "mkl"])
    message = str(info.value)
    assert str(fake) in message and "mkl: not installed" in message
    assert 'pip install "fastmlp[bf16]"' in message


def test_the_onednn_probe_turns_a_refusing_or_wrong_library_away():
    refusing = StandIn("onednn", fail_status=3)     # dnnl_unimplemented
    assert _bf16lib._onednn_probe(refusing.fn) == (
        "dnnl_gemm_bf16bf16f32 returned status 3 on this CPU")

    def wrong(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        _product(ta == b"T", tb == b"T", m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        np.ctypeslib.as_array((ctypes.c_float * 1).from_address(c))[0] += 1
        return 0
    wrong_fn = DNNL_GEMM(wrong)
    _ALIVE.append(wrong_fn)
    assert "wrong probe product" in _bf16lib._onednn_probe(wrong_fn)
    good = StandIn("onednn")
    assert _bf16lib._onednn_probe(good.fn) is None
    assert set(good.calls) == {(b"N", b"N"), (b"N", b"T"), (b"T", b"N"), (b"T", b"T")}


# -- the adapters ------------------------------------------------------------------

@pytest.mark.parametrize("library", _bf16lib.LIBRARIES)
def test_each_adapter_hands_its_library_the_products_of_the_emulation(library, installed):
    """Every product of forward, gradients and fit, through the library's
    own argument conventions (oneDNN: 'N'/'T' and 64-bit sizes; MKL: CBLAS
    enums), equals the reference's bfloat16 emulation."""
    stand_in = StandIn(library)
    installed(stand_in)
    sizes = [5, 7, 6, 3]
    X, y = make_data("labels", 23, sizes, seed=1)
    a = fastmlp.MLP(sizes, seed=3, activation="tanh", loss="cross_entropy", l2=0.05,
                    matmul_dtype=BF16)
    b = fastmlp.reference.MLP(sizes, seed=3, activation="tanh", loss="cross_entropy",
                              l2=0.05, matmul_dtype=BF16)
    assert_close(a.forward(X), b.forward(X), PASS_RTOL, "forward")
    for ga, gb in zip(a.gradients(X, y)[0], b.gradients(X, y)[0]):
        assert_close(ga, gb, PASS_RTOL, "dW")
    for net in (a, b):
        net.fit(X, y, epochs=3, batch_size=7, lr=0.05, momentum=0.8)
    assert_close(a.params, b.params, FIT_RTOL, "params")
    # forward (N, T: x W^T), weight gradient (T, N: delta^T a), input delta (N, N).
    transposes = {(str(ta), str(tb)) for ta, tb in stand_in.calls}
    assert len(transposes) == 3, stand_in.calls[:5]


def test_a_refused_product_raises_and_the_fit_keeps_its_model(installed):
    sizes = [5, 7, 3]
    X, y = make_data("labels", 30, sizes, seed=2)
    net = fastmlp.MLP(sizes, seed=3, loss="cross_entropy", matmul_dtype=BF16)
    installed(StandIn("onednn"))
    net.fit(X, y, epochs=1, batch_size=8)
    params, velocity, history = net.params.copy(), net.velocity.copy(), list(net.history)
    installed(StandIn("onednn", fail_status=2))     # dnnl_out_of_memory
    # (one product per layer)
    with pytest.raises(RuntimeError, match=r"library \(onednn\) refused 2 product"):
        net.forward(X)
    with pytest.raises(RuntimeError, match="refused"):
        net.fit(X, y, epochs=2, batch_size=8)
    np.testing.assert_array_equal(net.params, params)
    np.testing.assert_array_equal(net.velocity, velocity)
    assert net.history == history
    with pytest.raises(RuntimeError, match="refused"):
        net.gradients(X, y)
    installed(StandIn("onednn"))
    assert np.isfinite(net.forward(X)).all()     # and the next good call is good


# Two models told apart by their products: A's hidden layer is REFUSED_WIDTH
# wide, so every product of A (and none of B) has it among its dimensions.
REFUSED_WIDTH = 11


def _refused_and_fine_models():
    sizes_a, sizes_b = [5, REFUSED_WIDTH, 3], [5, 7, 3]
    X, y = make_data("labels", 30, sizes_b, seed=2)
    a = fastmlp.MLP(sizes_a, seed=3, loss="cross_entropy", matmul_dtype=BF16)
    b = fastmlp.MLP(sizes_b, seed=4, loss="cross_entropy", matmul_dtype=BF16)
    return a, b, X, y


def test_a_refused_product_raises_in_its_own_model_only(installed):
    a, b, X, y = _refused_and_fine_models()
    installed(StandIn("onednn", fail_status=2, refuse=lambda m, n, k: REFUSED_WIDTH in (m, n, k)))
    with pytest.raises(RuntimeError, match=r"library \(onednn\) refused 2 product"):
        a.forward(X)
    assert np.isfinite(b.forward(X)).all()
    b.fit(X, y, epochs=1, batch_size=8)
    with pytest.raises(RuntimeError, match="refused"):
        a.fit(X, y, epochs=1, batch_size=8)
    assert np.isfinite(b.forward(X)).all()


def test_a_refused_product_in_one_thread_does_not_raise_in_another(installed):
    """Model A's products are refused in one thread while model B trains and
    predicts in another; the stand-in orders them so that B's calls finish
    (and are checked) between A's first refusal and the end of A's call:
    only A raises, and for both of its products."""
    a, b, X, y = _refused_and_fine_models()
    a_refused, b_done = threading.Event(), threading.Event()
    refusals = []

    def refuse(m, n, k):
        if REFUSED_WIDTH in (m, n, k):
            refusals.append((m, n, k))
            if len(refusals) == 2:
                # The first refusal is recorded: let B run to its end.
                a_refused.set()
                b_done.wait(60)
            return True
        a_refused.wait(60)
        return False

    installed(StandIn("onednn", fail_status=2, refuse=refuse))
    errors = {}

    def run(name, work):
        try:
            work()
        except BaseException as exc:    # reported below, in the test's thread
            errors[name] = exc
        finally:
            if name == "b":
                b_done.set()

    def b_work():
        b.fit(X, y, epochs=1, batch_size=8)
        assert np.isfinite(b.forward(X)).all()

    threads = [threading.Thread(target=run, args=("a", lambda: a.forward(X))),
               threading.Thread(target=run, args=("b", b_work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert a_refused.is_set() and b_done.is_set()
    assert "b" not in errors, errors["b"]
    assert isinstance(errors.get("a"), RuntimeError), errors
    assert "library (onednn) refused 2 product" in str(errors["a"])
