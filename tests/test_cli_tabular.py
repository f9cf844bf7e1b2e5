"""Tables on the command line: ``fastmlp train`` and ``predict`` on CSV files
of every kind of column a person has (bools, text, missing values, other
separators, text labels), the saved model read back with ``fastmlp.load``
answering as the command does (DataFrame, reordered columns, arrays,
ONNX), and Ctrl-C during ``train --save``."""
import csv
import io
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import fastmlp
from fastmlp.cli.status import INTERRUPTED
from fastmlp.cli.splits import validation_split

pd = pytest.importorskip("pandas")
datasets = pytest.importorskip("sklearn.datasets")


def run_cli(cwd, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "fastmlp", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd)


def ok(proc):
    assert proc.returncode == 0, proc.stderr
    return proc


def csv_cells(path_or_text):
    """(header, rows) of a CSV text or file, every cell a str."""
    text = path_or_text if isinstance(path_or_text, str) else path_or_text.read_text()
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


def error_line(proc):
    """The one line a refused command writes on stderr."""
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastmlp: error: "), proc.stderr
    return lines[0]


# -- parity: the command line, fastmlp.load and ONNX answer alike -------------------

def _iris_with_names():
    bunch = datasets.load_iris(as_frame=True)
    frame = bunch.frame.copy()
    frame["target"] = np.asarray(bunch.target_names)[bunch.target]
    return frame


SETS = {
    "wine": (lambda: datasets.load_wine(as_frame=True).frame, "cross_entropy"),
    "breast_cancer": (lambda: datasets.load_breast_cancer(as_frame=True).frame,
                      "cross_entropy"),
    "diabetes": (lambda: datasets.load_diabetes(as_frame=True).frame, "mse"),
    "iris": (_iris_with_names, "cross_entropy"),
    "digits": (lambda: datasets.load_digits(as_frame=True).frame, "cross_entropy"),
}


@pytest.fixture(scope="module", params=sorted(SETS))
def trained(request, tmp_path_factory):
    """A scikit-learn set as CSV, trained and predicted on by the command line."""
    name = request.param
    make, loss = SETS[name]
    tmp = tmp_path_factory.mktemp(name)
    frame = make()
    frame.to_csv(tmp / "X.csv", index=False)
    ok(run_cli(tmp, "train", "X.csv", "--loss", loss, "--save", "m.npz", "--epochs", 5,
               "--quiet"))
    ok(run_cli(tmp, "predict", "m.npz", "X.csv", "--out", "p.csv"))
    if loss != "mse":
        ok(run_cli(tmp, "predict", "m.npz", "X.csv", "--proba", "--out", "q.csv"))
    return name, loss, tmp


def _cli_predictions(tmp):
    header, rows = csv_cells(tmp / "p.csv")
    assert header == ["prediction"]
    return [r[0] for r in rows]


def _cli_proba(tmp, model):
    header, rows = csv_cells(tmp / "q.csv")
    assert header == [f"prob_{c}" for c in model.classes_]
    # The command prints the shortest text that reads back to the same
    # float32: cast back, the values are the model's exactly.
    return np.array(rows, dtype=np.float64).astype(np.float32)


def test_load_answers_as_the_command_line(trained):
    name, loss, tmp = trained
    model = fastmlp.load(tmp / "m.npz")
    assert isinstance(model, fastmlp.TabularModel)
    frame = pd.read_csv(tmp / "X.csv")
    pred = model.predict(frame)
    assert [str(v) for v in pred] == _cli_predictions(tmp)
    if name == "iris":
        assert list(model.classes_) == ["setosa", "versicolor", "virginica"]
        assert set(pred) <= {"setosa", "versicolor", "virginica"}
    if loss == "mse":
        assert model.classes_ is None
        return
    proba = model.predict_proba(frame)
    assert proba.dtype == np.float32
    np.testing.assert_array_equal(proba, _cli_proba(tmp, model))


def test_columns_in_any_order_and_arrays_give_the_same(trained):
    name, loss, tmp = trained
    model = fastmlp.load(tmp / "m.npz")
    frame = pd.read_csv(tmp / "X.csv")
    features = list(model.feature_names_in_)
    assert "target" not in features and len(features) == frame.shape[1] - 1
    shuffled = frame[list(np.random.default_rng(0).permutation(frame.columns))]
    assert list(shuffled.columns) != list(frame.columns)
    array = frame[features].to_numpy()
    expected = _cli_predictions(tmp)
    for X in (shuffled, array):
        assert [str(v) for v in model.predict(X)] == expected
        if loss != "mse":
            np.testing.assert_array_equal(model.predict_proba(X), _cli_proba(tmp, model))


def test_onnx_graph_answers_as_predict(trained):
    ort = pytest.importorskip("onnxruntime")
    name, loss, tmp = trained
    model = fastmlp.load(tmp / "m.npz")
    frame = pd.read_csv(tmp / "X.csv")
    raw = frame[list(model.feature_names_in_)].to_numpy(dtype=np.float64)
    session = ort.InferenceSession(model.to_onnx().SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, {"X": raw})))
    # The network is float32 and onnxruntime's Gemm sums its products in
    # another order than fastmlp's kernels: a few float32 ulps of outputs of
    # order 1 (1e-6); an mse target's outputs are mapped back to its units,
    # so there the bound is 1e-6 of the target's scale.
    if loss == "mse":
        assert names == ["Y"]
        scale = model.preprocessor.target.scale[0]
        np.testing.assert_allclose(got["Y"][:, 0], model.predict(frame), rtol=0,
                                   atol=1e-6 * scale)
        return
    assert [str(v) for v in got["label"]] == _cli_predictions(tmp)
    np.testing.assert_allclose(got["Y"], model.predict_proba(frame), rtol=0, atol=1e-6)


def test_mlp_load_refuses_a_tabular_model(trained):
    _, _, tmp = trained
    with pytest.raises(ValueError, match="fastmlp.load"):
        fastmlp.MLP.load(tmp / "m.npz")


# -- the data a person has ----------------------------------------------------------

def blobs_frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return pd.DataFrame({"a": rng.standard_normal(n) + 2 * y,
                         "b": rng.standard_normal(n) - y,
                         "label": y})


def test_bool_column(tmp_path):
    frame = blobs_frame()
    frame.insert(1, "flag", frame["label"].to_numpy() == 1)
    frame.to_csv(tmp_path / "d.csv", index=False)
    assert "True" in (tmp_path / "d.csv").read_text()
    ok(run_cli(tmp_path, "train", "d.csv", "--epochs", 3, "--quiet", "--save", "m.npz"))
    proc = ok(run_cli(tmp_path, "predict", "m.npz", "d.csv"))
    _, rows = csv_cells(proc.stdout)
    model = fastmlp.load(tmp_path / "m.npz")
    flag = model.preprocessor.columns[1]
    train, _ = validation_split(len(frame), 0.2, 0, frame["label"].to_numpy())
    # True/False as 1/0, scaled like any number column.
    assert flag.mean == pytest.approx(frame["flag"].to_numpy()[train].mean(), rel=1e-12)
    assert [r[0] for r in rows] == [str(v) for v in model.predict(frame)]


def _with_colour(frame, colours):
    frame = frame.copy()
    frame.insert(0, "colour", colours)
    return frame


def test_text_column_needs_one_hot(tmp_path):
    frame = blobs_frame()
    colours = np.array(["red", "green", "blue"])[np.arange(len(frame)) % 3]
    _with_colour(frame, colours).to_csv(tmp_path / "d.csv", index=False)
    line = error_line(run_cli(tmp_path, "train", "d.csv", "--epochs", 1, "--quiet"))
    assert "colour" in line and "--one-hot" in line

    ok(run_cli(tmp_path, "train", "d.csv", "--one-hot", "--epochs", 3, "--quiet",
               "--save", "m.npz"))
    model = fastmlp.load(tmp_path / "m.npz")
    assert model.preprocessor.columns[0].categories == ("blue", "green", "red")
    assert model.preprocessor.n_inputs == 3 + 2

    unseen = colours.copy()
    unseen[[4, 7]] = "purple"
    other = _with_colour(frame, unseen)
    other.to_csv(tmp_path / "new.csv", index=False)
    proc = ok(run_cli(tmp_path, "predict", "m.npz", "new.csv"))
    assert "not seen in training" in proc.stderr and "colour" in proc.stderr
    assert "2 value(s)" in proc.stderr
    _, rows = csv_cells(proc.stdout)
    with pytest.warns(UserWarning, match="not seen in training"):
        X = model.transform(other)
    assert np.all(X[[4, 7], :3] == 0)
    assert np.all(X[np.arange(len(X)) % 3 == 0, :3].sum(axis=1) == 1)
    with pytest.warns(UserWarning):
        assert [r[0] for r in rows] == [str(v) for v in model.predict(other)]


def _with_missing(frame):
    frame = frame.copy()
    a = frame["a"].to_numpy().copy()
    a[[3, 10, 11, 50]] = np.nan
    # Few distinct values, so that most_frequent has something to find.
    frame["a"] = np.round(a)
    return frame


def test_missing_value_needs_impute(tmp_path):
    _with_missing(blobs_frame()).to_csv(tmp_path / "d.csv", index=False)
    line = error_line(run_cli(tmp_path, "train", "d.csv", "--epochs", 1, "--quiet"))
    # Data row 4 (0-based 3), on line 5 after the header.
    assert "row 4" in line and "line 5" in line and '"a"' in line and "--impute" in line


@pytest.mark.parametrize("strategy", ["mean", "median", "most_frequent"])
def test_impute_stores_the_training_rows_statistic(tmp_path, strategy):
    frame = _with_missing(blobs_frame())
    frame.to_csv(tmp_path / "d.csv", index=False)
    ok(run_cli(tmp_path, "train", "d.csv", "--impute", strategy, "--epochs", 2, "--quiet",
               "--save", "m.npz"))
    model = fastmlp.load(tmp_path / "m.npz")
    # The rows train fits on: a split stratified by class.
    train, _ = validation_split(len(frame), 0.2, 0, frame["label"].to_numpy())
    a = frame["a"].iloc[train]
    expected = {"mean": a.mean(), "median": a.median(), "most_frequent": a.mode()[0]}
    stored = model.preprocessor.columns[0]
    assert stored.name == "a" and model.preprocessor.columns[1].impute is not None
    assert stored.impute == pytest.approx(expected[strategy], rel=1e-12, abs=0)
    proc = ok(run_cli(tmp_path, "predict", "m.npz", "d.csv"))
    _, rows = csv_cells(proc.stdout)
    assert [r[0] for r in rows] == [str(v) for v in model.predict(frame)]


@pytest.mark.parametrize("sep", [";", "\t"])
def test_other_separators_sniffed_or_given(tmp_path, sep):
    frame = blobs_frame()
    frame.to_csv(tmp_path / "d.csv", index=False, sep=sep)
    predictions = []
    for given in ([], ["--sep", sep]):
        proc = ok(run_cli(tmp_path, "train", "d.csv", *given, "--epochs", 2, "--quiet",
                          "--save", "m.npz"))
        assert "2 features" in proc.stdout, proc.stdout
        assert fastmlp.load(tmp_path / "m.npz").feature_names_in_.tolist() == ["a", "b"]
        predictions.append(ok(run_cli(tmp_path, "predict", "m.npz", "d.csv", *given)).stdout)
    assert predictions[0] == predictions[1]
    assert len(predictions[0].splitlines()) == len(frame) + 1


def test_binary_cross_entropy_with_text_labels(tmp_path):
    frame = blobs_frame(seed=3)
    frame["label"] = np.where(frame["label"] == 1, "yes", "no")
    frame.to_csv(tmp_path / "d.csv", index=False)
    ok(run_cli(tmp_path, "train", "d.csv", "--loss", "binary_cross_entropy", "--epochs", 10,
               "--quiet", "--save", "m.npz"))
    proc = ok(run_cli(tmp_path, "predict", "m.npz", "d.csv"))
    header, rows = csv_cells(proc.stdout)
    labels = [r[0] for r in rows]
    assert header == ["prediction"] and set(labels) == {"no", "yes"}
    model = fastmlp.load(tmp_path / "m.npz")
    assert list(model.classes_) == ["no", "yes"]
    assert labels == list(model.predict(frame))
    proc = ok(run_cli(tmp_path, "predict", "m.npz", "d.csv", "--proba"))
    header, rows = csv_cells(proc.stdout)
    assert header == ["prob_no", "prob_yes"]
    proba = np.array(rows, dtype=np.float64)
    assert labels == ["yes" if p > 0.5 else "no" for p in proba[:, 1]]


def test_npy_last_column_is_the_target(tmp_path):
    frame = blobs_frame()
    A = frame.to_numpy(dtype=np.float64)
    np.save(tmp_path / "d.npy", A)
    proc = ok(run_cli(tmp_path, "train", "d.npy", "--epochs", 3, "--quiet", "--save",
                      "m.npz"))
    assert "2 features" in proc.stdout
    model = fastmlp.load(tmp_path / "m.npz")
    assert model.n_features_in_ == 2
    proc = ok(run_cli(tmp_path, "predict", "m.npz", "d.npy"))
    assert "last one is taken for the target" in proc.stderr
    _, rows = csv_cells(proc.stdout)
    assert [r[0] for r in rows] == [str(v) for v in model.predict(A[:, :2])]


def test_sep_of_two_characters_is_an_argument_error(tmp_path):
    blobs_frame().to_csv(tmp_path / "d.csv", index=False)
    proc = run_cli(tmp_path, "train", "d.csv", "--sep", ",,", "--epochs", 1)
    assert proc.returncode == 2
    assert "--sep" in proc.stderr and "one character" in proc.stderr, proc.stderr


# -- Ctrl-C -------------------------------------------------------------------------

def _interrupt_train(tmp_path, *extra):
    """Start a long ``train`` on a .npy file, send SIGINT once two epochs are
    done; (exit status, stdout, stderr)."""
    rng = np.random.default_rng(0)
    n = 20_000
    X = rng.standard_normal((n, 20))
    y = (X[:, 0] > 0).astype(np.float64)
    np.save(tmp_path / "big.npy", np.column_stack([X, y]))
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "fastmlp", "train", "big.npy", "--hidden", "256",
         "--epochs", "100000", "--batch-size", "16", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        seen = 0
        lines = []
        deadline = time.monotonic() + 300
        while seen < 2 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, (lines, proc.stderr.read())
            lines.append(line)
            seen += bool(re.match(r"\s*epoch\s+\d+", line))
        assert seen == 2, lines
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, "".join(lines) + out, err


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child needs POSIX signals")
def test_ctrl_c_saves_the_last_finished_epoch(tmp_path):
    status, _, err = _interrupt_train(tmp_path, "--save", "m.npz")
    assert status == INTERRUPTED, err
    match = re.search(r"interrupted after (\d+) epochs; saved the model of epoch \1 to "
                      r"m\.npz", err)
    assert match, err
    epochs = int(match.group(1))
    assert epochs >= 2
    model = fastmlp.load(tmp_path / "m.npz")
    assert len(model.network.history) == epochs
    A = np.load(tmp_path / "big.npy")
    assert model.predict(A[:10, :-1]).shape == (10,)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child needs POSIX signals")
def test_ctrl_c_without_save_says_not_saved(tmp_path):
    status, _, err = _interrupt_train(tmp_path)
    assert status == INTERRUPTED, err
    assert re.search(r"interrupted after \d+ epochs; the model was not saved "
                     r"\(no --save was given\)", err), err
    assert not list(tmp_path.glob("*.npz"))


def test_predict_drops_a_text_target_column_unread(tmp_path):
    # Once: "not a number: 'setosa'" for the column predict was told to drop.
    frame = blobs_frame()
    frame["label"] = np.array(["a", "b", "c"])[frame["label"].to_numpy() % 3]
    frame.to_csv(tmp_path / "d.csv", index=False)
    ok(run_cli(tmp_path, "train", "d.csv", "--epochs", 2, "--quiet", "--save", "m.npz"))
    named = ok(run_cli(tmp_path, "predict", "m.npz", "d.csv", "--target", "label"))
    plain = ok(run_cli(tmp_path, "predict", "m.npz", "d.csv"))
    assert named.stdout == plain.stdout
