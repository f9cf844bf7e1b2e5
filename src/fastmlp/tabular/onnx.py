"""A TabularModel as one ONNX graph: the preprocessing, the network and the
label mapping, so that a served model answers as ``predict`` does.

Input "X": the raw number (and bool, as 0/1) columns in the training
order, float64, NaN where a value is missing. The graph replaces missing
values by the stored ones (``Where(IsNaN(X), impute, X)``), standardizes in
float64 (``(X - mean) / scale``, the same IEEE operations as
``Preprocessor.transform``), casts to the network's dtype and runs it.
Outputs: "Y", ``predict_proba`` for classifiers and ``predict`` for
regression (targets mapped back to their units as ``NumberTarget.decode``
does: in float64, then to the model dtype); "label" for classifiers, the
class labels (int64 or string) of ``predict``. Text (one-hot) columns are
refused: the graph takes numbers only.
"""
import numpy as np

from ..io.onnx import _import_onnx, finish_model, network_graph
from .columns import CategoryColumn
from .target import ClassTarget, labels_array


def _const(numpy_helper, initializers, name, array):
    initializers.append(numpy_helper.from_array(np.asarray(array), name))
    return name


def _inputs(model, helper, numpy_helper, nodes, initializers):
    """Nodes from "X" (float64 raw columns) to the network's input; its name."""
    onnx, _, _ = _import_onnx()
    columns = model.preprocessor.columns
    text = [c.name for c in columns if isinstance(c, CategoryColumn)]
    if text:
        raise ValueError(f"cannot export to ONNX: the column(s) {text} are one-hot encoded "
                         f"text, and the exported graph takes numbers only")
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
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(model.network.dtype))
    nodes.append(helper.make_node("Cast", ["X_scaled"], ["net_in"], to=elem))
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
    d = len(model.preprocessor.columns)
    return finish_model(
        nodes, initializers,
        [helper.make_tensor_value_info("X", onnx.TensorProto.DOUBLE, ["n", d])],
        outputs, name)
