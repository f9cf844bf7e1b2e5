"""The ``fastmlp`` command (also ``python -m fastmlp``).

    fastmlp [--epochs N ...]            the main job: train on the bundled digits
    fastmlp train DATA [options]        train on a CSV, .npy or .npz file, save the model
    fastmlp predict MODEL DATA [...]    write predictions as CSV
    fastmlp evaluate MODEL DATA [...]   a saved model's metrics on a file with targets
    fastmlp bench [--configs ...]       per-step time against the GEMM floor

Data files (``readers``): a CSV file with a header row, a 2-D ``.npy``
array, or an ``.npz`` file with the arrays ``X`` and ``y`` (``--x-array``,
``--y-array``); ``--target`` is a CSV header name or a column index. In
error messages, CSV rows count data rows from 1 (the header is not a row),
with the line of the file beside them; rows and columns of .npy/.npz arrays
are 0-based indices.

Exit status, the same for every command and for the digits job:

- 0: success;
- 2: a bad file, argument or data, or a model error (``CLIError``, and
  ``ValueError``, ``TypeError`` or ``OSError`` from below);
- 1: training diverged (``fastmlp.DivergenceError``, a
  ``FloatingPointError``);
- 130: interrupted (Ctrl-C).

Every error is one line on stderr, ``fastmlp: error: ...``. When the reader
of the output goes away (``| head``) the command stops quietly with 1.

``train`` fits a ``fastmlp.Preprocessor`` on the training rows (column
kinds, imputation with ``--impute``, one-hot text with ``--one-hot``,
standardization of the features and an mse target unless
``--no-standardize``), maps class labels of any kind to 0..K-1, and saves
the network with it as a ``fastmlp.TabularModel`` (file format version
4); ``predict`` and ``evaluate`` load it with ``fastmlp.load``, read a CSV
file's features by name and map the outputs back.

The modules, one job each: ``readers`` (data files to arrays; no argparse),
``parser`` (the argument converters and the command parsers),
``preprocess`` (the target's class labels, errors that point into the
file), ``fit_options``, ``schedules`` and ``splits`` (train's options for
fit, its learning-rate schedules and its validation split), ``commands``
(train, predict, bench), ``evaluate``, ``training`` (train itself, for one process and
for the ranks of ``mpiexec -n P fastmlp train``), ``distributed`` (what
differs under mpiexec: each rank's block of rows, the reductions over
every rank, errors on every rank, printed once), ``demo`` (the digits
job), ``status`` (``CLIError`` and the exit-status rule) and ``entry``
(``main``, which picks the job).
"""
from .commands import cmd_bench, cmd_predict, cmd_train
from .demo import build_parser, run
from .entry import main
from .parser import COMMANDS
from .readers import Table, read_table
from .status import CLIError

__all__ = ["main", "build_parser", "run", "read_table", "Table", "CLIError", "COMMANDS",
           "cmd_train", "cmd_predict", "cmd_bench"]
