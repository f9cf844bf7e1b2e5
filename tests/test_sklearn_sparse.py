"""fastmlp.sklearn on scipy.sparse X: the same model as scikit-learn's on the
same sparse X (the tolerances of test_sklearn_equivalence: float64 rtol 1e-6
for sgd / adam, 1e-4 for lbfgs, element-wise), trained and predicted
without densifying X (fastmlp.inputs.sparse.CsrRows reaches the kernels; a
densifying path would call toarray, which these tests forbid)."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from test_sklearn_equivalence import (
    LBFGS_RTOL, STOCHASTIC_RTOL, OursClassifier, OursRegressor, SkClassifier, SkRegressor,
    _assert_close, assert_same_model)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N_ROWS, N_COLS = 120, 300


def sparse_data(task, fmt="csr"):
    """TF-IDF-like X (5% non-zero, some empty rows) and targets that depend on it."""
    rng = np.random.RandomState(0)
    X = sp.random(N_ROWS, N_COLS, density=0.05, random_state=1, format="csr")
    scale = 1.0 / (1e-9 + sp.linalg.norm(X, axis=1))
    scale[3] = 0   # an empty row
    X = (sp.diags(scale) @ X).tocsr()
    X.eliminate_zeros()
    score = X @ rng.normal(size=(N_COLS, 3))
    if task == "multiclass":
        y = np.array([5, 1, 9])[np.argmax(score, axis=1)]
    elif task == "binary":
        y = (score[:, 0] > np.median(score[:, 0])).astype(int)
    else:
        y = score[:, :2] * 3
    return X.asformat(fmt), y


@pytest.fixture(autouse=True)
def no_densifying(monkeypatch):
    """Whatever scipy.sparse type X has, it is never turned into a dense
    array by fastmlp (scikit-learn's own estimators do not either). Only
    matrices of X's width count: scikit-learn's label binarizer may build
    its (rows, classes) indicator sparse and densify that (1.5 does)."""
    real = {cls: cls.toarray for cls in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix)}

    def forbidden(self, *args, **kwargs):
        if self.shape[1] == N_COLS:
            raise AssertionError("X was densified")
        return real[type(self)](self, *args, **kwargs)
    for cls in real:
        monkeypatch.setattr(cls, "toarray", forbidden)


def pair(task, **params):
    classify = task != "regression"
    ours = (OursClassifier if classify else OursRegressor)(**params)
    theirs = (SkClassifier if classify else SkRegressor)(**params)
    return ours, theirs


CASES = [
    pytest.param("multiclass", dict(solver="adam"), STOCHASTIC_RTOL, id="multiclass-adam"),
    pytest.param("multiclass", dict(solver="sgd", learning_rate_init=0.1), STOCHASTIC_RTOL,
                 id="multiclass-sgd"),
    pytest.param("binary", dict(solver="sgd", momentum=0.5, nesterovs_momentum=False,
                                alpha=0.01), STOCHASTIC_RTOL, id="binary-sgd-classic"),
    pytest.param("regression", dict(solver="adam", hidden_layer_sizes=(6, 5)),
                 STOCHASTIC_RTOL, id="regression-adam-6x5"),
    pytest.param("multiclass", dict(solver="adam", early_stopping=True,
                                    validation_fraction=0.2), STOCHASTIC_RTOL,
                 id="multiclass-adam-early-stopping"),
    pytest.param("multiclass", dict(solver="lbfgs", max_iter=25), LBFGS_RTOL,
                 id="multiclass-lbfgs"),
    pytest.param("regression", dict(solver="lbfgs", max_iter=25), LBFGS_RTOL,
                 id="regression-lbfgs"),
]


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("task, params, rtol", CASES)
def test_same_model_as_scikit_learn(task, params, rtol, fmt):
    X, y = sparse_data(task, fmt)
    kw = dict(hidden_layer_sizes=(7,), max_iter=8, random_state=0, batch_size=16,
              n_iter_no_change=1000, learning_rate_init=0.02)
    kw.update(params)
    ours, theirs = pair(task, **kw)
    ours.fit(X, y)
    theirs.fit(X, y)
    assert_same_model(ours, theirs, rtol)
    X_csr = X.tocsr()
    if task == "regression":
        _assert_close(ours.predict(X_csr), theirs.predict(X_csr), rtol, None, "predict")
        _assert_close(ours.score(X_csr, y), theirs.score(X_csr, y), rtol, None, "score")
    else:
        np.testing.assert_array_equal(ours.predict(X_csr), theirs.predict(X_csr))
        _assert_close(ours.predict_proba(X_csr), theirs.predict_proba(X_csr), rtol, None,
                      "predict_proba")
        assert ours.score(X_csr, y) == theirs.score(X_csr, y)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_partial_fit_same_model(solver):
    X, y = sparse_data("multiclass")
    ours, theirs = pair("multiclass", hidden_layer_sizes=(7,), solver=solver, random_state=0,
                        batch_size=20, learning_rate_init=0.05)
    for start in (0, 40, 80, 0):
        rows = slice(start, start + 40)
        ours.partial_fit(X[rows], y[rows], classes=[1, 5, 9])
        theirs.partial_fit(X[rows], y[rows], classes=[1, 5, 9])
    assert_same_model(ours, theirs, STOCHASTIC_RTOL)


def test_sparse_and_dense_fits_agree():
    X, y = sparse_data("multiclass")
    coo = X.tocoo()
    dense = np.zeros(X.shape)   # the test's own dense copy (toarray is forbidden)
    dense[coo.row, coo.col] = coo.data
    kw = dict(hidden_layer_sizes=(7,), solver="adam", max_iter=5, random_state=0,
              batch_size=16)
    a = OursClassifier(**kw).fit(X, y)
    b = OursClassifier(**kw).fit(dense, y)
    for c, d in zip(a.coefs_, b.coefs_):
        np.testing.assert_allclose(c, d, rtol=1e-9, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(dense), rtol=1e-9)


def test_float32_sparse_keeps_float32():
    X, y = sparse_data("multiclass")
    est = OursClassifier(hidden_layer_sizes=(7,), max_iter=3, random_state=0)
    est.fit(X.astype(np.float32), y)
    assert est.coefs_[0].dtype == np.float32
    assert est.predict_proba(X.astype(np.float32)).dtype == np.float32


def test_nan_in_sparse_data_is_scikit_learns_error():
    X, y = sparse_data("multiclass")
    X = X.copy()
    X.data[5] = np.nan
    for cls in (OursClassifier, SkClassifier):
        with pytest.raises(ValueError, match="NaN"):
            cls(max_iter=2).fit(X, y)
