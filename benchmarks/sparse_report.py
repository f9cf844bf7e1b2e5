"""Sparse X: whole fits on TF-IDF-like CSR data, each contender in its own
child process (fit time and peak RSS, ru_maxrss), one BLAS thread.

Contenders, on the same data and hyperparameters:
- ``sklearn``: scikit-learn's MLPClassifier;
- ``fastmlp.sklearn``: the drop-in MLPClassifier (sparse X to the kernels);
- ``fastmlp.MLP``: the same network through fastmlp's own fit (adam).
And the dense/sparse cross-over: fastmlp.MLP on the same matrix passed as
CSR and densified, across densities, on a matrix small enough to densify.

Run: ``taskset -c 1 env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
python benchmarks/sparse_report.py [--rows 20000 --cols 100000 --epochs 10
--repeats 3]``. Runs alternate between contenders and the minimum over
repeats is reported (the machine may be shared). Prints ``lscpu``'s flags.
"""
import argparse
import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import json, resource, sys, time, warnings
    import numpy as np, scipy.sparse as sp
    from threadpoolctl import threadpool_limits
    warnings.simplefilter("ignore")
    kind, rows, cols, nnz_row, classes, solver, epochs, density = sys.argv[1:9]
    rows, cols, nnz_row, classes, epochs = map(int, (rows, cols, nnz_row, classes, epochs))
    rng = np.random.default_rng(0)
    if kind.startswith("crossover"):
        X = sp.random(rows, cols, density=float(density), random_state=0, format="csr",
                      dtype=np.float64)
    else:
        indptr = np.arange(0, (rows + 1) * nnz_row, nnz_row, dtype=np.int64)
        indices = np.sort(rng.integers(0, cols, (rows, nnz_row)), axis=1).ravel()
        data = rng.random(rows * nnz_row)
        X = sp.csr_matrix((data, indices.astype(np.int32), indptr), shape=(rows, cols))
        X.sum_duplicates()
        X = sp.diags(1 / np.sqrt(X.multiply(X).sum(axis=1).A.ravel())) @ X
    y = rng.integers(0, classes, rows)
    params = dict(hidden_layer_sizes=(100,), solver=solver, batch_size=200,
                  max_iter=epochs, tol=0, random_state=0)
    with threadpool_limits(1):
        if kind == "sklearn":
            from sklearn.neural_network import MLPClassifier
            est = MLPClassifier(**params)
            fit = lambda: est.fit(X, y)
        elif kind == "fastmlp.sklearn":
            from fastmlp.sklearn import MLPClassifier
            est = MLPClassifier(**params)
            fit = lambda: est.fit(X, y)
        else:
            import fastmlp
            net = fastmlp.MLP([cols, 100, classes], loss="cross_entropy", seed=0,
                              dtype="float64")
            Xin = X.toarray() if kind == "crossover-dense" else X
            fit = lambda: net.fit(Xin, y, epochs=epochs, batch_size=200, lr=1e-3,
                                  optimizer="adam")
        start = time.perf_counter()
        fit()
        seconds = time.perf_counter() - start
    print(json.dumps(dict(seconds=seconds,
                          peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
""")


def run(kind, args, solver="adam", density=0.0, rows=None, cols=None):
    argv = [sys.executable, "-c", CHILD, kind, str(rows or args.rows), str(cols or args.cols),
            str(args.nnz), str(args.classes), solver, str(args.epochs), str(density)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(kind, args, **kw):
    results = [run(kind, args, **kw) for _ in range(args.repeats)]
    return (min(r["seconds"] for r in results), min(r["peak_mb"] for r in results))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--cols", type=int, default=100000)
    ap.add_argument("--nnz", type=int, default=100)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--crossover-rows", type=int, default=2000)
    ap.add_argument("--crossover-cols", type=int, default=2000)
    args = ap.parse_args()
    flags = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    print(next((ln for ln in flags.splitlines() if ln.startswith("Flags")), "Flags: ?"))
    print(f"{args.rows} x {args.cols} CSR, {args.nnz} nnz/row, {args.classes} classes, "
          f"hidden (100,), batch 200, {args.epochs} epochs, min of {args.repeats}")
    print(f"{'solver':6} {'contender':16} {'fit s':>8} {'peak MB':>8} {'speedup':>8}")
    for solver in ("adam", "sgd"):
        kinds = ["sklearn", "fastmlp.sklearn"] + (["fastmlp.MLP"] if solver == "adam" else [])
        figures = {}
        for _ in range(args.repeats):      # alternate contenders
            for kind in kinds:
                r = run(kind, args, solver)
                old = figures.get(kind, (float("inf"), float("inf")))
                figures[kind] = (min(old[0], r["seconds"]), min(old[1], r["peak_mb"]))
        for kind in kinds:
            s, mb = figures[kind]
            print(f"{solver:6} {kind:16} {s:8.2f} {mb:8.0f} "
                  f"{figures['sklearn'][0] / s:7.1f}x")
    print(f"cross-over: fastmlp.MLP adam, {args.crossover_rows} x {args.crossover_cols}, "
          f"CSR vs densified input")
    print(f"{'density':>8} {'sparse s':>9} {'dense s':>9} {'dense/sparse':>13}")
    for density in (0.001, 0.01, 0.03, 0.1, 0.3):
        kw = dict(density=density, rows=args.crossover_rows, cols=args.crossover_cols)
        s = best("crossover-sparse", args, **kw)[0]
        d = best("crossover-dense", args, **kw)[0]
        print(f"{density:8.3f} {s:9.3f} {d:9.3f} {d / s:12.2f}x")


if __name__ == "__main__":
    main()
