"""scikit-learn's own tests of its MLPs, run on fastmlp.sklearn.

    python tests/sklearn_suite.py [pytest options]

takes ``sklearn/neural_network/tests/test_mlp.py`` from the installed
scikit-learn (it is scikit-learn's code, so it is read from there and never
copied into this repository), rewrites its imports of MLPClassifier and
MLPRegressor, in whatever spelling the file uses, to ``fastmlp.sklearn``,
writes the result to a scratch folder and runs pytest on it with
scikit-learn's own conftest (its fixtures, e.g. ``global_random_seed``) and
this module as plugins. The plugin deselects the tests deselected() names
for the installed release (DESELECTED on every release, DESELECTED_ON on
some), the one list of exceptions, and prints each with its reason; it also
stops the run if the file's estimators are not fastmlp's.
tests/test_sklearn_own_suite.py runs this in a subprocess and asserts that
every other test passes.
"""
import ast
import json
import os
import subprocess
import sys
import tempfile
from importlib import resources

# The modules the file may import the estimators from, and their names.
ESTIMATOR_MODULES = ("sklearn.neural_network", "sklearn.neural_network._multilayer_perceptron")
ESTIMATORS = ("MLPClassifier", "MLPRegressor")
SUITE_FILE = "test_mlp.py"

# Tests of test_mlp.py not run, by function name (every parametrization),
# with the reason. Only tests that work on scikit-learn's private machinery
# rather than on the estimators' behaviour belong here.
DESELECTED = {
    "test_gradient": (
        "calls scikit-learn's private MLP._loss_grad_lbfgs with its own activation, delta "
        "and gradient lists, i.e. tests scikit-learn's NumPy backpropagation, which "
        "fastmlp.sklearn does not use; the same check (analytic gradient against central "
        "differences, every activation, 2 and 3 classes) runs on fastmlp's kernels in "
        "tests/test_sklearn_kernels.py::test_gradient_like_sklearns_test_gradient"),
}

# Tests of the file of some releases only: name -> ((major, minor) of those
# releases, reason). Only forms of a test that a later release changed
# belong here; the later form must pass.
DESELECTED_ON = {
    "test_mlp_regressor_dtypes_casting": ({(1, 5)}, (
        "scikit-learn 1.5's form of the test compares the predictions of a float32 and a "
        "float64 fit after 50 epochs at rtol 1e-4 with no atol; fastmlp.sklearn trains "
        "float32 input in float32 throughout (docs/sklearn.md, intended difference 6), "
        "where scikit-learn keeps float64 deltas and gradients, and differs by 3e-3 "
        "relative (1.6e-5 absolute) on a prediction near zero. scikit-learn 1.6 changed "
        "the test to 150 epochs, tol 1e-3 and rtol 5e-4, which passes (2.8e-4)")),
}


def deselected(version):
    """{test name: reason} of the tests not run on scikit-learn ``version``
    (a version string)."""
    from fastmlp.sklearn._release import release
    on_this = {name: reason for name, (releases, reason) in DESELECTED_ON.items()
               if release(version) in releases}
    return {**DESELECTED, **on_this}


class RewriteError(ValueError):
    """The file refers to the estimators in a way rewrite() does not handle."""


def installed_suite_path():
    """Path of test_mlp.py in the installed scikit-learn."""
    path = resources.files("sklearn.neural_network") / "tests" / SUITE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: this scikit-learn install has no tests (they ship in "
            "scikit-learn's wheels)")
    return str(path)


def _import_line(module, names):
    listed = ", ".join(n if alias is None else f"{n} as {alias}" for n, alias in names)
    return f"from {module} import {listed}"


def rewrite(source):
    """source with every import of ESTIMATORS from ESTIMATOR_MODULES turned
    into an import from fastmlp.sklearn (other names imported by the same
    statement stay with scikit-learn). Any other way of reaching the
    estimators (``import sklearn.neural_network``, a star import, an
    attribute ``...neural_network.MLPClassifier``) is a RewriteError: the
    test must not silently run scikit-learn's own classes."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    replacements = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ESTIMATOR_MODULES:
            if any(a.name == "*" for a in node.names):
                raise RewriteError(f"line {node.lineno}: star import from {node.module}")
            ours = [(a.name, a.asname) for a in node.names if a.name in ESTIMATORS]
            theirs = [(a.name, a.asname) for a in node.names if a.name not in ESTIMATORS]
            if not ours:
                continue
            before = lines[node.lineno - 1][:node.col_offset]
            after = lines[node.end_lineno - 1][node.end_col_offset:].strip()
            if before.strip() or (after and not after.startswith("#")):
                raise RewriteError(f"line {node.lineno}: the import shares a line with code")
            text = _import_line("fastmlp.sklearn", ours)
            if theirs:
                text += "; " + _import_line(node.module, theirs)
            replacements[node.lineno] = (node.end_lineno, " " * node.col_offset + text)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name in ESTIMATOR_MODULES:
                    raise RewriteError(f"line {node.lineno}: import {a.name}")
        elif isinstance(node, ast.Attribute) and node.attr in ESTIMATORS:
            raise RewriteError(f"line {node.lineno}: attribute access .{node.attr}")
    # Each import becomes one line, padded with empty lines to the lines it
    # spanned: line numbers in tracebacks stay those of scikit-learn's file.
    for lineno, (end, text) in replacements.items():
        lines[lineno - 1:end] = [text + "\n"] + ["\n"] * (end - lineno)
    return "".join(lines)


def prepare(folder):
    """Write the rewritten suite and an empty pytest.ini (so that no other
    project's settings apply) into folder; return the test file's path."""
    with open(installed_suite_path(), encoding="utf-8") as f:
        source = rewrite(f.read())
    test_file = os.path.join(folder, SUITE_FILE)
    with open(test_file, "w", encoding="utf-8") as f:
        f.write(source)
    with open(os.path.join(folder, "pytest.ini"), "w", encoding="utf-8") as f:
        f.write("[pytest]\n")
    return test_file


def command(folder, *pytest_args):
    """(argv, keyword arguments of subprocess.run) that run the suite
    prepared in folder, from folder (so test ids read test_mlp.py::...)."""
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    argv = [sys.executable, "-m", "pytest", "-p", "sklearn.conftest", "-p", "sklearn_suite",
            "-p", "no:cacheprovider", "--rootdir", folder, *pytest_args, SUITE_FILE]
    return argv, {"env": env, "cwd": folder}


# --- the pytest plugin (loaded with -p sklearn_suite) ---------------------

_OUTCOMES = {}   # test id -> "passed", "failed", "error" or "skipped"


def pytest_addoption(parser):
    parser.addoption("--sklearn-suite-report", metavar="PATH",
                     help="write the outcome of every test and the deselected ones "
                          "(with their reasons) to PATH as JSON")


def _test_name(item):
    return getattr(item, "originalname", None) or item.name.split("[")[0]


def pytest_collection_modifyitems(config, items):
    import fastmlp.sklearn
    for module in {item.module for item in items if getattr(item, "module", None)}:
        for name in ESTIMATORS:
            if getattr(module, name, None) is not getattr(fastmlp.sklearn, name):
                raise RuntimeError(f"{module.__name__}.{name} is not fastmlp.sklearn.{name}")
    import sklearn
    names = deselected(sklearn.__version__)
    dropped = [item for item in items if _test_name(item) in names]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if _test_name(item) not in names]
    config._sklearn_suite_deselected = [item.nodeid for item in dropped]


def pytest_runtest_logreport(report):
    if report.failed:
        _OUTCOMES[report.nodeid] = "failed" if report.when == "call" else "error"
    elif report.skipped:
        _OUTCOMES[report.nodeid] = "skipped"
    elif report.when == "call":
        _OUTCOMES.setdefault(report.nodeid, "passed")


def pytest_sessionfinish(session, exitstatus):
    path = session.config.getoption("--sklearn-suite-report")
    if path:
        ids = getattr(session.config, "_sklearn_suite_deselected", [])
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"exitstatus": int(exitstatus), "outcomes": _OUTCOMES,
                       "deselected": {i: _reason(i) for i in ids}}, f, indent=1)


def _reason(nodeid):
    import sklearn
    return deselected(sklearn.__version__)[nodeid.split("::")[-1].split("[")[0]]


def pytest_terminal_summary(terminalreporter, config):
    ids = getattr(config, "_sklearn_suite_deselected", [])
    terminalreporter.section("scikit-learn's test_mlp.py on fastmlp.sklearn: deselected")
    for nodeid in ids:
        terminalreporter.write_line(f"{nodeid}: {_reason(nodeid)}")


def main(argv):
    with tempfile.TemporaryDirectory(prefix="fastmlp-sklearn-suite-") as folder:
        prepare(folder)
        args, kwargs = command(folder, *argv)
        return subprocess.run(args, **kwargs).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
