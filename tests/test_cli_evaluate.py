"""``fastmlp evaluate MODEL DATA``: every number it prints and writes as
JSON equals scikit-learn's metric of the same predictions (those ``fastmlp
predict`` writes) against the file's targets, in the data's own labels;
and its errors are one line with exit status 2."""
import csv
import json
import re

import numpy as np
import pytest

from fastmlp.cli import main

from test_cli import check_one_line_error, run_cli

skm = pytest.importorskip("sklearn.metrics")


def write_csv(path, X, y, names=None, target="label"):
    names = names or [f"x{j}" for j in range(X.shape[1])]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names + [target])
        for xi, yi in zip(X, y):
            w.writerow([repr(float(v)) for v in xi] + [yi])


def classes(n=240, seed=0, labels=("setosa", "versicolor", "virginica")):
    """Overlapping classes, so that the model makes mistakes."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, len(labels), n)
    X = rng.normal(size=(n, 3)) + 1.2 * np.eye(3)[codes % 3]
    return X, np.array(labels, dtype=object)[codes]


def run(*argv):
    assert main([str(a) for a in argv]) == 0


def predicted(tmp_path, model, data, *options):
    """The predictions ``fastmlp predict`` writes, as text."""
    run("predict", model, data, "--out", tmp_path / "p.csv", *options)
    with open(tmp_path / "p.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0][0].startswith("prediction")
    return np.array(rows[1:], dtype=object)


def evaluate(tmp_path, capsys, model, data, *options):
    """(printed text, the JSON metrics) of fastmlp evaluate."""
    capsys.readouterr()
    run("evaluate", model, data, "--json", tmp_path / "m.json", *options)
    out = capsys.readouterr().out
    with open(tmp_path / "m.json") as f:
        return out, json.load(f)


def check_classification(report, out, truth, pred, labels):
    """Every number of the report (JSON) and of the printed tables is
    scikit-learn's."""
    assert report["labels"] == list(labels)
    assert report["accuracy"] == skm.accuracy_score(truth, pred)
    p, r, f, s = skm.precision_recall_fscore_support(truth, pred, labels=labels,
                                                     zero_division=0)
    for c, pc, rc, fc, sc in zip(report["per_class"], p, r, f, s):
        assert (c["precision"], c["recall"], c["support"]) == pytest.approx((pc, rc, sc),
                                                                            rel=1e-12)
        assert c["f1"] == pytest.approx(fc, rel=1e-12, abs=1e-15)
    for average in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(truth, pred, labels=labels,
                                                         average=average, zero_division=0)
        got = report[average]
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((p, r, f),
                                                                             rel=1e-12)
    cm = skm.confusion_matrix(truth, pred, labels=labels)
    assert report["confusion_matrix"] == cm.tolist()
    # The printed text says the same, rounded.
    n = len(truth)
    assert f"accuracy {skm.accuracy_score(truth, pred):.4f} ({int(np.trace(cm))}/{n})" in out
    lines = out.splitlines()
    at = lines.index("confusion matrix (rows: true class, columns: predicted class)")
    printed = [[int(v) for v in line.split()[1:]] for line in lines[at + 2:at + 2 + len(labels)]]
    assert printed == cm.tolist()
    macro = next(line for line in lines if line.startswith("macro avg")).split()
    p, r, f, _ = skm.precision_recall_fscore_support(truth, pred, labels=labels,
                                                     average="macro", zero_division=0)
    assert macro[2:5] == [f"{p:.4f}", f"{r:.4f}", f"{f:.4f}"]


def test_text_labels(tmp_path, capsys):
    X, y = classes()
    write_csv(tmp_path / "d.csv", X, y, target="species")
    run("train", tmp_path / "d.csv", "--quiet", "--epochs", "3", "--save", tmp_path / "m.npz")
    pred = predicted(tmp_path, tmp_path / "m.npz", tmp_path / "d.csv")[:, 0]
    out, report = evaluate(tmp_path, capsys, tmp_path / "m.npz", tmp_path / "d.csv")
    labels = ["setosa", "versicolor", "virginica"]
    assert 0.4 < report["accuracy"] < 1      # mistakes to count
    check_classification(report, out, y.astype(str), pred, labels)
    assert report["loss"] == "cross_entropy" and report["rows"] == len(y)


def test_integer_labels_and_a_class_the_model_does_not_know(tmp_path, capsys):
    X, y = classes(labels=(1, 2, 3))
    write_csv(tmp_path / "d.csv", X, y)
    run("train", tmp_path / "d.csv", "--quiet", "--epochs", "3", "--save", tmp_path / "m.npz")
    # New data: some rows of a class 7 the model never saw, columns reordered.
    y_new = y.copy()
    y_new[::10] = 7
    write_csv(tmp_path / "new.csv", X[:, ::-1], y_new, names=["x2", "x1", "x0"])
    pred = predicted(tmp_path, tmp_path / "m.npz", tmp_path / "new.csv")[:, 0].astype(int)
    out, report = evaluate(tmp_path, capsys, tmp_path / "m.npz", tmp_path / "new.csv")
    truth = y_new.astype(int)
    check_classification(report, out, truth, pred, [1, 2, 3, 7])
    assert report["per_class"][3] == {"label": 7, "precision": 0.0, "recall": 0.0, "f1": 0.0,
                                      "support": 24}
    assert "7*" in out and "not a class of the model" in out


def test_binary(tmp_path, capsys):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] + X[:, 1] + rng.normal(size=200) > 0).astype(np.int64)
    np.savez(tmp_path / "b.npz", X=X, y=y)
    run("train", tmp_path / "b.npz", "--quiet", "--loss", "binary_cross_entropy", "--epochs",
        "3", "--save", tmp_path / "m.npz")
    pred = predicted(tmp_path, tmp_path / "m.npz", tmp_path / "b.npz")[:, 0].astype(int)
    out, report = evaluate(tmp_path, capsys, tmp_path / "m.npz", tmp_path / "b.npz")
    check_classification(report, out, y, pred, [0, 1])


def test_regression(tmp_path, capsys):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 4))
    target = 50 * (X @ [1.0, -2.0, 0.5, 0.0]) + 200 + 20 * rng.normal(size=300)
    np.save(tmp_path / "r.npy", np.column_stack([X, target]))
    run("train", tmp_path / "r.npy", "--quiet", "--loss", "mse", "--epochs", "5", "--save",
        tmp_path / "m.npz")
    pred = predicted(tmp_path, tmp_path / "m.npz", tmp_path / "r.npy",
                     "--target", "-1")[:, 0].astype(np.float32)   # the model's dtype
    out, report = evaluate(tmp_path, capsys, tmp_path / "m.npz", tmp_path / "r.npy")
    r2 = skm.r2_score(target, pred)
    mae = skm.mean_absolute_error(target, pred)
    rmse = np.sqrt(skm.mean_squared_error(target, pred))
    assert report["r2"] == [pytest.approx(r2, rel=1e-12)]
    assert report["mae"] == [pytest.approx(mae, rel=1e-12)]
    assert report["rmse"] == [pytest.approx(rmse, rel=1e-12)]
    assert report["mean_r2"] == pytest.approx(r2, rel=1e-12)
    assert f"r2 {r2:.4f}, mae {mae:.6g}, rmse {rmse:.6g}" in out


def test_several_outputs(tmp_path, capsys):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 3))
    Y = np.column_stack([X @ [1.0, 2.0, 0.0], 100 * X[:, 2] - 7]) + rng.normal(size=(200, 2))
    np.savez(tmp_path / "m.npz", X=X, y=Y)
    run("train", tmp_path / "m.npz", "--quiet", "--loss", "mse", "--epochs", "4", "--save",
        tmp_path / "model.npz")
    pred = predicted(tmp_path, tmp_path / "model.npz", tmp_path / "m.npz").astype(np.float32)
    out, report = evaluate(tmp_path, capsys, tmp_path / "model.npz", tmp_path / "m.npz")
    raw = dict(multioutput="raw_values")
    np.testing.assert_allclose(report["r2"], skm.r2_score(Y, pred, **raw), rtol=1e-12)
    np.testing.assert_allclose(report["mae"], skm.mean_absolute_error(Y, pred, **raw),
                               rtol=1e-12)
    np.testing.assert_allclose(report["rmse"], np.sqrt(skm.mean_squared_error(Y, pred, **raw)),
                               rtol=1e-12)
    assert report["mean_r2"] == pytest.approx(skm.r2_score(Y, pred), rel=1e-12)
    assert report["mean_mae"] == pytest.approx(skm.mean_absolute_error(Y, pred), rel=1e-12)
    mean = next(line for line in out.splitlines() if line.startswith("mean")).split()
    assert mean[1] == f"{skm.r2_score(Y, pred):.4f}"
    assert re.search(r"^output 1\s", out, re.M)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A text-label classifier, a two-output binary model, and their data."""
    where = tmp_path_factory.mktemp("evaluate")
    X, y = classes(60)
    write_csv(where / "d.csv", X, y)
    # A numeric column beside the features and the labels.
    write_csv(where / "extra.csv", np.column_stack([X, np.arange(60.0)]), y,
              names=["x0", "x1", "x2", "score"])
    rng = np.random.default_rng(0)
    np.savez(where / "ml.npz", X=X, y=rng.integers(0, 2, (60, 2)).astype(float))
    for data, options, model in ((where / "d.csv", [], "text.npz"),
                                 (where / "ml.npz", ["--loss", "binary_cross_entropy"],
                                  "ml_model.npz")):
        proc = run_cli(where, "train", data, "--quiet", "--epochs", "1", *options, "--save",
                       model)
        assert proc.returncode == 0, proc.stderr
    return where


@pytest.mark.parametrize("args, expected", [
    (["nowhere.npz", "d.csv"], ["nowhere.npz", "cannot open"]),
    (["text.npz", "extra.csv", "--target", "score"],
     ["extra.csv", "holds numbers", "text labels setosa, versicolor, virginica"]),
    (["text.npz", "d.csv", "--target", "x0"], ["d.csv", "'x0', one of the model's features"]),
    (["text.npz", "d.csv", "--json", "no/such/dir/m.json"], ["--json no/such/dir/m.json",
                                                             "cannot write"]),
    (["ml_model.npz", "ml.npz"], ["ml_model.npz", "2 outputs", "multi-label"]),
    (["text.npz", "d.csv", "--target", "missing"], ["d.csv", "'missing'"]),
])
def test_errors_are_one_line_exit_2(models, args, expected):
    check_one_line_error(run_cli(models, "evaluate", *args), 2, expected)


def test_help_lists_evaluate(tmp_path):
    proc = run_cli(tmp_path, "--help")
    assert proc.returncode == 0 and "evaluate MODEL DATA" in proc.stdout
    proc = run_cli(tmp_path, "evaluate", "--help")
    assert proc.returncode == 0 and "confusion matrix" in proc.stdout
