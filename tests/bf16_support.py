"""Whether the kernel side of matmul_dtype="bfloat16" can run here, decided
in one place for every bf16 test: a library of the extra fastmlp[bf16] (MKL
or oneDNN) must work here. The reference's emulation, the import-error path
and the libraries' adapters (on stand-ins, test_bf16_libraries.py) are
tested everywhere; what needs a library skips with the reason printed."""
import pytest

from fastmlp.network import bf16lib as _bf16lib

try:
    _bf16lib.library()
    SKIP_REASON = None
except ImportError as exc:
    SKIP_REASON = f"bfloat16 GEMM library not available: {exc}"

needs_bf16_gemm = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")

# Why each library cannot run here (None: it can). oneDNN refuses CPUs
# without bfloat16 instructions (its probe product, fastmlp.network.bf16lib).
LIBRARY_SKIPS = {name: (None if lib is not None else why)
                 for name, (lib, _, why) in ((n, _bf16lib._load(n)) for n in _bf16lib.LIBRARIES)}


@pytest.fixture(params=_bf16lib.LIBRARIES)
def bf16_library(request):
    """Each bfloat16 GEMM library in turn (the one in use restored after)."""
    why = LIBRARY_SKIPS[request.param]
    if why is not None:
        pytest.skip(f"{request.param} cannot run here: {why}")
    before = _bf16lib.library()[0]
    _bf16lib.use([request.param])
    try:
        yield request.param
    finally:
        _bf16lib.use([before])


# Tolerances of fastmlp.MLP against fastmlp.reference.MLP, both with
# matmul_dtype="bfloat16". They round the same float32 operands to the
# same bfloat16 values (bit-identical rounding, test_bf16.py), and the
# products of two bfloat16 values are exact in float32, so what is left is
# float32 accumulation in different orders (MKL or oneDNN against
# OpenBLAS): the float32 tolerances of conftest.py. One more effect: a
# float32 value that the two sides computed a few ulps apart rounds to
# different bfloat16 neighbours when it sits within those ulps of a
# rounding boundary (about 1 in 2**15 operands per ulp of disagreement).
# Such an operand moves a product of n terms of size ~1 by one bfloat16 ulp
# (2**-8) of one term, so a pass can be off by ~4e-3 / n rarely, and
# trajectories by more: passes get 2e-4, fits 2e-3 (still 10x below the
# ~2e-2 that separates a bfloat16 model from a float32 one, test_bf16.py's
# proof test).
PASS_RTOL = 2e-4
FIT_RTOL = 2e-3
