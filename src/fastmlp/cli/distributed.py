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
  every rank, reported by every rank with the first failing rank's message
  (naming it) and the same exit status; the fit is ``fit(comm=COMM_WORLD)``
  (fastmlp.training.mpi), whose validation and divergence are already collective;
- rank 0 alone prints and saves the model.

Launch it as ``mpiexec -n P fastmlp train data.npy --val-fraction 0 ...``
(a rank killed outright is mpiexec's to clean up).
"""
import os

import numpy as np

from . import preprocess
from .readers import read_npy_rows
from .status import CLIError

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

    def _agree(self, error):
        messages = self.comm.allgather(None if error is None else str(error))
        failed = [r for r, m in enumerate(messages) if m is not None]
        if not failed:
            return
        first = messages[failed[0]]
        if len(failed) == self.size and messages.count(first) == self.size:
            raise _Agreed(first)          # the same on every rank: no rank to name
        raise _Agreed(f"rank {failed[0]}: {first}")

    def collective(self, call):
        """call() on every rank; a CLIError on any rank is raised on every
        rank."""
        try:
            result = call()
        except _Agreed:
            raise
        except CLIError as exc:
            self._agree(exc)
        self._agree(None)
        return result

    def on_root(self, call):
        """call() on rank 0 alone, its CLIError raised on every rank."""
        return self.collective(call if self.root else lambda: None)

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

    def scale_of(self, A):
        """preprocess.fit_scale over every rank's rows."""
        mean = self.mean(A, axis=0)
        return mean, preprocess.usable_scale(mean, np.sqrt(self.mean((A - mean) ** 2, axis=0)))

    def spread(self, rows):
        return f" over {self.size} ranks ({rows} on rank 0)"

    def say(self, text, flush=False):
        if self.root:
            print(text, flush=flush)
