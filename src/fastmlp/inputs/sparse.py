"""Sparse X: scipy.sparse input checked and converted once to the CSR form
the kernels read (``CsrRows``), never densified.

Accepted: a scipy.sparse matrix or array in CSR, CSC or COO form, with real
numeric (bool, int or float) stored values. Its structure is checked before
scipy converts it (a negative or out-of-range index, an indptr that is not
a valid row pointer: ValueError naming it), duplicate entries are summed
(as scipy does), each row's column indices are sorted, explicit zeros and
empty rows are kept as they are, and the stored values are converted to the
model dtype (NaN/inf, or a value that overflows the dtype: ValueError).

``CsrRows`` holds ``indptr`` (n + 1,) intp, ``indices`` (nnz,) int32 (every
column index fits: a layer is at most BLAS_INT_MAX wide) and ``data`` (nnz,)
in the model dtype, all C-contiguous and owned (the caller's matrix is never
written to nor aliased), and ``shape``.
"""
import numpy as np

from .._kernels import _rows
from .shapes import check_X_shape

FORMATS = ("csr", "csc", "coo")


def is_sparse(X):
    """Whether X is a scipy.sparse matrix or array (without importing scipy
    for anything else)."""
    if isinstance(X, CsrRows):
        return True
    if not type(X).__module__.startswith("scipy.sparse"):
        return False
    import scipy.sparse
    return scipy.sparse.issparse(X)


class CsrRows:
    """Validated CSR rows in the kernels' form (see the module docstring)."""

    __slots__ = ("indptr", "indices", "data", "shape")

    def __init__(self, indptr, indices, data, shape):
        self.indptr = indptr
        self.indices = indices
        self.data = data
        self.shape = (int(shape[0]), int(shape[1]))

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def nnz(self):
        return int(self.data.shape[0])

    def row_nnz(self):
        """Stored entries of each row, (n,) intp."""
        return np.diff(self.indptr)

    def matrix(self):
        """A scipy.sparse.csr_matrix over the same values (the reference's
        arithmetic; scipy may narrow the index arrays into copies)."""
        import scipy.sparse
        return scipy.sparse.csr_matrix((self.data, self.indices, self.indptr),
                                       shape=self.shape, copy=False)

    def take(self, rows):
        """A new CsrRows of these rows (an intp index array), in that order."""
        rows = np.asarray(rows, dtype=np.intp)
        starts, stops = self.indptr[rows], self.indptr[rows + 1]
        counts = stops - starts
        indptr = np.zeros(rows.shape[0] + 1, dtype=np.intp)
        np.cumsum(counts, out=indptr[1:])
        picks = np.repeat(starts - indptr[:-1], counts) + np.arange(indptr[-1])
        return CsrRows(indptr, self.indices[picks], self.data[picks],
                       (rows.shape[0], self.shape[1]))


def _format(X):
    fmt = getattr(X, "format", None)
    if fmt not in FORMATS:
        raise TypeError(
            f"sparse X must be in CSR, CSC or COO form, got {fmt!r} "
            f"({type(X).__name__}); convert it with X.tocsr()")
    return fmt


def _check_values(X):
    kind = X.dtype.kind
    if kind == "c":
        raise TypeError(f"X has complex dtype {X.dtype}; only real numbers are supported")
    if kind not in "biuf":
        raise TypeError(f"X has non-numeric dtype {X.dtype}")


def _check_index_array(a, name, length, upper):
    """a 1-D integer array of `length` values in [0, upper)."""
    a = np.asarray(a)
    if a.ndim != 1 or a.dtype.kind not in "iu":
        raise ValueError(f"sparse X: {name} must be a 1-D integer array, got "
                         f"{a.dtype} of shape {a.shape}")
    if a.shape[0] != length:
        raise ValueError(f"sparse X: {name} has {a.shape[0]} entries, expected {length}")
    if length:
        lo, hi = a.min(), a.max()
        if lo < 0:
            raise ValueError(f"sparse X: {name} holds a negative index ({lo})")
        if hi >= upper:
            raise ValueError(f"sparse X: {name} holds index {hi}, out of range for "
                             f"{upper}")
    return a


def _check_pointer(indptr, n_major, nnz, major):
    indptr = np.asarray(indptr)
    if indptr.ndim != 1 or indptr.dtype.kind not in "iu":
        raise ValueError("sparse X: indptr must be a 1-D integer array")
    if indptr.shape[0] != n_major + 1:
        raise ValueError(f"sparse X: indptr has {indptr.shape[0]} entries, expected "
                         f"{n_major + 1} (one per {major} plus one)")
    if indptr[0] != 0 or indptr[-1] > nnz or np.any(np.diff(indptr) < 0):
        raise ValueError("sparse X: indptr must start at 0, never decrease and end "
                         f"within the {nnz} stored entries")
    return indptr


def _check_structure(X, fmt):
    """Everything scipy's conversion would read out of bounds, checked first."""
    n, d = X.shape
    if fmt == "coo":
        nnz = X.data.shape[0]
        _check_index_array(X.row if hasattr(X, "row") else X.coords[0], "row", nnz, n)
        _check_index_array(X.col if hasattr(X, "col") else X.coords[1], "col", nnz, d)
        return
    n_major, n_minor = (n, d) if fmt == "csr" else (d, n)
    indptr = _check_pointer(X.indptr, n_major, min(X.indices.shape[0], X.data.shape[0]),
                            "row" if fmt == "csr" else "column")
    used = int(indptr[-1])
    _check_index_array(X.indices[:used], "indices", used, n_minor)


def _first_nonfinite_entry(csr):
    """(row, column) of the first stored NaN or inf of a CSR matrix, or None."""
    bad = np.flatnonzero(~np.isfinite(csr.data))
    if bad.size == 0:
        return None
    k = int(bad[0])
    row = int(np.searchsorted(csr.indptr, k, side="right") - 1)
    return row, int(csr.indices[k])


def check_csr(X, n_features, dtype):
    """X (a scipy.sparse matrix or array, or a CsrRows) as a CsrRows of the
    model dtype with n_features columns; see the module docstring."""
    dtype = np.dtype(dtype)
    if isinstance(X, CsrRows):
        if X.shape[1] != n_features:
            raise ValueError(f"X has {X.shape[1]} features but the network expects "
                             f"{n_features}")
        if X.dtype != dtype:
            raise ValueError(f"X holds {X.dtype} values but the model is {dtype}")
        return X
    fmt = _format(X)
    shape = X.shape
    if len(shape) != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got a sparse array "
                         f"of shape {shape}")
    check_X_shape(shape, n_features)
    _check_values(X)
    _check_structure(X, fmt)
    import scipy.sparse
    # A CSR matrix of our own (a copy even when X is CSR already): summing
    # duplicates sorts and rewrites in place.
    if fmt == "csr":
        used = int(X.indptr[-1])
        csr = scipy.sparse.csr_matrix(
            (np.array(X.data[:used]), np.array(X.indices[:used]), np.array(X.indptr)),
            shape=shape)
    else:
        csr = scipy.sparse.csr_matrix(X)
        if csr.data is getattr(X, "data", None):
            csr = csr.copy()
    bad = _first_nonfinite_entry(csr)
    if bad is not None:
        raise ValueError(f"X contains NaN or infinity (first at row {bad[0]}, column "
                         f"{bad[1]})")
    csr.sum_duplicates()
    with np.errstate(over="ignore", invalid="ignore"):
        data = np.ascontiguousarray(csr.data, dtype=dtype)
    if not np.isfinite(data).all():
        k = int(np.flatnonzero(~np.isfinite(data))[0])
        row = int(np.searchsorted(csr.indptr, k, side="right") - 1)
        raise ValueError(f"X[{row}, {int(csr.indices[k])}] = {csr.data[k]!r} overflows "
                         f"{dtype.name} (duplicate entries summed)")
    return CsrRows(np.ascontiguousarray(csr.indptr, dtype=np.intp),
                   np.ascontiguousarray(csr.indices, dtype=np.int32), data, shape)


def input_rows(X):
    """The kernels' input source for validated X: SparseRows for a
    fastmlp.inputs.sparse.CsrRows, else DenseRows (a C-contiguous 2-D array)."""
    if isinstance(X, CsrRows):
        return _rows.SparseRows(X.indptr, X.indices, X.data, X.shape[1])
    return _rows.DenseRows(X)
