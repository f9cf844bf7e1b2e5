"""The size of a call, as the GEMM floating-point operations it runs: what
decides whether threads pay (fastmlp.execution.threads) and how often an
epoch reads the clock (fastmlp.training.epoch)."""


def _pairs(sizes):
    return [a * b for a, b in zip(sizes[:-1], sizes[1:])]


def step_flops(sizes, rows):
    """Floating-point operations of the GEMMs in one training step of
    ``rows`` rows: the forward product, the weight gradient, and the input
    delta of every layer but the first."""
    pairs = _pairs(sizes)
    return 2 * rows * (3 * sum(pairs) - pairs[0])


def forward_flops(sizes, rows):
    """Floating-point operations of the GEMMs in a forward pass over ``rows``
    rows."""
    return 2 * rows * sum(_pairs(sizes))
