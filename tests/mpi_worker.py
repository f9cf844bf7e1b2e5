"""One rank of the MPI tests (tests/test_mpi.py runs it under mpiexec).

``python -m mpi4py mpi_worker.py SCENARIO [ARG]``, or ``... cli ARGS``: the
fastmlp command with ARGS on every rank. Every scenario checks
with assert; a failing assert is an uncaught exception, which ``-m mpi4py``
turns into MPI_Abort (exit code != 0, traceback on stderr). A scenario that
passes prints "rank R: SCENARIO ok".

Equivalence: the data-parallel fit on shards equals a single-process fit
that takes, at each step s, the union of the ranks' step-s batches as one
full batch (successive fit(epochs=1, batch_size=None) calls, the optimizer
state persisting across them), and history equals the mean of those steps'
objectives weighted by their rows. Tolerances: FIT_RTOL of conftest (the
sums are taken in another order: per rank, then across ranks).
"""
import hashlib
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
from mpi4py import MPI

import fastmlp
import fastmlp.reference

sys.path.insert(0, str(Path(__file__).parent))
from conftest import FIT_RTOL  # noqa: E402

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()
N_IN, N_OUT = 6, 3
# Rows per rank: uneven, one rank's shard shorter than a batch of 5.
SHARD_ROWS = [17, 4, 11, 8]


def data(loss, n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_IN)).astype(dtype)
    if loss == "mse":
        y = rng.normal(size=(n, N_OUT))
    elif loss == "cross_entropy":
        y = rng.integers(0, N_OUT, size=n)
    else:
        y = rng.integers(0, 2, size=(n, N_OUT)).astype(float)
    return X, y


def shards():
    """Each rank's slice of the rows [0, sum of shard sizes)."""
    sizes = SHARD_ROWS[:SIZE]
    starts = np.cumsum([0] + sizes)
    return [slice(int(starts[r]), int(starts[r + 1])) for r in range(SIZE)]


def step_batches(batch_size):
    """The global rows of every step: the union of the ranks' local batches."""
    parts = shards()
    b = max(p.stop - p.start for p in parts) if batch_size is None else batch_size
    steps = -(-max(p.stop - p.start for p in parts) // b)
    out = []
    for s in range(steps):
        rows = []
        for p in parts:
            rows.extend(range(p.start + s * b, min(p.start + (s + 1) * b, p.stop)))
        out.append(rows)
    return out


def digest(net):
    h = hashlib.sha256()
    for a in (net.params, net.velocity, net.second_moment):
        if a is not None:
            h.update(a.tobytes())
    h.update(np.asarray(net.history).tobytes())
    return h.hexdigest()


def same_on_every_rank(net):
    """Parameters, optimizer state and history bitwise equal on all ranks:
    an Allreduce (MIN and MAX) of a checksum of their bytes."""
    check = int(digest(net)[:15], 16)
    return COMM.allreduce(check, op=MPI.MIN) == COMM.allreduce(check, op=MPI.MAX)


def equivalence():
    part = shards()[RANK]
    cases = 0
    for loss in ("mse", "cross_entropy", "binary_cross_entropy"):
        for dtype in ("float32", "float64"):
            for batch in (None, 1, 5):
                for optimizer in ("momentum", "adam"):
                    if optimizer == "adam" and (dtype == "float32" or batch == 1):
                        continue
                    X, y = data(loss, shards()[-1].stop, dtype)
                    kw = dict(lr=0.05, momentum=0.8, optimizer=optimizer)
                    net = fastmlp.MLP([N_IN, 5, N_OUT], loss=loss, dtype=dtype, seed=3,
                                      l2=0.01)
                    net.fit(X[part], y[part], epochs=2, batch_size=batch, shuffle=False,
                            comm=COMM, **kw)
                    one = fastmlp.MLP([N_IN, 5, N_OUT], loss=loss, dtype=dtype, seed=3,
                                      l2=0.01)
                    history = []
                    for _ in range(2):
                        total = 0.0
                        for rows in step_batches(batch):
                            total += one.loss(X[rows], y[rows]) * len(rows)
                            one.fit(X[rows], y[rows], epochs=1, batch_size=None,
                                    shuffle=False, **kw)
                        history.append(total / shards()[-1].stop)
                    tol = FIT_RTOL[dtype]
                    where = f"{loss} {dtype} batch={batch} {optimizer}"
                    scale = np.abs(one.params).max()
                    assert np.abs(net.params - one.params).max() <= tol * scale, where
                    assert np.allclose(net.history, history, rtol=tol, atol=0), where
                    assert same_on_every_rank(net), where
                    cases += 1
    # Sample weights: each step's objective is sum w L / sum w over the
    # step's rows on every rank; history weighs steps by their weight.
    X, y = data("mse", shards()[-1].stop, "float64")
    w = np.random.default_rng(5).uniform(0.1, 2.0, size=len(X))
    net = fastmlp.MLP([N_IN, 5, N_OUT], dtype="float64", seed=3)
    net.fit(X[part], y[part], epochs=2, batch_size=5, shuffle=False,
            sample_weight=w[part], comm=COMM)
    one = fastmlp.MLP([N_IN, 5, N_OUT], dtype="float64", seed=3)
    history = []
    for _ in range(2):
        total = 0.0
        for rows in step_batches(5):
            losses = [one.loss(X[i:i + 1], y[i:i + 1]) for i in rows]
            total += float(np.dot(losses, w[rows]))
            one.fit(X[rows], y[rows], epochs=1, batch_size=None, shuffle=False,
                    sample_weight=w[rows])
        history.append(total / w.sum())
    assert np.abs(net.params - one.params).max() <= FIT_RTOL["float64"], "sample_weight"
    assert np.allclose(net.history, history, rtol=FIT_RTOL["float64"], atol=0)
    assert same_on_every_rank(net)
    cases += 1
    # shuffle=True: each rank its own permutation; still identical everywhere,
    # and not the in-order trajectory.
    X, y = data("mse", shards()[-1].stop, "float64")
    shuffled = fastmlp.MLP([N_IN, 5, N_OUT], seed=4, dtype="float64")
    shuffled.fit(X[part], y[part], epochs=3, batch_size=3, shuffle=True, comm=COMM)
    ordered = fastmlp.MLP([N_IN, 5, N_OUT], seed=4, dtype="float64")
    ordered.fit(X[part], y[part], epochs=3, batch_size=3, shuffle=False, comm=COMM)
    assert same_on_every_rank(shuffled)
    assert not np.array_equal(shuffled.params, ordered.params)
    assert shuffled.rng.bit_generator.state == COMM.bcast(shuffled.rng.bit_generator.state)
    print(f"rank {RANK}: equivalence ok ({cases} cases)", flush=True)


def size_one():
    """A communicator of size 1 (COMM_SELF) is comm=None, bit for bit."""
    X, y = data("cross_entropy", 23, "float32", seed=RANK)
    a = fastmlp.MLP([N_IN, 4, N_OUT], loss="cross_entropy", seed=1)
    b = fastmlp.MLP([N_IN, 4, N_OUT], loss="cross_entropy", seed=1)
    a.fit(X, y, epochs=3, batch_size=4)
    b.fit(X, y, epochs=3, batch_size=4, comm=MPI.COMM_SELF)
    assert digest(a) == digest(b)
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    print(f"rank {RANK}: size_one ok", flush=True)


def start_from_rank_0():
    """Every rank starts from rank 0's model, whatever its own seed; a model
    saved by rank 0 after fit loads equal to every rank's."""
    X, y = data("mse", 30, "float64", seed=RANK)
    net = fastmlp.MLP([N_IN, 4, N_OUT], seed=10 + RANK, dtype="float64")
    net.fit(X, y, epochs=1, batch_size=8, comm=COMM)   # rank 0's start everywhere
    assert same_on_every_rank(net)
    path = COMM.bcast(tempfile.mkdtemp() if RANK == 0 else None)
    path = os.path.join(path, "model.fastmlp")
    if RANK == 0:
        net.save(path)
    COMM.Barrier()
    loaded = fastmlp.MLP.load(path)
    assert digest(loaded) == digest(net)
    assert loaded.rng.bit_generator.state == net.rng.bit_generator.state
    # A derived communicator (its MPICH handle is not COMM_WORLD's, and
    # negative as a C int) trains the same model.
    again = fastmlp.MLP([N_IN, 4, N_OUT], seed=10 + RANK, dtype="float64")
    split = COMM.Split(0, RANK)
    again.fit(X, y, epochs=1, batch_size=8, comm=split)
    assert digest(again) == digest(net)
    split.Free()
    print(f"rank {RANK}: start_from_rank_0 ok", flush=True)


def expect(exc_type, text, call):
    try:
        call()
    except exc_type as exc:
        assert text in str(exc), (text, str(exc))
        return str(exc)
    raise AssertionError(f"no {exc_type.__name__} ({text})")


def collective_errors():
    X, y = data("mse", 12, "float64", seed=RANK)
    net = fastmlp.MLP([N_IN, 4, N_OUT], seed=1, dtype="float64")
    before = digest(net), net.rng.bit_generator.state
    # A bad shard on the last rank: every rank raises, naming that rank.
    Xbad = X.copy()
    if RANK == SIZE - 1:
        Xbad[3, 2] = np.nan
    expect(ValueError, f"rank {SIZE - 1}: ", lambda: net.fit(Xbad, y, epochs=2, comm=COMM))
    # Differing arguments.
    expect(ValueError, "lr is 0.1 on rank 0 but 0.2 on rank 1",
           lambda: net.fit(X, y, epochs=2, lr=0.1 if RANK == 0 else 0.2, comm=COMM))
    # Equal values of other types agree (np.float64 on one rank only).
    net.fit(X, y, epochs=1, lr=0.1 if RANK == 0 else np.float64(0.1), comm=COMM)
    COMM.bcast(None)
    before = digest(net), net.rng.bit_generator.state
    # A type error on one rank is a TypeError everywhere.
    expect(TypeError, "rank 0: ",
           lambda: net.fit(X, y, epochs="2" if RANK == 0 else 2, comm=COMM))
    expect(ValueError, "does not support callback",
           lambda: net.fit(X, y, callback=print, comm=COMM))
    assert (digest(net), net.rng.bit_generator.state) == before, "a rejected call changed"
    # Training buffers that cannot be made on one rank (after validation
    # passed everywhere): every rank raises, none waits in the first step.
    real = fastmlp.mlp.MLP._epochs

    def no_memory(*args, **kwargs):
        raise MemoryError("workspace of 10 GiB")
    if RANK == SIZE - 1:
        fastmlp.mlp.MLP._epochs = no_memory
    try:
        expect(MemoryError, f"rank {SIZE - 1}: workspace of 10 GiB",
               lambda: net.fit(X, y, epochs=2, comm=COMM))
    finally:
        fastmlp.mlp.MLP._epochs = real
    assert (digest(net), net.rng.bit_generator.state) == before, "a failed fit changed"
    # A learning-rate schedule is asked every epoch: another value, or a
    # failure, on one rank raises on every rank, the model left as the
    # epochs before it trained it (the same everywhere).
    def other_lr(epoch):
        return 0.2 if RANK == SIZE - 1 and epoch == 2 else 0.1
    net.history.clear()
    expect(ValueError, f"lr (the schedule's value at epoch 2) is 0.1 on rank 0 but 0.2 on "
                       f"rank {SIZE - 1}", lambda: net.fit(X, y, epochs=5, lr=other_lr,
                                                         comm=COMM))
    assert len(net.history) == 2 and same_on_every_rank(net)

    def failing_lr(epoch):
        if RANK == SIZE - 1 and epoch == 3:
            raise ZeroDivisionError("the schedule failed")
        return 0.1
    expect(RuntimeError, f"rank {SIZE - 1}: ZeroDivisionError: the schedule failed",
           lambda: net.fit(X, y, epochs=5, lr=failing_lr, comm=COMM))
    assert len(net.history) == 3 and same_on_every_rank(net)
    before = digest(net), net.rng.bit_generator.state
    # The reference takes no communicator; nor does fit anything else.
    ref = fastmlp.reference.MLP([N_IN, 4, N_OUT], seed=1)
    expect(TypeError, "comm=None only", lambda: ref.fit(X, y, comm=COMM))
    expect(TypeError, "mpi4py communicator", lambda: net.fit(X, y, comm="world"))
    assert (digest(net), net.rng.bit_generator.state) == before, "a rejected call changed"
    # Divergence: every rank raises at the same step with the same state.
    big = X * 1e3
    exc = expect(fastmlp.DivergenceError, "",
                 lambda: net.fit(big, y * 1e3, epochs=50, lr=10.0, momentum=0.0,
                                 batch_size=4, comm=COMM))
    assert COMM.allgather(exc) == [exc] * SIZE
    assert np.isfinite(net.params).all()
    assert same_on_every_rank(net)
    # An update that overflows (lr 3e38 in float32, uneven shards): every
    # rank restores the state of the start of the epoch (its checkpoint,
    # replayed collectively) and raises.
    Xf, yf = data("mse", 12 + 5 * RANK, "float32", seed=RANK)
    net32 = fastmlp.MLP([N_IN, 4, N_OUT], seed=1)
    net32.fit(Xf, 30 * yf, epochs=3, batch_size=4, momentum=0.0, comm=COMM)
    start = digest(net32)
    expect(fastmlp.DivergenceError, "the update made a parameter inf or NaN",
           lambda: net32.fit(Xf, 30 * yf, epochs=1, batch_size=4, momentum=0.0, lr=3e38,
                             comm=COMM))
    assert digest(net32) == start and same_on_every_rank(net32)
    print(f"rank {RANK}: collective_errors ok", flush=True)


def _long_fit(epochs=100000):
    X, y = data("mse", 200, "float32", seed=RANK)
    net = fastmlp.MLP([N_IN, 64, N_OUT], seed=1)
    return net, X, y, epochs


def crash():
    """The last rank raises mid-fit, between two epochs, where nothing is
    collective (as a failure inside fastmlp would): the others wait in
    the reduction until MPI_Abort ends the job."""
    net, X, y, epochs = _long_fit()
    run_and_record = net._run_and_record

    def failing(run, order, lr):
        if RANK == SIZE - 1 and len(net.history) == 3:
            raise RuntimeError("deliberate failure on the last rank")
        return run_and_record(run, order, lr)
    net._run_and_record = failing
    net.fit(X, y, epochs=epochs, comm=COMM)


def interrupt():
    """The last rank gets SIGINT while training: KeyboardInterrupt, then
    MPI_Abort ends the job."""
    net, X, y, epochs = _long_fit()
    if RANK == SIZE - 1:
        threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
    net.fit(X, y, epochs=epochs, comm=COMM)


def cli(*argv):
    """The fastmlp command (fastmlp.cli.main) on every rank; its exit status."""
    from fastmlp.cli import main
    status = main(list(argv))
    print(f"rank {RANK}: cli exit {status}", flush=True)
    # -m mpi4py turns a rank's exit with a status into MPI_Abort, which
    # could end a rank that has not printed its error yet.
    COMM.Barrier()
    return status


def cli_train(path, save):
    """fastmlp train under mpiexec: each rank its own block of rows."""
    return cli("train", path, "--loss", "cross_entropy", "--hidden", "8", "--epochs", "2",
               "--batch-size", "16", "--val-fraction", "0", "--save", save)


SCENARIOS = {f.__name__: f for f in (equivalence, size_one, start_from_rank_0,
                                      collective_errors, crash, interrupt)}

if __name__ == "__main__":
    if sys.argv[1] in ("cli", "cli_train"):
        sys.exit({"cli": cli, "cli_train": cli_train}[sys.argv[1]](*sys.argv[2:]))
    for name in sys.argv[1:]:
        SCENARIOS[name]()
