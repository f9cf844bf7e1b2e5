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
import warnings

import numpy as np

from ..tabular import Preprocessor
from ..tabular.columns import ColumnError
from . import preprocess
from .parser import command_parser
from .readers import ZIP_MAGICS, CSVOptions, is_npz, read_table
from .status import CLIError
from .training import warn


# == train ========================================================================

def cmd_train(args):
    from . import distributed, training
    rows = distributed.RankRows() if distributed.launched() else training.OneProcess()
    return training.train(args, rows)


# == predict ======================================================================

def _load_model(path):
    """The TabularModel in a model file: the file's own, or, for a network
    saved alone, one that reads its columns (by name when it knows them)
    and changes nothing."""
    import fastmlp

    if os.path.isdir(path):
        raise CLIError(f"{path}: is a directory, not a model file")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
        if magic not in ZIP_MAGICS:
            raise CLIError(f"{path}: not a fastmlp model file (not an .npz archive)")
        model = fastmlp.load(path)
    except OSError as exc:
        raise CLIError(f"{path}: cannot open the model file: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if isinstance(model, fastmlp.MLP):
        model = fastmlp.TabularModel(model, Preprocessor.passthrough(model))
    return model


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


def _features(model, args):
    """The data file's feature columns as the model reads them: a CSV
    file's columns by the model's feature names (any order; the target
    column and any others left out); an array's columns in order, less a
    last one that train would have taken for the target."""
    pre = model.preprocessor
    options = CSVOptions(sep=args.sep, select=pre.feature_names, read_target=False)
    table = read_table(args.data, target=args.target, x_key=args.x_array, with_y=False,
                       csv_options=options)
    d, n_columns = table.X.shape[1], len(pre.columns)
    if d == n_columns + 1 and args.target is None and pre.feature_names is None \
            and not is_npz(args.data):
        # train's own rule for an unnamed target: the last column.
        table = read_table(args.data, target="-1", with_y=False)
        warn(f"{table.name}: {d} columns for a model of {n_columns} features: the last "
             f"one is taken for the target and left out, as train does (--target picks "
             f"another)")
    elif d != n_columns:
        raise CLIError(f"{table.name}: {d} feature columns, but the model {args.model} "
                       f"expects {n_columns}")
    return table


def _model_input(model, table):
    """The network's input for ``table``, with errors that point into the file."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            X = model.transform(table.X)
    except ColumnError as exc:
        raise preprocess.column_error(table, exc) from None
    for w in caught:
        warn(f"{table.name}: {w.message}")
    inputs = model.preprocessor.input_columns()
    preprocess.check_dtype_range(X, model.network.dtype, table.name,
                                 lambda i, k: table.where_x(i, inputs[k]))
    return X


def _label_names(model):
    classes = model.classes_
    return tuple(range(model.network.layer_sizes[-1])) if classes is None else tuple(classes)


def _prediction_values(model, X, proba):
    """(values (n,) or (n, k), column stem) that predict writes."""
    net, target = model.network, model.preprocessor.target
    if proba:
        if model.classes_ is not None:
            return model.proba_of_outputs(net.forward(X)), "prob"
        return net.forward(X), "prob"
    values = net.predict(X)
    return (values if target is None else target.decode(values)), "prediction"


def cmd_predict(args):
    model = _load_model(args.model)
    net = model.network
    net.n_threads = args.threads  # never saved with a model: the command's own
    if args.proba and net.loss_name == "mse":
        raise CLIError(f"--proba needs a classification model (loss cross_entropy or "
                       f"binary_cross_entropy); {args.model} has loss mse")
    X = _model_input(model, _features(model, args))
    values, stem = _prediction_values(model, X, args.proba)
    if values.ndim == 1:
        values = values[:, None]
    k = values.shape[1]
    if k == 1:
        head = stem
    elif args.proba and model.classes_ is not None:
        head = _format_rows(np.array([[f"{stem}_{c}" for c in _label_names(model)]],
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
