"""sha256 digests of fitted models, for proving a change of structure kept
every trajectory bit for bit.

    python tools/trajectory_digest.py > before.json      # on the old tree
    python tools/trajectory_digest.py > after.json       # on the new one
    python tools/trajectory_digest.py --compare before.json after.json

Each case trains through public API only (fastmlp.MLP, fastmlp.sklearn, the
command line; with --mpi also fit(comm=...) and ``fastmlp train`` under
mpiexec) and digests every array the fit leaves (parameters, optimizer
state, history, metrics without their timings) and what the fitted model
answers (forward, predict, loss, gradients, layer_stats). The cases cover
every update rule, loss and target kind, float32, float64 and bfloat16
products, dense and CSR input, sample and class weights, schedules, early
stopping, steps whose batch spans several workspace chunks, and every
estimator solver. Threads are pinned to one (BLAS sums are reordered by
thread count).
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402


def digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"None")
            continue
        if isinstance(a, (list, tuple)) and not (a and isinstance(a[0], (float, int))):
            h.update(digest(*a).encode())
            continue
        a = np.ascontiguousarray(np.asarray(a))
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:24]


def model_digest(net, X, y):
    metrics = [sorted((k, v) for k, v in m.items()
                      if k not in ("seconds", "samples_per_second"))
               for m in net.metrics]
    grads = net.gradients(X, y)
    out = {
        "params": digest(net.params),
        "velocity": digest(net.velocity),
        "second_moment": digest(net.second_moment),
        "steps": net.optimizer_steps,
        "history": digest(np.array(net.history, dtype=np.float64)),
        "metrics": digest(repr(metrics).encode()),
        "best_epoch": net.best_epoch,
        "forward": digest(net.forward(X)),
        "predict": digest(net.predict(X)),
        "loss": repr(net.loss(X, y)),
        "gradients": digest(grads[0], grads[1]),
        "layer_stats": digest(net.layer_stats(X, y).table
                              if hasattr(net.layer_stats(X, y), "table") else
                              repr(net.layer_stats(X, y)).encode()),
    }
    return digest(repr(sorted(out.items())).encode()), out


def data(kind, n=90, d=7, k=4, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if kind == "mse":
        y = rng.standard_normal((n, k))
    elif kind == "labels":
        y = rng.integers(0, k, n)
    elif kind == "proba":
        y = rng.dirichlet(np.ones(k), n)
    elif kind == "bce":
        y = rng.integers(0, 2, (n, k)).astype(float)
    return X.astype(dtype), y


LOSS_OF = {"mse": "mse", "labels": "cross_entropy", "proba": "cross_entropy",
           "bce": "binary_cross_entropy"}


def mlp_cases():
    import scipy.sparse
    import fastmlp
    cases = {}

    def run(name, target, dtype="float32", matmul=None, sparse=False, fit_kw=None,
            net_kw=None, n=90, sizes=(7, 11, 9, 4), fits=1):
        X, y = data(target, n=n, d=sizes[0], k=sizes[-1])
        net = fastmlp.MLP(list(sizes), loss=LOSS_OF[target], dtype=dtype, seed=3,
                          matmul_dtype=matmul, **(net_kw or {}))
        Xf = scipy.sparse.csr_matrix(np.where(np.abs(X) > 0.8, X, 0)) if sparse else X
        for _ in range(fits):
            net.fit(Xf, y, **{"epochs": 3, "batch_size": 16, **(fit_kw or {})})
        cases[name] = model_digest(net, Xf, y)[0]

    for dtype in ("float32", "float64"):
        for target in ("mse", "labels", "proba", "bce"):
            for opt in ("momentum", "nesterov", "adam"):
                run(f"mlp/{dtype}/{target}/{opt}", target, dtype,
                    fit_kw={"optimizer": opt, "lr": 0.05})
        run(f"mlp/{dtype}/sparse/labels", "labels", dtype, sparse=True)
        run(f"mlp/{dtype}/sparse/adam/mse", "mse", dtype, sparse=True,
            fit_kw={"optimizer": "adam"})
        run(f"mlp/{dtype}/fullbatch", "labels", dtype, fit_kw={"batch_size": None})
        run(f"mlp/{dtype}/sgd1", "mse", dtype, fit_kw={"batch_size": 1, "epochs": 1})
        run(f"mlp/{dtype}/noshuffle_twice", "labels", dtype,
            fit_kw={"shuffle": False, "epochs": 1}, fits=2)
        run(f"mlp/{dtype}/sample_weight", "labels", dtype,
            fit_kw={"sample_weight": np.linspace(0, 2, 90)})
        run(f"mlp/{dtype}/class_weight", "labels", dtype,
            fit_kw={"class_weight": "balanced", "optimizer": "adam"})
        run(f"mlp/{dtype}/schedule", "mse", dtype,
            fit_kw={"lr": lambda e: 0.02 / (1 + e), "optimizer": "nesterov"})
        Xv, yv = data("labels", n=30, seed=5)
        run(f"mlp/{dtype}/early_stopping", "labels", dtype,
            fit_kw={"validation_data": (Xv, yv), "patience": 2, "epochs": 12,
                    "lr": 0.3})
        run(f"mlp/{dtype}/l2_tanh", "mse", dtype,
            net_kw={"l2": 1e-2, "activation": "tanh", "output": "tanh"})
        run(f"mlp/{dtype}/sigmoid_leaky", "bce", dtype,
            net_kw={"activation": ["sigmoid", "leaky_relu"]})
        # A step whose batch spans several workspace chunks (formed step).
        run(f"mlp/{dtype}/multichunk", "labels", dtype, sizes=(6, 2000, 3), n=6000,
            fit_kw={"batch_size": None, "epochs": 2})
        run(f"mlp/{dtype}/multichunk_adam", "mse", dtype, sizes=(6, 2000, 3), n=6000,
            fit_kw={"batch_size": 6000, "epochs": 2, "optimizer": "adam",
                    "sample_weight": np.linspace(0.5, 1, 6000)})
    try:
        fastmlp.MLP([2, 2], matmul_dtype="bfloat16")
    except ImportError:
        return cases
    for target in ("mse", "labels", "bce"):
        for opt in ("momentum", "adam"):
            run(f"mlp/bf16/{target}/{opt}", target, "float32", matmul="bfloat16",
                fit_kw={"optimizer": opt})
    run("mlp/bf16/sparse", "labels", "float32", matmul="bfloat16", sparse=True)
    run("mlp/bf16/multichunk", "labels", "float32", matmul="bfloat16", sizes=(6, 2000, 3),
        n=6000, fit_kw={"batch_size": None, "epochs": 2})
    return cases


def estimator_cases():
    import scipy.sparse
    from fastmlp.sklearn import MLPClassifier, MLPRegressor
    cases = {}

    def arrays(est):
        parts = [est.coefs_, est.intercepts_, np.array(est.loss_curve_)
                 if hasattr(est, "loss_curve_") else None]
        if getattr(est, "validation_scores_", None) is not None:
            parts.append(np.array(est.validation_scores_, dtype=float))
        return parts

    X, y = data("labels", n=120, d=8, k=3)
    Xr, yr = data("mse", n=120, d=8, k=2)
    Xs = scipy.sparse.csr_matrix(np.where(np.abs(X) > 0.7, X, 0))
    for solver in ("sgd", "adam", "lbfgs"):
        for nesterov in ((True, False) if solver == "sgd" else (True,)):
            kw = dict(hidden_layer_sizes=(10, 6), solver=solver, random_state=0,
                      max_iter=15, batch_size=16)
            if solver == "sgd":
                kw.update(nesterovs_momentum=nesterov, learning_rate="adaptive")
            tag = f"{solver}{'' if nesterov else '_plain'}"
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                c = MLPClassifier(**kw).fit(X, y)
                cases[f"sk/clf/{tag}"] = digest(*arrays(c), c.predict_proba(X))
                r = MLPRegressor(**kw).fit(Xr, yr)
                cases[f"sk/reg/{tag}"] = digest(*arrays(r), r.predict(Xr))
                cs = MLPClassifier(**kw).fit(Xs, y)
                cases[f"sk/clf_sparse/{tag}"] = digest(*arrays(cs), cs.predict_proba(Xs))
                c32 = MLPClassifier(**kw).fit(X.astype(np.float32), y)
                cases[f"sk/clf32/{tag}"] = digest(*arrays(c32),
                                                  c32.predict_proba(X.astype(np.float32)))
                if solver != "lbfgs":
                    es = MLPClassifier(**{**kw, "early_stopping": True,
                                          "max_iter": 30}).fit(X, y)
                    cases[f"sk/clf_es/{tag}"] = digest(*arrays(es))
                    sw = MLPClassifier(**kw).fit(X, y, sample_weight=np.linspace(0, 2, 120))
                    cases[f"sk/clf_sw/{tag}"] = digest(*arrays(sw))
                    p = MLPClassifier(**kw)
                    for _ in range(3):
                        p.partial_fit(X, y, classes=[0, 1, 2])
                    cases[f"sk/clf_partial/{tag}"] = digest(*arrays(p))
    return cases


def cli_cases():
    cases = {}
    X, y = data("labels", n=80, d=5, k=3)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "d.csv")
        cols = [f"f{i}" for i in range(5)] + ["target"]
        np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=",".join(cols),
                   comments="", fmt="%.17g")
        for extra in ([], ["--dtype", "float64", "--loss", "cross_entropy"]):
            model = os.path.join(tmp, "m.npz")
            env = {**os.environ, "PYTHONHASHSEED": "0"}
            subprocess.run([sys.executable, "-m", "fastmlp.cli", "train", path,
                            "--save", model, "--seed", "1", "--quiet", *extra],
                           check=True, env=env, capture_output=True)
            pred = subprocess.run([sys.executable, "-m", "fastmlp.cli", "predict", model,
                                   path, "--proba"], check=True, env=env,
                                  capture_output=True).stdout
            cases[f"cli/train_predict/{'-'.join(extra) or 'default'}"] = digest(pred)
    return cases


MPI_SCRIPT = r"""
import sys, json, numpy as np
sys.path.insert(0, sys.argv[1])
from trajectory_digest import data, model_digest
from mpi4py import MPI
import fastmlp
comm = MPI.COMM_WORLD
out = {}
for dtype, matmul, opt in (("float32", None, "momentum"), ("float64", None, "adam"),
                           ("float32", "bfloat16", "momentum")):
    try:
        net = fastmlp.MLP([7, 11, 4], loss="cross_entropy", dtype=dtype, seed=3,
                          matmul_dtype=matmul)
    except ImportError:
        continue
    X, y = data("labels", n=90, d=7, k=4)
    lo, hi = 90 * comm.rank // comm.size, 90 * (comm.rank + 1) // comm.size
    net.fit(X[lo:hi], y[lo:hi], epochs=3, batch_size=8, optimizer=opt, comm=comm)
    out[f"mpi/{dtype}/{matmul}/{opt}"] = model_digest(net, X, y)[0]
if comm.rank == 0:
    print(json.dumps(out))
"""


def mpi_cases():
    here = os.path.dirname(os.path.abspath(__file__))
    tests = os.path.join(here, os.pardir, "tests")
    sys.path.insert(0, tests)
    import mpi_launch
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "job.py")
        with open(script, "w") as f:
            f.write(MPI_SCRIPT)
        env = {**os.environ, **mpi_launch.settings()}
        done = subprocess.run([mpi_launch.mpiexec(), "-n", "2", sys.executable, "-m",
                               "mpi4py", script, here], env=env, capture_output=True,
                              text=True, timeout=300)
        if done.returncode:
            raise SystemExit(done.stderr)
        return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    parser.add_argument("--mpi", action="store_true", help="also the data-parallel cases")
    args = parser.parse_args()
    if args.compare:
        before, after = (json.load(open(p)) for p in args.compare)
        keys = sorted(set(before) | set(after))
        differ = [k for k in keys if before.get(k) != after.get(k)]
        print(f"{len(keys)} cases, {len(keys) - len(differ)} identical, "
              f"{len(differ)} differ")
        for k in differ:
            print(f"  {k}: {before.get(k)} -> {after.get(k)}")
        return 1 if differ else 0
    cases = {}
    cases.update(mlp_cases())
    cases.update(estimator_cases())
    cases.update(cli_cases())
    if args.mpi:
        cases.update(mpi_cases())
    json.dump(cases, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
