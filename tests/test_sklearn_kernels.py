"""The kernel pieces added for fastmlp.sklearn, checked on their own:

- scikit-learn's objective (weighted rows, alpha / denominator, Poisson with
  its exp output, half squared error) and its gradient, against finite
  differences in float64;
- the SGD, Nesterov and Adam update kernels against the same formulas in
  NumPy, on every instruction-set path this machine runs.

Tolerances: float64 central differences with h = 1e-6 have truncation
error ~h^2 * f''' and rounding error ~eps * |f| / h ~ 1e-10 relative, so
1e-6 relative agreement is a real test. The update kernels compute the same
expression as NumPy element by element (NumPy's reference is computed in
float64 from the same inputs); an element such as 0.9 m + 0.1 g may cancel,
so the error is bounded relative to the largest element of the result: a
few ulp of it (1e-14 in float64, 1e-6 in float32).
"""
import inspect

import numpy as np
import pytest
from fastmlp._kernels import _train
from fastmlp.sklearn import MLPClassifier
from fastmlp.sklearn._network import Network, SolverState, EpochRunner, new_sklearn_optimizer
from fastmlp.training.epoch import OptimizerState, StepPlan
from fastmlp.network.kernels import Objective
from fastmlp._kernels._rows import DenseRows
from fastmlp.network import workspace as _workspace

UPDATE_RTOL = {np.float32: 1e-6, np.float64: 1e-14}

OUTPUTS = [
    # (output activation, targets maker)
    ("softmax", lambda rng, n, k: np.eye(k)[rng.integers(0, k, n)]),
    ("logistic", lambda rng, n, k: (rng.random((n, k)) < 0.5).astype(float)),
    ("identity", lambda rng, n, k: rng.normal(size=(n, k))),
    ("exp", lambda rng, n, k: rng.poisson(2.0, size=(n, k)).astype(float)),
]


def _net(out_activation, k, hidden="tanh", seed=0):
    net = Network([5, 7, k], hidden, out_activation, np.float64)
    net.flat[:] = np.random.default_rng(seed).normal(scale=0.4, size=net.flat.size)
    return net


def _objective(net, flat, X, Y, sw, denom, alpha, loss_coef):
    terms = Objective(alpha / denom, row_weights=sw, loss_coef=loss_coef, denom=denom)
    return net.kernels.objective(flat, X, Y, terms)


def _central_differences(net, X, Y, sw, denom, alpha, h=1e-6):
    """The objective's gradient at net.flat by central differences."""
    fd = np.empty_like(net.flat)
    for i in range(net.flat.size):
        up, down = net.flat.copy(), net.flat.copy()
        up[i] += h
        down[i] -= h
        fd[i] = (_objective(net, up, X, Y, sw, denom, alpha, net.loss_coef)
                 - _objective(net, down, X, Y, sw, denom, alpha, net.loss_coef)) / (2 * h)
    return fd


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("out_activation,targets", OUTPUTS, ids=[o[0] for o in OUTPUTS])
def test_gradient_matches_finite_differences(out_activation, targets, weighted):
    rng = np.random.default_rng(1)
    k = 1 if out_activation == "identity" else 3
    net = _net(out_activation, k)
    X = rng.normal(size=(23, 5))
    Y = np.ascontiguousarray(targets(rng, 23, k))
    sw = rng.uniform(0.2, 3.0, 23) if weighted else None
    denom = sw.sum() if weighted else 23.0
    alpha = 0.3
    grads = np.empty_like(net.flat)
    loss = net.loss_and_gradients(X, Y, sw, denom, alpha, grads)
    # With one output, scikit-learn's half mean squared error and the
    # gradient it uses (that of half the sum) are the same function.
    assert loss == pytest.approx(
        _objective(net, net.flat, X, Y, sw, denom, alpha, net.loss_coef), rel=1e-14)
    fd = _central_differences(net, X, Y, sw, denom, alpha)
    np.testing.assert_allclose(grads, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("n_labels", [2, 3])
def test_gradient_like_sklearns_test_gradient(n_labels, activation):
    # scikit-learn's test_mlp.py::test_gradient, on the kernels (that test
    # calls scikit-learn's private NumPy backpropagation, so the swapped
    # suite deselects it): the same data and estimator, the gradient of the
    # fitted network's objective against central differences.
    import warnings
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import LabelBinarizer
    from fastmlp.sklearn import MLPClassifier
    rng = np.random.RandomState(seed=42)
    X = rng.rand(5, 10)
    y = 1 + np.mod(np.arange(5) + 1, n_labels)
    Y = np.ascontiguousarray(LabelBinarizer().fit_transform(y), dtype=np.float64)
    est = MLPClassifier(activation=activation, hidden_layer_sizes=10, solver="lbfgs",
                        alpha=1e-5, learning_rate_init=0.2, max_iter=1, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    net = est._network
    assert net.sizes == (10, 10, Y.shape[1]) and net.activations[0] == (
        "sigmoid" if activation == "logistic" else activation)
    grads = np.empty_like(net.flat)
    net.loss_and_gradients(X, Y, None, 5.0, est.alpha, grads)
    fd = _central_differences(net, X, Y, None, 5.0, est.alpha)
    np.testing.assert_allclose(grads, fd, rtol=1e-6, atol=1e-9)


def test_loss_values_match_sklearn_definitions():
    from sklearn.neural_network._base import LOSS_FUNCTIONS
    # scikit-learn's losses take sample weights, and the Poisson loss
    # exists, since 1.7: on older releases those cases have no definition
    # to compare with.
    weighted = "sample_weight" in inspect.signature(LOSS_FUNCTIONS["log_loss"]).parameters
    rng = np.random.default_rng(2)
    X = rng.normal(size=(17, 5))
    sw = rng.uniform(0.5, 2.0, 17)
    compared = set()
    for out_activation, targets in OUTPUTS:
        k = 3
        net = _net(out_activation, k)
        Y = np.ascontiguousarray(targets(rng, 17, k))
        P = net.forward(X)
        name = {"softmax": "log_loss", "logistic": "binary_log_loss",
                "identity": "squared_error", "exp": "poisson"}[out_activation]
        if name not in LOSS_FUNCTIONS:
            continue
        compared.add(name)
        for weights in (None, sw) if weighted else (None,):
            expected = (LOSS_FUNCTIONS[name](Y, P) if weights is None
                        else LOSS_FUNCTIONS[name](Y, P, weights))
            denom = 17.0 if weights is None else weights.sum()
            got = _objective(net, net.flat, X, Y, weights, denom, 0.0, net.loss_coef)
            assert got == pytest.approx(expected, rel=1e-12), (out_activation, weights)
    assert {"log_loss", "binary_log_loss", "squared_error"} <= compared


def test_multi_output_squared_error_gradient_is_that_of_half_the_sum():
    # scikit-learn's objective averages the squared error over outputs but
    # its gradient does not; fastmlp.sklearn reproduces that on purpose
    # (docs/sklearn.md), so the gradient is k times the objective's.
    rng = np.random.default_rng(3)
    k = 4
    net = _net("identity", k)
    X = rng.normal(size=(11, 5))
    Y = rng.normal(size=(11, k))
    grads = np.empty_like(net.flat)
    net.loss_and_gradients(X, Y, None, 11.0, 0.0, grads)
    h = 1e-6
    for i in (0, 7, net.flat.size - 1):
        up, down = net.flat.copy(), net.flat.copy()
        up[i] += h
        down[i] -= h
        fd = (_objective(net, up, X, Y, None, 11.0, 0.0, net.loss_coef)
              - _objective(net, down, X, Y, None, 11.0, 0.0, net.loss_coef)) / (2 * h)
        assert grads[i] == pytest.approx(k * fd, rel=1e-6)


# Tolerance for the transposed-layout comparison: the same sums over at
# most 7 terms, but BLAS may add them in another order (another kernel per
# GEMM form), so a few ulp of the largest term.
LAYOUT_RTOL = {np.float32: 1e-5, np.float64: 1e-13}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_first_layer_stored_transposed_computes_the_same(dtype):
    """Network keeps W_0 as (fan_in, fan_out) rows (the faster GEMM form,
    _kernels/_dense.pxd): outputs, objective and gradients must be those of
    the same weights in the row-major layout of fastmlp.MLP."""
    from fastmlp.network.layout import Layout
    rng = np.random.default_rng(6)
    net = Network([5, 7, 4, 3], "tanh", "softmax", dtype)
    net.flat[:] = rng.normal(scale=0.5, size=net.flat.size)
    assert net.coefs[0].flags.c_contiguous and net.coefs[0].shape == (5, 7)
    plain = Layout(net.sizes)
    flat = np.zeros_like(net.flat)
    for view, w in zip(plain.weight_views(flat), net.layout.weight_views(net.flat)):
        view[...] = w
    flat[plain.n_weights:] = net.flat[plain.n_weights:]
    assert not np.array_equal(flat, net.flat)     # the layouts really differ
    X = rng.normal(size=(13, 5)).astype(dtype)
    Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, 13)]
    spec, work = _workspace.build(plain, net.activations, net.loss, 13, dtype)
    tol = {"rtol": LAYOUT_RTOL[dtype], "atol": LAYOUT_RTOL[dtype]}

    out = np.empty((13, 3), dtype=dtype)
    _train.forward(spec, flat, DenseRows(X), work, out)
    np.testing.assert_allclose(net.forward(X), out, **tol)

    g_t, g_plain = np.empty_like(flat), np.empty_like(flat)
    loss_t = net.loss_and_gradients(X, Y, None, 13.0, 0.1, g_t)
    loss_plain = _train.loss_and_gradients(spec, flat, DenseRows(X), Y, work, g_plain,
                                           Objective(0.1 / 13.0, denom=13.0))
    assert loss_t == pytest.approx(loss_plain, rel=LAYOUT_RTOL[dtype])
    for got, expected in zip(net.layout.weight_views(g_t), plain.weight_views(g_plain)):
        np.testing.assert_allclose(got, expected, **tol)
    np.testing.assert_allclose(g_t[plain.n_weights:], g_plain[plain.n_weights:], **tol)


def _solver_state(net, solver, learning_rate_init, **params):
    """net's SolverState as an estimator with these parameters (the others
    scikit-learn's defaults) makes it."""
    est = MLPClassifier(solver=solver, learning_rate_init=learning_rate_init, **params)
    return SolverState(new_sklearn_optimizer(est), net.flat.size, net.dtype)


def _one_step(rule, dtype, momentum=0.9):
    """One full-batch epoch (a single step) of the kernel, and the same step
    in NumPy from the kernel's own gradient."""
    rng = np.random.default_rng(4)
    net = Network([5, 6, 2], "relu", "logistic", dtype)
    net.flat[:] = rng.normal(scale=0.5, size=net.flat.size)
    X = rng.normal(size=(9, 5)).astype(dtype)
    Y = (rng.random((9, 2)) < 0.5).astype(dtype)
    alpha, lr = 0.2, 0.05
    solver = "adam" if rule == _workspace.RULE_ADAM else "sgd"
    state = _solver_state(net, solver, lr, momentum=momentum,
                          nesterovs_momentum=rule == _workspace.RULE_NESTEROV)
    assert state.rule == rule
    state.first[:] = rng.normal(scale=0.1, size=net.flat.size)
    if state.second is not None:
        state.second[:] = rng.uniform(0.0, 0.1, size=net.flat.size)
    state.adam_steps[0] = 3
    w0, v0 = net.flat.copy(), state.first.copy()
    m2 = state.second.copy() if state.second is not None else None
    g = np.empty_like(net.flat)
    net.loss_and_gradients(X, Y, None, 9.0, 0.0, g)  # data part only
    g[:net.layout.n_weights] += (alpha / 9.0) * w0[:net.layout.n_weights]
    status, _, _ = EpochRunner(net, (X, Y, None), 9, state, alpha).run(None)
    assert status == 0
    if rule == _workspace.RULE_ADAM:
        t = 4
        lr_t = lr * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        m1 = 0.9 * v0 + 0.1 * g
        m2 = 0.999 * m2 + 0.001 * g * g
        w = w0 + (-lr_t * m1) / (np.sqrt(m2) + 1e-8)
        assert state.adam_t == 4
        return (net.flat, w), (state.first, m1), (state.second, m2)
    v = momentum * v0 - lr * g
    step = momentum * v - lr * g if rule == _workspace.RULE_NESTEROV else v
    return (net.flat, w0 + step), (state.first, v)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("rule", [_workspace.RULE_SGD, _workspace.RULE_NESTEROV,
                                  _workspace.RULE_ADAM], ids=["sgd", "nesterov", "adam"])
def test_update_rules_match_their_formulas(simd_path, rule, dtype):
    for got, expected in _one_step(rule, dtype):
        np.testing.assert_allclose(got, expected.astype(dtype), rtol=UPDATE_RTOL[dtype],
                                   atol=UPDATE_RTOL[dtype] * np.abs(expected).max(),
                                   err_msg=f"{simd_path}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("solver,nesterov", [("sgd", True), ("sgd", False), ("adam", False)],
                         ids=["nesterov", "sgd", "adam"])
def test_update_pass_sums_squares_as_the_objective_does(simd_path, solver, nesterov, dtype):
    """The update passes sum w^2 on the way (FM_UPDATE_LOOP) in the order of
    the objective's separate sum (fm_sumsq). With alpha large the L2 term is
    nearly all of a one-step epoch's loss, so a different order shows: in
    float32 (squares summed in double either way) the two losses are equal
    bit for bit (a 16-lane order instead of 32 fails here). In float64 the
    epoch's rows * loss / rows round trip may move the last bit, so 4 ulp:
    that catches a wrong or missing sum there, not a reordering."""
    rng = np.random.default_rng(7)
    net = Network([13, 37, 5], "tanh", "softmax", dtype)   # 666 weights: 20 blocks of 32, a tail
    net.flat[:] = rng.normal(scale=0.7, size=net.flat.size)
    X = rng.normal(size=(9, 13)).astype(dtype)
    Y = np.eye(5, dtype=dtype)[rng.integers(0, 5, 9)]
    alpha = 50.0
    expected = net.kernels.objective(net.flat.copy(), X, Y,
                                     Objective(alpha / 9.0, loss_coef=net.loss_coef,
                                               denom=9.0))
    state = _solver_state(net, solver, 1e-3, nesterovs_momentum=nesterov)
    status, total, _ = EpochRunner(net, (X, Y, None), 9, state, alpha).run(None)
    assert status == 0
    if dtype == np.float32:
        assert total / 9.0 == expected, simd_path
    else:
        assert total / 9.0 == pytest.approx(expected, rel=4 * np.finfo(np.float64).eps, abs=0)


def _epoch_peak(rule, n):
    """Traced allocation peak of one epoch of n steps (batch size 1,
    weighted rows), after a warm-up epoch."""
    import tracemalloc
    rng = np.random.default_rng(5)
    net = Network([16, 32, 8], "relu", "softmax", np.float64)
    net.flat[:] = rng.normal(scale=0.2, size=net.flat.size)
    X = rng.normal(size=(n, 16))
    Y = np.eye(8)[rng.integers(0, 8, n)]
    sw = rng.uniform(0.5, 2.0, n)
    solver = "adam" if rule == _workspace.RULE_ADAM else "sgd"
    state = _solver_state(net, solver, 0.01,
                          nesterovs_momentum=rule == _workspace.RULE_NESTEROV)
    runner = EpochRunner(net, (X, Y, sw), 1, state, 1e-3)
    perm = rng.permutation(n).astype(np.intp)
    runner.run(perm)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        status, _, _ = runner.run(perm)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert status == 0
    return peak


@pytest.mark.parametrize("rule", [_workspace.RULE_NESTEROV, _workspace.RULE_ADAM],
                         ids=["nesterov", "adam"])
def test_epoch_allocates_nothing_per_step(rule):
    """One kernel call runs all the steps of an epoch: numpy allocations in
    it would make the traced peak grow with the steps. The call itself
    (argument conversion, buffer views) costs a constant couple of KiB."""
    short, long = _epoch_peak(rule, 400), _epoch_peak(rule, 4000)
    assert long < 4096, f"{long} bytes traced over 4000 steps"
    assert long - short < 256, f"{short} bytes over 400 steps, {long} over 4000"


def test_epoch_kernel_refuses_buffers_a_rule_would_overrun():
    """The kernel keeps raw pointers for a whole fit, so it checks every
    buffer once, when it is made."""
    net = Network([3, 4, 2], "tanh", "softmax", np.float64)
    X = np.zeros((5, 3))
    Y = np.zeros((5, 2))
    spec, work = net.kernels.workspace(5)
    n = net.flat.size
    full = np.zeros(n)

    def make(rule, second=full, weights=None, velocity=full, combine=None, **kw):
        kw = dict(dict(X=X, Y=Y, work=work, params=net.flat), **kw)
        state = OptimizerState("sklearn_sgd", n, np.float64, first=velocity)
        state.rule, state.second = rule, second
        return _train.EpochKernel(_workspace.Workspace(spec, kw["work"]), kw["params"],
                                  DenseRows(kw["X"]), kw["Y"],
                                  Objective(row_weights=weights), state,
                                  StepPlan(kw.get("rows", 5), combine))

    assert make(_workspace.RULE_ADAM).run(None, 0.1)[0] == 0  # correctly sized: runs
    with pytest.raises(ValueError, match="second moment"):
        make(_workspace.RULE_ADAM, second=np.zeros(0))
    with pytest.raises(ValueError, match="velocity"):
        make(_workspace.RULE_NESTEROV, velocity=np.zeros(n - 1))
    with pytest.raises(ValueError, match="row_weights"):
        make(_workspace.RULE_SGD, weights=np.ones(4))
    with pytest.raises(ValueError, match="unknown update rule"):
        make(7)
    with pytest.raises(ValueError, match="does not match the network"):
        make(_workspace.RULE_SGD, X=np.zeros((5, 4)))
    with pytest.raises(ValueError, match="Y must be"):
        make(_workspace.RULE_SGD, Y=np.zeros((4, 2)))
    with pytest.raises(ValueError, match="params must be"):
        make(_workspace.RULE_SGD, params=np.asfortranarray(np.zeros((n, 1)))[:, 0][::-1])
    with pytest.raises(ValueError, match="work must be"):
        make(_workspace.RULE_SGD, work=work[:-1])
    with pytest.raises(TypeError, match="float32 or float64"):
        make(_workspace.RULE_SGD, params=net.flat.astype(np.int64))
    with pytest.raises(ValueError, match="workspace chunk"):
        make(0, rows=6, combine="fused")
