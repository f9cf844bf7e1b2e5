"""fastmlp.sklearn.register_onnx_converters(): skl2onnx then converts the
drop-in estimators (alone and in a Pipeline), and onnxruntime's outputs
equal the estimators' own. Tolerance: float32 graphs (skl2onnx's default
input type) against float64 estimators give float32 rounding of outputs of
order one: 1e-5 absolute leaves room for that and nothing else (measured
below 4e-7 on these models)."""
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="fastmlp.sklearn needs scikit-learn")
skl2onnx = pytest.importorskip("skl2onnx", reason="the converters are skl2onnx's")
ort = pytest.importorskip("onnxruntime", reason="the check runs the graph in onnxruntime")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from fastmlp.sklearn import MLPClassifier, MLPRegressor, register_onnx_converters  # noqa: E402


def _run(model, X):
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((80, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)
    return X, y


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def test_without_registration_skl2onnx_does_not_know_them():
    """In a fresh interpreter (this one may have registered them already)."""
    import subprocess
    import sys
    code = (
        "import warnings, numpy as np, skl2onnx\n"
        "from fastmlp.sklearn import MLPClassifier\n"
        "X = np.random.default_rng(0).standard_normal((20, 3)).astype(np.float32)\n"
        "warnings.simplefilter('ignore')\n"
        "clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5).fit(X, X[:, 0] > 0)\n"
        "try:\n"
        "    skl2onnx.to_onnx(clf, X[:1])\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == "MissingShapeCalculator", out.stderr


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_classifier_and_pipeline_convert(activation):
    register_onnx_converters()
    register_onnx_converters()  # twice is fine
    X, y = _data()
    clf = _fit(MLPClassifier(hidden_layer_sizes=(8, 5), activation=activation,
                             max_iter=50, random_state=0), X, y)
    model = skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False})
    labels, proba = _run(model, X)
    np.testing.assert_allclose(proba, clf.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(labels, clf.predict(X))
    pipe = _fit(make_pipeline(StandardScaler(), MLPClassifier(
        hidden_layer_sizes=(8,), activation=activation, max_iter=50, random_state=0)), X, y)
    labels, proba = _run(skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False}), X)
    np.testing.assert_allclose(proba, pipe.predict_proba(X), atol=1e-5)


def test_regressor_converts():
    register_onnx_converters()
    X, y = _data()
    target = X @ np.arange(6, dtype=np.float32) / 6
    reg = _fit(MLPRegressor(hidden_layer_sizes=(10,), max_iter=100, random_state=0), X, target)
    (pred,) = _run(skl2onnx.to_onnx(reg, X[:1]), X)
    np.testing.assert_allclose(pred.ravel(), reg.predict(X), atol=1e-5)
