"""TabularModel.to_onnx(): the preprocessing, the network and the label
mapping in one graph, run in onnxruntime against predict/predict_proba.

Tolerance: "Y" within 1e-6 of predict_proba (float32 network): onnxruntime's
Gemm sums each dot product in its own order, a few float32 ulps of
probabilities below 1; the labels, from the same arg-max, are equal."""
import warnings

import numpy as np
import pytest

import fastmlp
from fastmlp.tabular.columns import CategoryColumn

pd = pytest.importorskip("pandas")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


def _table(n=240, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "x0": rng.normal(10.0, 3.0, n),
        "color": rng.choice(["red", "green", "blue"], n),
        "flag": rng.random(n) > 0.5,
        "x1": rng.normal(-5.0, 0.5, n),
        "size": rng.choice(["S", "M", "L", "XL"], n),
    })
    score = (frame.x0 - 10) / 3 + (frame.color == "red") * 1.5 - (frame["size"] == "S")
    y = np.where(score > 0.5, "high", np.where(score > -0.5, "mid", "low"))
    return frame, y


def _inputs(model, frame):
    pre = model.preprocessor
    text = [c.name for c in pre.columns if isinstance(c, CategoryColumn)]
    numbers = [c.name for c in pre.columns if c.name not in text]
    feeds = {"X": frame[numbers].to_numpy(dtype=np.float64)}
    if text:
        feeds["X_text"] = frame[text].astype(object).where(frame[text].notna(), "") \
            .to_numpy(dtype=object)
    return feeds


def _fit(frame, y, **options):
    pre = fastmlp.Preprocessor(**options).fit(frame, y, loss="cross_entropy")
    net = fastmlp.MLP([pre.n_inputs, 16, pre.n_outputs], loss="cross_entropy", seed=0)
    return fastmlp.TabularModel(net, pre).fit(frame, y, epochs=15, lr=0.05)


@pytest.mark.parametrize("impute", [None, "median"])
def test_text_columns_are_one_hot_inside_the_graph(impute):
    frame, y = _table()
    if impute:
        frame.loc[[3, 17], "x1"] = np.nan
        frame.loc[[5, 9], "color"] = None
    model = _fit(frame, y, one_hot=True, impute=impute)
    session = ort.InferenceSession(model.to_onnx().SerializeToString())
    assert [i.name for i in session.get_inputs()] == ["X", "X_text"]
    query = frame.copy()
    query.loc[0, "color"] = "purple"            # never seen: zeros in both faces
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proba, labels = model.predict_proba(query), model.predict(query)
    Y, label = session.run(None, _inputs(model, query))
    np.testing.assert_allclose(Y, proba, atol=1e-6)
    assert label.tolist() == labels.tolist()
    assert set(label) <= {"high", "mid", "low"}


def test_numbers_only_model_takes_one_input():
    frame, y = _table()
    frame = frame.drop(columns=["color", "size"])
    model = _fit(frame, y)
    session = ort.InferenceSession(model.to_onnx().SerializeToString())
    assert [i.name for i in session.get_inputs()] == ["X"]
    Y, label = session.run(None, _inputs(model, frame))
    np.testing.assert_allclose(Y, model.predict_proba(frame), atol=1e-6)
    assert label.tolist() == model.predict(frame).tolist()


def test_unseen_category_warns_and_gives_zeros():
    frame, y = _table()
    model = _fit(frame, y, one_hot=True)
    query = frame.head(3).copy()
    query.loc[1, "size"] = "XXL"
    with pytest.warns(UserWarning, match="column 'size': 1 value"):
        X = model.transform(query)
    at = model.preprocessor.input_columns()
    size = [k for k, j in enumerate(at) if j == 4]
    assert X[1, size].tolist() == [0.0] * len(size)
    assert sorted(X[0, size].tolist()) == [0.0] * (len(size) - 1) + [1.0]
