"""The argument parsers of the commands, and the converters they share.

Argument errors do not go through argparse's usual exit (usage text, then
``SystemExit(2)``): ``_Parser`` raises ``CLIError``, so that they reach the
one exit-status rule of ``status.run_job`` like every other bad input and
print one line. The converters raise ``argparse.ArgumentTypeError`` with a
message that says what was expected; argparse adds the option's name.
"""
import argparse
import math

from ..inputs.validation import INITS, MATMUL_DTYPES, OPTIMIZERS
from ..tabular.preprocessor import IMPUTE
from . import schedules
from .status import EXIT_STATUS_HELP, CLIError

COMMANDS = ("train", "predict", "evaluate", "bench")

# train's early stopping with a validation split: the epochs without a
# better validation objective it waits. With the other training defaults
# (adam, lr 0.003, up to 300 epochs) chosen on five small tables by
# benchmarks/cli_defaults.py, where 10 fell behind scikit-learn's MLP on one.
DEFAULT_PATIENCE = 20


# -- converters ------------------------------------------------------------------

def _number(text, convert, what):
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None


def _positive_int(text):
    value = _number(text, int, "a positive integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text):
    value = _number(text, float, "a positive number")
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _unit_interval(text):
    """A number in [0, 1): momentum, validation fraction."""
    value = _number(text, float, "a number in [0, 1)")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _hidden_sizes(text):
    text = text.strip()
    if text.lower() in ("", "none"):
        return []
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated layer sizes like 128,64 (or none), got {text!r}") from None
    if sizes == [0]:
        # Read as "no hidden layer" or as a layer of no units: refused, not guessed.
        raise argparse.ArgumentTypeError(
            "0 is not a layer size; use --hidden none for no hidden layer")
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def _batch_size(text):
    if text.strip().lower() in ("full", "none"):
        return None
    return _positive_int(text)


def _nonnegative_float(text):
    value = _number(text, float, "a number >= 0")
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _threads(text):
    """--threads: a count, or -1 for every core (fastmlp.execution.threads)."""
    value = _number(text, int, "a positive integer or -1 (every core)")
    if value < 1 and value != -1:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer or -1 (every core), got {text}")
    return value


def _add_threads(parser):
    parser.add_argument("--threads", type=_threads, default=None, metavar="N",
                        help="threads to run on, or -1 for every core the process may "
                             "use (under mpiexec: per rank); the results are the same "
                             "for every count (default: automatic, one for a small "
                             "network, else the cores of the process's CPU affinity "
                             "within OPENBLAS_NUM_THREADS / OMP_NUM_THREADS)")


def _separator(text):
    if text in ("\\t", "tab"):
        return "\t"
    if len(text) != 1 or text in "\"\n\r":
        raise argparse.ArgumentTypeError(f"must be one character (or \\t, tab), got {text!r}")
    return text


def _add_sep(group):
    group.add_argument("--sep", type=_separator, default=None, metavar="CHAR",
                       help="CSV: the separator (default: guessed from the first lines "
                            "among , ; tab |)")


def _class_weight(text):
    """--class-weight: "balanced", or (label text, weight) pairs of
    LABEL=W,LABEL=W (the labels are matched to the data's classes later)."""
    if text.strip().lower() == "balanced":
        return "balanced"
    pairs = []
    for item in text.split(","):
        label, sep, weight = item.rpartition("=")
        if not sep or not label.strip():
            raise argparse.ArgumentTypeError(
                f"must be balanced or LABEL=WEIGHT,LABEL=WEIGHT (e.g. 0=1,1=5), got {text!r}")
        try:
            value = _nonnegative_float(weight)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"the weight of {label.strip()!r} {exc}") from None
        pairs.append((label.strip(), value))
    return tuple(pairs)


def _lr_schedule(text):
    try:
        return schedules.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _patience(text):
    value = _number(text, int, "an integer >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def _classes(text):
    value = _number(text, int, "an integer >= 2")
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2, got {text}")
    return value


# -- parsers -----------------------------------------------------------------------

_COMMANDS_HELP = """\
commands (run '{prog} COMMAND --help' for their options):
  train DATA            train on a CSV, .npy or .npz file and save the model
  predict MODEL DATA    write a saved model's predictions as CSV
  evaluate MODEL DATA   a saved model's metrics on a data file with targets
  bench                 time a training step against its GEMM floor
With no command, runs the digits job described above."""


class _EpilogAsIs(argparse.HelpFormatter):
    """Wraps the description as usual but prints the epilog as written."""

    def add_text(self, text):
        if text is not None and text.startswith("commands ("):
            self._add_item(lambda t: t + "\n", [text])
        else:
            super().add_text(text)


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (``fastmlp: error: ...``), exit status 2."""

    def error(self, message):
        raise CLIError(f"{message} (see '{self.prog} --help')")


def _train_parser(prog):
    p = _Parser(
        prog=f"{prog} train",
        description="Train fastmlp.MLP on a data file (CSV with a header row, .npy or "
                    ".npz), holding out a validation split, print the progress and the "
                    "final metrics, and save the model.",
        epilog="By default the features (and an mse target) are standardized with "
               "the training rows' mean and standard deviation; the model file keeps "
               "that, the feature and target names and the class labels, and predict "
               "applies them. A CSV file's unnamed first column (a pandas index) is "
               "left out with a warning. " + EXIT_STATUS_HELP)
    p.add_argument("data", metavar="DATA", help="CSV, .npy or .npz file")
    g = p.add_argument_group("data")
    g.add_argument("--target", metavar="COLUMN", default=None,
                   help="target column: a CSV header name, or a column index (0-based, "
                        "negative from the end); default: the last column of a CSV or "
                        ".npy file; for .npz the array named by --y-array, unless "
                        "--target picks a column of the X array")
    g.add_argument("--x-array", default="X", metavar="NAME",
                   help=".npz: the array of features (default: %(default)s)")
    g.add_argument("--y-array", default="y", metavar="NAME",
                   help=".npz: the array of targets (default: %(default)s)")
    g.add_argument("--val-fraction", type=_unit_interval, default=0.2, metavar="F",
                   help="fraction of the rows held out for validation, a random split "
                        "fixed by --seed; for cross_entropy and binary_cross_entropy "
                        "made class by class (that fraction of each class, which keeps "
                        "at least one training row); 0 for none (default: %(default)s)")
    g.add_argument("--classes", type=_classes, default=None, metavar="K",
                   help="cross_entropy: the classes are the integers 0..K-1, some "
                        "possibly absent from the data (or, for text labels, there are K "
                        "of them); also confirms a target with many distinct values "
                        "(default: the distinct labels of the target, sorted)")
    g.add_argument("--sample-weight", metavar="COLUMN", default=None,
                   help="a column of per-row weights (>= 0; a CSV header name or a column "
                        "index): not a feature; each row's loss counts this much "
                        "(default: every row 1)")
    _add_sep(g)
    g.add_argument("--impute", default=None, choices=IMPUTE,
                   help="replace missing values (empty CSV cells) by the training rows' "
                        "mean, median or most frequent value of the column (text "
                        "columns: the most frequent category), saved with the model and "
                        "applied by predict (default: a missing value is an error)")
    g.add_argument("--one-hot", action="store_true",
                   help="encode text feature columns one-hot (one input per category "
                        "of the training rows; a category never seen gives zeros) "
                        "(default: a text feature column is an error)")
    g.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=True,
                   help="scale each feature, and an mse target, to mean 0 and standard "
                        "deviation 1 with the training rows' statistics, saved with the "
                        "model and applied by predict (default: on)")
    g = p.add_argument_group("model")
    g.add_argument("--hidden", type=_hidden_sizes, default=[64], metavar="SIZES",
                   help="hidden layer sizes, comma separated, or none for no hidden "
                        "layer (default: 64)")
    g.add_argument("--activation", default="relu", metavar="NAME",
                   help="hidden activation: identity, sigmoid, tanh, relu, leaky_relu, or "
                        "one per hidden layer, comma separated (default: %(default)s)")
    g.add_argument("--loss", default="cross_entropy",
                   choices=("cross_entropy", "binary_cross_entropy", "mse"),
                   help="cross_entropy: class labels (integers or text); "
                        "binary_cross_entropy: 0/1 targets; mse: numeric targets "
                        "(default: %(default)s)")
    g.add_argument("--output", default=None, metavar="NAME",
                   help="output activation (default: the loss's natural one)")
    g.add_argument("--init", default=None, choices=INITS,
                   help="weight initialization (default: he for relu layers, else "
                        "xavier)")
    g.add_argument("--l2", type=_nonnegative_float, default=0.0,
                   help="L2 penalty on the weights (default: %(default)s)")
    g.add_argument("--dtype", default="float32", choices=("float32", "float64"),
                   help="(default: %(default)s)")
    g.add_argument("--matmul-dtype", default=None, choices=MATMUL_DTYPES,
                   help="round every matrix product's operands to bfloat16, "
                        "accumulating in float32 (float32 only; needs the extra "
                        "fastmlp[bf16]; default: products in --dtype)")
    g.add_argument("--seed", type=int, default=0,
                   help="seed of the split, the initial weights and the shuffles "
                        "(default: %(default)s)")
    g = p.add_argument_group("training")
    _add_training(g)
    g.add_argument("--save", metavar="PATH", default=None,
                   help="write the trained model here (a .npz file; fastmlp.MLP.load "
                        "reads it)")
    g.add_argument("--quiet", action="store_true",
                   help="no per-epoch progress lines")
    _add_threads(g)
    return p


def _add_training(g):
    g.add_argument("--epochs", type=_positive_int, default=300,
                   help="the most epochs to train; early stopping may end sooner "
                        "(default: %(default)s)")
    g.add_argument("--batch-size", type=_batch_size, default=32, metavar="N",
                   help="mini-batch size, or full (default: %(default)s)")
    g.add_argument("--optimizer", default="adam", choices=OPTIMIZERS,
                   help="update rule: momentum (v = m*v + (1-m)*g; w -= lr*v), nesterov, "
                        "or adam (default: %(default)s)")
    g.add_argument("--lr", type=_positive_float, default=0.003,
                   help="learning rate, the base of --lr-schedule (default: %(default)s)")
    g.add_argument("--lr-schedule", type=_lr_schedule, default=schedules.parse("constant"),
                   metavar="SCHEDULE",
                   help="the learning rate epoch by epoch, as torch.optim.lr_scheduler "
                        "stepped once per epoch: constant, step:STEP_SIZE:GAMMA "
                        "(lr*GAMMA**(epoch//STEP_SIZE)), exponential:GAMMA "
                        "(lr*GAMMA**epoch) or cosine:T_MAX[:ETA_MIN] (cosine annealing "
                        "from lr to ETA_MIN, default 0, over T_MAX epochs) (default: "
                        "constant)")
    g.add_argument("--momentum", type=_unit_interval, default=0.9,
                   help="m of momentum and nesterov, Adam's beta_1 (default: %(default)s)")
    g.add_argument("--beta-2", type=_unit_interval, default=0.999, metavar="B",
                   help="Adam's beta_2 (default: %(default)s)")
    g.add_argument("--epsilon", type=_positive_float, default=1e-8, metavar="E",
                   help="Adam's epsilon (default: %(default)s)")
    g.add_argument("--shuffle", action=argparse.BooleanOptionalAction, default=True,
                   help="a new order of the training rows every epoch, from --seed; "
                        "--no-shuffle keeps the file's order (default: on)")
    g.add_argument("--class-weight", type=_class_weight, default=None, metavar="WEIGHTS",
                   help="weigh each class's rows in the objective: balanced (n / (K * "
                        "count) per class, over the training rows) or LABEL=W,LABEL=W in "
                        "the data's own class labels, other classes weighing 1 "
                        "(cross_entropy and binary_cross_entropy; default: every row 1)")
    g.add_argument("--patience", type=_patience, default=None, metavar="N",
                   help="early stopping: stop once the validation objective has not "
                        "improved by more than --min-delta for N epochs, and keep the "
                        "best epoch's model; 0 for none (needs a validation split; "
                        f"default: {DEFAULT_PATIENCE} with one, none without)")
    g.add_argument("--min-delta", type=_nonnegative_float, default=0.0, metavar="D",
                   help="the least decrease of the validation objective that counts as "
                        "an improvement for --patience (default: %(default)s)")


def _add_model_and_data(parser):
    parser.add_argument("model", metavar="MODEL",
                        help="a model file written by train --save (or by net.save)")
    parser.add_argument("data", metavar="DATA", help="CSV, .npy or .npz file")


def _predict_parser(prog):
    p = _Parser(
        prog=f"{prog} predict",
        description="Write the predictions of a saved model on a data file as CSV with "
                    "a header row: one row per data row, column 'prediction' (the class "
                    "for cross_entropy, 0/1 for binary_cross_entropy, the output for "
                    "mse, mapped back to the training data's class labels and target "
                    "units; prediction_0, prediction_1, ... for several outputs).",
        epilog=EXIT_STATUS_HELP)
    _add_model_and_data(p)
    p.add_argument("--target", metavar="COLUMN", default=None,
                   help="drop this column (a CSV header name or a column index) before "
                        "predicting; a model trained on a CSV file reads its feature "
                        "columns by name and needs no --target; default: every column "
                        "is a feature")
    p.add_argument("--x-array", default="X", metavar="NAME",
                   help=".npz: the array of features (default: %(default)s)")
    _add_sep(p)
    p.add_argument("--out", metavar="FILE", default=None,
                   help="write the CSV here (default: standard output)")
    p.add_argument("--proba", action="store_true",
                   help="classification models: the probability of each class instead, "
                        "one column per class label (prob_LABEL), as the loaded model's "
                        "predict_proba")
    _add_threads(p)
    return p


def _bench_parser(prog):
    p = _Parser(
        prog=f"{prog} bench",
        description="Per-step training time of fastmlp.MLP against its GEMM floor (the "
                    "step's matrix products alone) and optionally the NumPy reference, on "
                    "this machine with one BLAS thread, measured in interleaved rounds "
                    "(minimum over rounds). Every config with the default rounds takes "
                    "about half a minute.",
        epilog=EXIT_STATUS_HELP)
    from . import bench as _bench
    _bench.add_arguments(p, reference_flag=True)
    return p


def _evaluate_parser(prog):
    p = _Parser(
        prog=f"{prog} evaluate",
        description="The metrics of a saved model on a data file that holds the "
                    "targets: for a classifier the accuracy, each class's precision, "
                    "recall, F1 and support, their macro and weighted averages and the "
                    "confusion matrix (rows: true class, columns: predicted class), in "
                    "the model's class labels; for regression R^2, MAE and RMSE in the "
                    "target's units (of each output, and their mean).",
        epilog=EXIT_STATUS_HELP)
    _add_model_and_data(p)
    p.add_argument("--target", metavar="COLUMN", default=None,
                   help="target column: a CSV header name, or a column index (0-based, "
                        "negative from the end); default: the model's target column of a "
                        "CSV file by name, else the last column of a CSV or .npy file; "
                        "for .npz the array named by --y-array, unless --target picks a "
                        "column of the X array")
    p.add_argument("--x-array", default="X", metavar="NAME",
                   help=".npz: the array of features (default: %(default)s)")
    p.add_argument("--y-array", default="y", metavar="NAME",
                   help=".npz: the array of targets (default: %(default)s)")
    p.add_argument("--json", metavar="FILE", default=None,
                   help="also write the metrics to FILE as JSON")
    _add_sep(p)
    _add_threads(p)
    return p


_PARSERS = {"train": _train_parser, "predict": _predict_parser, "evaluate": _evaluate_parser,
            "bench": _bench_parser}


def command_parser(prog, command):
    """The parser of ``command`` (one of COMMANDS), as ``prog command``."""
    return _PARSERS[command](prog)
