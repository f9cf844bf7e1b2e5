"""Whole ``fit`` of fastmlp.sklearn.MLPClassifier vs scikit-learn's MLPClassifier.

Run with ``pytest benchmarks/test_sklearn_fit.py --benchmark-only``. One group
per config (``sklearn_report.CONFIGS``: digits with sgd and with adam, the
synthetic 20000 x 784 set with adam; float64 data for both libraries, and
the same again on float32 data), with
two benchmarks each: ``<config>:fastmlp`` and ``<config>:sklearn``, the same
hyperparameters and random_state, each a complete fit of a fresh estimator
with exactly the config's epochs. pytest-benchmark's relative column is then
the speedup. Here the two run one after the other, not alternated;
``benchmarks/sklearn_report.py`` times them interleaved and checks the
speedup targets: prefer it for the figures. No timing is asserted.

Every benchmark checks its fitted model: ``n_iter_`` equals the epochs, the
accuracy on the held-out rows reaches the config's floor, and it agrees with
the other library's accuracy within 1 percentage point (the other side's
result comes from its own benchmark when that ran first, else from one
untimed fit).

With ``--benchmark-disable`` (the CI smoke run) every fit runs once,
untimed, and the synthetic config shrinks to its ``smoke`` scale (2000 rows,
3 epochs) so the file stays well under a minute.
"""
import pytest

import sklearn_report as sk  # benchmarks/ is on sys.path: conftest.py

# (config, kind, smoke) -> sk.evaluate() of that side's last fit.
_evaluated = {}


def _partner(cfg, scale, kind, smoke):
    key = (cfg.name, kind, smoke)
    if key not in _evaluated:
        X_tr, y_tr, X_te, y_te = sk.data(cfg, scale)
        est = sk.make_fit(cfg, kind, X_tr, y_tr, scale.epochs)()
        _evaluated[key] = sk.evaluate(est, X_te, y_te)
    return _evaluated[key]


@pytest.mark.parametrize("kind", sk.KINDS)
@pytest.mark.parametrize("name", list(sk.CONFIGS))
def test_fit(benchmark, blas_info, name, kind):
    cfg = sk.CONFIGS[name]
    smoke = benchmark.disabled
    scale = cfg.smoke if smoke else cfg.full
    X_tr, y_tr, X_te, y_te = sk.data(cfg, scale)
    fit = sk.make_fit(cfg, kind, X_tr, y_tr, scale.epochs)

    benchmark.group = (f"{name}: fit, {X_tr.shape[0]}x{X_tr.shape[1]} {cfg.dtype}, "
                       f"hidden {list(cfg.hidden)}, batch {cfg.batch}, {cfg.solver}, "
                       f"{scale.epochs} epochs")
    benchmark.name = f"{name}:{kind}"
    est = benchmark.pedantic(fit, rounds=cfg.rounds, iterations=1,
                             warmup_rounds=cfg.warmup_rounds)

    assert all(lib["num_threads"] == 1 for lib in blas_info)
    ev = sk.evaluate(est, X_te, y_te)
    _evaluated[(name, kind, smoke)] = ev
    other_kind = next(k for k in sk.KINDS if k != kind)
    other = _partner(cfg, scale, other_kind, smoke)
    info = benchmark.extra_info
    info.update(
        config=name, kind=kind, solver=cfg.solver, hidden_layer_sizes=list(cfg.hidden),
        batch_size=cfg.batch, n_train=int(X_tr.shape[0]), n_test=int(X_te.shape[0]),
        n_features=int(X_tr.shape[1]), epochs=scale.epochs, dtype=cfg.dtype,
        test_accuracy=ev["accuracy"], other_test_accuracy=other["accuracy"],
        prediction_agreement=sk.agreement(ev, other), target=cfg.target_text(),
        blas=[{k: lib[k] for k in ("internal_api", "version", "architecture",
                                   "num_threads", "used_by")} for lib in blas_info],
    )
    issues = sk.problems(cfg, scale, kind, ev, other)
    assert not issues, "; ".join(issues)
