"""bfloat16 rounding in NumPy: what matmul_dtype="bfloat16" does to a
product's operands, written independently of the kernels (csrc/bf16.h) so
that the reference (fastmlp.reference) and the ONNX export (fastmlp.io.onnx)
can round as the contract says."""
import numpy as np


def round_to_bfloat16(x):
    """float32 x rounded to the nearest bfloat16 (ties to even, on the bits;
    NaN stays NaN, inf stays inf, beyond the largest bfloat16 is inf), as
    float32: the operands of matmul_dtype="bfloat16" products."""
    x = np.asarray(x, dtype=np.float32)
    u = np.ascontiguousarray(x).view(np.uint32)
    with np.errstate(over="ignore"):
        rounded = (u + np.uint32(0x7FFF) + ((u >> 16) & np.uint32(1))) & np.uint32(0xFFFF0000)
    nan = (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    quiet = (u & np.uint32(0xFFFF0000)) | np.uint32(0x00400000)
    return np.where(nan, quiet, rounded).view(np.float32).reshape(x.shape)
