"""Pure-NumPy MLP with the same contract as ``fastmlp.MLP``: the test oracle.

Written for clarity, not speed, and independently of the kernels: it keeps
the pre-activations and differentiates activations from them (the kernels
use the stored outputs), computes the output delta from the generic chain
rule except where the canonical link makes it exact, and runs its training
loop step by step in Python.
"""
import numpy as np

from ._kernels._train import LEAKY_SLOPE, SATURATED
from ._model import BaseMLP, DivergenceError
from .network.bfloat16 import round_to_bfloat16
from .inputs.sparse import CsrRows


def activate(name, z):
    if name == "identity":
        return z.copy()
    if name == "sigmoid":
        # Split by sign so exp never overflows.
        out = np.empty_like(z)
        pos = z >= 0
        out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
        ez = np.exp(z[~pos])
        out[~pos] = ez / (1.0 + ez)
        return out
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z > 0, z, LEAKY_SLOPE * z)
    if name == "softmax":
        shifted = z - z.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(name)


def activation_derivative(name, z):
    """d sigma / d z evaluated at the pre-activation z (elementwise)."""
    if name == "identity":
        return np.ones_like(z)
    if name == "sigmoid":
        s = activate("sigmoid", z)
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(z) ** 2
    if name == "relu":
        return (z > 0).astype(z.dtype)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, LEAKY_SLOPE).astype(z.dtype)
    raise ValueError(name)


def per_sample_loss(loss, out_name, z, y):
    """Loss of each row, from the output pre-activation z (stable forms)."""
    if loss == "cross_entropy":
        m = z.max(axis=1, keepdims=True)
        log_norm = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
        return (y * (log_norm[:, None] - z)).sum(axis=1)
    if loss == "binary_cross_entropy":
        # -[y log s(z) + (1-y) log(1-s(z))] = softplus(z) - y z
        softplus = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
        return (softplus - y * z).sum(axis=1)
    yhat = activate(out_name, z)
    return ((yhat - y) ** 2).sum(axis=1)


def output_delta(loss, out_name, z, y):
    """d (sum of per-sample losses) / d z."""
    if loss == "cross_entropy":
        return activate("softmax", z) * y.sum(axis=1, keepdims=True) - y
    if loss == "binary_cross_entropy":
        return activate("sigmoid", z) - y
    yhat = activate(out_name, z)
    return 2 * (yhat - y) * activation_derivative(out_name, z)


def _operand(X):
    """X as NumPy/SciPy arithmetic takes it: sparse X (a validated
    fastmlp.inputs.sparse.CsrRows) as a scipy CSR matrix, whose products with
    dense arrays are dense arrays."""
    return X.matrix() if isinstance(X, CsrRows) else X


def _outer(delta, a, matmul):
    """delta^T a by matmul, for a dense a; for a scipy.sparse a (X) as
    (a^T delta)^T, since ndarray @ sparse is left to the sparse operand."""
    return matmul(delta.T, a) if isinstance(a, np.ndarray) else np.asarray(matmul(a.T, delta).T)


def _rounded(x):
    """x with its values rounded to bfloat16: a dense array, or a
    scipy.sparse matrix (its stored values; the zeros stay zeros)."""
    if isinstance(x, np.ndarray):
        return round_to_bfloat16(x)
    out = x.copy()
    out.data = round_to_bfloat16(out.data)
    return out


class MLP(BaseMLP):
    """Reference multilayer perceptron; see ``fastmlp.MLP`` for the contract."""

    def _matmul(self, a, b):
        """a @ b, with both operands rounded to bfloat16 first under
        matmul_dtype="bfloat16" (the products of two bfloat16 values are
        exact in float32, so numpy's float32 GEMM accumulates them in
        float32, as the contract says)."""
        if self.matmul_dtype == "bfloat16":
            return _rounded(a) @ _rounded(b)
        return a @ b

    def _propagate(self, X):
        """Activations a_0..a_L and pre-activations z_1..z_L for X."""
        acts, pres = [_operand(X)], []
        # Overflow gives inf, as in the kernels, without numpy warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            for W, b, name in zip(self.weights, self.biases, self.layer_activations):
                z = self._matmul(acts[-1], W.T) + b
                pres.append(z)
                acts.append(activate(name, z))
        return acts, pres

    def _forward(self, X):
        return self._propagate(X)[0][-1]

    def _l2_term(self):
        if self.l2 == 0:
            return 0.0
        return 0.5 * self.l2 * sum(float(np.sum(W.astype(np.float64) ** 2)) for W in self.weights)

    def _objective(self, X, Y, outputs=None):
        acts, pres = self._propagate(X)
        if outputs is not None:
            outputs[...] = acts[-1]
        losses = per_sample_loss(self.loss_name, self.output_activation, pres[-1], Y)
        return float(np.mean(losses, dtype=np.float64)) + self._l2_term()

    def _backprop(self, X, Y, weights=None):
        """(objective, flat gradient) for the rows of X; with per-row
        weights the objective is sum w_i L_i / sum w_i + the l2 term."""
        acts, pres = self._propagate(X)
        losses = per_sample_loss(self.loss_name, self.output_activation, pres[-1], Y)
        delta = output_delta(self.loss_name, self.output_activation, pres[-1], Y)
        if weights is None:
            objective = float(np.mean(losses, dtype=np.float64))
            delta = delta / X.shape[0]
        else:
            total = float(np.sum(weights, dtype=np.float64))
            objective = float(np.dot(weights.astype(np.float64), losses)) / total
            delta = delta * (weights / self.dtype.type(total))[:, None]
        objective += self._l2_term()
        grad = np.empty_like(self.params)
        dWs = self._layout.weight_views(grad)
        dbs = self._layout.bias_views(grad)
        for l in range(len(self.weights) - 1, -1, -1):
            dWs[l][...] = _outer(delta, acts[l], self._matmul) + self.l2 * self.weights[l]
            dbs[l][...] = delta.sum(axis=0)
            if l > 0:
                delta = self._matmul(delta, self.weights[l]) * activation_derivative(
                    self.layer_activations[l - 1], pres[l - 1])
        return objective, grad

    def _gradients(self, X, Y):
        return self._backprop(X, Y)[1]

    def _layer_stats(self, X, Y):
        acts, pres = self._propagate(X)
        L = len(self.weights)
        table = np.full((L, 7), np.nan)
        for l in range(L):
            z, a, name = pres[l], acts[l + 1], self.layer_activations[l]
            table[l, :4] = z.mean(), z.var(), a.mean(), a.var()
            if name in ("relu", "leaky_relu"):
                table[l, 4] = np.mean(~np.any(a > 0, axis=0))
            elif name == "tanh":
                table[l, 4] = np.mean(np.abs(a) > SATURATED["tanh"])
            elif name == "sigmoid":
                low = SATURATED["sigmoid"]
                table[l, 4] = np.mean((a < low) | (a > 1 - low))
        if Y is not None:
            n = X.shape[0]
            delta = output_delta(self.loss_name, self.output_activation, pres[-1], Y) / n
            for l in range(L - 1, -1, -1):
                table[l, 5] = delta.var()
                table[l, 6] = _outer(delta, acts[l], self._matmul).var()
                if l > 0:
                    delta = self._matmul(delta, self.weights[l]) * activation_derivative(
                        self.layer_activations[l - 1], pres[l - 1])
        return table

    def _epoch_runner(self, data, settings, strategy):
        # A callback does not matter here: every step keeps its own copy.
        X, Y = _operand(data.X), data.Y
        n, rows, row_weights = X.shape[0], settings.batch_rows, settings.row_weights
        dt = self.dtype.type
        m, b2, eps = dt(settings.momentum), dt(settings.beta_2), dt(settings.epsilon)
        default_lr = settings.constant_lr
        total_weight = strategy.total_weight
        step_rule = {"momentum": self._momentum_step, "nesterov": self._nesterov_step,
                     "adam": self._adam_step}[self.optimizer]

        def run(perm, lr=None):
            lr = dt(default_lr if lr is None else lr)
            # Overflow on the way to divergence is reported as DivergenceError,
            # not as numpy warnings.
            with np.errstate(over="ignore", invalid="ignore"):
                total = 0.0
                for start in range(0, n, rows):
                    idx = slice(start, start + rows) if perm is None else perm[start:start + rows]
                    xb, yb = X[idx], Y[idx]
                    wb = None if row_weights is None else row_weights[idx]
                    if wb is not None and not np.any(wb):
                        continue  # a batch that weighs nothing takes no step
                    objective, grad = self._backprop(xb, yb, wb)
                    if not np.isfinite(objective):
                        raise DivergenceError(
                            f"step {start // rows}: the objective is not finite; "
                            "lower the learning rate", step=start // rows)
                    saved = self._optimizer_snapshot()
                    step_rule(grad, lr, m, b2, eps)
                    if not np.isfinite(self.params).all():
                        self._optimizer_restore(saved)
                        raise DivergenceError(
                            f"step {start // rows}: the update made a parameter inf or "
                            "NaN; parameters and velocity are restored to their state "
                            "before it; lower the learning rate", step=start // rows)
                    batch_weight = xb.shape[0] if wb is None else float(
                        np.sum(wb, dtype=np.float64))
                    total += objective * batch_weight
            return total / total_weight

        return run

    # The update rules, as the contract writes them (g includes the l2 term).
    def _momentum_step(self, g, lr, m, b2, eps):
        self.velocity *= m
        self.velocity += (1 - m) * g
        self.params -= lr * self.velocity

    def _nesterov_step(self, g, lr, m, b2, eps):
        self.velocity *= m
        self.velocity += (1 - m) * g
        self.params -= lr * (m * self.velocity + (1 - m) * g)

    def _adam_step(self, g, lr, b1, b2, eps):
        self.optimizer_steps += 1
        t = self.optimizer_steps
        m1, m2 = self.velocity, self.second_moment
        m1 *= b1
        m1 += (1 - b1) * g
        m2 *= b2
        m2 += (1 - b2) * (g * g)
        m1_hat = m1 / (1 - b1 ** t)
        m2_hat = m2 / (1 - b2 ** t)
        self.params -= lr * m1_hat / (np.sqrt(m2_hat) + eps)

    def _optimizer_snapshot(self):
        return (self.params.copy(), self.velocity.copy(),
                None if self.second_moment is None else self.second_moment.copy(),
                self.optimizer_steps)

    def _optimizer_restore(self, saved):
        self.params[...], self.velocity[...] = saved[0], saved[1]
        if saved[2] is not None:
            self.second_moment[...] = saved[2]
        self.optimizer_steps = saved[3]
