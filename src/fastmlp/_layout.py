"""Where every W_l and b_l lives in one flat parameter buffer.

All weights come first, then all biases: the momentum update is then two
contiguous passes (weights with the l2 term, biases without), and each
layer's slices are found through one offsets table that the kernels read.
"""
import numpy as np


class Layout:
    """Offsets and shapes of the parameters of a network with ``sizes``."""

    def __init__(self, sizes):
        self.sizes = tuple(int(s) for s in sizes)
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
        return [
            flat[o:o + self.sizes[l] * self.sizes[l + 1]].reshape(self.sizes[l + 1], self.sizes[l])
            for l, o in enumerate(self.w_offsets)
        ]

    def bias_views(self, flat):
        return [flat[o:o + self.sizes[l + 1]] for l, o in enumerate(self.b_offsets)]
