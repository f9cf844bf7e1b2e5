"""The commands: ``train``, ``predict``, ``evaluate`` and ``bench``.

Each ``cmd_*`` takes the parsed arguments and returns the exit status, or
raises; ``run_command`` parses and runs one. Their problems are raised as
``CLIError`` with a message that names the file and option concerned, and
their statuses are left to ``status.run_job``. The checks made here are
those that need the model (the feature count a saved model expects, float32
range): the file format itself is the readers' business. ``train`` is
training.train, on one process or on the ranks of mpiexec (distributed).
"""
import csv
import io
import os
import sys

import numpy as np

from . import preprocess
from .parser import command_parser
from .readers import ZIP_MAGICS, read_table
from .status import CLIError


# == train ========================================================================

def cmd_train(args):
    from . import distributed, training
    rows = distributed.RankRows() if distributed.launched() else training.OneProcess()
    return training.train(args, rows)


# == predict ======================================================================

def _load_model(path):
    import fastmlp

    if os.path.isdir(path):
        raise CLIError(f"{path}: is a directory, not a model file")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
        if magic not in ZIP_MAGICS:
            raise CLIError(f"{path}: not a fastmlp model file (not an .npz archive)")
        return fastmlp.MLP.load(path)
    except OSError as exc:
        raise CLIError(f"{path}: cannot open the model file: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _format_rows(values):
    """CSV lines of a 2-D array: ints as they are, floats in the shortest
    form that reads back to the same value of their dtype, text quoted as
    CSV needs."""
    if values.dtype.kind in "iub":
        cells = [str(int(v)) for v in values.ravel()]
    elif values.dtype.kind in "UO":
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(values.tolist())
        return out.getvalue().splitlines()
    else:
        cells = [str(v) for v in values.ravel()]
    k = values.shape[1]
    return [",".join(cells[i:i + k]) for i in range(0, len(cells), k)]


def _predict_features(net, args):
    """The data file's features as the model takes them: CSV columns by the
    model's feature names (any order; the target column and any others left
    out), then its standardization."""
    table = read_table(args.data, target=args.target, x_key=args.x_array, with_y=False,
                       select=net.feature_names)
    n0, name = net.layer_sizes[0], table.name
    d = table.X.shape[1]
    if d != n0:
        hint = ""
        if d == n0 + 1 and args.target is None:
            hint = "; drop the target column with --target COLUMN"
        raise CLIError(f"{name}: {d} feature columns, but the model {args.model} expects "
                       f"{n0}{hint}")
    X = preprocess.scale_features(net.standardization, table.X)
    preprocess.check_dtype_range(X, net.dtype, name, table.where_x)
    return X


def _label_names(net):
    k = net.layer_sizes[-1]
    return net.class_labels if net.class_labels is not None else tuple(range(k))


def cmd_predict(args):
    net = _load_model(args.model)
    net.n_threads = args.threads  # never saved with a model: the command's own
    if args.proba and net.loss_name == "mse":
        raise CLIError(f"--proba needs a classification model (loss cross_entropy or "
                       f"binary_cross_entropy); {args.model} has loss mse")
    X = _predict_features(net, args)
    if args.proba:
        values = net.forward(X)
        stem = "prob"
    else:
        values = net.predict(X)
        stem = "prediction"
        if net.loss_name == "mse" and net.standardization is not None:
            values = preprocess.unscale_outputs(net.standardization,
                                                values.astype(np.float64))
            values = values.astype(net.dtype)
        elif net.class_labels is not None:
            values = np.array(net.class_labels, dtype=object)[values]
    if values.ndim == 1:
        values = values[:, None]
    k = values.shape[1]
    if k == 1:
        head = stem
    elif args.proba and net.loss_name == "cross_entropy":
        head = _format_rows(np.array([[f"{stem}_{c}" for c in _label_names(net)]],
                                     dtype=object))[0]
    else:
        head = ",".join(f"{stem}_{j}" for j in range(k))
    lines = _format_rows(values)
    text = head + "\n" + "\n".join(lines) + "\n"
    if args.out is None or args.out == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        try:
            with open(args.out, "w", newline="") as f:
                f.write(text)
        except OSError as exc:
            raise CLIError(f"--out {args.out}: cannot write: {exc.strerror or exc}") from None
        columns = head if k <= 3 else f"{stem}_0 .. {stem}_{k - 1}"
        print(f"wrote {len(lines)} rows ({columns}) to {args.out}")
    return 0


# == bench ========================================================================

def cmd_bench(args):
    from . import bench as _bench

    try:
        chosen = _bench.prepare(args.configs, args.repeat, args.simd)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    kinds = _bench.KINDS if args.reference else ("fastmlp", "gemm_floor")
    # Timings and ratios only: the performance targets are the project's
    # claims about its benchmark machine (benchmarks/targets.py), which
    # say nothing about the machine this runs on.
    return _bench.run_report(chosen, args.repeat, kinds=kinds, json_path=args.json)


def cmd_evaluate(args):
    from .evaluate import cmd_evaluate as evaluate
    return evaluate(args)


_RUNNERS = {"train": cmd_train, "predict": cmd_predict, "evaluate": cmd_evaluate,
            "bench": cmd_bench}


def run_command(prog, command, argv):
    """Parse ``argv`` for ``command`` and run it; its exit status."""
    return _RUNNERS[command](command_parser(prog, command).parse_args(argv))
