"""Data-parallel fit over MPI (fastmlp._mpi), under mpiexec -n 2 and -n 3.

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
    assert done.stdout.count("epoch    1") == 1
    assert f"101 rows over {ranks} ranks" in done.stdout
    net = fastmlp.MLP.load(save)
    assert len(net.history) == 2 and net.layer_sizes[0] == 4
    # As on one process: class labels recorded, features standardized with
    # the statistics of all rows (every rank's), not of rank 0's block.
    assert net.class_labels == (0, 1)
    np.testing.assert_allclose(net.standardization["mean"], X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(net.standardization["scale"], X.std(axis=0), rtol=1e-12)
    # A NaN in the last rank's block only: every rank fails, naming that
    # rank and the row of the file.
    lo, _ = distributed.block(101, ranks - 1, ranks)
    table[lo + 1, 2] = np.nan
    np.save(path, table)
    done = mpi_launch.run(ranks, WORKER, "cli_train", path, save)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count(f"rank {ranks - 1}: {path}, row {lo + 1}, column 2") == ranks, \
        done.stderr


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
    assert done.stdout.count("epoch    4") == 1      # rank 0 alone prints
    net = fastmlp.MLP.load(tmp_path / "model.fastmlp")
    assert len(net.history) == 5 and net.history[-1] < net.history[0]
