"""Weight initialization from the model's Generator.

Draws happen layer by layer, in float64, then are cast to the model dtype,
so float32 and float64 models built with one seed start from the same values
(up to rounding) and the reference draws exactly what the kernels' model does.
"""
import numpy as np


def init_std(scheme, n_in, n_out):
    if scheme == "xavier":
        return np.sqrt(1.0 / n_in)
    if scheme == "glorot":
        return np.sqrt(2.0 / (n_in + n_out))
    if scheme == "he":
        return np.sqrt(2.0 / n_in)
    raise ValueError(f"unknown init {scheme!r}")


def initialize(weights, biases, schemes, rng):
    """Fill the weight views in place (biases to zero), consuming ``rng``."""
    for W, b, scheme in zip(weights, biases, schemes):
        n_out, n_in = W.shape
        W[...] = rng.standard_normal((n_out, n_in)) * init_std(scheme, n_in, n_out)
        b[...] = 0
