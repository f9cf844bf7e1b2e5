"""A TabularModel as one ONNX graph: the preprocessing, the network and the
label mapping, so that a served model answers as ``predict`` does.

Inputs: "X", the raw number (and bool, as 0/1) columns in the training
order, float64, NaN where a value is missing; with text (one-hot) columns,
"X_text", those columns as strings in the training order ("" where a
value is missing). The graph one-hot encodes the text columns
(``LabelEncoder`` to the category's index, compared with every index: a
category never seen gives zeros, as ``predict`` does), replaces missing
values by the stored ones (``Where(IsNaN(X), impute, X)``), standardizes in
float64 (``(X - mean) / scale``, the same IEEE operations as
``Preprocessor.transform``), casts to the network's dtype and runs it.
Outputs: "Y", ``predict_proba`` for classifiers and ``predict`` for
regression (targets mapped back to their units as ``NumberTarget.decode``
does: in float64, then to the model dtype); "label" for classifiers, the
class labels (int64 or string) of ``predict``.
"""
import numpy as np

from ..io.onnx import _import_onnx, finish_model, network_graph
from .columns import CategoryColumn
from .target import ClassTarget, labels_array


def _const(numpy_helper, initializers, name, array):
    initializers.append(numpy_helper.from_array(np.asarray(array), name))
    return name


def _numbers(model, helper, numpy_helper, nodes, initializers):
    """Nodes from "X" (float64 raw number columns) to their scaled values;
    the tensor's name."""
    columns = [c for c in model.preprocessor.columns if not isinstance(c, CategoryColumn)]
    current = "X"
    impute = [c.impute for c in columns]
    if any(x is not None for x in impute):
        # A column without an imputation value keeps its NaN, which then
        # propagates, where predict would refuse the row.
        fill = np.array([np.nan if x is None else x for x in impute])
        nodes.append(helper.make_node("IsNaN", ["X"], ["X_missing"]))
        nodes.append(helper.make_node(
            "Where", ["X_missing", _const(numpy_helper, initializers, "impute", fill), "X"],
            ["X_filled"]))
        current = "X_filled"
    mean = np.array([c.mean for c in columns])
    scale = np.array([c.scale for c in columns])
    nodes.append(helper.make_node("Sub", [current, _const(numpy_helper, initializers,
                                                          "mean", mean)], ["X_centered"]))
    nodes.append(helper.make_node("Div", ["X_centered", _const(numpy_helper, initializers,
                                                               "scale", scale)],
                                  ["X_scaled"]))
    return "X_scaled"


def _one_hot(col, t, helper, numpy_helper, nodes, initializers):
    """Nodes from column t of "X_text" to the one-hot block of ``col``
    (float64 (n, categories)); its name. A category never seen maps to the
    code K and matches no column: zeros, as predict gives. An empty string
    is a missing value: the imputed category's code, or zeros."""
    onnx, _, _ = _import_onnx()
    keys = list(col.categories)
    codes = list(range(len(keys)))
    if col.impute is not None and "" not in keys:
        keys.append("")
        codes.append(keys.index(col.impute))
    cut = f"text{t}"
    nodes.append(helper.make_node(
        "Slice", ["X_text", _const(numpy_helper, initializers, f"{cut}_from",
                                   np.array([t], dtype=np.int64)),
                  _const(numpy_helper, initializers, f"{cut}_to",
                         np.array([t + 1], dtype=np.int64)),
                  _const(numpy_helper, initializers, f"{cut}_axis",
                         np.array([1], dtype=np.int64))], [cut]))
    nodes.append(helper.make_node("LabelEncoder", [cut], [f"{cut}_code"], domain="ai.onnx.ml",
                                  keys_strings=keys, values_int64s=codes,
                                  default_int64=len(col.categories)))
    nodes.append(helper.make_node(
        "Equal", [f"{cut}_code", _const(numpy_helper, initializers, f"{cut}_range",
                                        np.arange(len(col.categories), dtype=np.int64))],
        [f"{cut}_hit"]))
    nodes.append(helper.make_node("Cast", [f"{cut}_hit"], [f"{cut}_onehot"],
                                  to=onnx.TensorProto.DOUBLE))
    return f"{cut}_onehot"


def _inputs(model, helper, numpy_helper, nodes, initializers):
    """Nodes from the graph's inputs to the network's input; its name."""
    onnx, _, _ = _import_onnx()
    columns = model.preprocessor.columns
    has_numbers = not all(isinstance(c, CategoryColumn) for c in columns)
    numbers = has_numbers and _numbers(model, helper, numpy_helper, nodes, initializers)
    if not any(isinstance(c, CategoryColumn) for c in columns):
        columns = []            # the scaled numbers are the network's input as they are
    blocks, k, t = [], 0, 0
    for col in columns:
        if isinstance(col, CategoryColumn):
            blocks.append(_one_hot(col, t, helper, numpy_helper, nodes, initializers))
            t += 1
            continue
        name = f"num{k}"
        nodes.append(helper.make_node(
            "Slice", [numbers, _const(numpy_helper, initializers, f"{name}_from",
                                      np.array([k], dtype=np.int64)),
                      _const(numpy_helper, initializers, f"{name}_to",
                             np.array([k + 1], dtype=np.int64)),
                      _const(numpy_helper, initializers, f"{name}_axis",
                             np.array([1], dtype=np.int64))], [name]))
        blocks.append(name)
        k += 1
    joined = numbers
    if t:
        joined = "X_joined"
        nodes.append(helper.make_node("Concat", blocks, [joined], axis=1))
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(model.network.dtype))
    nodes.append(helper.make_node("Cast", [joined], ["net_in"], to=elem))
    return "net_in"


def _outputs(model, helper, numpy_helper, nodes, initializers):
    """Nodes from the network's output "net_out" to "Y" (and "label")."""
    onnx, _, _ = _import_onnx()
    net, target = model.network, model.preprocessor.target
    dtype = np.dtype(net.dtype)
    elem = helper.np_dtype_to_tensor_dtype(dtype)
    k = net.layer_sizes[-1]
    if net.loss_name == "mse":
        if target is None or target.mean is None:
            nodes.append(helper.make_node("Identity", ["net_out"], ["Y"]))
        else:
            nodes.append(helper.make_node("Cast", ["net_out"], ["out64"],
                                          to=onnx.TensorProto.DOUBLE))
            nodes.append(helper.make_node(
                "Mul", ["out64", _const(numpy_helper, initializers, "target_scale",
                                        target.scale)], ["out_scaled"]))
            nodes.append(helper.make_node(
                "Add", ["out_scaled", _const(numpy_helper, initializers, "target_mean",
                                             target.mean)], ["out_units"]))
            nodes.append(helper.make_node("Cast", ["out_units"], ["Y"], to=elem))
        return [helper.make_tensor_value_info("Y", elem, ["n", k])]
    binary = isinstance(target, ClassTarget) and target.binary
    if binary:
        one = _const(numpy_helper, initializers, "one", np.ones((1, 1), dtype=dtype))
        nodes.append(helper.make_node("Sub", [one, "net_out"], ["p_other"]))
        nodes.append(helper.make_node("Concat", ["p_other", "net_out"], ["Y"], axis=1))
        half = _const(numpy_helper, initializers, "half", np.array(0.5, dtype=dtype))
        nodes.append(helper.make_node("Greater", ["net_out", half], ["above"]))
        nodes.append(helper.make_node("Cast", ["above"], ["code2"],
                                      to=onnx.TensorProto.INT64))
        nodes.append(helper.make_node("Squeeze", ["code2", _const(
            numpy_helper, initializers, "axis1", np.array([1], dtype=np.int64))], ["code"]))
        width = 2
    else:
        nodes.append(helper.make_node("Identity", ["net_out"], ["Y"]))
        nodes.append(helper.make_node("ArgMax", ["net_out"], ["code"], axis=1, keepdims=0))
        width = k
    outputs = [helper.make_tensor_value_info("Y", elem, ["n", width])]
    if isinstance(target, ClassTarget):
        labels = labels_array(target.labels)
        is_text = labels.dtype == object
        stored = numpy_helper.from_array(labels.astype(object) if is_text else labels,
                                         "labels")
        initializers.append(stored)
        nodes.append(helper.make_node("Gather", ["labels", "code"], ["label"], axis=0))
        outputs.append(helper.make_tensor_value_info(
            "label", onnx.TensorProto.STRING if is_text else onnx.TensorProto.INT64, ["n"]))
    return outputs


def to_onnx(model, name="fastmlp_tabular"):
    onnx, helper, numpy_helper = _import_onnx()
    if model.network.loss_name == "binary_cross_entropy" and \
            not isinstance(model.preprocessor.target, ClassTarget):
        raise ValueError("cannot export to ONNX: a multi-label binary_cross_entropy model "
                         "has no class labels to map; export model.network instead")
    nodes, initializers = [], []
    net_in = _inputs(model, helper, numpy_helper, nodes, initializers)
    net_nodes, net_init = network_graph(model.network, net_in, "net_out")
    nodes += net_nodes
    initializers += net_init
    outputs = _outputs(model, helper, numpy_helper, nodes, initializers)
    columns = model.preprocessor.columns
    n_text = sum(isinstance(c, CategoryColumn) for c in columns)
    inputs = []
    if n_text < len(columns):
        inputs.append(helper.make_tensor_value_info("X", onnx.TensorProto.DOUBLE,
                                                    ["n", len(columns) - n_text]))
    if n_text:
        inputs.append(helper.make_tensor_value_info("X_text", onnx.TensorProto.STRING,
                                                    ["n", n_text]))
    return finish_model(nodes, initializers, inputs, outputs, name,
                        extra_opsets={"ai.onnx.ml": 2} if n_text else None)
