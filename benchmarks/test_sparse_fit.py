"""Whole fits on TF-IDF-like CSR X: fastmlp.sklearn vs scikit-learn
(MLPClassifier(hidden_layer_sizes=(100,), batch_size=200, tol=0), adam and
sgd) and fastmlp.MLP, one BLAS thread.

Run with ``pytest benchmarks/test_sparse_fit.py --benchmark-only`` (one
group per solver; the relative column is the speedup). Full size: 20,000 x
100,000, 100 non-zeros a row, 20 classes, 10 epochs; with
``--benchmark-disable`` (the CI smoke run) 1,000 x 20,000 at 20 a row and 2
epochs. Peak memory needs a process per contender: benchmarks/sparse_report.py
measures both, interleaved. No timing is asserted; every fit is checked to
have run its epochs with finite weights.
"""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits


def tfidf_like(rows, cols, per_row, classes, seed=0):
    rng = np.random.default_rng(seed)
    indptr = np.arange(0, (rows + 1) * per_row, per_row, dtype=np.int64)
    indices = np.sort(rng.integers(0, cols, (rows, per_row)), axis=1).ravel()
    X = sp.csr_matrix((rng.random(rows * per_row), indices.astype(np.int32), indptr),
                      shape=(rows, cols))
    X.sum_duplicates()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    return sp.diags(1 / norms) @ X, rng.integers(0, classes, rows)


@pytest.fixture(scope="module")
def data(request):
    smoke = request.config.getoption("benchmark_disable")
    if smoke:
        return tfidf_like(1000, 20000, 20, 20), 2
    return tfidf_like(20000, 100000, 100, 20), 10


def _fit(kind, solver, X, y, epochs):
    params = dict(hidden_layer_sizes=(100,), solver=solver, batch_size=200, max_iter=epochs,
                  tol=0, random_state=0)
    if kind == "sklearn":
        from sklearn.neural_network import MLPClassifier
    else:
        from fastmlp.sklearn import MLPClassifier
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier(**params).fit(X, y)
    assert est.n_iter_ == epochs and all(np.isfinite(c).all() for c in est.coefs_)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("kind", ["fastmlp", "sklearn"])
def test_sparse_sklearn_fit(benchmark, data, kind, solver):
    (X, y), epochs = data
    benchmark.group = f"sparse-{solver}"
    with threadpool_limits(1):
        benchmark.pedantic(_fit, args=(kind, solver, X, y, epochs), rounds=1, iterations=1)


def test_sparse_fastmlp_mlp_fit(benchmark, data):
    import fastmlp
    (X, y), epochs = data
    benchmark.group = "sparse-adam"

    def fit():
        net = fastmlp.MLP([X.shape[1], 100, 20], loss="cross_entropy", seed=0,
                          dtype="float64")
        net.fit(X, y, epochs=epochs, batch_size=200, lr=1e-3, optimizer="adam")
        assert len(net.history) == epochs and np.isfinite(net.params).all()

    with threadpool_limits(1):
        benchmark.pedantic(fit, rounds=1, iterations=1)
