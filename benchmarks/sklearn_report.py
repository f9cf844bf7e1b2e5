"""Whole ``fit`` of fastmlp.sklearn.MLPClassifier vs scikit-learn's MLPClassifier.

    python benchmarks/sklearn_report.py [--configs digits_sgd,digits_adam,synthetic_adam]
                                        [--repeat N] [--json PATH] [--strict]

Both estimators get identical hyperparameters and the same random_state, so
they train the same model (docs/sklearn.md: equal within rounding); the
timed unit is one complete ``fit`` of a fresh estimator on the same float64
training set, with exactly ``epochs`` epochs (``tol=0`` and
``n_iter_no_change=max_iter``, so no early stop; the ConvergenceWarning
scikit-learn gives at ``max_iter`` is silenced, in both). The configs:

- ``digits_sgd`` / ``digits_adam``: UCI digits (``load_digits``, X / 16 in
  [0, 1], a fixed stratified 75/25 split: 1347 training rows, 450 test
  rows, 64 features), hidden (64,), batch 32, 50 epochs; sgd with
  learning_rate_init=0.1 and momentum 0.9 (Nesterov, scikit-learn's
  default), adam with learning_rate_init=1e-3. Target: fastmlp >= 20x faster.
- ``synthetic_adam``: ``make_classification`` (784 features, 50 informative,
  none redundant, 10 classes, random_state 0; float64), 20000 training rows
  plus 5000 held-out test rows from the same draw, hidden (256, 128), batch
  128, adam 1e-3, 5 epochs. Target: fastmlp >= 2x faster.

Everything runs in this one process with one BLAS thread
(``threadpool_limits(1, user_api="blas")``): fastmlp's kernels call SciPy's
BLAS, scikit-learn calls NumPy's; both are limited. The two fits of a
config are interleaved with ``fastmlp.cli.bench.measure`` (one warm-up fit of
each, then every round times one fit of each, in an order that alternates
from round to round, garbage collector off): the reported time is the
MINIMUM over rounds, the median is shown beside it, the speedup is the ratio
of the minima, "paired" is the median over rounds of the per-round ratio,
and "noise" is the worst (median / min - 1) of the two. The same rounds also
time the fit's matrix products alone ("GEMMs": fastmlp's GEMM calls for
every step of the fit, on its fitted network, nothing else); scikit-learn's
time over theirs ("ceiling") is the largest speedup any implementation
making those calls could show.

After timing, the last fitted estimator of each kind is checked on the
held-out rows: ``n_iter_`` equals the epochs, the test accuracy reaches the
config's floor, and the two test accuracies agree within 1 percentage point
("agree" is the fraction of identical test predictions).

``benchmarks/test_sklearn_fit.py`` (pytest-benchmark) imports its configs,
data and fit callables from here.
"""
import argparse
import functools
import os
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
import sklearn
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from threadpoolctl import threadpool_info

from fastmlp.cli import bench as _bench
from fastmlp._kernels import _probes, _train
from fastmlp.sklearn import MLPClassifier as FastMLPClassifier

# The two sides of every comparison, in the order they are listed.
IMPLS = {"fastmlp": FastMLPClassifier, "sklearn": SkMLPClassifier}
KINDS = tuple(IMPLS)

SEED = 0
# Same random_state, same model: the test accuracies may differ by at most this.
ACCURACY_TOLERANCE = 0.01

SYNTHETIC_TRAIN, SYNTHETIC_TEST = 20000, 5000


@dataclass(frozen=True)
class Scale:
    """How much training one fit does, and the test accuracy it must reach."""
    n_train: int            # training rows (None: the whole training set)
    epochs: int
    min_accuracy: float

    def text(self, n_rows, n_features):
        return f"{n_rows}x{n_features} {self.epochs}ep"


@dataclass(frozen=True)
class FitConfig:
    name: str
    dataset: str            # "digits" or "synthetic"
    solver: str
    hidden: tuple
    batch: int
    learning_rate_init: float
    full: Scale             # the benchmark and the report
    smoke: Scale            # pytest --benchmark-disable (CI smoke run): kept quick
    target_speedup: float   # fastmlp must be at least this many times faster
    rounds: int             # pytest-benchmark rounds (each side)
    warmup_rounds: int      # pytest-benchmark warm-up rounds (each side)
    report_rounds: int      # default --repeat of this report
    dtype: str = "float64"  # of X, for both libraries


    def params(self, epochs):
        """Hyperparameters of both estimators: exactly ``epochs`` epochs."""
        return dict(
            hidden_layer_sizes=self.hidden, solver=self.solver,
            batch_size=self.batch, learning_rate_init=self.learning_rate_init,
            momentum=0.9, max_iter=epochs, tol=0.0, n_iter_no_change=epochs,
            random_state=SEED)

    def target_text(self):
        return f">= {self.target_speedup:g}x"


_DIGITS = Scale(None, 50, 0.95)          # test accuracy ~0.97 for both solvers

CONFIGS = {
    c.name: c for c in [
        FitConfig("digits_sgd", "digits", "sgd", (64,), 32, 0.1,
                  full=_DIGITS, smoke=_DIGITS, target_speedup=20.0,
                  rounds=5, warmup_rounds=1, report_rounds=10),
        FitConfig("digits_adam", "digits", "adam", (64,), 32, 1e-3,
                  full=_DIGITS, smoke=_DIGITS, target_speedup=20.0,
                  rounds=5, warmup_rounds=1, report_rounds=10),
        # The same fits on float32 data: both libraries then compute in
        # float32 (scikit-learn keeps float32 X as float32).
        FitConfig("digits_sgd_f32", "digits", "sgd", (64,), 32, 0.1,
                  full=_DIGITS, smoke=_DIGITS, target_speedup=20.0,
                  rounds=5, warmup_rounds=1, report_rounds=10, dtype="float32"),
        FitConfig("digits_adam_f32", "digits", "adam", (64,), 32, 1e-3,
                  full=_DIGITS, smoke=_DIGITS, target_speedup=20.0,
                  rounds=5, warmup_rounds=1, report_rounds=10, dtype="float32"),
        # Full: test accuracy ~0.68 (chance 0.1; the training set is fitted
        # almost perfectly). Smoke: 2000 rows, 3 epochs, ~0.31 (one epoch
        # gives only ~0.19, too close to chance to check anything).
        FitConfig("synthetic_adam", "synthetic", "adam", (256, 128), 128, 1e-3,
                  full=Scale(SYNTHETIC_TRAIN, 5, 0.62), smoke=Scale(2000, 3, 0.25),
                  target_speedup=2.0, rounds=1, warmup_rounds=0, report_rounds=3),
        FitConfig("synthetic_adam_f32", "synthetic", "adam", (256, 128), 128, 1e-3,
                  full=Scale(SYNTHETIC_TRAIN, 5, 0.62), smoke=Scale(2000, 3, 0.25),
                  target_speedup=2.0, rounds=1, warmup_rounds=0, report_rounds=3,
                  dtype="float32"),
    ]
}


def select(names):
    """Configs named in ``names`` (comma-separated string, list, or None for all)."""
    return _bench.select(names, CONFIGS)


# -- data ---------------------------------------------------------------------

def _frozen(*arrays):
    out = []
    for a in arrays:
        a = np.ascontiguousarray(a)
        a.flags.writeable = False    # shared by both sides: neither may change it
        out.append(a)
    return tuple(out)


@functools.lru_cache(maxsize=None)
def dataset(name):
    """(X_train, y_train, X_test, y_test), float64 X, read-only."""
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X = X / 16.0
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y, test_size=0.25, random_state=SEED, stratify=y)
    elif name == "synthetic":
        X, y = make_classification(
            n_samples=SYNTHETIC_TRAIN + SYNTHETIC_TEST, n_features=784,
            n_informative=50, n_redundant=0, n_classes=10, random_state=SEED)
        X_tr, y_tr = X[:SYNTHETIC_TRAIN], y[:SYNTHETIC_TRAIN]
        X_te, y_te = X[SYNTHETIC_TRAIN:], y[SYNTHETIC_TRAIN:]
    else:
        raise ValueError(f"unknown dataset {name!r}")
    return _frozen(X_tr.astype(np.float64), y_tr, X_te.astype(np.float64), y_te)


def data(cfg, scale):
    """The training rows of ``scale`` (the first ``n_train``) and the test
    set, X in the config's dtype."""
    X_tr, y_tr, X_te, y_te = dataset(cfg.dataset)
    if scale.n_train is not None:
        X_tr, y_tr = X_tr[:scale.n_train], y_tr[:scale.n_train]
    if cfg.dtype != "float64":
        X_tr, X_te = _frozen(X_tr.astype(cfg.dtype), X_te.astype(cfg.dtype))
    return X_tr, y_tr, X_te, y_te


# -- the fits -------------------------------------------------------------------

def make_fit(cfg, kind, X, y, epochs):
    """A callable: one complete fit of a fresh ``kind`` estimator; returns it."""
    cls = IMPLS[kind]
    params = cfg.params(epochs)

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return cls(**params).fit(X, y)
    return fit


def evaluate(est, X_test, y_test):
    pred = est.predict(X_test)
    return {"accuracy": float(np.mean(pred == y_test)), "n_iter": int(est.n_iter_),
            "loss": float(est.loss_), "pred": pred}


def problems(cfg, scale, kind, ev, other=None):
    """What is wrong with one fitted estimator (``ev``: ``evaluate``'s dict),
    compared with the other side's (``other``) when given: list of strings."""
    out = []
    if ev["n_iter"] != scale.epochs:
        out.append(f"{cfg.name} {kind}: n_iter_ = {ev['n_iter']}, expected {scale.epochs}")
    if not ev["accuracy"] >= scale.min_accuracy:
        out.append(f"{cfg.name} {kind}: test accuracy {ev['accuracy']:.4f} "
                   f"< {scale.min_accuracy}")
    if other is not None and abs(ev["accuracy"] - other["accuracy"]) > ACCURACY_TOLERANCE:
        out.append(f"{cfg.name}: test accuracies differ by more than "
                   f"{100 * ACCURACY_TOLERANCE:g} pp: {kind} {ev['accuracy']:.4f}, "
                   f"other {other['accuracy']:.4f}")
    return out


def agreement(a, b):
    return float(np.mean(a["pred"] == b["pred"]))


# -- measurement ------------------------------------------------------------------

class _FitCase:
    """The duck type ``fastmlp.cli.bench.measure`` times: one call (one fit) per
    round and kind, so its "per step" values are seconds per fit."""

    def __init__(self, fits):
        self._fits = fits

    def callable(self, kind):
        return self._fits[kind]

    def epochs(self, kind):
        return 1

    def steps(self, kind):
        return 1


def gemms_only(net, X, batch, epochs):
    """A callable: the matrix products of ``epochs`` epochs of a fit of
    ``net`` on ``X`` (batches cut as the fit cuts them) and nothing else,
    with fastmlp's own GEMM calls (``_probes.gemm_floor``). Its time is the
    floor under fastmlp's whole fit: scikit-learn's time over it is the
    largest speedup the GEMMs leave possible."""
    spec, work = net.workspace(batch)
    grads = np.empty_like(net.flat)
    X = np.ascontiguousarray(X, dtype=net.dtype)
    full, rest = divmod(X.shape[0], batch)

    def run():
        for _ in range(epochs):
            _probes.gemm_floor(spec, net.flat, grads, X, work, batch, full)
            if rest:
                _probes.gemm_floor(spec, net.flat, grads, X, work, rest, 1)
    return run


def measure_config(cfg, repeat, scale=None):
    """Interleaved times of both kinds' fits and of the fit's GEMMs alone,
    then the checks on the last fits."""
    scale = scale or cfg.full
    X_tr, y_tr, X_te, y_te = data(cfg, scale)
    last = {}
    fits = {}
    for kind in KINDS:
        fit = make_fit(cfg, kind, X_tr, y_tr, scale.epochs)

        def timed(fit=fit, kind=kind):
            last[kind] = fit()
        fits[kind] = timed
    fitted = make_fit(cfg, "fastmlp", X_tr, y_tr, scale.epochs)()
    fits["gemms"] = gemms_only(fitted._network, X_tr, cfg.batch, scale.epochs)
    seconds = _bench.measure(_FitCase(fits), repeat, KINDS + ("gemms",))
    ev = {k: evaluate(last[k], X_te, y_te) for k in KINDS}
    s = {k: np.asarray(v) for k, v in seconds.items()}
    best = {k: float(v.min()) for k, v in s.items()}
    med = {k: float(np.median(v)) for k, v in s.items()}
    speedup = best["sklearn"] / best["fastmlp"]
    issues = (problems(cfg, scale, "fastmlp", ev["fastmlp"], ev["sklearn"])
              + problems(cfg, scale, "sklearn", ev["sklearn"]))
    return {
        "config": cfg.name, "dataset": cfg.dataset, "solver": cfg.solver,
        "hidden_layer_sizes": list(cfg.hidden), "batch_size": cfg.batch,
        "learning_rate_init": cfg.learning_rate_init, "dtype": cfg.dtype,
        "n_train": int(X_tr.shape[0]), "n_test": int(X_te.shape[0]),
        "n_features": int(X_tr.shape[1]), "epochs": scale.epochs,
        "rounds": len(s["fastmlp"]), "statistic": "min over interleaved rounds",
        "fastmlp_s": best["fastmlp"], "sklearn_s": best["sklearn"],
        "median_s": med, "speedup": speedup,
        "speedup_paired_median": float(np.median(s["sklearn"] / s["fastmlp"])),
        "gemms_s": best["gemms"], "speedup_if_only_gemms": best["sklearn"] / best["gemms"],
        "noise": float(max(med[k] / best[k] - 1 for k in KINDS)),
        "target": cfg.target_text(), "target_met": bool(speedup >= cfg.target_speedup),
        "accuracy": {k: ev[k]["accuracy"] for k in KINDS},
        "loss": {k: ev[k]["loss"] for k in KINDS},
        "n_iter": {k: ev[k]["n_iter"] for k in KINDS},
        "prediction_agreement": agreement(ev["fastmlp"], ev["sklearn"]),
        "min_accuracy": scale.min_accuracy, "problems": issues,
        "per_round_s": {k: [float(x) for x in v] for k, v in s.items()},
    }


# -- the table ----------------------------------------------------------------

HEADER = ("config", "solver", "data", "ours s", "(median)", "sklearn s", "(median)",
          "speedup", "(paired)", "target", "met", "GEMMs s", "ceiling", "ours acc",
          "sklearn acc", "agree", "noise")


def fmt_s(x):
    return f"{x:.3f}" if x >= 1 else f"{x:.4f}"


def row(res):
    return (res["config"], res["solver"],
            f"{res['n_train']}x{res['n_features']} {res['epochs']}ep",
            fmt_s(res["fastmlp_s"]), fmt_s(res["median_s"]["fastmlp"]),
            fmt_s(res["sklearn_s"]), fmt_s(res["median_s"]["sklearn"]),
            f"{res['speedup']:.2f}x", f"{res['speedup_paired_median']:.2f}x",
            res["target"], "met" if res["target_met"] else "MISSED",
            fmt_s(res["gemms_s"]), f"{res['speedup_if_only_gemms']:.2f}x",
            f"{res['accuracy']['fastmlp']:.4f}", f"{res['accuracy']['sklearn']:.4f}",
            f"{100 * res['prediction_agreement']:.1f}%", f"{100 * res['noise']:.1f}%")


def blas_libraries():
    """``_bench.blas_info()``, NumPy's BLAS labelled as scikit-learn's here."""
    libs = _bench.blas_info()
    for lib in libs:
        if lib["used_by"] == "numpy: reference":
            lib["used_by"] = "numpy: scikit-learn"
    return libs


def run_report(chosen, repeat=None, json_path=None, strict=False, file=None):
    """Measure ``chosen`` with one BLAS thread, print machine, table and
    checks; the exit status (1 with ``strict`` if a target or check failed)."""
    out = file if file is not None else sys.stdout

    def say(text=""):
        print(text, file=out)

    t_start = time.perf_counter()
    load_start = _bench.load_average()   # None where the OS has no load average
    with _bench.blas_single_thread():
        blas = blas_libraries()
        machine = _bench.machine_summary()
        machine["scikit-learn"] = sklearn.__version__
        openmp = [{k: lib.get(k) for k in ("internal_api", "version", "num_threads", "filepath")}
                  for lib in threadpool_info() if lib.get("user_api") == "openmp"]
        say("BLAS libraries (threadpoolctl, inside threadpool_limits(1, user_api='blas')):")
        for lib in blas:
            say(f"  {lib['internal_api']} {lib['version']}  architecture={lib['architecture']}"
                f"  threads={lib['num_threads']}  threading={lib['threading_layer']}"
                f"  [{lib['used_by']}]  {os.path.basename(str(lib['filepath']))}")
        for lib in openmp:
            say(f"  (OpenMP, not used by either MLP: {lib['internal_api']} "
                f"threads={lib['num_threads']} {os.path.basename(str(lib['filepath']))})")
        say(f"fastmlp elementwise kernels: {_train.simd_active()} path")
        say(f"CPU: {machine['cpu']} ({machine['cpu_count']} logical)  "
            f"OPENBLAS_CORETYPE={machine['OPENBLAS_CORETYPE']}  "
            f"OPENBLAS_L2_SIZE={machine['OPENBLAS_L2_SIZE']}"
            + ("" if load_start is None else
               f"  load average at start {load_start[0]:.2f} {load_start[1]:.2f} "
               f"{load_start[2]:.2f}"))
        say(f"fastmlp {machine['fastmlp']}, scikit-learn {sklearn.__version__}, "
            f"numpy {machine['numpy']}, python {machine['python']}")
        if any(lib["num_threads"] != 1 for lib in blas):
            say("WARNING: a BLAS library is not limited to one thread")
        say("Time of one whole fit (X float64, or float32 for the _f32 configs) = min over interleaved rounds (fastmlp and "
            "scikit-learn alternated, order rotating), then the median; speedup = "
            "sklearn min / ours min; paired = median of per-round ratios; GEMMs = the "
            "fit's matrix products alone (fastmlp's calls, nothing else), timed in the same "
            "rounds; ceiling = sklearn min / GEMMs min, the most any implementation making "
            "these calls could reach; noise = worst (median/min - 1).\n")
        out.flush()

        results = []
        for cfg in chosen:
            rounds = repeat if repeat is not None else cfg.report_rounds
            results.append(measure_config(cfg, rounds))
        _bench.print_table([row(r) for r in results], HEADER, file=out)

    elapsed = time.perf_counter() - t_start
    load_end = _bench.load_average()
    say(f"\n{len(results)} configs in {elapsed:.1f} s"
        + ("" if load_end is None else
           f"; load average at end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}"))
    issues = [p for r in results for p in r["problems"]]
    if issues:
        for p in issues:
            say(f"CHECK FAILED: {p}")
    else:
        say(f"checks: n_iter_ == epochs, test accuracy >= each config's floor, accuracies "
            f"within {100 * ACCURACY_TOLERANCE:g} pp: all passed")
    _bench.finish_report(say, results, json_path, {
        "blas": blas, "openmp": openmp, "machine": machine,
        "load_average": {"start": load_start, "end": load_end},
        "statistic": "min over interleaved rounds of whole-fit time",
        "elapsed_s": elapsed, "results": results})
    out.flush()
    missed = [r["config"] for r in results if not r["target_met"]]
    return 1 if (strict and (missed or issues)) else 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", default=None,
                   help=f"comma-separated subset of {','.join(CONFIGS)} (default: all)")
    p.add_argument("--repeat", type=int, default=None,
                   help="interleaved rounds per config (default: 10 for digits, "
                        "3 for synthetic)")
    p.add_argument("--json", metavar="PATH", default=None, help="also write the results here")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 if a target is missed or a check fails")
    args = p.parse_args(argv)
    try:
        chosen = select(args.configs)
    except ValueError as exc:
        p.error(str(exc))
    if args.repeat is not None and args.repeat < 1:
        p.error("--repeat must be >= 1")
    return run_report(chosen, args.repeat, json_path=args.json, strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
