"""Drop-in equivalence: fastmlp.sklearn.MLPClassifier / MLPRegressor against
scikit-learn's sklearn.neural_network.MLPClassifier / MLPRegressor.

Requirement: same data, same parameters, same random_state -> same model.
After fit (or warm-started fits, or partial_fit calls) every fitted attribute
(coefs_, intercepts_, loss_, loss_curve_, best_loss_, validation_scores_,
best_validation_score_, n_iter_, t_, n_layers_, n_outputs_, out_activation_,
classes_, n_features_in_) and every prediction on held-out data must equal
scikit-learn's:
- float64, solver 'sgd' / 'adam': within rtol 1e-6. Both run the same
  arithmetic in a different summation order (BLAS blocking, fused kernels),
  so they agree to rounding (~1e-16) amplified by a few hundred updates,
  which leaves a wide margin under 1e-6.
- float64, solver 'lbfgs': within rtol 1e-4 (scipy's L-BFGS-B line search
  branches on loss comparisons, which amplifies rounding more).
- float32: see test_float32_is_kept.

Tolerances are element-wise and relative, with no absolute floor in float64:
every weight, however close to zero, must be within rtol of scikit-learn's.

Intended differences (docs/sklearn.md lists them all), not tested for
equality; the tests that check ours' side of them are skipped when testing
sklearn against itself:
1. MLPRegressor(solver='lbfgs') has no partial_fit (AttributeError, like the
   classifier); scikit-learn's regressor exposes it (its available_if check
   passes the bound method `est._check_solver` without calling it).
2. Training that diverges (a batch's loss or an updated weight non-finite)
   stops at once: without early stopping it raises ValueError, where
   scikit-learn trains on to max_iter, warns, and raises only at the end;
   with early stopping it ends, as scikit-learn's does, with the best
   validation weights, its histories a prefix of scikit-learn's
   (test_diverging_fit_with_early_stopping_keeps_the_best_weights).
3. Log-loss is computed exactly (log-sum-exp) rather than from probabilities
   clipped at machine epsilon; the data here keeps every true-class
   probability above 4e-4, where the two agree to rounding.
4. float32 input with solver='lbfgs' keeps float32 weights and predictions;
   scikit-learn's come back float64 (scipy works in float64 and _unpack
   stores its slices).
5. After early stopping, a warm-started fit whose validation score never
   beats the earlier best restores that best (ours keeps copies);
   scikit-learn's coefs_ alias its saved best arrays, trains them in place
   and ends with the last weights.

What the installed scikit-learn release lacks or fails on is not compared:
sample weights (fit and partial_fit take them since 1.7), the Poisson loss
(since 1.7), early stopping with string labels (1.6 to 1.8 raise) and the
nan validation score of a diverged epoch (1.5 raises); cases that need them
are skipped on those releases, saying so (sklearn_release_marks).
tests/test_sklearn_compat.py checks ours there. Every supported release
runs every other case.

scikit-learn 1.9 behaviours these tests pin down (easy to get wrong):
- An int random_state makes a fresh RandomState(seed) at every fit and
  partial_fit call; it draws, per layer in order, coef (fan_in, fan_out) then
  intercept (fan_out), uniform in +-sqrt(f / (fan_in + fan_out)), f = 2 for
  logistic and 6 otherwise, in float64, then cast; then the early-stopping
  split (train_test_split, stratified only for binary single-output y, not
  for multiclass whose one-hot y has several columns); then, each epoch,
  RandomState.shuffle(arange(n)) applied to the previous epoch's order
  (sample_idx = sample_idx[perm], a composition). warm_start refits and
  later partial_fit calls draw no weights, so their first shuffle is the
  seed's first draw.
- Per batch: gradient = (A^T delta + alpha W) / sw_sum and loss + 0.5 alpha
  ||W||^2 / sw_sum, where sw_sum is the batch's sample-weight sum (or size).
  loss_curve_ holds sum over batches of (pre-update batch loss x batch
  row count) / n_train, even with sample weights.
- invscaling sets lr = lr_init / (t_ + 1) ** power_t at the end of each
  epoch (t_ = rows seen, cumulative across warm starts); adaptive divides by
  5 when the no-improvement count exceeds n_iter_no_change, stopping once
  lr <= 1e-6. Nesterov: v = m v - lr g; update = m v - lr g.
- warm_start: new optimizer, n_iter_ restarts, but t_, loss_curve_,
  best_loss_, validation_scores_, best_validation_score_, the best weights
  and the no-improvement count carry over. partial_fit keeps the optimizer,
  runs one epoch per call and leaves n_iter_ == 1.

Developing the harness: with FASTMLP_TEST_AGAINST_SELF=1 the classes under
test are scikit-learn's own, so the module must pass sklearn-vs-sklearn
(two independent fits of separate instances, so comparisons can still fail).
Without it, the module imports fastmlp.sklearn and fails at import time if
that does not exist.
"""
import copy
import functools
import inspect
import numbers
import os
import warnings

import numpy as np
import pytest

from sklearn.datasets import (make_classification, make_multilabel_classification,
                              make_regression)
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor

AGAINST_SELF = os.environ.get("FASTMLP_TEST_AGAINST_SELF") == "1"


def estimators_under_test():
    """(classifier class, regressor class) under test.

    fastmlp.sklearn's estimators; scikit-learn's own only when the
    environment variable FASTMLP_TEST_AGAINST_SELF=1 (to check the harness).
    """
    if AGAINST_SELF:
        return SkClassifier, SkRegressor
    import fastmlp.sklearn
    return fastmlp.sklearn.MLPClassifier, fastmlp.sklearn.MLPRegressor


OursClassifier, OursRegressor = estimators_under_test()

# Most cases stop at max_iter on purpose (fixed epoch count on both sides).
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

intended_difference = pytest.mark.skipif(
    AGAINST_SELF, reason="intended difference from scikit-learn: not checked against itself")

# What the installed release's estimators offer, read from them.
SK_SAMPLE_WEIGHT = "sample_weight" in inspect.signature(SkClassifier.fit).parameters
SK_POISSON = "loss" in inspect.signature(SkRegressor.__init__).parameters
# Since 1.6 a validation score of non-finite predictions is nan and the fit
# goes on; 1.5's r2_score raises on them.
SK_NAN_VALIDATION_SCORE = hasattr(SkRegressor, "_score_with_function")


def sklearn_scores_string_labels():
    """Whether scikit-learn's classifier can score early stopping's
    validation rows when the labels are strings: 1.6 to 1.8 call np.isnan on
    the predicted labels (a TypeError), 1.5 and 1.9 do not. Ours runs that
    code of scikit-learn's as it is (tests/test_sklearn_compat.py checks
    that both fail alike)."""
    X = np.tile(np.eye(2), (10, 1))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            SkClassifier(hidden_layer_sizes=(2,), early_stopping=True, max_iter=1,
                         random_state=0).fit(X, np.array(["a", "b"] * 10))
    except TypeError:
        return False
    return True


SK_STRING_LABELS_EARLY_STOPPING = sklearn_scores_string_labels()


def sklearn_release_marks(task, params, weighted):
    """Skip marks for a case that needs what this scikit-learn lacks."""
    marks = []
    if weighted and not SK_SAMPLE_WEIGHT:
        marks.append(pytest.mark.skip(
            reason="this scikit-learn's MLPs take no sample_weight (since 1.7)"))
    if task == "poisson" and not SK_POISSON:
        marks.append(pytest.mark.skip(
            reason="this scikit-learn's MLPRegressor has no loss='poisson' (since 1.7)"))
    if (task == "binary" and params.get("early_stopping")
            and not SK_STRING_LABELS_EARLY_STOPPING):
        marks.append(pytest.mark.skip(
            reason="this scikit-learn's early stopping fails on string labels (1.6 to 1.8): "
                   "no model to compare with"))
    return marks


def with_release_marks(cases):
    """cases (pytest.param of (task, params, weighted, ...)) with
    sklearn_release_marks added."""
    return [pytest.param(*c.values, marks=[*c.marks, *sklearn_release_marks(*c.values[:3])],
                         id=c.id) for c in cases]


STOCHASTIC_RTOL = 1e-6
LBFGS_RTOL = 1e-4
# float32: see test_float32_is_kept for why these are loose.
F32_RTOL, F32_ATOL = 1e-3, 1e-4

# ---------------------------------------------------------------------------
# Data: small, standardized, fixed. 100 training rows so that batch_size=16
# gives six full batches and a partial one of 4; 40 held-out rows.

N_TRAIN, N_TEST = 100, 40
N_FEATURES = 8
CLASSIFICATION_TASKS = ("binary", "multiclass", "multilabel")
BINARY_LABELS = np.array(["yes", "no"])     # label 0 -> "yes": sorting reorders them
MULTICLASS_LABELS = np.array([7, -1, 3])    # non-contiguous, unsorted


def _standardize(a):
    return (a - a.mean(axis=0)) / a.std(axis=0)


@functools.cache
def _dataset(task):
    n = N_TRAIN + N_TEST
    if task == "binary":
        X, y = make_classification(n_samples=n, n_features=N_FEATURES, n_informative=4,
                                   n_redundant=2, flip_y=0.05, class_sep=0.8, random_state=1)
        y = BINARY_LABELS[y]
    elif task == "multiclass":
        X, y = make_classification(n_samples=n, n_features=N_FEATURES, n_informative=5,
                                   n_classes=3, class_sep=0.8, random_state=2)
        y = MULTICLASS_LABELS[y]
    elif task == "multilabel":
        X, y = make_multilabel_classification(n_samples=n, n_features=N_FEATURES, n_classes=3,
                                              n_labels=2, random_state=3)
    elif task == "regression":
        X, y = make_regression(n_samples=n, n_features=N_FEATURES, n_informative=5, noise=5.0,
                               random_state=4)
        y = _standardize(y)
    elif task == "multioutput":
        X, y = make_regression(n_samples=n, n_features=N_FEATURES, n_informative=5, n_targets=3,
                               noise=5.0, random_state=5)
        y = _standardize(y)
    elif task == "poisson":
        # Counts (zeros included: xlogy(0, .) = 0) with a log-linear mean ~ 2.
        rng = np.random.RandomState(6)
        X = rng.standard_normal((n, N_FEATURES))
        y = rng.poisson(np.exp(0.5 + X @ rng.normal(0, 0.3, N_FEATURES))).astype(np.float64)
    else:
        raise ValueError(task)
    X = _standardize(X)
    for a in (X, y):
        a.flags.writeable = False
    return X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:]


def dataset(task, dtype=np.float64):
    """(X_train, y_train, X_test, y_test), fresh writable copies; X as dtype."""
    X, y, X_test, y_test = _dataset(task)
    return X.astype(dtype), y.copy(), X_test.astype(dtype), y_test.copy()


# Non-uniform positive weights whose sum (~160) is not n: scikit-learn divides
# the L2 penalty and the gradients by the batch's weight sum.
SAMPLE_WEIGHT = np.random.RandomState(7).uniform(0.2, 3.0, N_TRAIN)
SAMPLE_WEIGHT.flags.writeable = False


def is_classification(task):
    return task in CLASSIFICATION_TASKS


def make_pair(task, params):
    """(ours, sklearn's) unfitted, with identical parameters."""
    if is_classification(task):
        ours_cls, theirs_cls = OursClassifier, SkClassifier
    else:
        ours_cls, theirs_cls = OursRegressor, SkRegressor
        if task == "poisson":
            params = dict(params, loss="poisson")
    return ours_cls(**params), theirs_cls(**params)


def fit_checked(est, method, X, y, **kw):
    """est.<method>(X, y, **kw) on private copies; the inputs must be left unchanged."""
    args = {"X": np.array(X), "y": np.array(y)}
    kw = {k: (np.array(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    saved = copy.deepcopy((args, kw))
    result = getattr(est, method)(args["X"], args["y"], **kw)
    assert result is est, f"{method} must return self"
    np.testing.assert_array_equal(args["X"], saved[0]["X"], err_msg=f"{method} modified X")
    np.testing.assert_array_equal(args["y"], saved[0]["y"], err_msg=f"{method} modified y")
    if kw.get("sample_weight") is not None:
        np.testing.assert_array_equal(kw["sample_weight"], saved[1]["sample_weight"],
                                      err_msg=f"{method} modified sample_weight")
    return est


def weights_kw(weighted, idx=slice(None)):
    """fit's keyword arguments for SAMPLE_WEIGHT[idx], or none: releases
    before 1.7 have no sample_weight parameter at all."""
    return {"sample_weight": SAMPLE_WEIGHT[idx]} if weighted else {}


def fit_pair(task, params, weighted=False, dtype=np.float64):
    X, y, _, _ = dataset(task, dtype)
    ours, theirs = make_pair(task, params)
    fit_checked(ours, "fit", X, y, **weights_kw(weighted))
    fit_checked(theirs, "fit", X, y, **weights_kw(weighted))
    return ours, theirs


# ---------------------------------------------------------------------------
# Comparison helpers


def _assert_close(actual, expected, rtol, atol, what):
    """Element-wise: |a - e| <= rtol * |e| when atol is None (every value,
    however small, within rtol of scikit-learn's), else
    |a - e| <= atol + rtol * |e| (numpy.allclose)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (
        f"{what}: shape {actual.shape} (ours) != {expected.shape} (sklearn)")
    if expected.size == 0:
        return
    err = np.abs(actual - expected)
    if atol is None:
        bound = rtol * np.abs(expected)
    else:
        bound = atol + rtol * np.abs(expected)
    bad = ~(err <= bound)   # also catches NaN
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, np.nan_to_num(err - bound, nan=np.inf), -np.inf)),
                             err.shape)
        idx = f" at index {tuple(int(k) for k in i)}" if err.ndim else ""
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {err.size} values differ{idx}: "
            f"ours {actual[i]!r}, sklearn {expected[i]!r}, |diff| {err[i]:.3e} > "
            f"allowed {bound[i]:.3e} (rtol={rtol:g}, atol={atol})")


# Fitted attributes scikit-learn sets; which ones exist depends on the solver
# (lbfgs sets no loss_curve_, best_loss_, validation_scores_,
# best_validation_score_): ours must have exactly the same ones.
FITTED_ATTRIBUTES = ("coefs_", "intercepts_", "loss_", "loss_curve_", "best_loss_",
                     "validation_scores_", "best_validation_score_", "n_iter_", "t_",
                     "n_layers_", "n_outputs_", "out_activation_", "classes_", "n_features_in_")


def assert_same_model(ours, theirs, rtol, *, atol=None, check_dtype=True, weights=True):
    """Every fitted attribute of `ours` equals scikit-learn's `theirs`.

    Integers and strings exactly; arrays and losses element-wise within rtol
    (plus atol when given, see _assert_close). The message names
    the attribute and, for weights, the layer. weights=False leaves the
    values of coefs_ and intercepts_ out (for intended differences).
    """
    assert ours is not theirs
    for name in FITTED_ATTRIBUTES:
        assert hasattr(ours, name) == hasattr(theirs, name), (
            f"{name}: {'present' if hasattr(ours, name) else 'missing'} in ours, "
            f"{'present' if hasattr(theirs, name) else 'missing'} in sklearn")

    for name in ("n_features_in_", "n_layers_", "n_outputs_", "out_activation_", "n_iter_", "t_"):
        o, t = getattr(ours, name), getattr(theirs, name)
        if isinstance(t, numbers.Integral):
            assert isinstance(o, numbers.Integral), f"{name}: ours is {type(o).__name__}, not an int"
        assert o == t, f"{name}: ours {o!r} != sklearn {t!r}"

    if hasattr(theirs, "classes_"):
        o, t = np.asarray(ours.classes_), np.asarray(theirs.classes_)
        np.testing.assert_array_equal(o, t, err_msg="classes_")
        assert o.dtype == t.dtype, f"classes_: dtype {o.dtype} (ours) != {t.dtype} (sklearn)"

    for name in ("coefs_", "intercepts_"):
        o, t = getattr(ours, name), getattr(theirs, name)
        assert isinstance(o, list), f"{name}: ours is a {type(o).__name__}, not a list"
        assert len(o) == len(t), f"{name}: {len(o)} layers (ours) != {len(t)} (sklearn)"
        for i, (a, e) in enumerate(zip(o, t)):
            what = f"{name}[{i}] (weights from layer {i} into layer {i + 1}, shape {e.shape})"
            assert isinstance(a, np.ndarray), f"{what}: ours is a {type(a).__name__}"
            assert a.shape == e.shape, f"{what}: shape {a.shape} (ours)"
            if check_dtype:
                assert a.dtype == e.dtype, f"{what}: dtype {a.dtype} (ours) != {e.dtype} (sklearn)"
            if weights:
                _assert_close(a, e, rtol, atol, what)

    _assert_close(ours.loss_, theirs.loss_, rtol, atol, "loss_")
    for name in ("loss_curve_", "validation_scores_", "best_loss_", "best_validation_score_"):
        if not hasattr(theirs, name):
            continue
        o, t = getattr(ours, name), getattr(theirs, name)
        if t is None:
            assert o is None, f"{name}: ours {o!r}, sklearn None"
            continue
        assert o is not None, f"{name}: ours None, sklearn {t!r}"
        if isinstance(t, list):
            assert isinstance(o, list), f"{name}: ours is a {type(o).__name__}, not a list"
            assert len(o) == len(t), f"{name}: {len(o)} entries (ours) != {len(t)} (sklearn)"
        _assert_close(o, t, rtol, atol, name)


def assert_same_predictions(ours, theirs, task, rtol, *, atol=None, dtype=np.float64):
    """predict / predict_proba / predict_log_proba / score on held-out rows."""
    _, _, X_test, y_test = dataset(task, dtype)
    if is_classification(task):
        o, t = ours.predict(X_test), theirs.predict(X_test)
        np.testing.assert_array_equal(o, t, err_msg="predict")
        assert o.dtype == t.dtype, f"predict: dtype {o.dtype} (ours) != {t.dtype} (sklearn)"
        _assert_close(ours.predict_proba(X_test), theirs.predict_proba(X_test), rtol, atol,
                      "predict_proba")
        _assert_close(ours.predict_log_proba(X_test), theirs.predict_log_proba(X_test), rtol,
                      atol, "predict_log_proba")
        assert ours.score(X_test, y_test) == theirs.score(X_test, y_test), "score (accuracy)"
    else:
        _assert_close(ours.predict(X_test), theirs.predict(X_test), rtol, atol, "predict")
        _assert_close(ours.score(X_test, y_test), theirs.score(X_test, y_test), rtol, atol,
                      "score (R^2)")


# ---------------------------------------------------------------------------
# Case tables. Stochastic cases run a fixed number of epochs: n_iter_no_change
# is larger than max_iter unless a case is about the stopping rule.

MAX_ITER = 12
STOCHASTIC_BASE = dict(hidden_layer_sizes=(7,), max_iter=MAX_ITER, random_state=0,
                       n_iter_no_change=1000)
LEARNING_RATE = {"sgd": 0.05, "adam": 0.01}


def stochastic(case_id, task, solver, *, weighted=False, **params):
    p = dict(STOCHASTIC_BASE, solver=solver, learning_rate_init=LEARNING_RATE[solver])
    p.update(params)
    return pytest.param(task, p, weighted, id=case_id,
                        marks=sklearn_release_marks(task, p, weighted))


BATCH = dict(batch_size=16)   # 100 rows: six batches of 16 and one of 4

STOCHASTIC_CASES = [
    # Every target kind with both solvers.
    *(stochastic(f"{task}-{solver}", task, solver, **BATCH)
      for task in ("binary", "multiclass", "multilabel", "regression", "multioutput", "poisson")
      for solver in ("sgd", "adam")),
    # SGD: momentum / Nesterov / learning-rate schedules.
    stochastic("multiclass-sgd-nesterov-m0.9", "multiclass", "sgd", momentum=0.9,
               nesterovs_momentum=True, **BATCH),
    stochastic("multiclass-sgd-classic-m0.9", "multiclass", "sgd", momentum=0.9,
               nesterovs_momentum=False, **BATCH),
    stochastic("multiclass-sgd-m0", "multiclass", "sgd", momentum=0.0, nesterovs_momentum=False,
               **BATCH),
    stochastic("regression-sgd-m0-nesterov", "regression", "sgd", momentum=0.0,
               nesterovs_momentum=True, **BATCH),
    stochastic("regression-sgd-classic-m0.5", "regression", "sgd", momentum=0.5,
               nesterovs_momentum=False, **BATCH),
    stochastic("multiclass-sgd-invscaling", "multiclass", "sgd", learning_rate="invscaling",
               learning_rate_init=0.5, power_t=0.25, **BATCH),
    stochastic("regression-sgd-invscaling-m0", "regression", "sgd", learning_rate="invscaling",
               learning_rate_init=0.5, momentum=0.0, **BATCH),
    # 'adaptive' divides the rate by 5 whenever the loss fails to improve by
    # tol for n_iter_no_change + 1 epochs: these settings trigger it.
    stochastic("multiclass-sgd-adaptive", "multiclass", "sgd", learning_rate="adaptive",
               learning_rate_init=0.2, tol=0.02, n_iter_no_change=1, max_iter=20, **BATCH),
    stochastic("regression-sgd-adaptive-classic", "regression", "sgd", learning_rate="adaptive",
               nesterovs_momentum=False, tol=0.01, n_iter_no_change=1, max_iter=20, **BATCH),
    # Stopping rule (training loss does not improve by tol): stops early.
    stochastic("multiclass-sgd-tol-stop", "multiclass", "sgd", tol=0.02, n_iter_no_change=2,
               max_iter=50, **BATCH),
    stochastic("regression-adam-tol-stop", "regression", "adam", tol=0.01, n_iter_no_change=3,
               max_iter=60, **BATCH),
    stochastic("multiclass-sgd-tol0", "multiclass", "sgd", tol=0.0, n_iter_no_change=10, **BATCH),
    # Adam's parameters.
    stochastic("multiclass-adam-betas-eps", "multiclass", "adam", beta_1=0.8, beta_2=0.95,
               epsilon=1e-4, **BATCH),
    # Hidden activations, one and two hidden layers.
    *(stochastic(f"multiclass-adam-{act}-{'x'.join(map(str, hl))}", "multiclass", "adam",
                 activation=act, hidden_layer_sizes=hl, **BATCH)
      for act in ("identity", "logistic", "tanh", "relu") for hl in ((7,), (6, 5))),
    *(stochastic(f"regression-sgd-{act}-{'x'.join(map(str, hl))}", "regression", "sgd",
                 activation=act, hidden_layer_sizes=hl, learning_rate_init=0.02, **BATCH)
      for act in ("identity", "logistic", "tanh", "relu") for hl in ((7,), (6, 5))),
    stochastic("binary-sgd-logistic-6x5", "binary", "sgd", activation="logistic",
               hidden_layer_sizes=(6, 5), learning_rate_init=0.3, **BATCH),
    stochastic("multilabel-adam-tanh-6x5", "multilabel", "adam", activation="tanh",
               hidden_layer_sizes=(6, 5), **BATCH),
    stochastic("poisson-sgd-tanh-6x5", "poisson", "sgd", activation="tanh",
               hidden_layer_sizes=(6, 5), learning_rate_init=0.01, **BATCH),
    # Hidden layer size given as an int, not a tuple.
    stochastic("regression-adam-int-hidden", "regression", "adam", hidden_layer_sizes=5, **BATCH),
    # Batching and shuffling.
    stochastic("multiclass-sgd-batch-auto", "multiclass", "sgd", batch_size="auto",
               learning_rate_init=0.3),
    stochastic("regression-adam-batch-auto", "regression", "adam", batch_size="auto",
               learning_rate_init=0.05),
    stochastic("multiclass-adam-batch-1", "multiclass", "adam", batch_size=1, max_iter=3,
               learning_rate_init=0.002),
    stochastic("multiclass-adam-batch-33", "multiclass", "adam", batch_size=33),
    # batch_size > n: scikit-learn warns and clips it to n.
    pytest.param(*stochastic("regression-sgd-batch-500", "regression", "sgd", batch_size=500,
                             learning_rate_init=0.1).values,
                 marks=pytest.mark.filterwarnings("ignore:Got `batch_size`"),
                 id="regression-sgd-batch-500"),
    stochastic("multiclass-sgd-noshuffle", "multiclass", "sgd", shuffle=False, **BATCH),
    stochastic("regression-adam-noshuffle", "regression", "adam", shuffle=False, **BATCH),
    # Regularization.
    stochastic("multiclass-adam-alpha0", "multiclass", "adam", alpha=0.0, **BATCH),
    stochastic("multiclass-sgd-alpha0.5", "multiclass", "sgd", alpha=0.5, **BATCH),
    stochastic("regression-adam-alpha1", "regression", "adam", alpha=1.0, **BATCH),
    # Sample weights (non-uniform, not summing to n).
    stochastic("binary-sgd-weighted", "binary", "sgd", weighted=True, alpha=0.1, **BATCH),
    stochastic("multiclass-adam-weighted", "multiclass", "adam", weighted=True, alpha=0.1, **BATCH),
    stochastic("multilabel-sgd-weighted", "multilabel", "sgd", weighted=True, **BATCH),
    stochastic("regression-sgd-weighted", "regression", "sgd", weighted=True, alpha=0.1, **BATCH),
    stochastic("multioutput-adam-weighted", "multioutput", "adam", weighted=True, **BATCH),
    stochastic("poisson-adam-weighted", "poisson", "adam", weighted=True, **BATCH),
    stochastic("multiclass-sgd-weighted-batch-auto", "multiclass", "sgd", weighted=True,
               batch_size="auto", learning_rate_init=0.3),
    stochastic("regression-sgd-weighted-invscaling", "regression", "sgd", weighted=True,
               learning_rate="invscaling", learning_rate_init=0.3, **BATCH),
    # Early stopping: validation split (stratified only for binary), scores,
    # best weights restored at the end.
    *(stochastic(f"{task}-{solver}-early-stopping", task, solver, early_stopping=True,
                 validation_fraction=0.2, max_iter=15, **BATCH)
      for task, solver in (("binary", "sgd"), ("multiclass", "adam"), ("multilabel", "adam"),
                           ("regression", "sgd"), ("multioutput", "adam"), ("poisson", "adam"))),
    stochastic("multiclass-sgd-early-stopping-stops", "multiclass", "sgd", early_stopping=True,
               tol=0.01, n_iter_no_change=2, max_iter=60, **BATCH),
    stochastic("regression-adam-early-stopping-weighted", "regression", "adam", weighted=True,
               early_stopping=True, validation_fraction=0.2, **BATCH),
    stochastic("binary-adam-early-stopping-weighted", "binary", "adam", weighted=True,
               early_stopping=True, validation_fraction=0.25, **BATCH),
    stochastic("multiclass-sgd-adaptive-early-stopping", "multiclass", "sgd", early_stopping=True,
               learning_rate="adaptive", tol=0.05, n_iter_no_change=1, max_iter=20, **BATCH),
]


@pytest.mark.parametrize("task, params, weighted", STOCHASTIC_CASES)
def test_stochastic_same_model(task, params, weighted):
    ours, theirs = fit_pair(task, params, weighted)
    if params["n_iter_no_change"] >= params["max_iter"]:
        # The case is meant to run exactly max_iter epochs on both sides.
        assert theirs.n_iter_ == params["max_iter"]
    assert_same_model(ours, theirs, STOCHASTIC_RTOL)
    assert_same_predictions(ours, theirs, task, STOCHASTIC_RTOL)


LBFGS_BASE = dict(hidden_layer_sizes=(7,), solver="lbfgs", max_iter=25, random_state=0)


def lbfgs(case_id, task, *, weighted=False, **params):
    params = dict(LBFGS_BASE, **params)
    return pytest.param(task, params, weighted, id=case_id,
                        marks=sklearn_release_marks(task, params, weighted))


LBFGS_CASES = [
    *(lbfgs(f"{task}-lbfgs", task)
      for task in ("binary", "multiclass", "multilabel", "regression", "multioutput", "poisson")),
    *(lbfgs(f"multiclass-lbfgs-{act}", "multiclass", activation=act)
      for act in ("identity", "logistic", "tanh", "relu")),
    *(lbfgs(f"regression-lbfgs-{act}-6x5", "regression", activation=act, hidden_layer_sizes=(6, 5))
      for act in ("identity", "logistic", "tanh", "relu")),
    lbfgs("binary-lbfgs-alpha0", "binary", alpha=0.0),
    lbfgs("regression-lbfgs-alpha1", "regression", alpha=1.0),
    lbfgs("multiclass-lbfgs-weighted", "multiclass", weighted=True, alpha=0.1),
    lbfgs("multilabel-lbfgs-weighted", "multilabel", weighted=True),
    lbfgs("regression-lbfgs-weighted", "regression", weighted=True),
    lbfgs("poisson-lbfgs-weighted", "poisson", weighted=True),
    lbfgs("multiclass-lbfgs-max-fun", "multiclass", max_iter=200, max_fun=15),
    lbfgs("regression-lbfgs-tol", "regression", max_iter=500, tol=1e-3, alpha=1.0),
]


@pytest.mark.parametrize("task, params, weighted", LBFGS_CASES)
def test_lbfgs_same_model(task, params, weighted):
    ours, theirs = fit_pair(task, params, weighted)
    assert_same_model(ours, theirs, LBFGS_RTOL)
    assert_same_predictions(ours, theirs, task, LBFGS_RTOL)


# ---------------------------------------------------------------------------
# Early stopping restores the weights of the best validation epoch.


@pytest.mark.parametrize("task, params", [
    pytest.param("regression", dict(STOCHASTIC_BASE, solver="adam", learning_rate_init=0.05,
                                    hidden_layer_sizes=(30,), alpha=0.0, max_iter=40,
                                    early_stopping=True, validation_fraction=0.2, batch_size=16),
                 id="regression-adam"),
    pytest.param("multiclass", dict(STOCHASTIC_BASE, solver="sgd", learning_rate_init=0.05,
                                    hidden_layer_sizes=(30,), alpha=0.0, max_iter=25,
                                    early_stopping=True, validation_fraction=0.2, batch_size=16),
                 id="multiclass-sgd"),
])
def test_early_stopping_restores_best_weights(task, params):
    ours, theirs = fit_pair(task, params)
    assert_same_model(ours, theirs, STOCHASTIC_RTOL)
    scores = theirs.validation_scores_
    best = int(np.argmax(scores))   # first epoch with the best score
    # Precondition on the data: the best epoch is not the last one, so the
    # restored weights differ from the final ones.
    assert best + 1 < len(scores), "choose data whose validation score peaks before the end"
    assert ours.best_validation_score_ == pytest.approx(max(scores), rel=STOCHASTIC_RTOL)
    # Training stopped after the best epoch ends with exactly those weights.
    _, truncated = fit_pair(task, dict(params, max_iter=best + 1))
    for name in ("coefs_", "intercepts_"):
        for i, (a, e) in enumerate(zip(getattr(ours, name), getattr(truncated, name))):
            _assert_close(a, e, STOCHASTIC_RTOL, None,
                          f"{name}[{i}] (restored best weights, epoch {best + 1})")


# ---------------------------------------------------------------------------
# warm_start: two fits in a row.

def warm(case_id, task, params, rtol=STOCHASTIC_RTOL, new_best=None):
    """new_best (early stopping only): whether the second fit must beat the
    first fit's best validation score (a precondition on the data)."""
    return pytest.param(task, params, rtol, new_best, id=case_id,
                        marks=sklearn_release_marks(task, params, False))


EARLY = dict(STOCHASTIC_BASE, solver="adam", learning_rate_init=0.01, early_stopping=True,
             validation_fraction=0.2, **BATCH)

WARM_CASES = [
    warm("multiclass-sgd-invscaling", "multiclass",
         dict(STOCHASTIC_BASE, solver="sgd", learning_rate_init=0.2, learning_rate="invscaling",
              **BATCH)),
    warm("multiclass-sgd", "multiclass",
         dict(STOCHASTIC_BASE, solver="sgd", learning_rate_init=0.05, **BATCH)),
    warm("regression-adam", "regression",
         dict(STOCHASTIC_BASE, solver="adam", learning_rate_init=0.01, **BATCH)),
    warm("multilabel-adam-noshuffle", "multilabel",
         dict(STOCHASTIC_BASE, solver="adam", learning_rate_init=0.01, shuffle=False, **BATCH)),
    warm("regression-sgd-adaptive", "regression",
         dict(STOCHASTIC_BASE, solver="sgd", learning_rate_init=0.05, learning_rate="adaptive",
              tol=0.01, n_iter_no_change=1, **BATCH)),
    warm("regression-adam-early-stopping-new-best", "regression", EARLY, new_best=True),
    warm("binary-adam-early-stopping-no-new-best", "binary", EARLY, new_best=False),
    warm("multiclass-lbfgs", "multiclass", dict(LBFGS_BASE, max_iter=10), LBFGS_RTOL),
    warm("regression-lbfgs", "regression", dict(LBFGS_BASE, max_iter=10), LBFGS_RTOL),
]


@pytest.mark.parametrize("task, params, rtol, new_best", WARM_CASES)
def test_warm_start_two_fits(task, params, rtol, new_best):
    X, y, X_test, y_test = dataset(task)
    n_first = 5
    ours, theirs = make_pair(task, dict(params, warm_start=True, max_iter=n_first))
    for est in (ours, theirs):
        fit_checked(est, "fit", X, y)
    assert_same_model(ours, theirs, rtol)
    ours_first = {name: [a.copy() for a in getattr(ours, name)]
                  for name in ("coefs_", "intercepts_")}
    # Second fit: other rows (all classes present), more epochs. t_,
    # loss_curve_, best_loss_, validation_scores_, best_validation_score_ and
    # the best weights carry over; n_iter_ restarts.
    for est in (ours, theirs):
        est.set_params(max_iter=7)
        fit_checked(est, "fit", X_test, y_test)

    if new_best is not None:
        scores = theirs.validation_scores_
        assert (max(scores[n_first:]) > max(scores[:n_first])) == new_best, \
            "precondition on the data: the second fit does (not) beat the first one's best"
    if new_best is False and not AGAINST_SELF:
        # Intended difference (docs/sklearn.md, "Best weights are copies"):
        # scikit-learn's coefs_ after early stopping *are* its saved best
        # arrays, so the warm fit trains them in place and "restores" its last
        # weights; ours restores the best it has seen, the first fit's.
        assert_same_model(ours, theirs, rtol, weights=False)
        for name, best in ours_first.items():
            for i, (a, e) in enumerate(zip(getattr(ours, name), best)):
                _assert_close(a, e, rtol, None, f"{name}[{i}] (best weights, from the first fit)")
    else:
        assert_same_model(ours, theirs, rtol)
        assert_same_predictions(ours, theirs, task, rtol)
    # The second fit must have started from the first one's weights: a cold
    # fit on the same rows gives a different model.
    cold_ours, _ = make_pair(task, dict(params, max_iter=7))
    fit_checked(cold_ours, "fit", X_test, y_test)
    assert not all(np.allclose(a, b) for a, b in zip(cold_ours.coefs_, ours.coefs_))


def test_refit_without_warm_start_starts_over():
    # An int random_state is re-seeded on every fit: refitting gives the same model.
    task, params = "multiclass", dict(STOCHASTIC_BASE, solver="sgd", learning_rate_init=0.05)
    X, y, _, _ = dataset(task)
    ours, theirs = make_pair(task, params)
    fit_checked(ours, "fit", X[:50], y[:50])
    for est in (ours, theirs):
        fit_checked(est, "fit", X, y)
    assert_same_model(ours, theirs, STOCHASTIC_RTOL)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_random_state_instance_is_consumed(solver):
    # A RandomState instance is shared across fits: the second fit draws new
    # initial weights (and shuffles), in the same order as scikit-learn's.
    task = "multiclass"
    params = (dict(LBFGS_BASE, max_iter=10) if solver == "lbfgs" else
              dict(STOCHASTIC_BASE, solver=solver, learning_rate_init=LEARNING_RATE[solver]))
    X, y, _, _ = dataset(task)
    ours, _ = make_pair(task, dict(params, random_state=np.random.RandomState(11)))
    _, theirs = make_pair(task, dict(params, random_state=np.random.RandomState(11)))
    rtol = LBFGS_RTOL if solver == "lbfgs" else STOCHASTIC_RTOL
    first = None
    for _ in range(2):
        for est in (ours, theirs):
            fit_checked(est, "fit", X, y)
        assert_same_model(ours, theirs, rtol)
        if first is None:
            first = [c.copy() for c in ours.coefs_]
    assert not np.allclose(first[0], ours.coefs_[0]), "second fit must draw new weights"
    # Both instances were advanced by the same number of draws.
    assert ours.random_state.randint(2**31) == theirs.random_state.randint(2**31)


# ---------------------------------------------------------------------------
# partial_fit: repeated calls over chunks (the first lacking a class).


def _chunks(y):
    """Three disjoint row sets covering the training rows; for single-output
    classification the first one lacks the first class."""
    idx = np.arange(N_TRAIN)
    if y.ndim == 1 and not np.issubdtype(y.dtype, np.floating):
        first_class = np.unique(y)[0]
        first = idx[y != first_class][:30]
    else:
        first = idx[:30]
    rest = np.setdiff1d(idx, first)
    return [first, rest[:45], rest[45:]]


PARTIAL_BASE = dict(hidden_layer_sizes=(7,), random_state=0, batch_size=16)
PARTIAL_CASES = with_release_marks([
    pytest.param("multiclass", dict(PARTIAL_BASE, solver="sgd", learning_rate_init=0.05), False,
                 False, id="multiclass-sgd"),
    pytest.param("multiclass", dict(PARTIAL_BASE, solver="adam", learning_rate_init=0.01,
                                    shuffle=False), False, False, id="multiclass-adam-noshuffle"),
    pytest.param("binary", dict(PARTIAL_BASE, solver="sgd", learning_rate_init=0.1,
                                learning_rate="invscaling", power_t=0.25), True, False,
                 id="binary-sgd-invscaling-weighted"),
    pytest.param("multilabel", dict(PARTIAL_BASE, solver="adam", learning_rate_init=0.01), False,
                 False, id="multilabel-adam"),
    pytest.param("regression", dict(PARTIAL_BASE, solver="sgd", learning_rate_init=0.02,
                                    nesterovs_momentum=False), False, False,
                 id="regression-sgd-classic"),
    pytest.param("multioutput", dict(PARTIAL_BASE, solver="adam", learning_rate_init=0.01), True,
                 False, id="multioutput-adam-weighted"),
    pytest.param("poisson", dict(PARTIAL_BASE, solver="sgd", learning_rate_init=0.01), False,
                 False, id="poisson-sgd"),
    pytest.param("multiclass", dict(PARTIAL_BASE, solver="sgd", learning_rate_init=0.05,
                                    max_iter=4), False, True, id="multiclass-sgd-after-fit"),
    pytest.param("regression", dict(PARTIAL_BASE, solver="adam", learning_rate_init=0.01,
                                    max_iter=4), False, True, id="regression-adam-after-fit"),
])


@pytest.mark.parametrize("task, params, weighted, fit_first", PARTIAL_CASES)
def test_partial_fit_repeated(task, params, weighted, fit_first):
    X, y, _, _ = dataset(task)
    ours, theirs = make_pair(task, params)
    if fit_first:
        for est in (ours, theirs):
            fit_checked(est, "fit", X, y)
        assert_same_model(ours, theirs, STOCHASTIC_RTOL)
    calls = 0
    for _ in range(2):
        for idx in _chunks(y):
            kw = weights_kw(weighted, idx)
            if is_classification(task) and calls == 0 and not fit_first:
                # Required on the first call, even for multilabel targets
                # (where scikit-learn then ignores it).
                kw["classes"] = np.unique(y) if y.ndim == 1 else np.arange(y.shape[1])
            for est in (ours, theirs):
                fit_checked(est, "partial_fit", X[idx], y[idx], **kw)
            calls += 1
            assert_same_model(ours, theirs, STOCHASTIC_RTOL)
    assert theirs.n_iter_ == 1   # partial_fit counts one iteration per call
    assert_same_predictions(ours, theirs, task, STOCHASTIC_RTOL)


# ---------------------------------------------------------------------------
# float32.

F32_CASES = with_release_marks([
    pytest.param("multiclass", dict(STOCHASTIC_BASE, solver="adam", learning_rate_init=0.01,
                                    **BATCH), False, False, id="multiclass-adam"),
    pytest.param("binary", dict(STOCHASTIC_BASE, solver="sgd", learning_rate_init=0.1,
                                early_stopping=True, validation_fraction=0.2, **BATCH),
                 True, False, id="binary-sgd-early-stopping-weighted"),
    pytest.param("multilabel", dict(STOCHASTIC_BASE, solver="sgd", learning_rate_init=0.05,
                                    activation="logistic", hidden_layer_sizes=(6, 5), **BATCH),
                 False, False, id="multilabel-sgd-logistic-6x5"),
    pytest.param("regression", dict(STOCHASTIC_BASE, solver="sgd", learning_rate_init=0.02,
                                    activation="tanh", **BATCH), False, False,
                 id="regression-sgd-y64"),
    pytest.param("multioutput", dict(STOCHASTIC_BASE, solver="adam", learning_rate_init=0.01,
                                     **BATCH), True, True, id="multioutput-adam-y32-weighted"),
    pytest.param("poisson", dict(STOCHASTIC_BASE, solver="adam", learning_rate_init=0.01,
                                 **BATCH), False, False, id="poisson-adam"),
    pytest.param("multiclass", dict(LBFGS_BASE, max_iter=6), False, False, id="multiclass-lbfgs"),
    pytest.param("regression", dict(LBFGS_BASE, max_iter=6), False, False, id="regression-lbfgs"),
])


@pytest.mark.parametrize("task, params, weighted, y32", F32_CASES)
def test_float32_is_kept(task, params, weighted, y32):
    X, y, X_test, _ = dataset(task, np.float32)
    if y32:
        y = y.astype(np.float32)
    ours, theirs = make_pair(task, params)
    fit_checked(ours, "fit", X, y, **weights_kw(weighted))
    fit_checked(theirs, "fit", X, y, **weights_kw(weighted))

    # Ours computes in float32 throughout (for lbfgs too: intended difference 4,
    # so not checked when sklearn is tested against itself).
    check_ours_dtype = not (AGAINST_SELF and params["solver"] == "lbfgs")
    for name in ("coefs_", "intercepts_") if check_ours_dtype else ():
        for i, a in enumerate(getattr(ours, name)):
            assert a.dtype == np.float32, f"{name}[{i}]: dtype {a.dtype}, expected float32"
    methods = ("predict_proba", "predict_log_proba") if is_classification(task) else ("predict",)
    for method in methods if check_ours_dtype else ():
        out = getattr(ours, method)(X_test)
        assert out.dtype == np.float32, f"{method}: dtype {out.dtype}, expected float32"

    # Loose tolerance: float32 rounding (eps 1.2e-7) is amplified over ~80
    # updates and the two do not round alike anyway: scikit-learn's float32
    # path is mixed precision (with float64 y the output deltas, gradients
    # and optimizer state are float64 while the weights are float32; its
    # lbfgs runs in float64 through scipy and returns float64 weights), and
    # summation order differs. scikit-learn's own float32 and float64 fits of
    # these cases differ by <= 5e-7, and perturbing every gradient by 32
    # float32 eps uses < 10% of rtol 1e-3 / atol 1e-4 (lbfgs is kept to 6
    # iterations: its line search amplifies float32 noise fastest), while a
    # different shuffle, a missing Nesterov step or Adam without bias
    # correction still exceed it.
    assert_same_model(ours, theirs, F32_RTOL, atol=F32_ATOL, check_dtype=False)
    assert_same_predictions(ours, theirs, task, F32_RTOL, atol=F32_ATOL, dtype=np.float32)


# ---------------------------------------------------------------------------
# Interface: constructor, methods, warnings, errors.


@pytest.mark.parametrize("ours_cls, theirs_cls", [(OursClassifier, SkClassifier),
                                                  (OursRegressor, SkRegressor)],
                         ids=["classifier", "regressor"])
def test_constructor_parameters_and_defaults(ours_cls, theirs_cls):
    """scikit-learn's parameters, in its order, with its defaults, and one
    more at the end: n_jobs=None (the threads; docs/sklearn.md); the
    methods take the parameters of the installed release's."""
    ours_sig = inspect.signature(ours_cls.__init__).parameters
    theirs_sig = inspect.signature(theirs_cls.__init__).parameters
    assert [(p.name, p.kind) for p in ours_sig.values()] == \
        [(p.name, p.kind) for p in theirs_sig.values()] + \
        [("n_jobs", inspect.Parameter.KEYWORD_ONLY)], "names, order, positional/keyword-only"
    for name, p in theirs_sig.items():
        assert ours_sig[name].default == p.default, f"default of {name}"
    assert ours_sig["n_jobs"].default is None
    assert ours_cls().get_params() == {**theirs_cls().get_params(), "n_jobs": None}
    for method in ("fit", "partial_fit", "predict", "score") + (
            ("predict_proba", "predict_log_proba") if theirs_cls is SkClassifier else ()):
        assert callable(getattr(ours_cls(), method, None)), method
    for method in ("fit", "partial_fit"):
        ours_method = getattr(ours_cls(solver="sgd"), method)
        theirs_method = getattr(theirs_cls(solver="sgd"), method)
        assert list(inspect.signature(ours_method).parameters) == \
            list(inspect.signature(theirs_method).parameters), method


@pytest.mark.parametrize("task, params", [
    pytest.param("multiclass", dict(STOCHASTIC_BASE, solver="sgd", max_iter=3), id="sgd-max-iter"),
    pytest.param("regression", dict(STOCHASTIC_BASE, solver="adam", max_iter=3), id="adam-max-iter"),
    pytest.param("multiclass", dict(STOCHASTIC_BASE, solver="sgd", learning_rate_init=0.05,
                                    tol=0.02, n_iter_no_change=2, max_iter=50, batch_size=16),
                 id="sgd-converged"),
    pytest.param("multiclass", dict(LBFGS_BASE, max_iter=5), id="lbfgs-max-iter"),
])
def test_convergence_warning_matches(task, params):
    emitted = []
    for est in make_pair(task, params):
        X, y, _, _ = dataset(task)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit_checked(est, "fit", X, y)
        emitted.append(sum(issubclass(w.category, ConvergenceWarning) for w in caught))
    assert emitted[0] == emitted[1], f"ConvergenceWarnings: ours {emitted[0]}, sklearn {emitted[1]}"


def test_errors_match():
    X, y, _, _ = dataset("multiclass")
    for cls in (OursClassifier, SkClassifier):
        with pytest.raises(ValueError):   # classes= required on the first call
            cls(solver="sgd").partial_fit(X, y)
        with pytest.raises(ValueError):
            cls(solver="sgd", early_stopping=True).partial_fit(X, y, classes=np.unique(y))
        assert not hasattr(cls(solver="lbfgs"), "partial_fit")
        with pytest.raises(AttributeError):
            cls(solver="lbfgs").partial_fit(X, y, classes=np.unique(y))
        est = cls(hidden_layer_sizes=(3,), max_iter=2, warm_start=True, random_state=0).fit(X, y)
        with pytest.raises(ValueError):   # warm_start with other classes
            est.fit(X, np.where(y == y[0], 100, y))
        with pytest.raises(ValueError):   # wrong number of features
            est.predict(X[:, :-1])
        with pytest.raises(ValueError) as not_fitted:
            cls().predict(X)
        assert isinstance(not_fitted.value, AttributeError), "NotFittedError is also an AttributeError"


def test_harness_detects_differences():
    """assert_same_model must fail on any single perturbed attribute."""
    task, params = "multiclass", dict(STOCHASTIC_BASE, solver="sgd", learning_rate_init=0.05,
                                      hidden_layer_sizes=(6, 5), **BATCH)
    _, theirs = fit_pair(task, params)
    assert_same_model(copy.deepcopy(theirs), theirs, STOCHASTIC_RTOL)

    def perturbed(edit):
        other = copy.deepcopy(theirs)
        edit(other)
        return other

    for edit, message in [
        (lambda m: m.coefs_[1].__setitem__((2, 1), m.coefs_[1][2, 1] + 1e-5), r"coefs_\[1\]"),
        (lambda m: m.intercepts_[0].__setitem__(3, m.intercepts_[0][3] * (1 + 1e-4)),
         r"intercepts_\[0\]"),
        (lambda m: m.loss_curve_.__setitem__(4, m.loss_curve_[4] * (1 + 1e-5)), "loss_curve_"),
        (lambda m: setattr(m, "loss_curve_", m.loss_curve_[:-1]), "loss_curve_"),
        (lambda m: setattr(m, "loss_", m.loss_ * (1 + 1e-5)), "loss_"),
        (lambda m: setattr(m, "best_loss_", None), "best_loss_"),
        (lambda m: setattr(m, "n_iter_", m.n_iter_ + 1), "n_iter_"),
        (lambda m: setattr(m, "t_", m.t_ - 1), "t_"),
        (lambda m: setattr(m, "coefs_", [c.astype(np.float32) for c in m.coefs_]), "dtype"),
        (lambda m: setattr(m, "classes_", m.classes_[::-1]), "classes_"),
        (lambda m: delattr(m, "loss_curve_"), "loss_curve_: missing in ours"),
        (lambda m: setattr(m, "validation_scores_", []), "validation_scores_"),
    ]:
        with pytest.raises(AssertionError, match=message):
            assert_same_model(perturbed(edit), theirs, STOCHASTIC_RTOL)
    # Another random_state is another model.
    _, other_seed = fit_pair(task, dict(params, random_state=1))
    with pytest.raises(AssertionError):
        assert_same_model(other_seed, theirs, STOCHASTIC_RTOL)


# ---------------------------------------------------------------------------
# Intended differences (not compared with scikit-learn).


@intended_difference
def test_regressor_lbfgs_has_no_partial_fit():
    X, y, _, _ = dataset("regression")
    est = OursRegressor(solver="lbfgs")
    assert not hasattr(est, "partial_fit")
    with pytest.raises(AttributeError):
        est.partial_fit(X, y)
    assert hasattr(OursRegressor(solver="sgd"), "partial_fit")


@intended_difference
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_divergence_raises_at_once(solver):
    # Targets x100 and a huge step: the loss overflows within a few epochs.
    # scikit-learn trains on with inf/NaN until max_iter, warns
    # (ConvergenceWarning), then raises ValueError; ours raises ValueError as
    # soon as a batch's loss or an updated weight is non-finite, so it never
    # reaches the max_iter warning.
    X, y, _, _ = dataset("regression")
    params = dict(hidden_layer_sizes=(7,), solver=solver, random_state=0, max_iter=50,
                  n_iter_no_change=1000)
    params.update(dict(learning_rate_init=1.0, momentum=0.9) if solver == "sgd" else
                  dict(learning_rate_init=1e100))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="non-finite"):
            OursRegressor(**params).fit(X, y * 100)
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]


# ---------------------------------------------------------------------------
# Behaviours scikit-learn's own test_mlp.py checks (tests/sklearn_suite.py
# runs that file on fastmlp.sklearn); each is held here against
# scikit-learn's estimator itself.


@pytest.mark.parametrize("task, params", [
    pytest.param("regression", dict(STOCHASTIC_BASE, solver="sgd", activation="identity",
                                    learning_rate_init=0.05, early_stopping=True,
                                    validation_fraction=0.2, max_iter=30, **BATCH),
                 id="regression-sgd"),
    pytest.param("regression", dict(STOCHASTIC_BASE, solver="adam", learning_rate_init=1e100,
                                    early_stopping=True, validation_fraction=0.2, max_iter=30,
                                    **BATCH),
                 id="regression-adam-first-epoch"),
])
@pytest.mark.skipif(not SK_NAN_VALIDATION_SCORE,
                    reason="this scikit-learn raises on the nan validation score of a "
                           "diverged epoch (since 1.6 it goes on): nothing to compare; "
                           "tests/test_sklearn_compat.py checks ours")
def test_diverging_fit_with_early_stopping_keeps_the_best_weights(task, params):
    # Targets x10 make training diverge. scikit-learn (since 1.6) ends such
    # a fit with the weights of the best validation score and a nan
    # validation score for each diverged epoch, not with an error. Ours
    # stops at the first diverged epoch (scikit-learn trains on to max_iter
    # on nan weights, adding nan scores), so its histories are a prefix of
    # scikit-learn's and its weights are the same best weights (the initial
    # ones when no epoch scored better than -inf).
    X, y, X_test, _ = dataset(task)
    ours, theirs = make_pair(task, params)
    caught = {}
    for name, est in (("ours", ours), ("theirs", theirs)):
        with warnings.catch_warnings(record=True) as caught[name]:
            warnings.simplefilter("always")
            warnings.simplefilter("ignore", RuntimeWarning)   # overflow in scikit-learn's matmul
            fit_checked(est, "fit", X, y * 10)
    n = ours.n_iter_
    assert 1 <= n <= theirs.n_iter_ == params["max_iter"]
    diverged = np.flatnonzero(np.isnan(theirs.validation_scores_))
    assert diverged.size, "precondition: the data must make training diverge"
    k = int(diverged[0])   # scikit-learn's first nan score; every later one is nan too
    assert np.isnan(theirs.validation_scores_[k:]).all()
    assert len(ours.validation_scores_) == len(ours.loss_curve_) == n > k
    assert np.isnan(ours.validation_scores_[k:]).all()
    assert isinstance(ours.validation_scores_[-1], float)
    _assert_close(ours.validation_scores_[:k], theirs.validation_scores_[:k],
                  STOCHASTIC_RTOL, None, "validation_scores_ before the divergence")
    _assert_close(ours.loss_curve_[:k], theirs.loss_curve_[:k], STOCHASTIC_RTOL, None,
                  "loss_curve_ before the divergence")
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_,
                                                        rel=STOCHASTIC_RTOL)
    for name in ("coefs_", "intercepts_"):
        for i, (a, e) in enumerate(zip(getattr(ours, name), getattr(theirs, name))):
            _assert_close(a, e, STOCHASTIC_RTOL, None, f"{name}[{i}] (the best weights)")
    _assert_close(ours.predict(X_test), theirs.predict(X_test), STOCHASTIC_RTOL, None, "predict")
    for name in caught:
        assert any(issubclass(w.category, ConvergenceWarning) for w in caught[name]), name


def test_early_stopping_split_error_matches():
    # The split stratifies by scikit-learn's boolean label columns, so a
    # class too small to split is reported with scikit-learn's message.
    X, y = [[1, 2], [2, 3], [3, 4], [4, 5]], [0, 0, 0, 1]
    messages = []
    for cls in (OursClassifier, SkClassifier):
        with pytest.raises(ValueError, match="least populated class") as err:
            cls(early_stopping=True).fit(X, y)
        messages.append(str(err.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("task, params, refit", [
    pytest.param("multiclass", dict(STOCHASTIC_BASE, solver="sgd", learning_rate="invscaling",
                                    learning_rate_init=0.2, power_t=0.25, warm_start=True,
                                    max_iter=3, **BATCH), True, id="sgd-invscaling-warm-start"),
    pytest.param("multiclass", dict(STOCHASTIC_BASE, solver="sgd", learning_rate="adaptive",
                                    learning_rate_init=0.2, tol=0.02, n_iter_no_change=1,
                                    max_iter=20, **BATCH), False, id="sgd-adaptive"),
    pytest.param("regression", dict(STOCHASTIC_BASE, solver="adam", learning_rate_init=0.01,
                                    **BATCH), False, id="adam"),
])
def test_optimizer_attribute_matches(task, params, refit):
    # scikit-learn's tests read the private _optimizer (the current learning
    # rate of the schedules, Adam's step count): ours is the same kind of
    # object in the same state.
    X, y, _, _ = dataset(task)
    ours, theirs = make_pair(task, params)
    for est in (ours, theirs):
        for _ in range(2 if refit else 1):
            fit_checked(est, "fit", X, y)
    assert type(ours._optimizer) is type(theirs._optimizer)
    assert ours._optimizer.learning_rate == pytest.approx(theirs._optimizer.learning_rate,
                                                          rel=1e-12)
    if params["solver"] == "adam":
        assert ours._optimizer.t == theirs._optimizer.t > 0
    else:
        assert ours._optimizer.learning_rate < params["learning_rate_init"], "precondition"
    assert not hasattr(make_pair(task, params)[0], "_optimizer")


def _built_by_hand(cls, coefs, intercepts, *, out_activation, n_outputs, **params):
    """An estimator never fitted, given its fitted attributes by hand (as
    scikit-learn's test_fit does)."""
    est = cls(**params)
    est.coefs_ = [np.array(c, dtype=float) for c in coefs]
    est.intercepts_ = [np.array(b, dtype=float) for b in intercepts]
    est.n_features_in_ = est.coefs_[0].shape[0]
    est.n_outputs_ = n_outputs
    est.n_layers_ = len(coefs) + 1
    est.out_activation_ = out_activation
    est.n_iter_ = est.t_ = est._no_improvement_count = 0
    est.best_loss_ = np.inf
    est.loss_curve_ = []
    return est


@pytest.mark.parametrize("method", ["partial_fit", "warm_start"])
@pytest.mark.parametrize("task", ["binary", "regression"])
def test_estimator_built_by_hand_trains_and_predicts_like_sklearn(task, method):
    X, y, X_test, _ = dataset(task)
    rng = np.random.RandomState(3)
    coefs = [rng.normal(0, 0.3, (N_FEATURES, 4)), rng.normal(0, 0.3, (4, 1))]
    intercepts = [rng.normal(0, 0.3, 4), rng.normal(0, 0.3, 1)]
    params = dict(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=0.05, momentum=0.9,
                  activation="logistic", random_state=1, batch_size=16, max_iter=3,
                  warm_start=method == "warm_start")
    cls_pair = ((OursClassifier, SkClassifier) if is_classification(task)
                else (OursRegressor, SkRegressor))
    out = "logistic" if is_classification(task) else "identity"
    ours, theirs = (_built_by_hand(cls, coefs, intercepts, out_activation=out, n_outputs=1,
                                   **params) for cls in cls_pair)
    if not is_classification(task):
        # Prediction needs nothing else, and changes nothing.
        coefs_before = ours.coefs_
        _assert_close(ours.predict(X_test), theirs.predict(X_test), 1e-12, None, "predict")
        assert ours.coefs_ is coefs_before
    kw = {"classes": np.unique(y)} if is_classification(task) and method == "partial_fit" else {}
    for est in (ours, theirs):
        if method == "partial_fit":
            fit_checked(est, "partial_fit", X, y, **kw)
            fit_checked(est, "partial_fit", X, y)
        else:
            fit_checked(est, "fit", X, y)
    assert_same_model(ours, theirs, STOCHASTIC_RTOL)
    assert_same_predictions(ours, theirs, task, STOCHASTIC_RTOL)
