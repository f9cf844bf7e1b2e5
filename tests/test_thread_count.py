"""How many threads a call runs on (n_threads, n_jobs, --threads) and what
the call leaves behind.

- Resolution (fastmlp.execution.threads.resolve): explicit counts as given,
  -1 the cores of the CPU affinity, invalid values refused with a message;
  None: one thread for a small network, else the affinity's cores within
  the caller's BLAS limit (threadpoolctl's, and joblib's in its workers:
  GridSearchCV's folds each run on one thread), and one in a process whose
  affinity is a single core.
- A call sets scipy's OpenBLAS (and the calling thread's OpenMP, for
  oneDNN's bfloat16 products) to one thread while it runs, and restores
  them afterwards, also when the fit raises; the pool's threads are joined.
- n_threads is not saved with a model; the reference accepts it.
- The command line's --threads.

That a fit gives the same model for every thread count is tested with the
kernels' threads.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import fastmlp
from fastmlp import reference
from fastmlp.execution import threads as _threads
from fastmlp.network import bf16lib
from fastmlp.training.epoch import step_flops

TINY = ([64, 64, 10], 32)          # the digits network, batch 32
LARGE = ([784, 256, 128, 10], 128)  # well above THREAD_MIN_FLOPS per step


def _scipy_blas_threads():
    """scipy's OpenBLAS thread count as threadpoolctl reads it (numpy's own
    copy, openblas64_, is another library)."""
    found = [lib["num_threads"] for lib in threadpool_info()
             if "libscipy_openblas" in os.path.basename(lib["filepath"])
             and "openblas64_" not in os.path.basename(lib["filepath"])]
    if not found:
        pytest.skip("scipy's BLAS is not the scipy-openblas wheel's here")
    return found[0]


def _data(sizes, n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, sizes[0])).astype(np.float32),
            rng.integers(0, sizes[-1], n))


def _tasks():
    return len(os.listdir("/proc/self/task"))


@pytest.fixture
def two_blas_threads():
    """scipy's OpenBLAS at two threads for the test, whatever an earlier
    test left: a count a call failed to restore is then seen as 1."""
    with threadpool_limits(2, user_api="blas"):
        if _scipy_blas_threads() != 2:
            pytest.skip("scipy's OpenBLAS cannot run two threads here")
        yield


def test_the_sizes_are_on_either_side_of_the_threshold():
    assert step_flops(*TINY) < _threads.THREAD_MIN_FLOPS <= step_flops(*LARGE)


# -- resolution ------------------------------------------------------------------

@pytest.mark.parametrize("requested", [1, 2, 3, 7, np.int64(2)])
def test_an_explicit_count_is_taken_as_given(requested):
    for flops in (0, step_flops(*TINY), step_flops(*LARGE)):
        assert _threads.resolve(requested, flops) == int(requested)


def test_minus_one_is_every_core_of_the_affinity():
    assert _threads.resolve(-1, 0) == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError), (-10, ValueError),
                                        (True, TypeError), (False, TypeError),
                                        (1.0, TypeError), (2.5, TypeError), ("2", TypeError)])
def test_invalid_requests_are_refused(bad, error):
    with pytest.raises(error, match=r"n_threads must be None \(automatic\), -1"):
        _threads.resolve(bad, 0)
    with pytest.raises(error, match="n_threads"):
        fastmlp.MLP([4, 3], n_threads=bad)
    with pytest.raises(error, match="n_threads"):
        reference.MLP([4, 3], n_threads=bad)
    net = fastmlp.MLP([4, 3], n_threads=2)
    with pytest.raises(error, match="n_threads"):
        net.n_threads = bad
    assert net.n_threads == 2  # a refused value changes nothing


def test_automatic_is_one_thread_for_a_small_network():
    assert _threads.resolve(None, step_flops(*TINY)) == 1
    X, y = _data(TINY[0], 256)
    net = fastmlp.MLP(TINY[0], loss="cross_entropy", seed=0).fit(X, y, epochs=1,
                                                                batch_size=TINY[1])
    assert net.n_threads is None and net.n_threads_ == 1


def test_automatic_is_the_affinity_within_the_blas_limit_for_a_large_network(
        two_blas_threads):
    expected = min(len(os.sched_getaffinity(0)), _scipy_blas_threads())
    assert _threads.resolve(None, step_flops(*LARGE)) == expected
    X, y = _data(LARGE[0], 2 * LARGE[1])
    net = fastmlp.MLP(LARGE[0], loss="cross_entropy", seed=0)
    net.fit(X, y, epochs=1, batch_size=LARGE[1])
    assert net.n_threads_ == expected


def test_automatic_follows_a_threadpoolctl_limit():
    X, y = _data(LARGE[0], 2 * LARGE[1])
    with threadpool_limits(1, user_api="blas"):
        assert _threads.resolve(None, step_flops(*LARGE)) == 1
        net = fastmlp.MLP(LARGE[0], loss="cross_entropy", seed=0)
        net.fit(X, y, epochs=1, batch_size=LARGE[1])
        assert net.n_threads_ == 1
        # An explicit count is the caller's own decision.
        assert _threads.resolve(2, step_flops(*LARGE)) == 2


def test_automatic_is_one_thread_on_an_affinity_of_one_core():
    code = textwrap.dedent(f"""
        import os
        os.sched_setaffinity(0, {{0}})
        import numpy as np
        import fastmlp
        from fastmlp.execution import threads
        from fastmlp.training.epoch import step_flops
        rng = np.random.default_rng(0)
        X = rng.standard_normal((256, 784)).astype(np.float32)
        y = rng.integers(0, 10, 256)
        net = fastmlp.MLP({LARGE[0]}, loss="cross_entropy", seed=0)
        net.fit(X, y, epochs=1, batch_size={LARGE[1]})
        print(threads.resolve(None, step_flops({LARGE[0]}, {LARGE[1]})),
              threads.resolve(-1, 0), net.n_threads_)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1", "1"]


def test_inference_runs_on_the_threads_of_its_chunk(monkeypatch):
    """forward, loss and gradients resolve their count from the size of one
    chunk of the call: a large call on the count asked for, one row on one
    thread when automatic."""
    entered = []

    class Spy(_threads.CallThreads):
        def __init__(self, n):
            entered.append(n)
            super().__init__(n)

    monkeypatch.setattr(_threads, "CallThreads", Spy)
    X, y = _data(LARGE[0], 512)
    net = fastmlp.MLP(LARGE[0], loss="cross_entropy", seed=0, n_threads=2)
    expected = net.forward(X)
    for call in (lambda: net.forward(X), lambda: net.predict(X),
                 lambda: net.loss(X, y), lambda: net.gradients(X, y)):
        entered.clear()
        call()
        assert entered == [2]
    np.testing.assert_array_equal(net.forward(X), expected)
    net.n_threads = None
    entered.clear()
    net.forward(X[:1])
    assert entered == [1]
    # Every product small enough that BLAS runs it on one thread itself:
    # the call runs as it is, with nothing to set.
    small = fastmlp.MLP(TINY[0], loss="cross_entropy", seed=0)
    entered.clear()
    small.forward(np.ones((1, TINY[0][0])))
    assert entered == []
    small.forward(np.ones((64, TINY[0][0])))
    assert entered == [1]


# -- scikit-learn ------------------------------------------------------------------

def test_n_jobs_is_a_parameter_and_is_validated():
    from fastmlp.sklearn import MLPClassifier, MLPRegressor

    for cls in (MLPClassifier, MLPRegressor):
        assert cls().get_params()["n_jobs"] is None
        assert cls(n_jobs=2).get_params()["n_jobs"] == 2
    X, y = _data([8, 3], 40)
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match="n_jobs"):
            MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, n_jobs=bad).fit(X, y)
    with pytest.raises(TypeError, match="n_jobs"):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, n_jobs=True).fit(X, y)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_n_jobs_gives_the_fits_threads(solver):
    from fastmlp.sklearn import MLPClassifier

    X, y = _data([64, 10], 256)
    common = dict(hidden_layer_sizes=(256, 256), max_iter=2, batch_size=200,
                  solver=solver, random_state=0)
    with pytest.warns(Warning):  # max_iter=2 does not converge
        explicit = MLPClassifier(n_jobs=2, **common).fit(X, y)
    assert explicit.n_threads_ == 2
    with threadpool_limits(1, user_api="blas"), pytest.warns(Warning):
        limited = MLPClassifier(**common).fit(X, y)
    assert limited.n_threads_ == 1
    np.testing.assert_array_equal(limited.predict_proba(X), explicit.predict_proba(X))


def _fit_threads(estimator, X, y):
    return estimator.n_threads_


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer")  # max_iter=1 does not converge
def test_grid_search_folds_run_on_one_thread_each(two_blas_threads):
    """joblib's loky workers get cpu_count // n_jobs BLAS threads (one each
    of two workers on two cores): each fold's automatic count follows it,
    where the same fit in this process takes the affinity's cores."""
    import joblib
    from sklearn.model_selection import GridSearchCV

    from fastmlp.sklearn import MLPClassifier

    per_worker = max(1, joblib.cpu_count() // 2)
    X, y = _data([64, 10], 300)
    est = MLPClassifier(hidden_layer_sizes=(256, 256), batch_size=200, max_iter=1,
                        random_state=0)
    assert step_flops([64, 256, 256, 10], 200) >= _threads.THREAD_MIN_FLOPS
    here = est.fit(X, y).n_threads_
    if here <= per_worker:
        pytest.skip(f"{here} thread(s) in this process: a limit of {per_worker} per "
                    f"worker cannot be seen")
    search = GridSearchCV(est, {"alpha": [1e-4, 1e-3]}, cv=2, n_jobs=2,
                          scoring=_fit_threads, error_score="raise")
    search.fit(X, y)
    for split in range(2):
        assert list(search.cv_results_[f"split{split}_test_score"]) == [per_worker] * 2


# -- what a call leaves behind ------------------------------------------------------

def _counts():
    omp = bf16lib.openmp_threads()
    return _scipy_blas_threads(), (omp.get() if omp is not None else None)


def test_fit_sets_one_blas_thread_inside_and_restores_the_count(two_blas_threads):
    X, y = _data(LARGE[0], 4 * LARGE[1])
    before, tasks_before = _counts(), _tasks()
    assert before[0] == 2
    inside = []

    def look(net, metrics):
        inside.append((_scipy_blas_threads(), _tasks()))

    net = fastmlp.MLP(LARGE[0], loss="cross_entropy", seed=0, n_threads=2)
    net.fit(X, y, epochs=2, batch_size=LARGE[1], callback=look)
    # One more thread while the fit ran (the pool's), BLAS at one thread.
    assert inside == [(1, tasks_before + 1)] * 2
    assert _counts() == before
    assert _tasks() == tasks_before


@pytest.mark.parametrize("n_threads", [1, 2])
def test_counts_and_threads_are_restored_when_fit_raises(n_threads, two_blas_threads):
    X, y = _data(LARGE[0], 4 * LARGE[1])
    before, tasks_before = _counts(), _tasks()

    def fail(net, metrics):
        raise RuntimeError("stop here")

    net = fastmlp.MLP(LARGE[0], loss="cross_entropy", seed=0, n_threads=n_threads)
    with pytest.raises(RuntimeError, match="stop here"):
        net.fit(X, y, epochs=3, batch_size=LARGE[1], callback=fail)
    assert _counts() == before
    assert _tasks() == tasks_before
    assert len(net.history) == 1


def test_a_small_fit_runs_blas_on_one_thread(two_blas_threads):
    """Also on one thread (a small network): BLAS threads waiting for a
    busy core make small fits several times slower."""
    X, y = _data(TINY[0], 256)
    seen = []
    fastmlp.MLP(TINY[0], loss="cross_entropy", seed=0).fit(
        X, y, epochs=1, batch_size=TINY[1],
        callback=lambda net, metrics: seen.append(_scipy_blas_threads()))
    assert seen == [1]
    assert _scipy_blas_threads() == 2


def _counts_in_child():
    before = _scipy_blas_threads()
    X, y = _data(TINY[0], 64)
    fastmlp.MLP(TINY[0], loss="cross_entropy", seed=0).fit(X, y, epochs=1)
    return before, _scipy_blas_threads()


def test_a_child_forked_during_a_fit_has_the_callers_count(two_blas_threads):
    """A process forked while a fit runs in another thread does not inherit
    the fit's lowered count (its threads are not in the child), and its
    own fits restore the caller's."""
    import multiprocessing
    import threading

    inside, release = threading.Event(), threading.Event()

    def hold(net, metrics):
        inside.set()
        assert release.wait(60)

    X, y = _data(TINY[0], 64)
    fit = threading.Thread(target=lambda: fastmlp.MLP(TINY[0], loss="cross_entropy", seed=0)
                           .fit(X, y, epochs=1, callback=hold))
    fit.start()
    try:
        assert inside.wait(60)
        assert _scipy_blas_threads() == 1
        with multiprocessing.get_context("fork").Pool(1) as pool:
            child = pool.apply(_counts_in_child)
    finally:
        release.set()
        fit.join()
    assert child == (2, 2)
    assert _scipy_blas_threads() == 2


def test_the_openmp_of_bfloat16_products_is_one_thread_inside():
    if not bf16lib.available():
        pytest.skip("no bfloat16 library installed")
    if bf16lib.openmp_threads() is None:
        pytest.skip(f"the bfloat16 library here ({bf16lib.library()[0]}) runs no OpenMP")
    omp = bf16lib.openmp_threads()
    X, y = _data(LARGE[0], 4 * LARGE[1])
    before = omp.get()
    omp.set(2)  # whatever an earlier call left: a count not restored is seen
    try:
        seen = []
        net = fastmlp.MLP(LARGE[0], loss="cross_entropy", seed=0, matmul_dtype="bfloat16",
                          n_threads=2)
        net.fit(X, y, epochs=1, batch_size=LARGE[1],
                callback=lambda net, metrics: seen.append(omp.get()))
        assert seen == [1]
        assert omp.get() == 2
    finally:
        omp.set(before)


# -- not saved; the reference ----------------------------------------------------------

def test_n_threads_is_not_saved(tmp_path):
    X, y = _data([8, 16, 3], 64)
    net = fastmlp.MLP([8, 16, 3], loss="cross_entropy", seed=0, n_threads=2)
    net.fit(X, y, epochs=1)
    assert net.n_threads_ == 2
    net.save(tmp_path / "m.npz")
    loaded = fastmlp.MLP.load(tmp_path / "m.npz")
    assert loaded.n_threads is None and loaded.n_threads_ is None
    np.testing.assert_array_equal(loaded.params, net.params)
    with np.load(tmp_path / "m.npz") as f:
        header = json.loads(f["header"].tobytes())
        assert "layer_sizes" in header
        assert not any("thread" in key for key in list(header) + f.files)


def test_the_reference_accepts_n_threads():
    X, y = _data([8, 16, 3], 64)
    a = reference.MLP([8, 16, 3], loss="cross_entropy", seed=0, n_threads=2)
    b = reference.MLP([8, 16, 3], loss="cross_entropy", seed=0)
    assert a.n_threads == 2 and b.n_threads is None
    a.fit(X, y, epochs=2)
    b.fit(X, y, epochs=2)
    np.testing.assert_array_equal(a.params, b.params)
    assert a.n_threads_ == 1  # NumPy's arithmetic: none of the kernels' threads


# -- the command line --------------------------------------------------------------------

def _run_cli(cwd, *args):
    return subprocess.run([sys.executable, "-m", "fastmlp", *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    np.save(tmp_path / "data.npy", np.column_stack([X, y]))
    return tmp_path


@pytest.mark.parametrize("threads", ["1", "2", "-1"])
def test_cli_threads_is_accepted(table, threads):
    done = _run_cli(table, "train", "data.npy", "--epochs", "2", "--threads", threads,
                    "--save", "m.npz", "--quiet")
    assert done.returncode == 0, done.stderr
    assert fastmlp.load(table / "m.npz").network.n_threads is None
    done = _run_cli(table, "predict", "m.npz", "data.npy", "--target", "-1", "--threads",
                    threads)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 121


@pytest.mark.parametrize("command", ["train", "predict"])
@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_cli_threads_refuses_invalid_values(table, command, bad):
    args = ["data.npy"] if command == "train" else ["m.npz", "data.npy"]
    done = _run_cli(table, command, *args, "--threads", bad)
    assert done.returncode == 2
    assert "argument --threads: must be a positive integer or -1 (every core)" in done.stderr
    assert bad in done.stderr


# -- the ranks of one machine ------------------------------------------------------------

_RANKS_SCRIPT = """
import json, os, sys
import numpy as np
from mpi4py import MPI
import fastmlp

comm = MPI.COMM_WORLD
rng = np.random.default_rng(comm.Get_rank())
X = rng.standard_normal((256, 784)).astype(np.float32)
y = rng.integers(0, 10, 256)
counts = []
for requested in (None, 2):
    net = fastmlp.MLP([784, 256, 128, 10], loss="cross_entropy", seed=0, n_threads=requested)
    net.fit(X, y, epochs=1, batch_size=128, comm=comm)
    counts.append(net.n_threads_)
mine = {"rank": comm.Get_rank(), "affinity": sorted(os.sched_getaffinity(0)),
        "counts": counts}
everyone = comm.gather(mine, root=0)  # one line from rank 0: outputs would interleave
if comm.Get_rank() == 0:
    print(json.dumps(everyone), flush=True)
"""


def test_the_ranks_of_one_machine_share_its_cores(tmp_path):
    """Automatic threads under mpiexec: a rank's affinity divided among the
    ranks that may run on its cores (all of them, when mpiexec binds
    none); an explicit count is per rank, as asked."""
    sys.path.insert(0, os.path.dirname(__file__))
    import mpi_launch

    if mpi_launch.unavailable() is not None:
        pytest.skip(mpi_launch.unavailable())
    script = tmp_path / "ranks.py"
    script.write_text(_RANKS_SCRIPT)
    # The launcher's default of one BLAS thread per rank would make every
    # automatic count 1 whatever the sharing.
    done = mpi_launch.run(2, script, extra_env={"OPENBLAS_NUM_THREADS": "2",
                                                "OMP_NUM_THREADS": "2"})
    assert done.returncode == 0, done.stdout + done.stderr
    ranks = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(r["rank"] for r in ranks) == [0, 1]
    for r in ranks:
        mine = set(r["affinity"])
        sharing = sum(1 for other in ranks if mine & set(other["affinity"]))
        assert r["counts"] == [max(1, min(len(mine), 2) // sharing), 2], ranks
