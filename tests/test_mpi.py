"""Data-parallel fit over MPI (fastmlp.training.mpi), under mpiexec -n 2 and -n 3.

Each test runs tests/mpi_worker.py under ``mpiexec -n P python -m mpi4py``
(tests/mpi_launch.py and its settings: 3 ranks oversubscribe the
2 cores of the CI machine) and checks its exit status and output; the
scenarios and their tolerances are described in mpi_worker.py. Skipped,
with the reason, where mpi4py or mpiexec are missing (mpi_launch.unavailable).
"""
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import mpi_launch  # noqa: E402

WORKER = Path(__file__).parent / "mpi_worker.py"
REASON = mpi_launch.unavailable()
needs_mpi = pytest.mark.skipif(REASON is not None, reason=str(REASON))


def test_import_fastmlp_never_imports_mpi4py():
    code = ("import sys, numpy as np, fastmlp; net = fastmlp.MLP([2, 3, 1], seed=0); "
            "net.fit(np.ones((4, 2)), np.ones(4), epochs=1); fastmlp.show_config(); "
            "assert 'mpi4py' not in sys.modules, 'mpi4py imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_comm_must_be_a_communicator():
    import numpy as np
    import fastmlp
    net = fastmlp.MLP([2, 3, 1], seed=0)
    before = net.params.copy()
    for bad in ("world", 0, object()):
        with pytest.raises(TypeError, match="mpi4py communicator"):
            net.fit(np.ones((4, 2)), np.ones(4), comm=bad)
    with pytest.raises(TypeError, match="comm=None only"):
        fastmlp.reference.MLP([2, 3, 1]).fit(np.ones((4, 2)), np.ones(4), comm="world")
    assert np.array_equal(net.params, before)


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_scenarios_pass_on_every_rank(ranks):
    scenarios = ["equivalence", "size_one", "start_from_rank_0", "collective_errors"]
    done = mpi_launch.run(ranks, WORKER, *scenarios)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in scenarios:
        for rank in range(ranks):
            assert f"rank {rank}: {name} ok" in done.stdout, done.stdout + done.stderr


# A job that does not end is killed by mpiexec after this many seconds (and
# fails the test with TimeoutExpired): far beyond the ~2 s these take.
PROMPT = 60


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
@pytest.mark.parametrize("scenario, message", [
    ("crash", "RuntimeError: deliberate failure on the last rank"),
    ("interrupt", "KeyboardInterrupt"),
])
def test_failure_on_one_rank_ends_the_job(ranks, scenario, message):
    try:
        done = mpi_launch.run(ranks, WORKER, scenario, timeout=PROMPT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{scenario}: the job did not end within {PROMPT} s")
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
    # mpi4py's handler aborted the job, not mpiexec's timeout.
    assert "timeout" not in done.stderr.lower(), done.stderr


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_cli_train_under_mpiexec(tmp_path, ranks):
    import numpy as np
    import fastmlp
    from fastmlp.cli import distributed
    rng = np.random.default_rng(0)
    X = rng.normal(size=(101, 4))
    table = np.column_stack([X, (X[:, 0] > 0).astype(float)])
    path, save = tmp_path / "data.npy", tmp_path / "model.fastmlp"
    np.save(path, table)
    done = mpi_launch.run(ranks, WORKER, "cli_train", path, save)
    assert done.returncode == 0, done.stdout + done.stderr
    # Only rank 0 prints progress and saves.
    assert done.stdout.count("saved the model") == 1
    assert done.stdout.count("epoch    2") == 1      # epochs shown from 1
    assert f"101 rows over {ranks} ranks" in done.stdout
    model = fastmlp.load(save)
    net, columns = model.network, model.preprocessor.columns
    assert len(net.history) == 2 and net.layer_sizes[0] == 4
    # As on one process: class labels recorded, features standardized with
    # the statistics of all rows (every rank's), not of rank 0's block.
    assert tuple(model.classes_) == (0, 1)
    np.testing.assert_allclose([c.mean for c in columns], X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose([c.scale for c in columns], X.std(axis=0), rtol=1e-12)
    # A NaN in the last rank's block only: every rank fails, and the job's
    # one error line names that rank and the row of the file.
    lo, _ = distributed.block(101, ranks - 1, ranks)
    table[lo + 1, 2] = np.nan
    np.save(path, table)
    done = mpi_launch.run(ranks, WORKER, "cli_train", path, save)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("fastmlp: error: ") == 1, done.stderr
    assert f"fastmlp: error: rank {ranks - 1}: {path}, row {lo + 1}, column 2" in done.stderr, \
        done.stderr


def mpi_train(ranks, *args):
    """fastmlp train ARGS under mpiexec -n ranks."""
    return mpi_launch.run(ranks, WORKER, "cli", "train", *args, timeout=PROMPT)


def replay_data_parallel(X, y, ranks, epochs, batch_size, net_kw, fit_kw, lr_at=None):
    """The fit of fastmlp train under mpiexec -n ranks, on one process: rank
    r's rows are its block of X, shuffled every epoch by its own copy of the
    model's generator (fastmlp.training.mpi), and every step is one full batch of
    the union of the ranks' batches (as mpi_worker.equivalence checks);
    ``lr_at(epoch)``: the learning rate of each epoch, if it changes."""
    import copy
    import numpy as np
    import fastmlp
    from fastmlp.cli import distributed
    net = fastmlp.MLP(**net_kw)
    blocks = [distributed.block(len(X), r, ranks) for r in range(ranks)]
    generators = [copy.deepcopy(net.rng) for _ in blocks]
    steps = -(-max(hi - lo for lo, hi in blocks) // batch_size)
    for epoch in range(epochs):
        if lr_at is not None:
            fit_kw = dict(fit_kw, lr=lr_at(epoch))
        orders = []
        for (lo, hi), rng in zip(blocks, generators):
            order = np.arange(hi - lo)
            rng.shuffle(order)
            orders.append(lo + order)
        for s in range(steps):
            rows = np.concatenate([o[s * batch_size:(s + 1) * batch_size] for o in orders])
            net.fit(X[rows], y[rows], epochs=1, batch_size=None, shuffle=False, **fit_kw)
    return net


@needs_mpi
def test_cli_train_under_mpiexec_trains_in_bfloat16(tmp_path):
    import numpy as np
    import fastmlp
    from bf16_support import FIT_RTOL as BF16_FIT_RTOL
    try:
        fastmlp.MLP([2, 1], matmul_dtype="bfloat16")
    except ImportError as exc:
        pytest.skip(f"bfloat16 products are not available here: {exc}")
    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 8))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    path, save = tmp_path / "data.npy", tmp_path / "model.npz"
    np.save(path, np.column_stack([X, y]))
    done = mpi_train(2, path, "--val-fraction", "0", "--hidden", "32", "--epochs", "6",
                     "--batch-size", "8", "--lr", "0.2", "--optimizer", "momentum",
                     "--seed", "2", "--quiet", "--matmul-dtype", "bfloat16", "--save", save)
    assert done.returncode == 0, done.stdout + done.stderr
    model = fastmlp.load(save)
    net = model.network
    assert net.matmul_dtype == "bfloat16"
    Xs = model.preprocessor.transform(X)

    def replay(matmul_dtype):
        return replay_data_parallel(
            Xs, y, 2, 6, 8, dict(layer_sizes=[8, 32, 3], loss="cross_entropy", seed=2,
                                 matmul_dtype=matmul_dtype),
            dict(lr=0.2, momentum=0.9)).params
    bf16, f32 = replay("bfloat16"), replay(None)
    scale = np.abs(bf16).max()
    # bf16_support.FIT_RTOL: the two sides sum in other orders (per rank
    # then across ranks, against one batch), and a float32 value a few ulps
    # apart can round to another bfloat16 neighbour (here about 1e-5 apart);
    # the float32 fit of the same steps is beyond it (here 1.3e-2).
    assert np.abs(net.params - bf16).max() <= BF16_FIT_RTOL * scale
    assert np.abs(net.params - f32).max() > BF16_FIT_RTOL * scale


def _error_table():
    """Labels 0..2 in 40 rows; a value beyond float32 in the last rank's
    block of 2."""
    import numpy as np
    rng = np.random.default_rng(3)
    table = np.column_stack([rng.normal(size=(40, 4)), np.arange(40) % 3])
    table[31, 2] = 1e39
    return table


# (arguments after the data file, status, text of the job's one error line)
MPI_REFUSALS = {
    "save in a missing directory": (["--save", "{tmp}/nowhere/m.npz"], 2,
                                    "error: --save {tmp}/nowhere/m.npz: the directory"),
    "save to a directory": (["--save", "{tmp}"], 2, "is a directory"),
    "classes for mse": (["--loss", "mse", "--classes", "3"], 2,
                        "--classes applies to --loss cross_entropy only, not mse"),
    "label beyond classes": (["--classes", "2"], 2,
                             "rank 0: {data}, row 2, column 4 (0-based): with --classes 2 "
                             "a class label must be an integer 0..1, got 2"),
    "binary target": (["--loss", "binary_cross_entropy"], 2,
                      "rank 0: {data}, row 2, column 4 (0-based): a binary_cross_entropy "
                      "target must be 0 or 1 (or one of two text labels), got 2"),
    "float32 range": (["--no-standardize"], 2,
                      "rank 1: {data}, row 31, column 2 (0-based): 1e+39 is too large for "
                      "float32"),
    "bfloat16 in float64": (["--matmul-dtype", "bfloat16", "--dtype", "float64"], 2,
                            "invalid model: "),
    "npz array option": (["--x-array", "A"], 2, "--x-array names an array of an .npz file"),
    "validation split": (["--val-fraction", "0.2"], 2, "no validation split"),
    "early stopping": (["--patience", "3"], 2,
                       "--patience: under mpiexec there is no validation split to stop on"),
}


@needs_mpi
@pytest.mark.parametrize("case", list(MPI_REFUSALS))
def test_cli_train_under_mpiexec_refuses_before_training(tmp_path, case):
    """What the single-process command refuses, refused on every rank
    before any training, with its status, in one line for the job."""
    import numpy as np
    args, status, text = MPI_REFUSALS[case]
    data = tmp_path / "data.npy"
    np.save(data, _error_table())
    names = dict(tmp=tmp_path, data=data)
    done = mpi_train(2, data, "--val-fraction", "0", "--epochs", "1",
                     *(a.format(**names) for a in args))
    assert done.returncode == status, done.stdout + done.stderr
    # Counted, not split into lines: the ranks' lines may interleave.
    assert done.stderr.count("fastmlp: error: ") == 1, done.stderr
    assert done.stderr.count(text.format(**names)) == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "fit:" not in done.stdout and "epoch" not in done.stdout, done.stdout


@needs_mpi
@pytest.mark.parametrize("args, text", [
    (["--bogus"], "error: unrecognized arguments: --bogus (see 'fastmlp train --help')"),
    (["--hidden", "16,x"], "error: argument --hidden: must be comma-separated layer sizes"),
    (["--loss", "mse", "--classes", "3"],
     "error: --classes applies to --loss cross_entropy only, not mse"),
])
def test_cli_train_under_mpiexec_prints_an_error_of_every_rank_once(tmp_path, args, text):
    """An error every rank meets alike (an option) is the job's: one line,
    from rank 0, naming no rank."""
    import numpy as np
    np.save(tmp_path / "data.npy", _error_table())
    done = mpi_train(2, tmp_path / "data.npy", "--val-fraction", "0", "--epochs", "1", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("fastmlp: error: ") == 1, done.stderr
    assert f"fastmlp: {text}" in done.stderr, done.stderr
    assert "rank 0: cli exit 2" in done.stdout and "rank 1: cli exit 2" in done.stdout


@needs_mpi
def test_cli_train_under_mpiexec_names_the_rank_whose_rows_fail(tmp_path):
    """A label only rank 1's block holds: every rank stops, with one line
    naming rank 1 and the row of the file."""
    import numpy as np
    table = np.column_stack([np.random.default_rng(5).normal(size=(40, 4)), np.arange(40) % 3])
    table[25, 4] = 7                          # rows 20..39 are rank 1's
    np.save(tmp_path / "data.npy", table)
    done = mpi_train(2, tmp_path / "data.npy", "--val-fraction", "0", "--epochs", "1",
                     "--classes", "3")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("fastmlp: error: ") == 1, done.stderr
    assert (f"fastmlp: error: rank 1: {tmp_path / 'data.npy'}, row 25, column 4 (0-based): "
            f"with --classes 3 a class label must be an integer 0..2, got 7") in done.stderr, \
        done.stderr


@needs_mpi
def test_cli_train_under_mpiexec_training_options(tmp_path):
    """--optimizer, --lr-schedule and --class-weight balanced under mpiexec
    train what one process would: the class weights of every rank's rows
    (here rank 0 holds most of class 0 and rank 1 most of class 2), the
    schedule's rate each epoch."""
    import numpy as np
    import fastmlp
    rng = np.random.default_rng(6)
    y = np.sort(rng.choice(3, size=90, p=[0.5, 0.3, 0.2]))
    X = rng.normal(size=(90, 3)) + np.eye(3)[y]
    path, save = tmp_path / "data.npy", tmp_path / "model.npz"
    np.save(path, np.column_stack([X, y]))
    done = mpi_train(2, path, "--val-fraction", "0", "--hidden", "8", "--epochs", "3",
                     "--batch-size", "8", "--lr", "0.2", "--lr-schedule", "step:1:0.5",
                     "--optimizer", "nesterov", "--class-weight", "balanced", "--dtype",
                     "float64", "--seed", "1", "--save", save)
    assert done.returncode == 0, done.stdout + done.stderr
    model = fastmlp.load(save)
    net = model.network
    counts = np.bincount(y)
    balanced = {k: len(y) / (3 * counts[k]) for k in range(3)}
    replayed = replay_data_parallel(
        model.preprocessor.transform(X), y, 2, 3, 8,
        dict(layer_sizes=[3, 8, 3], loss="cross_entropy", seed=1, dtype="float64"),
        dict(optimizer="nesterov", momentum=0.9, class_weight=balanced),
        lr_at=lambda epoch: 0.2 * 0.5 ** epoch)
    scale = np.abs(replayed.params).max()
    assert np.abs(net.params - replayed.params).max() <= 1e-10 * scale
    said = ",".join(f"{k}={w:.4g}" for k, w in balanced.items())
    assert done.stdout.count(f"class_weight={said}") == 1, done.stdout


@needs_mpi
def test_cli_train_under_mpiexec_divergence_is_exit_1(tmp_path):
    import numpy as np
    rng = np.random.default_rng(4)
    np.save(tmp_path / "r.npy", rng.standard_normal((64, 3)))
    done = mpi_train(2, tmp_path / "r.npy", "--val-fraction", "0", "--loss", "mse", "--lr",
                     "1e6", "--optimizer", "momentum", "--quiet", "--save",
                     tmp_path / "never.npz")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.count("fastmlp: error: ") == 1, done.stderr
    assert "fastmlp: error: training diverged" in done.stderr, done.stderr
    assert not (tmp_path / "never.npz").exists()


def test_each_rank_reads_its_own_block_of_rows():
    from fastmlp.cli import distributed
    for n in (5, 101, 1000):
        for size in (1, 2, 3, 7):
            if size > n:
                continue
            blocks = [distributed.block(n, r, size) for r in range(size)]
            assert blocks[0][0] == 0 and blocks[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
            assert max(hi - lo for lo, hi in blocks) - min(hi - lo for lo, hi in blocks) <= 1


ROOT = Path(__file__).resolve().parents[1]


def test_readme_example_is_examples_train_mpi():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```python\n# train.py\n", 1)[1].split("```", 1)[0]
    example = (ROOT / "examples" / "train_mpi.py").read_text()
    assert example.split('"""\n', 1)[1] == block


@needs_mpi
def test_readme_example_runs_under_mpiexec(tmp_path):
    import numpy as np
    import fastmlp
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 10))
    np.save(tmp_path / "data.npy", np.column_stack([X, X[:, 0] + X[:, 1] > 0]))
    done = mpi_launch.run(2, ROOT / "examples" / "train_mpi.py", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("epoch    5") == 1      # rank 0 alone prints
    net = fastmlp.MLP.load(tmp_path / "model.fastmlp")
    assert len(net.history) == 5 and net.history[-1] < net.history[0]
