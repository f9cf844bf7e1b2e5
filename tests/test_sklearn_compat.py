"""The scikit-learn releases fastmlp.sklearn accepts (_release) and the
shims that let one code base run on each of them (_compat), by their
behaviour on the installed release. CI runs this file on the oldest and
the newest supported release (tools/sklearn_oldest.sh)."""
import inspect
import os
import re
import warnings

import numpy as np
import pytest
import scipy.optimize
import sklearn
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

from fastmlp.sklearn import MLPClassifier, MLPRegressor
from fastmlp.sklearn import _compat
from fastmlp.sklearn._release import FIRST_UNSUPPORTED, OLDEST, check_release, release


@pytest.mark.parametrize("version, expected", [
    ("1.5.2", (1, 5)), ("1.10.dev0", (1, 10)), ("1.4.1.post1", (1, 4)),
    ("1.9.0rc1", (1, 9)), ("2", (2, 0)), ("1.6", (1, 6)),
])
def test_release_reads_major_and_minor(version, expected):
    assert release(version) == expected


@pytest.mark.parametrize("version", ["1.5.0", "1.5.2", "1.6.1", "1.7.2", "1.8.0", "1.9.1",
                                     "1.9.0rc1", "1.10.0"])
def test_supported_releases_are_accepted(version):
    check_release(version)


@pytest.mark.parametrize("version", ["1.4.2", "1.4.1.post1", "1.0", "0.24.2", "2.0.0",
                                     "2.1.dev0"])
def test_other_releases_are_refused_naming_the_range(version):
    with pytest.raises(ImportError) as err:
        check_release(version)
    message = str(err.value)
    assert "scikit-learn >=1.5,<2.0" in message and f"found {version}" in message, message
    assert 'pip install "fastmlp[sklearn]"' in message, message


def test_installed_release_is_supported():
    check_release(sklearn.__version__)


def test_pyproject_pins_the_accepted_range():
    # Every scikit-learn requirement of the extras (sklearn, test) is the
    # range the import accepts, so pip never installs a refused release.
    path = os.path.join(os.path.dirname(__file__), os.pardir, "pyproject.toml")
    with open(path, encoding="utf-8") as f:
        specs = re.findall(r'"scikit-learn([^"]*)"', f.read())
    assert len(specs) >= 2, specs
    for spec in specs:
        m = re.fullmatch(r">=(\d+)\.(\d+),<(\d+)(?:\.(\d+))?", spec)
        assert m, spec
        low, high = (int(m[1]), int(m[2])), (int(m[3]), int(m[4] or 0))
        assert (low, high) == (OLDEST, FIRST_UNSUPPORTED), spec


def _fitted_regressor(**params):
    X, y = make_regression(n_samples=60, n_features=4, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0,
                            **params).fit(X, y / 100), X, y / 100


def test_validate_data_checks_and_records_the_features():
    est = MLPRegressor()
    X = np.arange(12.0).reshape(4, 3)
    out = _compat.validate_data(est, X, reset=True)
    np.testing.assert_array_equal(out, X)
    assert est.n_features_in_ == 3
    with pytest.raises(ValueError, match="3 features"):
        _compat.validate_data(est, X[:, :2], reset=False)
    out_X, out_y = _compat.validate_data(est, X, np.arange(4.0), reset=False)
    assert out_X.shape == (4, 3) and out_y.shape == (4,)


@pytest.mark.parametrize("iprint", [-1, 1])
def test_lbfgs_print_options_are_accepted_without_deprecation(iprint):
    options = _compat.lbfgs_print_options(iprint)
    assert set(options) <= {"iprint"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = scipy.optimize.minimize(lambda x: ((x - 3.0) ** 2).sum(), np.zeros(2),
                                      method="L-BFGS-B", options={"maxiter": 50, **options})
    np.testing.assert_allclose(res.x, 3.0, rtol=1e-6)


@pytest.mark.parametrize("ours, theirs", [(MLPClassifier, SkMLPClassifier),
                                          (MLPRegressor, SkMLPRegressor)])
def test_sample_weight_is_taken_exactly_where_sklearn_takes_it(ours, theirs):
    takes = "sample_weight" in inspect.signature(theirs.fit).parameters
    assert _compat.FIT_TAKES_SAMPLE_WEIGHT == takes
    X, y = make_regression(n_samples=30, n_features=3, random_state=1)
    if ours is MLPClassifier:
        y = (y > 0).astype(int)
    est = ours(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if takes:
            est.fit(X, y, sample_weight=np.full(len(y), 2.0))
            assert est.n_iter_ == 2
        else:
            with pytest.raises(TypeError, match="sample_weight"):
                est.fit(X, y, sample_weight=np.full(len(y), 2.0))


def test_no_improvement_count_follows_the_training_loss():
    est, _, _ = _fitted_regressor(solver="sgd")
    est.loss_curve_ = [1.0]
    est.best_loss_, est._no_improvement_count, est.tol = np.inf, 0, 1e-3
    _compat.update_no_improvement_count(est, False, None, None, None)
    assert est.best_loss_ == 1.0 and est._no_improvement_count == 0
    est.loss_curve_.append(1.0 - 1e-4)   # better, but by less than tol
    _compat.update_no_improvement_count(est, False, None, None, None)
    assert est.best_loss_ == 1.0 - 1e-4 and est._no_improvement_count == 1


def test_no_improvement_count_scores_the_validation_rows():
    est, X, y = _fitted_regressor(solver="adam", early_stopping=True)
    before = len(est.validation_scores_)
    _compat.update_no_improvement_count(est, True, X[:20], y[:20], None)
    assert len(est.validation_scores_) == before + 1
    assert est.validation_scores_[-1] == pytest.approx(est.score(X[:20], y[:20]), rel=1e-12)
    sw = np.linspace(0.5, 2.0, 20)
    if _compat.FIT_TAKES_SAMPLE_WEIGHT:
        _compat.update_no_improvement_count(est, True, X[:20], y[:20], sw)
        assert est.validation_scores_[-1] == pytest.approx(
            est.score(X[:20], y[:20], sample_weight=sw), rel=1e-12)
    else:
        with pytest.raises(TypeError, match="scikit-learn 1.7"):
            _compat.update_no_improvement_count(est, True, X[:20], y[:20], sw)


class _Weights:
    def __init__(self, best=None):
        self.coefs_ = [np.ones((2, 3)), np.ones((3, 1))]
        self.intercepts_ = [np.zeros(3), np.zeros(1)]
        self._best_coefs = best
        self._best_intercepts = best


def test_initial_weights_become_the_best_unless_already_kept():
    est = _Weights()
    _compat.keep_initial_weights_as_best(est)
    for best, now in ((est._best_coefs, est.coefs_), (est._best_intercepts, est.intercepts_)):
        assert len(best) == len(now)
        for b, n in zip(best, now):
            np.testing.assert_array_equal(b, n)
            assert not np.shares_memory(b, n), "the best weights must be copies"
    kept = [np.full((2, 3), 5.0)]
    est = _Weights(best=kept)
    _compat.keep_initial_weights_as_best(est)
    assert est._best_coefs is kept


def _initial_weights(random_state, sizes, factor=6.0):
    """The weights scikit-learn's _initialize draws (Glorot uniform, per
    layer the coefficients then the intercepts)."""
    rng = np.random.RandomState(random_state)
    coefs, intercepts = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = np.sqrt(factor / (fan_in + fan_out))
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
        intercepts.append(rng.uniform(-bound, bound, fan_out))
    return coefs, intercepts


def test_early_stopping_fit_diverging_at_once_ends_with_the_initial_weights():
    # No epoch scores better than -inf, so the best weights are the initial
    # ones, on every release (scikit-learn 1.5 itself saves none before the
    # first improving epoch).
    X, y = make_regression(n_samples=80, n_features=4, noise=1.0, random_state=2)
    # Batches of 16: a later batch of the first epoch meets the weights the
    # first step's huge update made.
    est = MLPRegressor(hidden_layer_sizes=(5,), solver="adam", learning_rate_init=1e100,
                       early_stopping=True, validation_fraction=0.2, max_iter=10,
                       batch_size=16, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y * 10)
    assert any(issubclass(w.category, ConvergenceWarning) and "initial weights" in str(w.message)
               for w in caught), [str(w.message) for w in caught]
    assert est.n_iter_ == 1 and np.isnan(est.validation_scores_).all()
    coefs, intercepts = _initial_weights(0, [4, 5, 1])
    for got, expected in zip(est.coefs_ + est.intercepts_, coefs + intercepts):
        np.testing.assert_array_equal(got, expected)


def test_early_stopping_with_string_labels_behaves_as_sklearns():
    # scikit-learn 1.6 to 1.8 score early stopping's validation rows with
    # np.isnan on the predicted labels, a TypeError for strings; 1.5 and 1.9
    # score them. Ours runs that code of scikit-learn's: the same outcome.
    X, y = make_regression(n_samples=40, n_features=3, random_state=3)
    labels = np.where(y > 0, "yes", "no")
    outcomes = []
    for cls in (MLPClassifier, SkMLPClassifier):
        est = cls(hidden_layer_sizes=(3,), early_stopping=True, max_iter=3, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                est.fit(X, labels)
            except TypeError as exc:
                outcomes.append(("TypeError", "isnan" in str(exc)))
            else:
                outcomes.append(("fitted", len(est.validation_scores_)))
    assert outcomes[0] == outcomes[1], outcomes
