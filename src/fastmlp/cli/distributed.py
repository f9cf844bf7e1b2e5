"""``fastmlp train`` under ``mpiexec -n P``: a data-parallel fit.

Each rank memory-maps the ``.npy`` file and reads only its own contiguous
block of rows (rows [r n / P, (r + 1) n / P)), so no rank reads the whole
file; the fit is ``fit(comm=COMM_WORLD)`` (fastmlp._mpi), whose validation
is collective: a bad block on one rank is reported, naming the rank, by
rank 0 and the job exits 1 on every rank. Rank 0 alone prints progress and
saves the model. As on one process, cross_entropy targets are mapped to
class indices (the class labels: the sorted distinct values over every
rank, or 0..K-1 with --classes K) and, with --standardize (the default),
the features and an mse target are standardized, here with the mean and
standard deviation over every rank's rows (one allreduce each). Launch it
as ``mpiexec -n P fastmlp train data.npy ...``
(an error found by every rank, such as bad data on one rank, ends every
rank with the same message and status; a rank killed outright is mpiexec's
to clean up). Validation splits are not made (``--val-fraction 0`` is
required).
"""
import os
import sys

import numpy as np

from . import preprocess
from .status import INTERRUPTED, CLIError

# Set by the process managers of MPICH (Hydra: PMI_SIZE) and Open MPI.
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE")


def launched():
    """Whether this process is one of several ranks started by mpiexec."""
    for name in _SIZE_VARIABLES:
        try:
            if int(os.environ.get(name, "1")) > 1:
                return True
        except ValueError:
            pass
    return False


def block(n, rank, size):
    """This rank's contiguous rows of n: [lo, hi)."""
    return n * rank // size, n * (rank + 1) // size


def _read_block(path, rank, size, target):
    """(X, y column) of this rank's rows of a 2-D numeric .npy file, read
    through a memory map; only those rows are touched."""
    if not path.endswith(".npy"):
        raise CLIError(f"{path}: under mpiexec, train reads a .npy file (each rank maps its "
                       f"own rows of it)")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:
        raise CLIError(f"{path}: cannot read the NumPy file: {type(exc).__name__}: "
                       f"{exc}") from None
    if arr.ndim != 2 or arr.dtype.kind not in "biuf" or arr.shape[0] < size:
        raise CLIError(f"{path}: need a 2-D numeric array of at least {size} rows, got "
                       f"{arr.dtype} {arr.shape}")
    t = int(target)
    if not -arr.shape[1] <= t < arr.shape[1]:
        raise CLIError(f"--target {target}: out of range for {arr.shape[1]} columns")
    t %= arr.shape[1]
    lo, hi = block(arr.shape[0], rank, size)
    rows = np.array(arr[lo:hi], dtype=np.float64)
    bad = ~np.isfinite(rows)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise CLIError(f"{path}, row {lo + i}, column {j} (0-based): {rows[i, j]} is not a "
                       f"finite number")
    return np.delete(rows, t, axis=1), rows[:, t], arr.shape


def _collective(comm, call):
    """call() on every rank; a CLIError on any rank is raised on every rank
    (the first failing rank's message, naming it)."""
    result = error = None
    try:
        result = call()
    except CLIError as exc:
        error = exc
    errors = comm.allgather(None if error is None else str(error))
    failed = [r for r, e in enumerate(errors) if e]
    if failed:
        raise CLIError(f"rank {failed[0]}: {errors[failed[0]]}")
    return result


def _class_codes(comm, y, classes):
    """(codes, labels) of a cross_entropy target over every rank's rows."""
    if (y != np.floor(y)).any():
        raise CLIError("a class label must be an integer (for a numeric target use "
                       "--loss mse)")
    if classes is not None:
        if ((y < 0) | (y >= classes)).any():
            raise CLIError(f"a class label is outside 0..{classes - 1} (--classes {classes})")
        labels = np.arange(classes, dtype=np.float64)
    else:
        labels = np.unique(np.concatenate(comm.allgather(np.unique(y))))
        if len(labels) < 2:
            raise CLIError("the target holds a single class over all ranks; cross_entropy "
                           "needs at least 2")
    return np.searchsorted(labels, y).astype(np.int64), tuple(
        preprocess._label(x) for x in labels)


def _global_scale(comm, A):
    """(mean, scale) of A's columns over every rank's rows, scale clamped as
    preprocess.fit_scale clamps it."""
    from mpi4py import MPI
    n = comm.allreduce(len(A), op=MPI.SUM)
    mean = comm.allreduce(A.sum(axis=0), op=MPI.SUM) / n
    var = comm.allreduce(((A - mean) ** 2).sum(axis=0), op=MPI.SUM) / n
    scale = np.sqrt(var)
    scale[~(scale > 1e-12 * np.maximum(1.0, np.abs(mean)))] = 1.0
    return mean, scale


def _standardization(comm, X, y, loss):
    mean, scale = _global_scale(comm, X)
    std = {"mean": mean, "scale": scale, "target_mean": None, "target_scale": None}
    if loss == "mse":
        t_mean, t_scale = _global_scale(comm, y.reshape(len(y), -1))
        std.update(target_mean=t_mean, target_scale=t_scale)
    return std


def cmd_train(args):
    import fastmlp
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    loss = args.loss

    def read():
        if args.val_fraction > 0:
            raise CLIError("--val-fraction: under mpiexec there is no validation split; "
                           "pass --val-fraction 0")
        return _read_block(args.data, rank, size, args.target or "-1")
    X, y, shape = _collective(comm, read)
    n_out, labels = 1, None
    if loss == "cross_entropy":
        y, labels = _collective(comm, lambda: _class_codes(comm, y, args.classes))
        n_out = len(labels)
    std = _standardization(comm, X, y, loss) if args.standardize else None
    X, y = preprocess.scale_features(std, X), preprocess.scale_target(std, y)
    activation = args.activation.split(",") if "," in args.activation else args.activation
    net = fastmlp.MLP([X.shape[1], *args.hidden, n_out], activation=activation, loss=loss,
                      output=args.output, init=args.init, l2=args.l2, dtype=args.dtype,
                      seed=args.seed)
    net.class_labels = labels
    net.standardization = std
    if rank == 0:
        print(f"{args.data}: {shape[0]} rows over {size} ranks ({X.shape[0]} on rank 0), "
              f"{X.shape[1]} features")
        print(f"{net!r}: {net.params.size:,} parameters", flush=True)
    try:
        net.fit(X, y, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                momentum=args.momentum, verbose=not args.quiet and rank == 0, comm=comm)
    except (ValueError, TypeError, FloatingPointError) as exc:
        raise CLIError(str(exc)) from None
    except KeyboardInterrupt:
        raise CLIError(f"interrupted after {len(net.history)} epochs; the model was not "
                       f"saved", status=INTERRUPTED) from None
    if rank == 0:
        print(f"objective of the last epoch over all ranks: {net.history[-1]:.6g}")
        if args.save is not None:
            net.save(args.save)
            print(f"saved the model to {args.save}")
    sys.stdout.flush()
    return 0
