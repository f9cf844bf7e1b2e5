"""net.to_onnx(): onnxruntime's outputs equal net.forward for every
activation, loss and output activation, in both dtypes and both
implementations.

Tolerances: the graph computes the same operations (Gemm, then the
activation) in the model dtype with other summation orders and other exp
implementations: measured at most 1.2e-7 in float32 and 2e-16 in float64 on
outputs of order one; 1e-6 and 1e-13 relative to max(1, |output|) leave
room for wider layers and catch any wrong operator or weight layout.
"""
import numpy as np
import pytest

import fastmlp
import fastmlp.reference

onnx = pytest.importorskip("onnx", reason="to_onnx needs the onnx extra")
ort = pytest.importorskip("onnxruntime", reason="the check runs the graph in onnxruntime")

TOL = {"float32": 1e-6, "float64": 1e-13}
CASES = [(act, loss, None) for act in ("identity", "sigmoid", "tanh", "relu", "leaky_relu")
         for loss in ("mse", "cross_entropy", "binary_cross_entropy")]
CASES += [("tanh", "mse", out) for out in ("sigmoid", "tanh", "relu", "leaky_relu")]


def _run(model, X):
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(["Y"], {"X": X})[0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act,loss,output", CASES)
def test_onnxruntime_matches_forward(impl, dtype, act, loss, output):
    rng = np.random.default_rng(0)
    net = impl([6, 9, 5, 3], activation=act, loss=loss, output=output, dtype=dtype, seed=2)
    for b in net.biases:
        b[...] = rng.normal(scale=0.3, size=b.shape)  # biases matter too
    X = rng.standard_normal((11, 6)).astype(dtype)
    model = net.to_onnx()
    got = _run(model, X)
    want = net.forward(X)
    assert got.dtype == np.dtype(dtype) and got.shape == want.shape
    err = np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want)))
    assert err <= TOL[dtype], err


def test_the_graph_has_one_input_and_one_output():
    net = fastmlp.MLP([4, 3, 2], loss="cross_entropy", dtype="float64", seed=0)
    model = net.to_onnx()
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "X" and out.name == "Y"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim][1:] == [4]
    # A later change to the model does not reach an exported graph.
    X = np.ones((2, 4))
    before = _run(model, X)
    net.weights[0][...] = 0
    np.testing.assert_array_equal(_run(model, X), before)
    assert not np.allclose(net.forward(X), before)


def test_without_onnx_the_error_says_how_to_install_it(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r'pip install "fastmlp\[onnx\]"'):
        fastmlp.MLP([2, 2], seed=0).to_onnx()
