"""scikit-learn's own test file of its MLPs (sklearn/neural_network/tests/
test_mlp.py of the installed release) run on fastmlp.sklearn by
tests/sklearn_suite.py, in a subprocess: every test passes except those
sklearn_suite.deselected() names for the installed release, each with its
reason (docs/sklearn.md lists them too). Also: the import rewrite itself, on every spelling it handles and
on those it must refuse.
"""
import ast
import json
import os
import subprocess

import pytest

import fastmlp.sklearn
import sklearn.neural_network
import sklearn_suite

SPELLINGS = '''\
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.neural_network import (
    BernoulliRBM,
    MLPClassifier as Classifier,
)
from sklearn.neural_network._multilayer_perceptron import MLPRegressor as R, _pack  # a comment
from sklearn.neural_network import BernoulliRBM as RBM


def imported_inside():
    from sklearn.neural_network import MLPClassifier
    return MLPClassifier


LAST_LINE = "here"
'''


def test_rewrite_turns_every_spelling_into_fastmlp_imports():
    rewritten = sklearn_suite.rewrite(SPELLINGS)
    # Line numbers are kept, so tracebacks point at scikit-learn's lines.
    assert len(rewritten.splitlines()) == len(SPELLINGS.splitlines())
    assert rewritten.splitlines()[-1] == 'LAST_LINE = "here"'
    namespace = {}
    exec(compile(rewritten, "rewritten", "exec"), namespace)
    for name in ("MLPClassifier", "Classifier"):
        assert namespace[name] is fastmlp.sklearn.MLPClassifier, name
    for name in ("MLPRegressor", "R"):
        assert namespace[name] is fastmlp.sklearn.MLPRegressor, name
    assert namespace["imported_inside"]() is fastmlp.sklearn.MLPClassifier
    # Other names of the same statements still come from scikit-learn.
    assert namespace["BernoulliRBM"] is sklearn.neural_network.BernoulliRBM
    assert namespace["RBM"] is sklearn.neural_network.BernoulliRBM
    assert namespace["_pack"] is sklearn.neural_network._multilayer_perceptron._pack


@pytest.mark.parametrize("source", [
    "import sklearn.neural_network\n",
    "import sklearn.neural_network._multilayer_perceptron as mlp\n",
    "from sklearn.neural_network import *\n",
    "from sklearn import neural_network\nest = neural_network.MLPRegressor()\n",
    "from sklearn.neural_network import MLPClassifier; x = 1\n",
    "if True: from sklearn.neural_network import MLPClassifier\n",
])
def test_rewrite_refuses_what_could_leave_sklearns_estimators_in_place(source):
    with pytest.raises(sklearn_suite.RewriteError):
        sklearn_suite.rewrite(source)


def test_installed_suite_is_found_and_every_exception_names_one_of_its_tests():
    path = sklearn_suite.installed_suite_path()
    assert os.path.dirname(sklearn.__file__) in os.path.abspath(path)
    with open(path, encoding="utf-8") as f:
        source = f.read()
    tree = ast.parse(sklearn_suite.rewrite(source))
    sources = {(node.module, alias.name) for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) for alias in node.names
               if alias.name in sklearn_suite.ESTIMATORS}
    assert sources == {("fastmlp.sklearn", name) for name in sklearn_suite.ESTIMATORS}
    tests = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    exceptions = sklearn_suite.deselected(sklearn.__version__)
    assert set(exceptions) <= tests, "an exception names no test of the file"


@pytest.mark.parametrize("version, extra", [
    ("1.5.2", {"test_mlp_regressor_dtypes_casting"}), ("1.6.1", set()), ("1.9.1", set())])
def test_exceptions_by_release(version, extra):
    # Every release's exceptions include those of all releases; some add
    # the old form of a test that a later release changed.
    assert set(sklearn_suite.deselected(version)) == set(sklearn_suite.DESELECTED) | extra


def test_sklearns_own_suite_passes(tmp_path, capsys):
    folder = tmp_path / "suite"
    folder.mkdir()
    sklearn_suite.prepare(str(folder))
    report = tmp_path / "report.json"
    argv, kwargs = sklearn_suite.command(str(folder), "-q", "-ra",
                                         f"--sklearn-suite-report={report}")
    run = subprocess.run(argv, capture_output=True, text=True, timeout=1800, **kwargs)
    log = run.stdout[-20000:] + run.stderr[-5000:]
    assert report.exists(), f"the suite did not run:\n{log}"
    result = json.loads(report.read_text())
    outcomes = result["outcomes"]
    not_passed = {k: v for k, v in outcomes.items() if v != "passed"}
    assert not not_passed and run.returncode == 0, f"{not_passed}\n{log}"
    deselected_names = {nodeid.split("::")[-1].split("[")[0] for nodeid in result["deselected"]}
    assert deselected_names == set(sklearn_suite.deselected(sklearn.__version__))
    # The file was collected whole (it has about 60 tests).
    assert len(outcomes) >= 50, log
    with capsys.disabled():
        print(f"\nscikit-learn {sklearn.__version__} test_mlp.py on fastmlp.sklearn: "
              f"{len(outcomes)} passed, {len(result['deselected'])} deselected:")
        for nodeid, reason in result["deselected"].items():
            print(f"  {nodeid}: {reason}")
