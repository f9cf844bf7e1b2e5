"""fastmlp.metrics against scikit-learn's own functions, number for number,
on random cases: integer and text labels, classes absent from the truth,
from the predictions or from both, labels outside the reported ones, and
regression with one or several outputs (including a constant target)."""
import numpy as np
import pytest

from fastmlp import metrics

skm = pytest.importorskip("sklearn.metrics")

NAMES = np.array(["ant", "bee", "cat", "dog", "eel", "fox"])


def _case(seed):
    """(y_true, y_pred, labels) with some classes absent from one side or
    both; text labels for odd seeds."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    n = int(rng.integers(1, 80))
    true_classes = rng.choice(k, size=int(rng.integers(1, k + 1)), replace=False)
    y_true = rng.choice(true_classes, n)
    # Mostly right, some wrong, from a set of classes of its own.
    pred_classes = rng.choice(k, size=int(rng.integers(1, k + 1)), replace=False)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.choice(pred_classes, n))
    labels = np.arange(k)
    if seed % 2:
        return NAMES[y_true], NAMES[y_pred], list(NAMES[:k])
    return y_true, y_pred, list(labels)


@pytest.mark.parametrize("seed", range(60))
def test_classification_equals_scikit_learn(seed):
    y_true, y_pred, labels = _case(seed)
    assert metrics.accuracy(y_true, y_pred) == skm.accuracy_score(y_true, y_pred)
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred, labels),
                                  skm.confusion_matrix(y_true, y_pred, labels=labels))
    ours = metrics.precision_recall_fscore_support(y_true, y_pred, labels)
    theirs = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                 zero_division=0)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)
    report = metrics.classification_metrics(y_true, y_pred, labels)
    for average in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                         average=average, zero_division=0)
        got = report[average]
        np.testing.assert_allclose([got["precision"], got["recall"], got["f1"]], [p, r, f],
                                   rtol=1e-12, atol=1e-15)
        assert got["support"] == len(y_true)
    assert report["accuracy"] == skm.accuracy_score(y_true, y_pred)
    assert report["correct"] == int(np.sum(np.asarray(y_true) == np.asarray(y_pred)))
    assert [c["label"] for c in report["per_class"]] == labels
    assert report["confusion_matrix"] == skm.confusion_matrix(y_true, y_pred,
                                                              labels=labels).tolist()


def test_classes_absent_everywhere_and_labels_left_out():
    y_true = np.array([0, 0, 1, 1, 4, 4])
    y_pred = np.array([0, 1, 1, 1, 0, 4])
    # Class 2 and 3 appear nowhere; class 4 is not reported.
    labels = [0, 1, 2, 3]
    ours = metrics.precision_recall_fscore_support(y_true, y_pred, labels)
    theirs = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                 zero_division=0)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred, labels),
                                  skm.confusion_matrix(y_true, y_pred, labels=labels))
    # Precision of class 0 counts the row of class 4 predicted as 0.
    assert ours[0][0] == 0.5


def test_mixed_python_and_numpy_labels_compare_by_value():
    y_true = np.array([1.0, 2.0, 3.0, 3.0])       # as a numeric target is read
    y_pred = np.array([1, 2, 2, 3], dtype=object)  # as the model's labels map back
    cm = metrics.confusion_matrix(y_true, y_pred, [1, 2, 3])
    np.testing.assert_array_equal(cm, [[1, 0, 0], [0, 1, 0], [0, 1, 1]])


@pytest.mark.parametrize("seed", range(30))
def test_regression_equals_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(2, 60)), int(rng.integers(1, 4))
    y_true = rng.normal(size=(n, k)) * rng.uniform(0.1, 100, k) + rng.normal(size=k)
    y_pred = y_true + rng.normal(size=(n, k)) * rng.uniform(0, 2, k)
    if k == 1:
        y_true, y_pred = y_true[:, 0], y_pred[:, 0]
    raw = dict(multioutput="raw_values")
    np.testing.assert_allclose(metrics.r2(y_true, y_pred), skm.r2_score(y_true, y_pred, **raw),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(metrics.mean_absolute_error(y_true, y_pred),
                               skm.mean_absolute_error(y_true, y_pred, **raw), rtol=1e-12)
    np.testing.assert_allclose(metrics.root_mean_squared_error(y_true, y_pred),
                               np.sqrt(skm.mean_squared_error(y_true, y_pred, **raw)),
                               rtol=1e-12)
    report = metrics.regression_metrics(y_true, y_pred)
    assert report["rows"] == n and len(report["r2"]) == k
    assert report["mean_r2"] == pytest.approx(skm.r2_score(y_true, y_pred), rel=1e-10)
    assert report["mean_mae"] == pytest.approx(skm.mean_absolute_error(y_true, y_pred),
                                               rel=1e-12)
    rmse = np.mean(np.sqrt(skm.mean_squared_error(y_true, y_pred, **raw)))
    assert report["mean_rmse"] == pytest.approx(rmse, rel=1e-12)


def test_r2_of_a_constant_target_is_scikit_learns():
    y_true = np.array([[3.0, 1.0], [3.0, 2.0], [3.0, 4.0]])
    for y_pred in (y_true.copy(), y_true + 0.5):
        np.testing.assert_array_equal(
            metrics.r2(y_true, y_pred),
            skm.r2_score(y_true, y_pred, multioutput="raw_values"))


@pytest.mark.parametrize("call, message", [
    (lambda: metrics.accuracy([1, 2], [1]), "rows"),
    (lambda: metrics.accuracy([], []), "no rows"),
    (lambda: metrics.confusion_matrix([1], [1], [1, 1]), "distinct"),
    (lambda: metrics.r2(np.ones((3, 2)), np.ones((3, 1))), "shape"),
])
def test_refusals(call, message):
    with pytest.raises(ValueError, match=message):
        call()
