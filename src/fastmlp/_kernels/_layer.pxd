# One layer over one block of rows as its kernels see it (_dense.pxd on
# dense rows, _sparse.pxd and _sparse_bf16.pxd on CSR rows): its shape,
# and where the backward pass writes its gradient. The passes
# (_network.pxd) fill both once per layer and hand them on by pointer; the
# products derive each GEMM's Product (_gemm.pxd) from the shape. Its own
# module, below those three, so that each of them can read both.


cdef struct LayerShape:
    int rows        # rows of the block
    int n_in        # inputs of the layer (columns of a_in)
    int n_out       # outputs (columns of its output and delta)
    bint w_t        # W stored as W^T: (n_in x n_out) row-major (_dense.pxd)


cdef struct LayerSink:
    # One layer's part of the backward pass's GradientSink (_update.pxd):
    # each output written as out = beta out + alpha (gradient), in the
    # model dtype. alpha and beta are the sink's doubles, each converted to
    # the model dtype where a kernel reads it and used only so converted:
    # the products and sums run in the model dtype.
    void* out_w         # W's gradient, in W's layout
    void* out_b         # b's, or NULL (summed by the layer above)
    void* out_b_prev    # the layer below's bias gradient, summed from the
                        # input delta (NULL: the first layer, or none wanted)
    double alpha
    double beta
