"""Where every W_l and b_l lives in one flat parameter buffer.

All weights come first, then all biases: the momentum update is then two
contiguous passes (weights with the l2 term, biases without), and each
layer's slices are found through one offsets table that the kernels read.

W_0 may be stored transposed, as (n_0, n_1) rows (``first_transposed``): its
forward product is then a faster GEMM form on small layers (see
_kernels/_dense.pxd). The views still have W_l's shape (n_{l+1}, n_l).
"""
import numpy as np


class Layout:
    """Offsets and shapes of the parameters of a network with ``sizes``."""

    def __init__(self, sizes, first_transposed=False):
        self.sizes = tuple(int(s) for s in sizes)
        self.first_transposed = bool(first_transposed)
        n_layers = len(self.sizes) - 1
        self.n_layers = n_layers
        w_off, b_off = [], []
        pos = 0
        for l in range(n_layers):
            w_off.append(pos)
            pos += self.sizes[l] * self.sizes[l + 1]
        self.n_weights = pos
        for l in range(n_layers):
            b_off.append(pos)
            pos += self.sizes[l + 1]
        self.n_params = pos
        self.w_offsets = np.array(w_off, dtype=np.intp)
        self.b_offsets = np.array(b_off, dtype=np.intp)
        self.sizes_array = np.array(self.sizes, dtype=np.intp)

    def weight_views(self, flat):
        views = []
        for l, o in enumerate(self.w_offsets):
            block = flat[o:o + self.sizes[l] * self.sizes[l + 1]]
            if l == 0 and self.first_transposed:
                views.append(block.reshape(self.sizes[0], self.sizes[1]).T)
            else:
                views.append(block.reshape(self.sizes[l + 1], self.sizes[l]))
        return views

    def bias_views(self, flat):
        return [flat[o:o + self.sizes[l + 1]] for l, o in enumerate(self.b_offsets)]
