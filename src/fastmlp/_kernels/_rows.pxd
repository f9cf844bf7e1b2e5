# The input source of every kernel: a block of dense rows or of CSR rows
# behind one type, so each operation has one entry point whatever the input
# kind (the model: scikit-learn's SequentialDataset with ArrayDataset and
# CSRDataset). Python makes the source once per call or per fit from
# validated arrays (fastmlp.inputs.sparse.check_csr, fastmlp.inputs.validation.check_X);
# the kernels read `x` (dense, C order) or `xs` (CSR), whichever is set.
from fastmlp._kernels._sparse cimport CsrBatch, CsrRows


cdef class Rows:
    cdef readonly Py_ssize_t n          # rows
    cdef readonly Py_ssize_t n_cols     # features
    cdef readonly object dtype          # the model dtype of the values
    cdef const void* x                  # dense rows; NULL for CSR rows
    cdef CsrRows xs                     # CSR rows; xs.indptr NULL for dense rows
    cdef object keep                    # the arrays the pointers point into


cdef class DenseRows(Rows):
    pass


cdef class SparseRows(Rows):
    cdef readonly Py_ssize_t nnz


cdef class SparseBatch:
    # Room for one gathered chunk of a SparseRows, sized for the fullest
    # chunk any row order can give: made once per fit.
    cdef CsrBatch buf
    cdef readonly Py_ssize_t rows, capacity
    cdef object keep


cdef inline const CsrRows* csr_of(Rows rows) noexcept:
    """The CSR rows of a source, or NULL when it holds dense rows."""
    return &rows.xs if rows.xs.indptr != NULL else NULL
