"""The command line (fastmlp.cli), run as ``python -m fastmlp`` in a subprocess:
train on CSV, .npy and .npz files and predict, bench, the main job, and a
one-line error with exit status 2 (1 for divergence) for every bad input."""
import csv
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastmlp


def run_cli(cwd, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", "fastmlp", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd)


def read_csv(path_or_text, from_text=False):
    text = path_or_text if from_text else path_or_text.read_text()
    rows = list(csv.reader(text.splitlines()))
    return rows[0], np.array(rows[1:], dtype=np.float64)


def blobs(n=300, seed=1):
    """Three well separated classes in 3-D: an easy problem."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = 3.0 * np.eye(3)[y] + 0.5 * rng.standard_normal((n, 3))
    return X, y


def metric(out, split, name):
    match = re.search(rf"^{split} \(\d+ rows\): .*\b{name} (-?\d+\.\d+)", out, re.MULTILINE)
    assert match, out
    return float(match.group(1))


# -- train and predict -------------------------------------------------------------

def test_train_and_predict_csv(tmp_path):
    X, y = blobs()
    with open(tmp_path / "easy.csv", "w") as f:
        f.write("x0,label,x1,x2\n")      # the target column is not the last one
        for xi, yi in zip(X, y):
            f.write(f"{xi[0]:.5f},{yi},{xi[1]:.5f},{xi[2]:.5f}\n")
    proc = run_cli(tmp_path, "train", "easy.csv", "--target", "label", "--hidden", "16",
                   "--epochs", "8", "--save", "model.npz")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert len(re.findall(r"^epoch\s+\d+ .*val_accuracy", out, re.MULTILINE)) == 8, out
    assert metric(out, "validation", "accuracy") >= 0.9
    assert "saved the model to model.npz" in out

    model = fastmlp.load(tmp_path / "model.npz")
    net = model.network
    assert list(net.layer_sizes) == [3, 16, 3] and net.loss_name == "cross_entropy"
    assert len(net.history) == 8

    proc = run_cli(tmp_path, "predict", "model.npz", "easy.csv", "--target", "label",
                   "--out", "preds.csv")
    assert proc.returncode == 0, proc.stderr
    header, pred = read_csv(tmp_path / "preds.csv")
    assert header == ["prediction"] and pred.shape == (len(y), 1)
    assert np.mean(pred[:, 0] == y) >= 0.9
    features = np.loadtxt(tmp_path / "easy.csv", delimiter=",", skiprows=1)[:, [0, 2, 3]]
    # The model takes the features standardized as train did, saved with it.
    mean = np.array([c.mean for c in model.preprocessor.columns])
    scale = np.array([c.scale for c in model.preprocessor.columns])
    np.testing.assert_array_equal(pred[:, 0], net.predict((features - mean) / scale))
    np.testing.assert_array_equal(pred[:, 0], model.predict(features))

    proc = run_cli(tmp_path, "predict", "model.npz", "easy.csv", "--target", "1", "--proba")
    assert proc.returncode == 0, proc.stderr
    header, proba = read_csv(proc.stdout, from_text=True)
    assert header == ["prob_0", "prob_1", "prob_2"] and proba.shape == (len(y), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(proba.argmax(axis=1), pred[:, 0])


def test_train_and_predict_npy_regression(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((400, 4))
    target = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3
    np.save(tmp_path / "reg.npy", np.column_stack([X, target]))   # target: last column
    proc = run_cli(tmp_path, "train", "reg.npy", "--loss", "mse", "--hidden", "32",
                   "--epochs", "15", "--lr", "0.01", "--dtype", "float64", "--quiet",
                   "--save", "reg_model")
    assert proc.returncode == 0, proc.stderr
    assert not re.search(r"^epoch", proc.stdout, re.MULTILINE)      # --quiet
    assert metric(proc.stdout, "validation", "r2") > 0.9

    net = fastmlp.load(tmp_path / "reg_model").network            # the name as given
    assert list(net.layer_sizes) == [4, 32, 1] and net.dtype == np.float64

    proc = run_cli(tmp_path, "predict", "reg_model", "reg.npy", "--target", "-1")
    assert proc.returncode == 0, proc.stderr
    header, pred = read_csv(proc.stdout, from_text=True)
    assert header == ["prediction"] and pred.shape == (400, 1)
    assert np.sqrt(np.mean((pred[:, 0] - target) ** 2)) < 0.5 * target.std()
    # Written in full precision: the model's own predictions on the
    # standardized features, mapped back to the target's units, exactly.
    pre = fastmlp.load(tmp_path / "reg_model").preprocessor
    mean = np.array([c.mean for c in pre.columns])
    scale = np.array([c.scale for c in pre.columns])
    out = net.predict((X - mean) / scale)
    np.testing.assert_array_equal(pred[:, 0], out * pre.target.scale[0] + pre.target.mean[0])


def test_train_and_predict_npz_binary(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    np.savez(tmp_path / "bin.npz", X=X, y=y)
    proc = run_cli(tmp_path, "train", "bin.npz", "--loss", "binary_cross_entropy",
                   "--epochs", "10", "--save", "bin_model.npz")
    assert proc.returncode == 0, proc.stderr
    assert metric(proc.stdout, "validation", "accuracy") >= 0.85
    assert fastmlp.load(tmp_path / "bin_model.npz").network.loss_name == \
        "binary_cross_entropy"

    proc = run_cli(tmp_path, "predict", "bin_model.npz", "bin.npz", "--out", "p.csv")
    assert proc.returncode == 0, proc.stderr
    header, pred = read_csv(tmp_path / "p.csv")
    assert header == ["prediction"] and pred.shape == (300, 1)
    assert np.mean(pred[:, 0] == y) >= 0.85

    proc = run_cli(tmp_path, "predict", "bin_model.npz", "bin.npz", "--proba")
    assert proc.returncode == 0, proc.stderr
    header, proba = read_csv(proc.stdout, from_text=True)
    # predict_proba's columns: the classes 0 and 1.
    assert header == ["prob_0", "prob_1"] and proba.shape == (300, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_array_equal(proba[:, 1] > 0.5, pred[:, 0] == 1)


# -- bench and the main job -------------------------------------------------------------

@pytest.mark.parametrize("reference", [False, True])
def test_bench_tiny(tmp_path, reference):
    args = ["bench", "--configs", "tiny", "--repeat", "2"] + (["--reference"] if reference else [])
    proc = run_cli(tmp_path, *args)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "threads=1" in out
    header = next(line for line in out.splitlines() if line.startswith("config "))
    assert "fastmlp us/step" in header and "floor us/step" in header
    assert ("reference us/step" in header) == reference
    assert re.search(r"^tiny\s+float32\s+\d", out, re.MULTILINE), out


def test_main_job_without_arguments(tmp_path):
    proc = run_cli(tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert len(re.findall(r"^\s+\d+\s+\d+\.\d{4}\s+", out, re.MULTILINE)) == 30
    match = re.search(r"^fastmlp test accuracy: (\d\.\d{4})", out, re.MULTILINE)
    assert match and float(match.group(1)) > 0.9, out
    assert re.search(r"^speed-up \(reference time / fastmlp time\): \d+\.\d+x$", out,
                     re.MULTILINE), out


def test_main_job_options_and_help(tmp_path):
    proc = run_cli(tmp_path, "--epochs", "1", "--repeats", "1")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^fastmlp test accuracy: ", proc.stdout, re.MULTILINE)
    proc = run_cli(tmp_path, "--help")
    assert proc.returncode == 0
    for command in ("train DATA", "predict MODEL DATA", "bench"):
        assert command in proc.stdout


# -- errors -------------------------------------------------------------------

def _write(path, text):
    path.write_text(text)


def _arrays(tmp_path):
    np.save(tmp_path / "vec.npy", np.arange(5.0))
    a = np.ones((4, 3))
    a[2, 1] = np.nan
    np.save(tmp_path / "nan.npy", a)
    np.save(tmp_path / "text.npy", np.array([["a", "b"], ["c", "d"]]))
    np.savez(tmp_path / "noy.npz", X=np.ones((4, 2)))
    np.savez(tmp_path / "rows.npz", X=np.ones((4, 2)), y=np.zeros(3))
    np.savez(tmp_path / "labels.npz", X=np.ones((4, 2)), y=np.array([0, 1, 0.5, 2]))
    np.save(tmp_path / "good.npy", np.ones((6, 4)))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "good.npy").read_bytes()[:100])


ERROR_CASES = {
    # name: (files {name: text}, arguments, substrings the error line must contain)
    "not a number": ({"d.csv": "age,b,label\n1,2,0\n3,4,1\nabc,5,0\n"},
                     ["train", "d.csv"], ['d.csv, row 3 (line 4), column "age"',
                                          "not a number: 'abc'"]),
    "empty value": ({"d.csv": "a,b,label\n1,2,0\n3,,1\n"},
                    ["train", "d.csv"], ['d.csv, row 2 (line 3), column "b"', "missing value",
                                         "--impute"]),
    "not finite": ({"d.csv": "a,b,label\n1,inf,0\n3,4,1\n"},
                   ["train", "d.csv"], ['d.csv, row 1 (line 2), column "b"', "finite"]),
    "ragged row": ({"d.csv": "a,b,label\n1,2,0\n3,4\n"},
                   ["train", "d.csv"], ["d.csv, row 2 (line 3)", "2 values", "3 columns"]),
    "numbers and text": ({"d.csv": "a,species\n1,0\n2,virginica\n"},
                         ["train", "d.csv"], ['d.csv, row 2 (line 3), column "species"',
                                              "'virginica'", "class labels"]),
    "fractional label": ({"d.csv": "a,y\n1,0\n2,1.5\n3,1\n"},
                         ["train", "d.csv"], ['d.csv, row 2 (line 3), column "y"', "1.5"]),
    "label beyond --classes": ({"d.csv": "a,y\n1,0\n2,3\n3,1\n"},
                               ["train", "d.csv", "--classes", "3"],
                               ['d.csv, row 2 (line 3), column "y"', "0..2"]),
    "binary target": ({"d.csv": "a,y\n1,0\n2,2\n3,1\n"},
                      ["train", "d.csv", "--loss", "binary_cross_entropy"],
                      ['d.csv, row 2 (line 3), column "y"', "0 or 1"]),
    "missing column": ({"d.csv": "a,b\n1,0\n2,1\n"},
                       ["train", "d.csv", "--target", "label"], ["d.csv", "'label'"]),
    "empty file": ({"d.csv": ""}, ["train", "d.csv"], ["d.csv", "empty"]),
    "header only": ({"d.csv": "a,b\n"}, ["train", "d.csv"], ["d.csv", "no data rows"]),
    "missing file": ({}, ["train", "nowhere.csv"], ["nowhere.csv", "cannot open"]),
    "1-D array": ({}, ["train", "vec.npy"], ["vec.npy", "2-D", "(5,)"]),
    "NaN in an array": ({}, ["train", "nan.npy"], ["nan.npy, row 2, column 1", "nan"]),
    "string array": ({}, ["train", "text.npy"], ["text.npy", "numeric"]),
    "truncated array": ({}, ["train", "cut.npy"], ["cut.npy", "cannot read"]),
    "text named .npy": ({"fake.npy": "a,b\n1,2\n"}, ["train", "fake.npy"],
                        ["fake.npy", "not a NumPy"]),
    "no y in npz": ({}, ["train", "noy.npz"], ["noy.npz", "no array 'y'"]),
    "X and y lengths": ({}, ["train", "rows.npz"], ["rows.npz", "3 rows", "4"]),
    "fractional label in npz": ({}, ["train", "labels.npz"],
                                ["labels.npz, array 'y', row 2", "0.5", "--loss mse"]),
    "bad activation": ({"d.csv": "a,y\n1,0\n2,1\n3,1\n"},
                       ["train", "d.csv", "--activation", "bogus"], ["'bogus'"]),
    "bad option value": ({}, ["train", "d.csv", "--epochs", "many"], ["--epochs", "'many'"]),
    "hidden 0": ({}, ["train", "good.npy", "--hidden", "0"],
                 ["--hidden", "use --hidden none for no hidden layer"]),
    "unreadable model": ({"model.npz": "not a model", "d.csv": "a\n1\n"},
                         ["predict", "model.npz", "d.csv"], ["model.npz", "not a fastmlp model"]),
    "missing model": ({"d.csv": "a\n1\n"}, ["predict", "nomodel.npz", "d.csv"],
                      ["nomodel.npz", "cannot open"]),
    "npz that is not a model": ({}, ["predict", "noy.npz", "good.npy"],
                                ["noy.npz", "invalid fastmlp model file"]),
    "unknown command": ({}, ["trian", "d.csv"], ["unknown command 'trian'"]),
}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A model trained by the command on 4 features (class labels)."""
    where = tmp_path_factory.mktemp("model")
    X, y = blobs(60)
    np.save(where / "train.npy", np.column_stack([X, X[:, :1], y]))
    proc = run_cli(where, "train", "train.npy", "--epochs", "1", "--quiet", "--save",
                   "m.npz")
    assert proc.returncode == 0, proc.stderr
    return where / "m.npz"


def check_one_line_error(proc, status, expected):
    assert proc.returncode == status, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("fastmlp: error: "), lines[0]
    for text in expected:
        assert text in lines[0], (text, lines[0])


@pytest.fixture(scope="module")
def error_runs(tmp_path_factory):
    """Every case of ERROR_CASES run in its own directory, a few processes at a
    time (they are independent, and each is mostly interpreter start-up)."""
    def one(case):
        files, args, _ = ERROR_CASES[case]
        where = tmp_path_factory.mktemp("error")
        _arrays(where)
        for name, text in files.items():
            _write(where / name, text)
        return run_cli(where, *args)

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(zip(ERROR_CASES, pool.map(one, ERROR_CASES)))


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_bad_input_is_one_line_exit_2(error_runs, case):
    check_one_line_error(error_runs[case], 2, ERROR_CASES[case][2])


@pytest.mark.parametrize("text, sizes", [("none", []), ("None", []), ("", []), (" ", []),
                                         ("16", [16]), ("32,8", [32, 8])])
def test_hidden_sizes_none_or_empty_is_no_hidden_layer(text, sizes):
    from fastmlp.cli.parser import command_parser
    args = command_parser("fastmlp", "train").parse_args(["d.csv", "--hidden", text])
    assert args.hidden == sizes


@pytest.mark.parametrize("text", ["0", " 0 ", "0,0", "16,0", "-1"])
def test_hidden_sizes_refuse_a_zero_or_negative_size(text):
    from fastmlp.cli.parser import command_parser
    from fastmlp.cli.status import CLIError
    with pytest.raises(CLIError, match="--hidden") as info:
        command_parser("fastmlp", "train").parse_args(["d.csv", "--hidden", text])
    if text.strip() == "0":
        assert "use --hidden none for no hidden layer" in str(info.value)


@pytest.mark.parametrize("args, expected", [
    (["wide.npy"], ["wide.npy", "6 feature columns", "expects 4"]),
    (["good.npy", "--target", "0", "--proba", "--out", "no/such/dir.csv"],
     ["no/such/dir.csv", "cannot write"]),
])
def test_predict_errors(tmp_path, model_file, args, expected):
    np.save(tmp_path / "good.npy", np.ones((6, 5)))
    np.save(tmp_path / "wide.npy", np.ones((6, 6)))
    check_one_line_error(run_cli(tmp_path, "predict", model_file, *args), 2, expected)


def test_predict_drops_the_last_column_of_an_array_as_train_does(tmp_path, model_file):
    # train takes a .npy file's last column for the target; predict on the
    # same file once refused it ("5 feature columns ... expects 4").
    X = np.random.default_rng(5).standard_normal((6, 4))
    np.save(tmp_path / "with_target.npy", np.column_stack([X, np.arange(6)]))
    np.save(tmp_path / "features.npy", X)
    proc = run_cli(tmp_path, "predict", model_file, "with_target.npy")
    assert proc.returncode == 0, proc.stderr
    assert "the last one is taken for the target" in proc.stderr
    assert proc.stdout == run_cli(tmp_path, "predict", model_file, "features.npy").stdout


def test_divergence_is_one_line_exit_1(tmp_path):
    rng = np.random.default_rng(4)
    np.save(tmp_path / "r.npy", rng.standard_normal((64, 3)))
    # Momentum, the optimizer this was written for (under adam the step is
    # bounded by lr whatever the gradient).
    proc = run_cli(tmp_path, "train", "r.npy", "--loss", "mse", "--lr", "1e6", "--quiet",
                   "--optimizer", "momentum", "--save", "never.npz")
    check_one_line_error(proc, 1, ["diverged", "lower the learning rate"])
    assert not (tmp_path / "never.npz").exists()
