"""Where every W_l and b_l lives in one flat parameter buffer.

All weights come first, then all biases: the momentum update is then two
contiguous passes (weights with the l2 term, biases without), and each
layer's slices are found through one offsets table that the kernels read.

W_0 may be stored transposed, as (n_0, n_1) rows (``first_transposed``): its
forward product is then a faster GEMM form on small layers (see
_kernels/_dense.pxd). The views still have W_l's shape (n_{l+1}, n_l).

The canonical layout is the plain one (``first_transposed=False``): every
W_l row-major in its (n_{l+1}, n_l) shape, then every b_l. It is what leaves
the process (model files, fastmlp.io.persist), so that what is stored does not
depend on which memory layout a model happens to use; ``to_canonical`` and
``from_canonical`` convert, going through the views and so correct for any
layout whose views are.
"""
import numpy as np

# W_0 stored transposed makes its forward product a GEMM form with a
# small-matrix path in OpenBLAS, but its weight-gradient product one without
# (_kernels/_dense.pxd). Measured with _probes.gemm_floor (one thread, AVX-512
# kernels; 2026-12-02): the step's GEMMs take 0.75x the time on 64-32-10
# (2,048 first-layer weights, batch 32), 0.86x in float64, 0.97-0.99x on
# 784-128-10 (100,352 weights, batch 64), but 1.05-1.06x on 784-512-256-10
# (401,408 weights, batch 256), and the same within noise on 1024-2048-2048.
TRANSPOSE_FIRST_MAX_WEIGHTS = 2**17


def first_layer_transposed(sizes):
    """Whether a model with these layer sizes stores W_0 transposed: where
    that is the faster GEMM form (small first layers)."""
    return sizes[0] * sizes[1] <= TRANSPOSE_FIRST_MAX_WEIGHTS


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

    def to_canonical(self, flat):
        """A new 1-D array holding the parameters in ``flat`` (laid out by
        this layout) in the canonical layout, same dtype."""
        out = np.empty(self.n_params, dtype=self._checked(flat, "flat").dtype)
        _copy_blocks(Layout(self.sizes), out, self, flat)
        return out

    def from_canonical(self, canonical, flat):
        """Write the canonical-layout parameters ``canonical`` into ``flat``
        (laid out by this layout) in place, through its views, so that views
        already taken of ``flat`` see the new values."""
        _copy_blocks(self, self._checked(flat, "flat"),
                     Layout(self.sizes), self._checked(canonical, "canonical"))

    def _checked(self, flat, name):
        if not isinstance(flat, np.ndarray) or flat.shape != (self.n_params,):
            raise ValueError(f"{name} must be a 1-D array of {self.n_params} values, got "
                             f"shape {getattr(flat, 'shape', None)}")
        return flat


def _copy_blocks(dst_layout, dst, src_layout, src):
    """Each W_l and b_l of ``src`` into the same block of ``dst``."""
    for d, s in zip(dst_layout.weight_views(dst) + dst_layout.bias_views(dst),
                    src_layout.weight_views(src) + src_layout.bias_views(src)):
        d[...] = s
