"""Per-layer statistics of one pass over a batch: net.layer_stats(X, y).

The quantities behind the Xavier/Glorot/He analysis: how the variance of
the pre-activations, activations, backpropagated deltas and weight
gradients changes from layer to layer. Initialization that matches the
activation keeps them roughly constant with depth; a mismatched one makes
them vanish or explode.
"""
import math

import numpy as np

from .._kernels._train import SATURATED, STAT_COLUMNS

# Column order of the table the kernels fill (defined in
# fastmlp/_kernels/_codes.pxd); the reference fills its table in this order.
COLUMNS = STAT_COLUMNS

DESCRIPTIONS = {
    "pre_mean": "mean of the pre-activations z = W a + b",
    "pre_var": "variance of the pre-activations",
    "act_mean": "mean of the activations sigma(z)",
    "act_var": "variance of the activations",
    "inactive": ("relu/leaky_relu: fraction of dead units (never positive on the batch); "
                 "sigmoid/tanh: fraction of saturated activations (tanh |a| > "
                 f"{SATURATED['tanh']}, sigmoid a < {SATURATED['sigmoid']} or a > "
                 f"{1 - SATURATED['sigmoid']}); NaN for other activations"),
    "delta_var": ("variance of dObjective/dz, the delta backpropagated to this layer "
                  "(of the mean loss over the batch; NaN without y)"),
    "grad_var": "variance of the weight gradient dObjective/dW (NaN without y)",
}


class LayerStats:
    """Statistics per layer; ``stats[l]`` is a dict, ``stats.table`` the
    (n_layers, 7) array in COLUMNS order, ``str(stats)`` a readable table."""

    columns = COLUMNS

    def __init__(self, activations, sizes, table):
        self.activations = list(activations)
        self.sizes = list(sizes)
        self.table = np.asarray(table, dtype=np.float64)

    def __len__(self):
        return self.table.shape[0]

    def __getitem__(self, layer):
        row = self.table[layer]
        out = {"layer": layer if layer >= 0 else len(self) + layer,
               "activation": self.activations[layer],
               "shape": (self.sizes[layer + 1 if layer >= 0 else layer],
                         self.sizes[layer if layer >= 0 else layer - 1])}
        out.update({name: float(v) for name, v in zip(COLUMNS, row)})
        return out

    def __iter__(self):
        return (self[l] for l in range(len(self)))

    def column(self, name):
        return self.table[:, COLUMNS.index(name)].copy()

    def __str__(self):
        head = f"{'layer':>5} {'activation':>10} {'shape':>11} " + " ".join(
            f"{c:>10}" for c in COLUMNS)
        lines = [head]
        for l in range(len(self)):
            shape = f"{self.sizes[l + 1]}x{self.sizes[l]}"
            cells = " ".join(f"{_fmt(v):>10}" for v in self.table[l])
            lines.append(f"{l:>5} {self.activations[l]:>10} {shape:>11} {cells}")
        return "\n".join(lines)

    def __repr__(self):
        return f"LayerStats({len(self)} layers)\n{self}"


def _fmt(v):
    if math.isnan(v):
        return "-"
    return f"{v:.4g}"
