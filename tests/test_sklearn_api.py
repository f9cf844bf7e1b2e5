"""fastmlp.sklearn against scikit-learn's estimator API: every check of
parametrize_with_checks, the meta-estimators (Pipeline, GridSearchCV,
cross_val_score, clone), pickling, and the flat-buffer views behind coefs_.

Numerical equality with scikit-learn's own estimators is in
test_sklearn_equivalence.py.
"""
import inspect
import pickle
import subprocess
import sys
import unittest
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastmlp.sklearn import MLPClassifier, MLPRegressor

# Checks that skip themselves, and why that is right here. Any other skip
# fails the test.
ALLOWED_SKIPS = {
    # The estimators compute with NumPy arrays and compiled kernels; they do
    # not declare array API support, and scikit-learn only runs this check
    # with SCIPY_ARRAY_API=1 and an array library installed.
    "check_array_api_input": "SCIPY_ARRAY_API is not set",
    # scikit-learn's MLPClassifier has no decision_function either.
    "check_classifiers_multilabel_output_format_decision_function":
        "does not have a decision_function",
}


def _check_name(check):
    return getattr(check, "func", check).__name__


@parametrize_with_checks([MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)])
def test_sklearn_estimator_checks(estimator, check):
    name = _check_name(check)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            check(estimator)
        except unittest.SkipTest as skip:
            reason = ALLOWED_SKIPS.get(name)
            assert reason is not None and reason in str(skip), (
                f"{name} skipped without a written reason: {skip}")


def _classification(n=120, classes=3, seed=0):
    return make_classification(n_samples=n, n_features=8, n_informative=5,
                               n_classes=classes, random_state=seed)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_pipeline_gridsearch_cross_val_score():
    X, y = _classification()
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-1],
                               "mlpclassifier__hidden_layer_sizes": [(5,), (20,)]}, cv=3)
    grid.fit(X, y)
    assert grid.best_params_["mlpclassifier__hidden_layer_sizes"] in [(5,), (20,)]
    best = grid.best_estimator_[-1]
    assert isinstance(best, MLPClassifier)
    assert best.coefs_[0].shape[1] == grid.best_params_["mlpclassifier__hidden_layer_sizes"][0]
    scores = cross_val_score(MLPRegressor(max_iter=50, random_state=0),
                             *make_regression(n_samples=90, n_features=5, random_state=0),
                             cv=3)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_clone_gives_same_params_and_no_fitted_state():
    est = MLPClassifier(hidden_layer_sizes=(7, 3), solver="sgd", momentum=0.5,
                        random_state=3, max_iter=5).fit(*_classification())
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert not hasattr(twin, "coefs_")
    # Same random_state, same data: the clone refits to the same model.
    twin.fit(*_classification())
    for a, b in zip(est.coefs_, twin.coefs_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_pickle_round_trip_keeps_model_and_views(solver):
    X, y = _classification()
    est = MLPClassifier(hidden_layer_sizes=(6,), solver=solver, random_state=0,
                        max_iter=8).fit(X, y)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    # The original still works after being pickled.
    assert est.predict(X).shape == (X.shape[0],)
    # coefs_ of the loaded model are again views of its parameter buffer:
    # writing into them changes its predictions.
    before = back.predict_proba(X)
    back.coefs_[0][...] = 0.0
    back.intercepts_[0][...] = 0.0
    assert not np.allclose(back.predict_proba(X), before)
    # ...and match what scikit-learn computes from the same arrays.
    sk = SkMLPClassifier(hidden_layer_sizes=(6,))
    sk.__dict__.update({k: v for k, v in back.__dict__.items() if not k.startswith("_network")})
    np.testing.assert_allclose(back.predict_proba(X), sk.predict_proba(X), rtol=1e-12)
    if solver != "lbfgs":
        # Training continues from the unpickled state.
        back.partial_fit(X, y)
        assert back.n_iter_ == 1


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_coefs_are_views_and_replacement_is_honoured():
    X, y = _classification()
    est = MLPClassifier(hidden_layer_sizes=(6,), random_state=0, max_iter=5).fit(X, y)
    assert est.coefs_[0].shape == (8, 6) and est.coefs_[1].shape == (6, 3)
    assert est.intercepts_[0].shape == (6,)
    flat = est._network.flat
    for c in est.coefs_ + est.intercepts_:
        assert np.shares_memory(c, flat)
    # Replacing the arrays (not writing into them) is seen by predict...
    sk_like = [c.copy() * 2 for c in est.coefs_]
    expected_before = est.predict_proba(X)
    est.coefs_ = sk_like
    changed = est.predict_proba(X)
    assert not np.allclose(changed, expected_before)
    # ...without predict changing the estimator,
    assert est.coefs_ is sk_like
    # and a warm-started fit continues from the replaced values.
    est.set_params(warm_start=True, max_iter=1)
    est.fit(X, y)
    for c in est.coefs_:
        assert np.shares_memory(c, est._network.flat)


@pytest.mark.parametrize("coefs, intercepts", [
    ([np.zeros((8, 6)), np.zeros((5, 3))], [np.zeros(6), np.zeros(3)]),   # 6 -> 5
    ([np.zeros((8, 6)), np.zeros((6, 3))], [np.zeros(6), np.zeros(2)]),   # bias of 2
    ([np.zeros((8, 6)), np.zeros((6, 3))], [np.zeros(6)]),                # a bias missing
    ([np.zeros(8), np.zeros((6, 3))], [np.zeros(6), np.zeros(3)]),        # 1-D coefs
], ids=["chain", "intercept-shape", "intercept-count", "coef-ndim"])
@pytest.mark.parametrize("replaced", [False, True], ids=["never-fitted", "replaced"])
def test_coefs_that_describe_no_network_are_a_value_error(coefs, intercepts, replaced):
    X, y = _classification()
    est = MLPClassifier(hidden_layer_sizes=(6,), random_state=0, max_iter=2)
    if replaced:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        expected = est.predict_proba(X)
    else:
        # Set by hand on an estimator never fitted, as scikit-learn's own
        # test_fit does (a consistent set trains and predicts:
        # test_sklearn_equivalence.py).
        est.n_features_in_, est.n_outputs_, est.n_layers_ = 8, 3, 3
        est.out_activation_ = "softmax"
    est.coefs_, est.intercepts_ = coefs, intercepts
    with pytest.raises(ValueError, match="coefs_ and intercepts_ do not describe a network"):
        est.predict_proba(X)
    if replaced:
        # The rejected call changed nothing: restoring the attributes restores the model.
        est.coefs_, est.intercepts_ = list(est._network.coefs), list(est._network.intercepts)
        np.testing.assert_array_equal(est.predict_proba(X), expected)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_float32_stays_float32(solver):
    X, y = _classification()
    X32 = X.astype(np.float32)
    clf = MLPClassifier(hidden_layer_sizes=(6,), solver=solver, random_state=0,
                        max_iter=5).fit(X32, y)
    assert all(c.dtype == np.float32 for c in clf.coefs_ + clf.intercepts_)
    assert clf.predict_proba(X32).dtype == np.float32
    Xr, yr = make_regression(n_samples=80, n_features=4, random_state=0)
    reg = MLPRegressor(hidden_layer_sizes=(5,), solver=solver, random_state=0,
                       max_iter=5).fit(Xr.astype(np.float32), yr)
    assert reg.predict(Xr.astype(np.float32)).dtype == np.float32
    assert all(c.dtype == np.float32 for c in reg.coefs_)


def test_regressor_lbfgs_has_no_partial_fit():
    reg = MLPRegressor(solver="lbfgs")
    assert not hasattr(reg, "partial_fit")
    with pytest.raises(AttributeError, match="partial_fit"):
        reg.partial_fit
    assert hasattr(MLPRegressor(solver="adam"), "partial_fit")


def test_divergence_raises_value_error():
    X, y = make_regression(n_samples=60, n_features=4, random_state=0)
    reg = MLPRegressor(solver="sgd", learning_rate_init=1e6, max_iter=50, random_state=0)
    with pytest.raises(ValueError, match="non-finite"):
        reg.fit(X * 1e3, y * 1e3)


@pytest.mark.parametrize("lr, kept", [(0.05, "weights of the best validation score"),
                                      (1e100, "initial weights")])
def test_diverging_early_stopping_fit_warns_where_and_keeps_finite_weights(lr, kept):
    X, y = make_regression(n_samples=100, n_features=8, random_state=4)
    reg = MLPRegressor(hidden_layer_sizes=(7,), solver="sgd" if lr < 1 else "adam",
                       learning_rate_init=lr, early_stopping=True, max_iter=30, random_state=0)
    with pytest.warns(ConvergenceWarning, match=f"training diverged at epoch .*{kept}"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            reg.fit(X, y * 10)
    assert np.isnan(reg.validation_scores_[-1]) and reg.n_iter_ < 30
    assert all(np.isfinite(c).all() for c in reg.coefs_ + reg.intercepts_)
    assert np.isfinite(reg.predict(X)).all()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_replaced_coefs_predict_in_the_models_dtype():
    X, y = make_regression(n_samples=60, n_features=4, random_state=0)
    reg = MLPRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    reg.fit(X.astype(np.float32), y)
    reg.coefs_ = [c.astype(np.float64) * 2 for c in reg.coefs_]
    assert reg.predict(X.astype(np.float32)).dtype == np.float32


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_warm_start_with_other_layer_sizes_is_a_clear_error():
    X, y = _classification()
    est = MLPClassifier(hidden_layer_sizes=(6,), warm_start=True, max_iter=2).fit(X, y)
    est.set_params(hidden_layer_sizes=(7,))
    with pytest.raises(ValueError, match="layer sizes"):
        est.fit(X, y)


def test_sparse_input_is_accepted():
    import scipy.sparse
    X, y = _classification()
    X[np.abs(X) < 0.5] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = MLPClassifier(random_state=0, max_iter=5).fit(X, y)
        sparse = MLPClassifier(random_state=0, max_iter=5).fit(scipy.sparse.csr_matrix(X), y)
    # The sparse first layer sums each row's products in index order, the
    # dense GEMM in blocks: equal to rounding (float64, 5 epochs).
    np.testing.assert_allclose(dense.coefs_[0], sparse.coefs_[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sparse.predict_proba(scipy.sparse.csc_matrix(X)),
                               dense.predict_proba(X), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("stand_in,expected", [
    # A module named sklearn that fails to import stands in for its absence.
    ("raise ImportError('no sklearn here')", "needs scikit-learn"),
    # One with another release's version stands in for an unsupported one.
    ("__version__ = '1.4.2'", "supports scikit-learn >=1.5,<2.0; found 1.4.2"),
    ("__version__ = '2.0.0'", "supports scikit-learn >=1.5,<2.0; found 2.0.0"),
], ids=["missing", "older", "newer"])
def test_missing_or_unsupported_sklearn_is_a_clear_import_error(tmp_path, stand_in,
                                                                  expected):
    (tmp_path / "sklearn.py").write_text(stand_in + "\n")
    code = ("import sys; sys.path.insert(0, %r)\n"
            "try:\n    import fastmlp.sklearn\nexcept ImportError as e:\n"
            "    print(e)\nelse:\n    print('imported')\n" % str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert expected in out and 'pip install "fastmlp[sklearn]"' in out, out


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_batches_split_into_chunks_give_the_same_model(monkeypatch, solver):
    # Batches larger than the workspace budget are processed in chunks whose
    # gradients accumulate before one update; only the summation order
    # differs from the one-chunk path.
    from fastmlp.network import workspace as _workspace
    X, y = _classification(n=90)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[0])
    # Weighted rows where the installed scikit-learn's fit takes them (1.7+).
    fit_kw = ({"sample_weight": sw}
              if "sample_weight" in inspect.signature(MLPClassifier.fit).parameters else {})
    kw = dict(hidden_layer_sizes=(6,), solver=solver, batch_size=40, max_iter=4,
              random_state=0, alpha=0.01)
    whole = MLPClassifier(**kw).fit(X, y, **fit_kw)
    monkeypatch.setattr(_workspace, "WORK_BUDGET", 7 * _workspace.row_width([8, 6, 3]))
    chunked = MLPClassifier(**kw).fit(X, y, **fit_kw)
    for a, b in zip(whole.coefs_ + whole.intercepts_, chunked.coefs_ + chunked.intercepts_):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(chunked.loss_, whole.loss_, rtol=1e-12)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_loss_attributes_have_sklearns_types(solver):
    X, y = _classification()
    ours = MLPClassifier(solver=solver, max_iter=3, random_state=0).fit(X, y)
    theirs = SkMLPClassifier(solver=solver, max_iter=3, random_state=0).fit(X, y)
    assert type(ours.loss_) is type(theirs.loss_)
    if solver == "sgd":
        assert [type(v) for v in ours.loss_curve_] == [type(v) for v in theirs.loss_curve_]


def test_ctrl_c_mid_epoch_keeps_adams_step_count(recwarn):
    # Ctrl-C lands inside the epoch kernel (here a signal whose handler
    # raises KeyboardInterrupt, sent by a thread once the first epoch has
    # begun); as in scikit-learn, fit warns and returns. The kernel must
    # still have recorded the Adam steps it took, or a later partial_fit
    # would use wrong bias corrections.
    import os
    import signal
    import threading
    import time
    if not hasattr(signal, "SIGUSR1"):
        pytest.skip("needs POSIX signals")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60000, 20))
    y = (X[:, 0] > 0).astype(int)
    est = MLPClassifier(hidden_layer_sizes=(64,), batch_size=1, max_iter=5, random_state=0)
    armed = threading.Event()
    armed.set()

    def interrupt(signum, frame):
        if armed.is_set():  # never after fit has returned
            armed.clear()
            raise KeyboardInterrupt

    def send_once_training():
        while armed.is_set() and not hasattr(est, "_solver_state"):
            time.sleep(0.001)
        time.sleep(0.05)
        if armed.is_set():
            os.kill(os.getpid(), signal.SIGUSR1)

    old = signal.signal(signal.SIGUSR1, interrupt)
    sender = threading.Thread(target=send_once_training)
    try:
        sender.start()
        est.fit(X, y)
    finally:
        armed.clear()
        sender.join()
        signal.signal(signal.SIGUSR1, old)
    assert any("interrupted by user" in str(w.message) for w in recwarn)
    steps_per_epoch = X.shape[0]
    done = est._solver_state.adam_t
    # Interrupted inside an epoch: some of its steps were taken and counted.
    assert est.n_iter_ * steps_per_epoch < done < (est.n_iter_ + 1) * steps_per_epoch


@pytest.mark.parametrize("change", [dict(solver="adam"), dict(momentum=0.3),
                                    dict(learning_rate_init=0.05, nesterovs_momentum=False)],
                         ids=["solver", "momentum", "lr-nesterov"])
def test_partial_fit_keeps_its_solver_like_sklearn(change):
    # scikit-learn's partial_fit continues with the optimizer object it made
    # first; parameters changed in between do not reach it. (Before this was
    # mirrored, switching sgd -> adam here read a missing Adam moment.)
    X, y = _classification()
    models = []
    for cls in (MLPClassifier, SkMLPClassifier):
        est = cls(hidden_layer_sizes=(5,), solver="sgd", random_state=0)
        est.partial_fit(X, y, classes=np.unique(y))
        est.set_params(**change)
        est.partial_fit(X, y)
        models.append(est)
    ours, theirs = models
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-6)


def test_network_too_large_for_blas_is_a_value_error_before_allocating():
    X, y = _classification()
    est = MLPClassifier(hidden_layer_sizes=(2**16, 2**16))
    with pytest.raises(ValueError, match="BLAS"):
        est.fit(X, y)
    assert not hasattr(est, "coefs_")


def test_prediction_skips_validate_data_only_where_it_would_change_nothing(monkeypatch):
    """A finite float ndarray of the fitted width goes straight to the
    kernels; everything else still meets scikit-learn's own checks, with its
    own errors and warnings."""
    import warnings

    import pandas as pd
    from fastmlp.sklearn import _estimators

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=20, random_state=0).fit(X, y)
    calls = []
    real = _estimators.validate_data
    monkeypatch.setattr(_estimators, "validate_data",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    fast = clf.predict_proba(X)
    assert not calls
    np.testing.assert_array_equal(fast, clf.predict_proba(X.tolist()))  # validated
    assert calls
    with pytest.raises(ValueError, match="expecting 5 features"):
        clf.predict_proba(X[:, :4])
    with pytest.raises(ValueError, match="NaN"):
        clf.predict_proba(np.where(X > 1, np.nan, X))
    framed = pd.DataFrame(X, columns=list("abcde"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        named = MLPClassifier(hidden_layer_sizes=(6,), max_iter=20, random_state=0).fit(framed, y)
    with pytest.warns(UserWarning, match="feature names"):
        named.predict_proba(X)
