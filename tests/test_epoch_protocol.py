"""The epoch protocol's pieces on their own: the two ways of combining a
step's stages, the constants' single source, the spec check and the
memory layout choice.

Tolerances: the fused and formed combinations compute each layer's gradient
with the same GEMMs on the same operands (an update of layer l happens only
after layer l's input delta is formed), so for every rule that steps along
a formed gradient (all but momentum) they agree bit for bit. For the momentum rule the fused step keeps the velocity
as c * u (one more rounding per step), so the two agree to a few ulp per
step, relative to the step's scale rather than to each element (an element
near zero carries the rounding of its larger neighbours' arithmetic): after
3 epochs of 5 steps, 1e-12 (float64) and 1e-5 (float32) of the largest
element leave room for that and nothing else.
"""
import ast
import pathlib

import numpy as np
import pytest

import fastmlp
import fastmlp.reference
from fastmlp.network import bf16lib as _bf16lib
from fastmlp.io import onnx as _onnx
from fastmlp.network import stats as _stats
from fastmlp.network import workspace as _workspace
from fastmlp.training.epoch import EpochLoop, OptimizerState, StepPlan
from fastmlp.network.kernels import Objective
from fastmlp._kernels._rows import DenseRows
from fastmlp._kernels import _train
from fastmlp.network.layout import TRANSPOSE_FIRST_MAX_WEIGHTS, first_layer_transposed

SRC = pathlib.Path(fastmlp.__file__).parent
COMBINE_RTOL = {np.float32: 1e-5, np.float64: 1e-12}


def _loop(rule, dtype, combine, weights=None):
    rng = np.random.default_rng(4)
    net = fastmlp.MLP([6, 9, 7, 3], activation="tanh", loss="cross_entropy",
                      dtype=dtype, seed=1, l2=1e-3)
    X = rng.standard_normal((40, 6)).astype(dtype)
    Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, 40)]
    state = OptimizerState(rule, net.params.size, dtype,
                           first=net.velocity if rule == "momentum" else None)
    loop = EpochLoop(net._kernels, net.params, X, Y, Objective(net.l2, row_weights=weights),
                     state.with_hyperparameters(0.9), StepPlan(8, combine))
    return net, state, loop


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("rule", ["momentum", "nesterov", "adam", "sklearn_sgd",
                                  "sklearn_nesterov", "sklearn_adam"])
@pytest.mark.parametrize("weighted", [False, True])
def test_fused_and_formed_steps_train_the_same_model(rule, dtype, weighted):
    weights = np.random.default_rng(9).uniform(0.5, 2, 40).astype(dtype) if weighted else None
    results = []
    for combine in ("fused", "formed"):
        net, state, loop = _loop(rule, dtype, combine, weights)
        assert loop.kernel.combine == combine
        perms = np.random.default_rng(2)
        totals = [loop.run(perms.permutation(40), 0.05)[1] for _ in range(3)]
        results.append((net.params.copy(), state.first.copy(), np.array(totals),
                        int(state.steps[0])))
    (p1, v1, t1, s1), (p2, v2, t2, s2) = results
    assert not np.array_equal(p1, _loop(rule, dtype, None)[0].params)  # it trained
    assert s1 == s2 == (15 if rule.endswith("adam") else 0)
    if rule == "momentum":
        for got, want in ((p2, p1), (v2, v1)):
            np.testing.assert_allclose(got, want, rtol=COMBINE_RTOL[dtype],
                                       atol=COMBINE_RTOL[dtype] * np.abs(want).max())
        np.testing.assert_allclose(t2, t1, rtol=COMBINE_RTOL[dtype])
    else:
        np.testing.assert_array_equal(p2, p1)
        np.testing.assert_array_equal(v2, v1)
        np.testing.assert_array_equal(t2, t1)


def test_the_combination_is_chosen_by_the_workspace(monkeypatch):
    """Fused when the batch fits one chunk, formed (with a gradient buffer)
    when it does not; a forced fused step on a chunked batch is refused."""
    assert _loop("momentum", np.float64, None)[2].kernel.combine == "fused"
    assert _loop("momentum", np.float64, None)[2].grads is None
    monkeypatch.setattr(_workspace, "WORK_BUDGET", 5 * _workspace.row_width([6, 9, 7, 3]))
    loop = _loop("momentum", np.float64, None)[2]
    assert loop.kernel.combine == "formed" and loop.grads is not None
    with pytest.raises(ValueError, match="one workspace chunk"):
        _loop("momentum", np.float64, "fused")
    with pytest.raises(ValueError, match="combine must be"):
        _loop("momentum", np.float64, "interleaved")


def test_constants_come_from_the_compiled_module():
    assert _stats.COLUMNS is _train.STAT_COLUMNS
    assert len(set(_train.STAT_COLUMNS)) == len(_train.STAT_COLUMNS) == 7
    assert _workspace.ACTIVATION_CODES is _train.ACTIVATION_CODES
    assert _workspace.RULE_ADAM == _train.RULE_CODES["sklearn_adam"]
    assert len(set(_train.RULE_CODES.values())) == len(_train.RULE_CODES) == 6
    assert len(set(_train.ACTIVATION_CODES.values())) == len(_train.ACTIVATION_CODES)
    assert len(set(_train.STATUS_CODES.values())) == len(_train.STATUS_CODES) == 4
    # Python constants with a C twin or a second user take the compiled value.
    assert fastmlp.reference.LEAKY_SLOPE is _train.LEAKY_SLOPE == 0.01
    assert _onnx.LEAKY_SLOPE is _train.LEAKY_SLOPE
    assert _bf16lib.LIBRARIES is _train.BF16_ADAPTERS


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            yield "." * node.level + (node.module or "")
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def test_the_estimators_import_no_kernel_internals_from_the_public_module():
    for path in (SRC / "sklearn").glob("*.py"):
        for module in _imports(path):
            assert module not in ("..mlp", "fastmlp.mlp"), (path.name, module)


def test_a_spec_that_is_not_make_specs_is_refused():
    """The spec's format is the kernels' alone (made by make_spec, read by
    net_from_spec): an unknown backend is refused when it is made, a spec
    of another length when it is read."""
    net = fastmlp.MLP([3, 4, 2], loss="cross_entropy", seed=0)
    spec, work = _workspace.build(net._layout, net.layer_activations, net.loss_name, 5,
                                  net.dtype)
    X = DenseRows(np.zeros((5, 3), dtype=net.dtype))
    out = np.empty((5, 2), dtype=net.dtype)
    _train.forward(spec, net.params, X, work, out)
    with pytest.raises(ValueError, match="unknown GEMM backend"):
        _workspace.build(net._layout, net.layer_activations, net.loss_name, 5, net.dtype,
                         gemm="cuBLAS")
    with pytest.raises(ValueError, match="spec"):
        _train.forward(spec[:5], net.params, X, work, out)
    with pytest.raises(ValueError, match="spec"):
        _train.forward(np.concatenate([spec, [0]]), net.params, X, work, out)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("gemm", ["openblas", "bf16"])
def test_the_workspace_holds_what_a_row_needs_and_the_bfloat16_copies(gemm, sparse):
    """The workspace make_spec sizes is its rows times the row width that
    chunk sizing uses; bfloat16 products add one 16-bit copy per element
    before them, per parameter and per dense input element, two to an
    element."""
    net = fastmlp.MLP([6, 9, 7, 3], loss="cross_entropy", seed=0)
    rows, width = 11, _workspace.row_width([6, 9, 7, 3], sparse)
    spec, work = _workspace.build(net._layout, net.layer_activations, net.loss_name, rows,
                                  net.dtype, gemm=gemm, sparse=sparse)
    halves = rows * width + net.params.size + (0 if sparse else rows * 6)
    assert work.size == rows * width + ((halves + 1) // 2 if gemm == "bf16" else 0)
    assert width == (9 + 7 + 3) + 2 * 9 + (0 if sparse else 6) + 3 + 1


@pytest.mark.parametrize("impl", [fastmlp.MLP, fastmlp.reference.MLP],
                         ids=["fastmlp", "reference"])
@pytest.mark.parametrize("sizes", [[64, 32, 10], [784, 128, 10], [784, 512, 10], [5, 3]])
def test_first_layer_layout_is_shared_and_invisible_through_the_views(impl, sizes):
    net = impl(sizes, loss="cross_entropy", seed=0)
    transposed = sizes[0] * sizes[1] <= TRANSPOSE_FIRST_MAX_WEIGHTS
    assert net._layout.first_transposed is transposed is first_layer_transposed(sizes)
    assert net.weights[0].shape == (sizes[1], sizes[0])
    assert np.shares_memory(net.weights[0], net.params)
    # The same seed gives the same buffer in both implementations.
    other = (fastmlp.reference.MLP if impl is fastmlp.MLP else fastmlp.MLP)(
        sizes, loss="cross_entropy", seed=0)
    np.testing.assert_array_equal(net.params, other.params)
    # A write through the view is what the kernels compute with.
    X = np.random.default_rng(1).standard_normal((4, sizes[0]))
    before = net.forward(X)
    net.weights[0][0, :] = 0.0
    net.weights[0][0, 0] = 50.0
    assert not np.allclose(net.forward(X), before)
    np.testing.assert_allclose(net.forward(X), other_forward(net, X), rtol=1e-5, atol=1e-6)


def other_forward(net, X):
    """The network's outputs from its views alone, in float64 NumPy."""
    a = np.asarray(X, dtype=np.float64)
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        z = a @ np.asarray(W, dtype=np.float64).T + b
        if l < len(net.weights) - 1:
            a = np.maximum(z, 0)
        else:
            e = np.exp(z - z.max(axis=1, keepdims=True))
            a = e / e.sum(axis=1, keepdims=True)
    return a
