"""Gradient check: analytic gradients against central finite differences.

``fastmlp.gradcheck(net, X, y)`` answers "is the backward pass right?" for
any model with the fastmlp contract (``fastmlp.MLP``, ``fastmlp.reference.MLP``
or a subclass). It never touches ``net``: the work happens on a float64 copy
of the model (same class, same hyperparameters, the same parameter values).
"""
import math

import numpy as np

_EPS64 = np.finfo(np.float64).eps
# Denominator floor of the relative error: only keeps 0/0 (a layer whose
# gradient is exactly zero both ways) at 0 instead of NaN.
_TINY = np.finfo(np.float64).tiny


class GradcheckResult:
    """Outcome of ``fastmlp.gradcheck``, one entry per layer.

    - ``errors``: list of floats, per layer (weights and biases together),
      ``max |analytic - numeric| / max(max |numeric|, tiny)`` where both the
      analytic and the numeric gradient are computed in float64 on a copy of
      the model. This is the check of the backward pass.
    - ``dtype_errors``: the same measure for the model's own gradients
      (``net.gradients(X, y)`` in the model's dtype) against the float64
      numeric ones: for a float32 model it adds float32 rounding (expect
      ~1e-6 to 1e-4), for a float64 model it is about ``errors``.
    - ``scales``: ``max |numeric|`` per layer, the size of the gradient the
      errors are relative to.
    - ``eps``: the finite-difference step used (None when it was chosen per
      parameter, the default).
    - ``max_error``: ``max(errors)``.

    The result behaves like the list ``errors`` (``len``, indexing,
    iteration, ``list(result)``); ``str(result)`` is a table.
    """

    def __init__(self, errors, dtype_errors, scales, eps, model_dtype):
        self.errors = [float(e) for e in errors]
        self.dtype_errors = [float(e) for e in dtype_errors]
        self.scales = [float(s) for s in scales]
        self.eps = eps
        self.model_dtype = model_dtype

    @property
    def max_error(self):
        return max(self.errors)

    def __len__(self):
        return len(self.errors)

    def __getitem__(self, layer):
        return self.errors[layer]

    def __iter__(self):
        return iter(self.errors)

    def __str__(self):
        own = f"net.gradients ({self.model_dtype})"
        lines = [f"{'layer':>5} {'float64 copy':>14} {own:>25} {'max |numeric|':>14}"]
        for l, (e, d, s) in enumerate(zip(self.errors, self.dtype_errors, self.scales)):
            lines.append(f"{l:>5} {e:>14.3e} {d:>25.3e} {s:>14.3e}")
        lines.append("(max relative error per layer against float64 central differences)")
        return "\n".join(lines)

    def __repr__(self):
        return f"GradcheckResult(max_error={self.max_error:.3e})\n{self}"


def _float64_copy(net):
    """A float64 model of the same class, hyperparameters and parameters."""
    copy = type(net)(list(net.layer_sizes), activation=net.hidden_activations,
                     loss=net.loss_name, output=net.output_activation, l2=net.l2,
                     dtype="float64", seed=0)
    copy.params[...] = net.params
    return copy


def _layer_errors(net, analytic_flat, numeric_flat):
    errors, scales = [], []
    layout = net._layout
    pairs = zip(layout.weight_views(analytic_flat), layout.bias_views(analytic_flat),
                layout.weight_views(numeric_flat), layout.bias_views(numeric_flat))
    for aw, ab, nw, nb in pairs:
        diff = max(np.max(np.abs(aw - nw)), np.max(np.abs(ab - nb)))
        scale = max(np.max(np.abs(nw)), np.max(np.abs(nb)))
        errors.append(float(diff / max(scale, _TINY)))
        scales.append(float(scale))
    return errors, scales


def gradcheck(net, X, y, eps=None):
    """Check ``net.gradients(X, y)`` against central finite differences.

    A float64 copy of ``net`` is built (``type(net)`` with the same layer
    sizes, activations, loss, output activation and l2, and ``net.params``
    copied in); ``net`` itself is never modified (parameters, velocity,
    history and random generator are left as they are). On the copy, for
    every parameter theta_i,

        numeric_i = (Obj(theta + h e_i) - Obj(theta - h e_i)) / (2 h)

    with ``Obj`` the objective ``copy.loss(X, y)`` (l2 term included), and
    the analytic gradient is ``copy.gradients(X, y)``, also in float64, so
    the check measures the correctness of the backward pass, not the
    rounding of the model's dtype. Per layer (weights and biases together)
    the relative error is

        max |analytic - numeric| / max(max |numeric|, tiny)

    (tiny = the smallest normal float64, so a layer whose gradient is zero
    both ways reports 0). The model's own-dtype gradients,
    ``net.gradients(X, y)``, are compared with the same numeric gradient and
    reported as ``dtype_errors``.

    eps: the step h. None (default) uses h_i = cbrt(float64 eps) *
    max(1, |theta_i|) ~ 6e-6, which balances the O(h^2) truncation error of
    the central difference against the O(eps |Obj| / h) rounding error:
    a correct gradient then gives relative errors around 1e-9 to 1e-8, so
    anything above ~1e-6 is a real disagreement. A positive float sets the
    same h for every parameter.

    Limits: the cost is two objective evaluations per parameter, so use a
    small network and a small batch (a few rows). relu/leaky_relu are not
    differentiable at 0: a pre-activation within h of a kink makes the
    numeric gradient wrong there (move biases off zero, or use another batch,
    if one layer alone shows an error). A layer whose gradient is below the
    finite-difference noise (~1e-10 * |Obj|) cannot be checked to 1e-6.

    Returns a ``GradcheckResult``: ``result.errors`` (also ``list(result)``)
    is the list of per-layer relative errors, ``result.max_error`` their
    maximum, and ``print(result)`` shows a table.
    """
    if eps is not None:
        if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating, np.integer)):
            raise TypeError(f"eps must be a positive float or None, got {type(eps).__name__}")
        eps = float(eps)
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a positive finite float, got {eps}")

    copy = _float64_copy(net)
    # Validated and converted once; the loop calls the objective hook directly.
    Xc, Y = copy._check_Xy(X, y)
    own = net.gradients(X, y)  # validates X, y against net as well
    # gradients() returns them by layer; laid out as the copy's parameters.
    own_flat = np.empty(copy.params.size, dtype=np.float64)
    copy._layout.from_canonical(
        np.concatenate([w.ravel() for w in own[0]] + [b.ravel() for b in own[1]]), own_flat)
    analytic = np.asarray(copy._gradients(Xc, Y), dtype=np.float64).copy()

    theta = copy.params
    numeric = np.empty(theta.size, dtype=np.float64)
    cbrt_eps = _EPS64 ** (1.0 / 3.0)
    for i in range(theta.size):
        old = theta[i]
        h = eps if eps is not None else cbrt_eps * max(1.0, abs(old))
        up, down = old + h, old - h
        theta[i] = up
        f_up = copy._objective(Xc, Y)
        theta[i] = down
        f_down = copy._objective(Xc, Y)
        theta[i] = old
        # Divide by the step actually taken (up - down is exact in binary
        # only up to rounding of old +- h).
        numeric[i] = (f_up - f_down) / (up - down)

    errors, scales = _layer_errors(copy, analytic, numeric)
    dtype_errors, _ = _layer_errors(copy, own_flat.astype(np.float64), numeric)
    return GradcheckResult(errors, dtype_errors, scales, eps, np.dtype(net.dtype).name)
