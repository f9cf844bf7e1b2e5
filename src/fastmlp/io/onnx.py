"""net.to_onnx(): the network's forward pass as an ONNX graph.

One input "X" of shape (n, n0) and the model dtype, one output "Y" equal to
``net.forward(X)``: per layer a Gemm (X W^T + b, with W stored as given by
the weight views, transB=1) and the layer's activation as the ONNX operator
of the same definition (softmax over axis 1; leaky relu as Max(z, 0.01 z)).
The parameters are copied into the graph as initializers in the model
dtype. A model with matmul_dtype="bfloat16" gets its weights stored
already rounded to bfloat16 (in float32) and each layer input rounded by a
Cast to BFLOAT16 and back, so the Gemm multiplies the same operands as the
kernels. Needs the optional ``onnx`` package (``pip install "fastmlp[onnx]"``),
imported only here.
"""
import numpy as np

from .._kernels._train import LEAKY_SLOPE

ONNX_OPSET = 17

# fastmlp activation name -> (ONNX operator, attributes); identity adds none.
# Leaky relu is written as Max(z, 0.01 z) with the slope a tensor of the
# model dtype: LeakyRelu's alpha attribute is a float32, which in a float64
# graph moves results by about 1e-10.
_OPERATORS = {
    "sigmoid": ("Sigmoid", {}),
    "tanh": ("Tanh", {}),
    "relu": ("Relu", {}),
    "softmax": ("Softmax", {"axis": 1}),
    "identity": None,
}


def _import_onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as exc:
        raise ImportError('net.to_onnx() needs the onnx package: pip install '
                          '"fastmlp[onnx]"') from exc
    return onnx, helper, numpy_helper


def network_graph(net, current="X", final="Y"):
    """(nodes, initializers) of ``net``'s forward pass from the tensor named
    ``current`` (n, n0) to ``final`` (n, nL), in the model dtype."""
    onnx, helper, numpy_helper = _import_onnx()
    dtype = np.dtype(net.dtype)
    elem = helper.np_dtype_to_tensor_dtype(dtype)
    nodes, initializers = [], []
    bf16 = getattr(net, "matmul_dtype", None) == "bfloat16"
    if bf16:
        from ..network.bfloat16 import round_to_bfloat16
    last = len(net.weights) - 1
    for l, (W, b, act) in enumerate(zip(net.weights, net.biases, net.layer_activations)):
        w_name, b_name, z_name = f"W{l}", f"b{l}", f"z{l}"
        if bf16:
            W = round_to_bfloat16(W)
            nodes.append(helper.make_node("Cast", [current], [f"{current}_bf16"],
                                          to=onnx.TensorProto.BFLOAT16))
            nodes.append(helper.make_node("Cast", [f"{current}_bf16"], [f"{current}_r"],
                                          to=elem))
            current = f"{current}_r"
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(W, dtype=dtype),
                                                    w_name))
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(b, dtype=dtype),
                                                    b_name))
        op = _OPERATORS.get(act, "leaky")
        out = final if l == last and op is None else z_name
        nodes.append(helper.make_node("Gemm", [current, w_name, b_name], [out],
                                      transB=1, name=f"dense{l}"))
        a_name = final if l == last else f"a{l}"
        if op == "leaky":
            slope = f"slope{l}"
            initializers.append(numpy_helper.from_array(np.array(LEAKY_SLOPE, dtype=dtype),
                                                        slope))
            nodes.append(helper.make_node("Mul", [out, slope], [f"{out}_s"]))
            nodes.append(helper.make_node("Max", [out, f"{out}_s"], [a_name],
                                          name=f"{act}{l}"))
            out = a_name
        elif op is not None:
            nodes.append(helper.make_node(op[0], [out], [a_name], name=f"{act}{l}",
                                          **op[1]))
            out = a_name
        current = out
    return nodes, initializers


def finish_model(nodes, initializers, inputs, outputs, name, extra_opsets=None):
    """The checked ModelProto of a graph (inputs and outputs: value infos;
    ``extra_opsets``: {domain: version} of operators beyond the default
    domain)."""
    onnx, helper, _ = _import_onnx()
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    opsets = [helper.make_opsetid("", ONNX_OPSET)]
    opsets += [helper.make_opsetid(d, v) for d, v in (extra_opsets or {}).items()]
    model = helper.make_model(graph, producer_name="fastmlp", opset_imports=opsets)
    onnx.checker.check_model(model)
    return model


def to_onnx(net, name="fastmlp_mlp"):
    _, helper, _ = _import_onnx()
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(net.dtype))
    nodes, initializers = network_graph(net)
    return finish_model(
        nodes, initializers,
        [helper.make_tensor_value_info("X", elem, ["n", net.layer_sizes[0]])],
        [helper.make_tensor_value_info("Y", elem, ["n", net.layer_sizes[-1]])], name)
