"""The command line on scikit-learn's bundled data sets written to CSV, as a
new user would run it: each failure once met there (raw-scale data
collapsing to the majority class, a continuous target taken for 347
classes, labels 1..3 taken for 4 classes, a pandas index trained on, no
hint without --save, predict accepting reordered or missing columns or a
--target that is a feature) has its test here, run in a subprocess."""
import csv
import re

import numpy as np
import pytest

import fastmlp

from test_cli import metric, run_cli

pd = pytest.importorskip("pandas")
datasets = pytest.importorskip("sklearn.datasets")


def _frame(name):
    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    return bunch.frame.copy(), bunch


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The data sets as CSV files (target column "target", last)."""
    where = tmp_path_factory.mktemp("sklearn_csv")
    cancer, _ = _frame("breast_cancer")
    cancer.to_csv(where / "breast_cancer.csv", index=False)
    wine, _ = _frame("wine")
    wine["target"] += 1                      # the UCI file's classes 1, 2, 3
    wine.to_csv(where / "wine.csv", index=False)
    wine.to_csv(where / "wine_indexed.csv")  # pandas' default: an unnamed index first
    pd.read_csv(where / "wine_indexed.csv").to_csv(where / "wine_unnamed.csv", index=False)
    diabetes, _ = _frame("diabetes")
    # The raw target and unscaled features (scikit-learn's copy is scaled).
    raw = datasets.load_diabetes(scaled=False)
    diabetes[:] = np.column_stack([raw.data, raw.target])
    diabetes.to_csv(where / "diabetes.csv", index=False)
    iris, bunch = _frame("iris")
    iris["target"] = bunch.target_names[bunch.target]
    iris.to_csv(where / "iris.csv", index=False)
    return where


def _features(path):
    return pd.read_csv(path).drop(columns="target")


def _train(where, name, *args):
    proc = run_cli(where, "train", name, "--quiet", *args)
    assert proc.returncode == 0, proc.stderr
    return proc


def _majority(out, split):
    match = re.search(rf"^{split} \(\d+ rows\): .*majority class (\d\.\d+)", out, re.M)
    assert match, out
    return float(match.group(1))


def _predictions(proc):
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(proc.stdout.splitlines()))
    return rows[0], [r[0] if len(r) == 1 else r for r in rows[1:]]


def test_raw_scale_breast_cancer_learns(data):
    # Its features span 1e-3 to 4e3: without standardization a default run
    # stayed at the majority class (0.62).
    out = _train(data, "breast_cancer.csv").stdout
    assert "standardized the features" in out
    for split in ("training", "validation"):
        assert metric(out, split, "accuracy") >= 0.93
        assert metric(out, split, "accuracy") >= _majority(out, split) + 0.25


def test_wine_labels_1_to_3_are_three_classes(data, tmp_path):
    proc = _train(data, "wine.csv", "--save", tmp_path / "wine.npz")
    assert "(3 classes: 1, 2, 3)" in proc.stdout
    assert metric(proc.stdout, "validation", "accuracy") >= 0.9   # raw scale: 0.17
    model = fastmlp.load(tmp_path / "wine.npz")
    assert model.network.layer_sizes[-1] == 3 and tuple(model.classes_) == (1, 2, 3)
    assert model.target_name == "target"
    assert tuple(model.feature_names_in_) == tuple(_features(data / "wine.csv").columns)
    header, pred = _predictions(run_cli(data, "predict", tmp_path / "wine.npz", "wine.csv"))
    truth = pd.read_csv(data / "wine.csv")["target"].to_numpy()
    assert header == ["prediction"] and set(pred) <= {"1", "2", "3"}
    assert np.mean(np.array(pred, dtype=int) == truth) >= 0.9
    header, _ = _predictions(run_cli(data, "predict", tmp_path / "wine.npz", "wine.csv",
                                     "--proba"))
    assert header == ["prob_1", "prob_2", "prob_3"]


def test_standardization_is_saved_and_applied(data, tmp_path):
    # With every row in training, the saved statistics are the file's own.
    _train(data, "wine.csv", "--val-fraction", "0", "--save", tmp_path / "m.npz")
    model = fastmlp.load(tmp_path / "m.npz")
    net, columns = model.network, model.preprocessor.columns
    X = _features(data / "wine.csv").to_numpy()
    np.testing.assert_allclose([c.mean for c in columns], X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose([c.scale for c in columns], X.std(axis=0), rtol=1e-12)
    _, pred = _predictions(run_cli(data, "predict", tmp_path / "m.npz", "wine.csv"))
    expected = net.predict((X - X.mean(axis=0)) / X.std(axis=0))
    assert pred == [str(model.classes_[i]) for i in expected]
    # Opting out: the features go in as they are.
    _train(data, "wine.csv", "--no-standardize", "--save", tmp_path / "raw.npz")
    raw = fastmlp.load(tmp_path / "raw.npz")
    assert all((c.mean, c.scale) == (0.0, 1.0) for c in raw.preprocessor.columns)
    _, pred = _predictions(run_cli(data, "predict", tmp_path / "raw.npz", "wine.csv"))
    assert pred == [str(raw.classes_[i]) for i in raw.network.predict(X)]


def test_a_continuous_target_is_not_taken_for_classes(data):
    # Once MLP([10, 64, 347]) for "347 classes", scoring 0/88.
    proc = run_cli(data, "train", "diabetes.csv")
    assert proc.returncode == 2, proc.stdout
    assert "214 distinct values in 442 rows" in proc.stderr
    assert "--loss mse" in proc.stderr and "Traceback" not in proc.stderr
    # Non-integer numbers as class labels: the same advice.
    frac = pd.read_csv(data / "wine.csv").assign(target=lambda d: d["target"] / 2)
    frac.to_csv(data / "frac.csv", index=False)
    proc = run_cli(data, "train", "frac.csv")
    assert proc.returncode == 2 and "--loss mse" in proc.stderr, proc.stderr


def test_diabetes_mse_learns_in_the_targets_units(data, tmp_path):
    # Once the constant 147.98 for every row (r2 -0.008) with the default lr.
    proc = _train(data, "diabetes.csv", "--loss", "mse", "--save", tmp_path / "d.npz")
    assert "standardized the features and target" in proc.stdout
    assert metric(proc.stdout, "validation", "r2") > 0.3
    model = fastmlp.load(tmp_path / "d.npz")
    target = pd.read_csv(data / "diabetes.csv")["target"].to_numpy()
    assert model.preprocessor.target.mean[0] == pytest.approx(target.mean(), rel=0.05)
    _, pred = _predictions(run_cli(data, "predict", tmp_path / "d.npz", "diabetes.csv"))
    pred = np.array(pred, dtype=float)
    assert pred.std() > 0.5 * target.std()          # not a constant
    r2 = 1 - np.sum((pred - target) ** 2) / np.sum((target - target.mean()) ** 2)
    assert r2 > 0.3


@pytest.mark.parametrize("name, column", [("wine_indexed.csv", "with no name"),
                                          ("wine_unnamed.csv", "'Unnamed: 0'")])
def test_a_pandas_index_column_is_named_and_not_trained_on(data, tmp_path, name, column):
    proc = _train(data, name, "--save", tmp_path / "m.npz")
    assert f"the first column ({column}) looks like a row index" in proc.stderr
    assert "13 features" in proc.stdout
    model = fastmlp.load(tmp_path / "m.npz")
    assert model.network.layer_sizes[0] == 13 and model.feature_names_in_[0] == "alcohol"
    # predict reads the features by name: the index is left out there too.
    _, a = _predictions(run_cli(data, "predict", tmp_path / "m.npz", name))
    _, b = _predictions(run_cli(data, "predict", tmp_path / "m.npz", "wine.csv"))
    assert a == b


def test_train_without_save_says_where_a_model_would_go(data):
    out = _train(data, "wine.csv").stdout
    assert "the model was not saved: add --save wine.model.npz" in out
    assert "fastmlp predict wine.model.npz" in out


def test_predict_reads_features_by_name(data, tmp_path):
    _train(data, "wine.csv", "--save", tmp_path / "m.npz")
    frame = pd.read_csv(data / "wine.csv")
    frame[frame.columns[::-1]].to_csv(tmp_path / "reordered.csv", index=False)
    _, straight = _predictions(run_cli(data, "predict", tmp_path / "m.npz", "wine.csv"))
    _, reordered = _predictions(run_cli(tmp_path, "predict", "m.npz", "reordered.csv"))
    assert reordered == straight            # once: 75 of 178 changed
    # Without the target column, or with extra columns, the same again.
    frame.drop(columns="target").assign(notes="x").to_csv(tmp_path / "extra.csv",
                                                          index=False)
    _, extra = _predictions(run_cli(tmp_path, "predict", "m.npz", "extra.csv"))
    assert extra == straight
    frame.drop(columns=["ash", "hue"]).to_csv(tmp_path / "missing.csv", index=False)
    proc = run_cli(tmp_path, "predict", "m.npz", "missing.csv")
    assert proc.returncode == 2 and "'ash', 'hue'" in proc.stderr, proc.stderr
    assert "missing the feature column(s)" in proc.stderr


def test_predict_target_that_is_a_feature_is_an_error(data, tmp_path):
    # Once: --target 0 silently dropped "alcohol" and used the target as one.
    _train(data, "wine.csv", "--save", tmp_path / "m.npz")
    proc = run_cli(data, "predict", tmp_path / "m.npz", "wine.csv", "--target", "0")
    assert proc.returncode == 2, proc.stdout
    assert "--target names the column 'alcohol', one of the model's features" in proc.stderr
    # Naming the real target is fine, and changes nothing.
    _, named = _predictions(run_cli(data, "predict", tmp_path / "m.npz", "wine.csv",
                                    "--target", "target"))
    _, plain = _predictions(run_cli(data, "predict", tmp_path / "m.npz", "wine.csv"))
    assert named == plain


def test_text_labels_are_classes_and_come_back(data, tmp_path):
    proc = _train(data, "iris.csv", "--epochs", "60", "--save", tmp_path / "iris.npz")
    assert "(3 classes: setosa, versicolor, virginica)" in proc.stdout
    model = fastmlp.load(tmp_path / "iris.npz")
    assert tuple(model.classes_) == ("setosa", "versicolor", "virginica")
    header, pred = _predictions(run_cli(data, "predict", tmp_path / "iris.npz", "iris.csv"))
    truth = pd.read_csv(data / "iris.csv")["target"].tolist()
    assert set(pred) <= set(model.classes_)
    assert np.mean(np.array(pred) == np.array(truth)) >= 0.9
    header, _ = _predictions(run_cli(data, "predict", tmp_path / "iris.npz", "iris.csv",
                                     "--proba"))
    assert header == ["prob_setosa", "prob_versicolor", "prob_virginica"]
