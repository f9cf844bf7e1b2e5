"""The limits of X's shape that every input kind shares (dense and sparse
X are checked by fastmlp.inputs.validation and fastmlp.inputs.sparse alike)."""

# BLAS takes its dimensions as C ints; every dimension and every product used
# as a leading dimension or a buffer length must stay below this.
BLAS_INT_MAX = 2**31 - 1


def check_X_shape(shape, n_features):
    """The checks of a 2-D X's (n, d) shape, dense or sparse."""
    n, d = shape
    if n == 0:
        raise ValueError("X is empty: it has 0 rows")
    if d != n_features:
        raise ValueError(f"X has {d} features but the network expects {n_features}")
    if n > BLAS_INT_MAX:
        raise ValueError(f"X has {n} rows, more than a BLAS call can address")
