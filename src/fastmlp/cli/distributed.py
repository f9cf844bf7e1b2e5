"""``fastmlp train`` under ``mpiexec -n P``: where a data-parallel fit differs.

The command itself is training.train, the same as on one process; this
module gives it ``RankRows``, the training rows as the ranks hold them:

- each rank memory-maps the ``.npy`` file and reads only its own
  contiguous block of rows (rows [r n / P, (r + 1) n / P)), so no rank
  reads the whole file; no validation split is made (``--val-fraction 0``
  is required: fit(comm=...) evaluates none), hence no early stopping
  (``--patience`` is refused; its default is off without a split);
- what is taken over the rows (the class labels, the standardization's
  mean and standard deviation, the row counts and the final metrics) is
  reduced over every rank, so that it is what one process would compute on
  the whole file, up to the order of the sums;
- an error met on some ranks only (bad data in one block) is an error on
  every rank, with the first failing rank's message (naming it) and the
  same exit status; the fit is ``fit(comm=COMM_WORLD)``
  (fastmlp.training.mpi), whose validation and divergence are already collective;
- rank 0 alone prints, errors included (``print_job_error``: once for the
  job, not once per rank), and saves the model.

Launch it as ``mpiexec -n P fastmlp train data.npy --val-fraction 0 ...``
(a rank killed outright is mpiexec's to clean up).
"""
import os
import sys

import numpy as np

from ..tabular.preprocessor import usable_scale
from .readers import read_npy_rows
from .status import INTERRUPTED, REPORTED, CLIError, describe

# Set by the process managers of MPICH (Hydra: PMI_SIZE) and Open MPI.
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE")
_RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")


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


class _Agreed(CLIError):
    """An error every rank already knows of: raised as it is, not agreed on
    again."""


class RankRows:
    """The training rows of this rank of COMM_WORLD, one block of the file,
    with the same methods as training.OneProcess.

    Every collective method first agrees on the errors met so far: a rank
    that failed inside ``collective(call)`` is then waiting in that
    agreement, and the others, wherever in ``call`` they reached a
    collective, meet it there instead of in an unrelated reduction."""

    def __init__(self):
        from mpi4py import MPI
        self._sum = MPI.SUM
        self.comm = MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.root = self.rank == 0
        self.fit_options = {"comm": self.comm}

    def refuse(self, args):
        if args.patience:
            raise CLIError("--patience: under mpiexec there is no validation split to stop "
                           "on (early stopping is for one process)")
        if args.val_fraction > 0:
            raise CLIError("--val-fraction: under mpiexec there is no validation split; "
                           "pass --val-fraction 0")
        for option, value, default in (("--impute", args.impute, None),
                                       ("--one-hot", args.one_hot, False),
                                       ("--sep", args.sep, None),
                                       ("--sample-weight", args.sample_weight, None)):
            if value != default:
                raise CLIError(f"{option} applies to CSV files; under mpiexec, train reads "
                               f"a .npy file (numbers, none missing)")
        for option, value, default in (("--x-array", args.x_array, "X"),
                                       ("--y-array", args.y_array, "y")):
            if value != default:
                raise CLIError(f"{option} names an array of an .npz file; under mpiexec, "
                               f"train reads a .npy file")

    def read_table(self, path, target, **_npz_and_csv_options):
        # The other options name arrays of an .npz file or a CSV file's
        # columns (refuse turned away those given): a .npy file has neither.
        if not os.fspath(path).endswith(".npy"):
            raise CLIError(f"{path}: under mpiexec, train reads a .npy file (each rank maps "
                           f"its own rows of it)")
        return read_npy_rows(path, target, lambda n: self._my_rows(path, n))

    def _my_rows(self, path, n):
        if n < self.size:
            raise CLIError(f"{path}: {n} rows are too few for {self.size} ranks (each "
                           f"trains on at least one)")
        return block(n, self.rank, self.size)

    def _agree(self, failure, name_rank=True):
        """``failure``: this rank's (message, exit status), or None. Raises
        the first failing rank's on every rank, naming that rank unless it
        said not to (``name_rank``) or every rank failed alike."""
        failures = self.comm.allgather(None if failure is None else (*failure, name_rank))
        failed = [r for r, f in enumerate(failures) if f is not None]
        if not failed:
            return
        message, status, named = failures[failed[0]]
        if not named or failures.count(failures[failed[0]]) == self.size:
            raise _Agreed(message, status)
        raise _Agreed(f"rank {failed[0]}: {message}", status)

    def collective(self, call, name_rank=True):
        """call() on every rank; an error the command reports (a CLIError, a
        ValueError, an OSError...) on any rank is raised on every rank as a
        CLIError with its message and status, naming the rank that met it
        unless ``name_rank`` is false."""
        try:
            result = call()
        except _Agreed:
            raise
        except KeyboardInterrupt:
            raise  # each rank's own (print_job_error)
        except REPORTED as exc:
            self._agree(describe(exc), name_rank)
        self._agree(None)
        return result

    def on_root(self, call):
        """call() on rank 0 alone, its error raised on every rank; not
        named "rank 0": rank 0 acts for the job (saving the model, checking
        where it goes)."""
        return self.collective(call if self.root else lambda: None, name_rank=False)

    def total(self, value):
        self._agree(None)
        return self.comm.allreduce(value, op=self._sum)

    def mean(self, values, axis=None):
        values = np.asarray(values)
        count = values.size if axis is None else values.shape[axis]
        return self.total(np.sum(values, axis=axis)) / self.total(count)

    def average(self, value, rows):
        """The mean over every row of a value that is a mean over this
        rank's ``rows``."""
        return self.total(value * rows) / self.total(rows)

    def count(self, values):
        return self.total(len(values))

    def distinct(self, values):
        self._agree(None)
        return np.unique(np.concatenate(self.comm.allgather(np.unique(values))))

    def scale_of(self, A, rows=None):
        """fit_scale (fastmlp.tabular.preprocessor) over every rank's rows
        ``rows`` of A (under mpiexec: all of them, there is no split)."""
        A = A if rows is None else A[rows]
        mean = self.mean(A, axis=0)
        return mean, usable_scale(mean, np.sqrt(self.mean((A - mean) ** 2, axis=0)))

    def spread(self, rows):
        return f" over {self.size} ranks ({rows} on rank 0)"

    def say(self, text, flush=False):
        if self.root:
            print(text, flush=flush)


def _running_mpi():
    """mpi4py's MPI once this process has started MPI (and not yet ended
    it), else None; not imported here, which would start it."""
    MPI = sys.modules.get("mpi4py.MPI")
    if MPI is None or not MPI.Is_initialized() or MPI.Is_finalized():
        return None
    return MPI


def _world_rank():
    MPI = _running_mpi()
    if MPI is not None:
        return MPI.COMM_WORLD.Get_rank()
    for name in _RANK_VARIABLES:
        try:
            return int(os.environ[name])
        except (KeyError, ValueError):
            pass
    return 0  # a launcher that does not say: every rank prints, none is lost


def print_job_error(exc, message, print_error):
    """Print ``message``, the error that ended this rank's job, once for the
    job.

    Every rank runs the command on the same arguments; they differ only in
    their rows, whose errors ``RankRows`` raises on every rank alike (naming
    the rank that met one), as fit(comm=...) does its own. So an error is the
    job's: rank 0 alone prints it. An interruption is each rank's own: it
    prints it, naming itself."""
    rank = _world_rank()
    if isinstance(exc, KeyboardInterrupt) or getattr(exc, "status", None) == INTERRUPTED:
        print_error(f"rank {rank}: {message}")
        return
    if rank == 0:
        print_error(message)
    MPI = _running_mpi()
    if MPI is not None:
        # Under ``python -m mpi4py``, a rank that exits with an error status
        # aborts every rank: none may leave before rank 0 has printed.
        MPI.COMM_WORLD.Barrier()
