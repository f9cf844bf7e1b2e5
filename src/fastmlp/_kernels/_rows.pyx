# The kernels' input source (see _rows.pxd): DenseRows over a C-contiguous
# 2-D array, SparseRows over validated CSR arrays, and SparseBatch, the room
# a fit gathers shuffled CSR rows into. Made while holding the GIL; the
# kernels then read raw pointers without it, so every check a kernel relies
# on (dtype, contiguity, lengths that agree) is made here, once.
cimport numpy as cnp
import numpy as np

cnp.import_array()

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


cdef const void* _data(object a, object dtype, str name) except? NULL:
    """The data of a C-contiguous 1-D ndarray of `dtype` (NULL when empty)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.ndim != 1 or a.dtype != dtype or not a.flags.c_contiguous:
        raise ValueError(f"{name} must be a C-contiguous 1-D {np.dtype(dtype).name} array, "
                         f"got {a.dtype} {a.shape}")
    return cnp.PyArray_DATA(<cnp.ndarray> a) if a.shape[0] else NULL


cdef class Rows:
    """Rows the kernels read: DenseRows or SparseRows."""

    def __init__(self):
        raise TypeError("make DenseRows or SparseRows")

    @property
    def shape(self):
        return (self.n, self.n_cols)

    @property
    def is_sparse(self):
        return self.xs.indptr != NULL


cdef class DenseRows(Rows):
    """X, a C-contiguous 2-D float32 or float64 array, read in place."""

    def __init__(self, X):
        if type(X) is not np.ndarray and not isinstance(X, np.ndarray):
            raise TypeError(f"X must be a numpy array, got {type(X).__name__}")
        cdef cnp.ndarray a = <cnp.ndarray> X
        if a.ndim != 2 or not cnp.PyArray_IS_C_CONTIGUOUS(a) or a.dtype not in _DTYPES:
            raise ValueError(f"X must be a C-contiguous 2-D float32 or float64 array, got "
                             f"{a.dtype} {np.shape(a)}")
        self.n = a.shape[0]
        self.n_cols = a.shape[1]
        self.dtype = a.dtype
        self.x = cnp.PyArray_DATA(a)
        self.xs.indptr = NULL
        self.keep = a


cdef class SparseRows(Rows):
    """CSR rows: indptr (n + 1,) intp from 0 to nnz, never decreasing;
    indices (nnz,) int32, each in [0, n_cols) (checked by
    fastmlp.inputs.sparse.check_csr, which made them); data (nnz,) float32 or
    float64."""

    def __init__(self, indptr, indices, data, Py_ssize_t n_cols):
        dtype = getattr(data, "dtype", None)
        if dtype not in _DTYPES:
            raise ValueError("data must be a float32 or float64 array")
        n = getattr(indptr, "shape", (0,))[0] - 1
        if n < 0:
            raise ValueError("indptr must hold at least one offset")
        nnz = getattr(data, "shape", (0,))[0]
        self.xs.indptr = <const Py_ssize_t*> _data(indptr, np.intp, "indptr")
        self.xs.indices = <const int*> _data(indices, np.intc, "indices")
        self.xs.data = _data(data, dtype, "data")
        if indices.shape[0] != nnz or indptr[0] != 0 or indptr[n] != nnz:
            raise ValueError("indptr, indices and data of CSR X disagree on its entries")
        self.n = n
        self.n_cols = n_cols
        self.nnz = nnz
        self.dtype = dtype
        self.x = NULL
        self.keep = (indptr, indices, data)

    def batch(self, Py_ssize_t rows):
        """Room for `rows` of these rows gathered in any order."""
        return SparseBatch(self, rows)


cdef class SparseBatch:
    """Buffers for up to `rows` rows of `source` gathered by a permutation:
    indptr (rows + 1), and indices and data for the most stored entries any
    `rows` of its rows hold (the sum of the `rows` largest row counts)."""

    def __init__(self, SparseRows source, Py_ssize_t rows):
        # Row counts only here, once per fit: a source made for one call
        # (forward, objective) never needs them.
        counts = np.diff(source.keep[0])
        rows = max(0, min(rows, source.n))
        if rows == source.n:
            capacity = int(counts.sum())
        else:
            capacity = int(np.partition(counts, source.n - rows)[source.n - rows:].sum())
        indptr = np.empty(rows + 1, dtype=np.intp)
        indices = np.empty(capacity, dtype=np.intc)
        data = np.empty(capacity, dtype=source.dtype)
        self.rows = rows
        self.capacity = capacity
        self.buf.indptr = <Py_ssize_t*> cnp.PyArray_DATA(indptr)
        self.buf.indices = <int*> cnp.PyArray_DATA(indices)
        self.buf.data = cnp.PyArray_DATA(data)
        self.keep = (indptr, indices, data)
