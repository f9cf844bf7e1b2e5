"""Whether the kernel side of matmul_dtype="bfloat16" can run here, decided
in one place for every bf16 test: the extra fastmlp[bf16] (MKL) must be
installed. The reference's emulation and the import-error path are tested
everywhere; what needs MKL skips with the reason printed."""
import pytest

from fastmlp import _bf16lib

try:
    _bf16lib.library()
    SKIP_REASON = None
except ImportError as exc:
    SKIP_REASON = f"bfloat16 GEMM library not available: {exc}"

needs_mkl = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")

# Tolerances of fastmlp.MLP against fastmlp.reference.MLP, both with
# matmul_dtype="bfloat16". They round the same float32 operands to the
# same bfloat16 values (bit-identical rounding, test_bf16.py), and the
# products of two bfloat16 values are exact in float32, so what is left is
# float32 accumulation in different orders (MKL against OpenBLAS): the
# float32 tolerances of conftest.py. One more effect: a float32 value that
# the two sides computed a few ulps apart rounds to different bfloat16
# neighbours when it sits within those ulps of a rounding boundary (about
# 1 in 2**15 operands per ulp of disagreement). Such an operand moves a
# product of n terms of size ~1 by one bfloat16 ulp (2**-8) of one term,
# so a pass can be off by ~4e-3 / n rarely, and trajectories by more:
# passes get 2e-4, fits 2e-3 (still 10x below the ~2e-2 that separates a
# bfloat16 model from a float32 one, test_bf16.py's proof test).
PASS_RTOL = 2e-4
FIT_RTOL = 2e-3
