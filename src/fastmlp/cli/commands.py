"""The commands: ``train``, ``predict`` and ``bench``.

Each ``cmd_*`` takes the parsed arguments and returns the exit status, or
raises; ``run_command`` parses and runs one. Their problems are raised as
``CLIError`` with a message that names the file and option concerned, and
their statuses are left to ``status.run_job``. The checks made here are
those that need the loss or the model (class labels, float32 range, the
feature count a saved model expects): the file format itself is the
readers' business.
"""
import csv
import io
import math
import os
import sys

import numpy as np

from . import preprocess
from .parser import command_parser
from .readers import ZIP_MAGICS, first_bad, is_npz, read_table
from .status import INTERRUPTED, CLIError, one_line


# == train ========================================================================

def _fmt(value):
    return f"{value:g}"


def _targets(table, loss, classes):
    """(the target array fit takes, the number of outputs, the class labels
    or None), checked for the loss with messages that point into the file."""
    y, name = table.target, table.name
    if loss == "cross_entropy":
        codes, labels = preprocess.encode_classes(table, classes)
        return codes, len(labels), labels
    if loss == "binary_cross_entropy":
        bad = (y != 0) & (y != 1)
        if bad.any():
            at = first_bad(bad)
            raise CLIError(f"{name}, {table.where_y(*at)}: a binary_cross_entropy target "
                           f"must be 0 or 1, got {_fmt(y[at])}")
    return y, (1 if y.ndim == 1 else y.shape[1]), None


def _check_dtype_range(X, dtype, name, where):
    if np.dtype(dtype) == np.float32:
        big = np.abs(X) > np.finfo(np.float32).max
        if big.any():
            at = first_bad(big)
            raise CLIError(f"{name}, {where(*at)}: {float(X[at])!r} is too large for float32 "
                           f"(use --dtype float64)")


def _metrics_text(net, X, y, loss, y_original=None):
    """One line of metrics of ``net`` on (X, y), the data as the model sees
    it; mse errors are measured in the target's own units (``y_original``,
    the model's outputs mapped back by its standardization)."""
    parts = [f"objective {net.loss(X, y):.6g}"]
    if loss == "cross_entropy":
        right = int(np.sum(net.predict(X) == y))
        majority = int(np.bincount(y).max())
        parts.append(f"accuracy {right / len(y):.4f} ({right}/{len(y)}; majority class "
                     f"{majority / len(y):.4f})")
    elif loss == "binary_cross_entropy":
        predicted = net.predict(X)
        parts.append(f"accuracy {np.mean(predicted == y):.4f}")
    else:
        y = y if y_original is None else y_original
        out = preprocess.unscale_outputs(net.standardization,
                                         net.predict(X).astype(np.float64))
        err = out - y
        parts.append(f"rmse {math.sqrt(float(np.mean(err ** 2))):.6g}")
        ys = y.reshape(len(y), -1)
        ss_tot = np.sum((ys - ys.mean(axis=0)) ** 2, axis=0)
        if np.all(ss_tot > 0):
            r2 = 1 - np.sum(err.reshape(len(y), -1) ** 2, axis=0) / ss_tot
            parts.append(f"r2 {float(np.mean(r2)):.4f}")
    return ", ".join(parts)


def _check_save_path(path):
    if os.path.isdir(path):
        raise CLIError(f"--save {path}: is a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CLIError(f"--save {path}: the directory {parent} does not exist")


def warn(message):
    print(f"fastmlp: warning: {one_line(message)}", file=sys.stderr, flush=True)


def _read_training_data(args):
    loss = args.loss
    hint = " (a cross_entropy target holds class labels: integers or text)" \
        if loss == "cross_entropy" else ""
    target = args.target
    if target is None and not is_npz(args.data):
        target = "-1"
    table = read_table(args.data, target=target, x_key=args.x_array, y_key=args.y_array,
                       with_y=True, target_hint=hint, text_target=loss == "cross_entropy")
    if table.index_column is not None:
        shown = repr(table.index_column) if table.index_column else "with no name"
        warn(f"{table.name}: the first column ({shown}) looks like a row index, as "
             f"pandas' DataFrame.to_csv writes it; it is not used as a feature")
    return table


def _record_data(net, table, labels, std):
    """What the model must know of its data to be used on new files."""
    names = table.feature_names
    if names is not None and len(set(names)) == len(names):
        net.feature_names = tuple(names)
        net.target_name = table.target_name
    net.class_labels = labels
    net.standardization = std


def _save_hint(data):
    stem = os.path.splitext(os.path.basename(os.fspath(data)))[0] or "model"
    return (f"the model was not saved: add --save {stem}.model.npz to keep it (then "
            f"'fastmlp predict {stem}.model.npz DATA' predicts with it)")


def cmd_train(args):
    from . import distributed
    if distributed.launched():
        return distributed.cmd_train(args)
    import fastmlp
    from fastmlp.datasets import train_test_split_indices

    loss = args.loss
    if args.classes is not None and loss != "cross_entropy":
        raise CLIError(f"--classes applies to --loss cross_entropy only, not {loss}")
    if args.save is not None:
        _check_save_path(args.save)
    table = _read_training_data(args)
    y, n_out, labels = _targets(table, loss, args.classes)
    X, name = table.X, table.name
    n, d = X.shape

    if args.val_fraction > 0:
        if n < 2:
            raise CLIError(f"{name}: 1 row is too few to hold out a validation split "
                           f"(use --val-fraction 0)")
        train_idx, val_idx = train_test_split_indices(n, args.val_fraction, args.seed)
    else:
        train_idx, val_idx = np.arange(n), np.arange(0)
    std = None
    if args.standardize:
        std = preprocess.standardization(X[train_idx],
                                         y[train_idx] if loss == "mse" else None)
    X_model = preprocess.scale_features(std, X)
    _check_dtype_range(X_model, args.dtype, name, table.where_x)
    y_model = preprocess.scale_target(std, y)

    activation = args.activation.split(",") if "," in args.activation else args.activation
    try:
        net = fastmlp.MLP([d, *args.hidden, n_out], activation=activation, loss=loss,
                          output=args.output, init=args.init, l2=args.l2, dtype=args.dtype,
                          seed=args.seed, matmul_dtype=args.matmul_dtype)
    except (ValueError, TypeError, ImportError) as exc:
        raise CLIError(f"invalid model: {exc}") from None
    _record_data(net, table, labels, std)

    target_text = preprocess._target_text(table)
    if loss == "cross_entropy":
        shown = ", ".join(map(str, labels[:10])) + (", ..." if len(labels) > 10 else "")
        target_text += f" ({n_out} classes: {shown})"
    print(f"{name}: {n} rows, {d} features, {target_text}; {len(train_idx)} training and "
          f"{len(val_idx)} validation rows (seed {args.seed})")
    if std is not None:
        scaled = "features" + (" and target" if std["target_mean"] is not None else "")
        print(f"standardized the {scaled} with the training rows' mean and standard "
              f"deviation (--no-standardize to use them as they are)")
    print(f"{net!r}: {net.params.size:,} parameters")
    batch = "full" if args.batch_size is None else args.batch_size
    print(f"fit: epochs={args.epochs}, batch_size={batch}, lr={args.lr}, "
          f"momentum={args.momentum}", flush=True)

    Xt, yt = X_model[train_idx], y_model[train_idx]
    validation = (X_model[val_idx], y_model[val_idx]) if len(val_idx) else None
    try:
        net.fit(Xt, yt, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                momentum=args.momentum, verbose=not args.quiet, validation_data=validation)
    except KeyboardInterrupt:
        raise CLIError(f"interrupted after {len(net.history)} epochs; the model was not "
                       f"saved", status=INTERRUPTED) from None
    print(f"training ({len(train_idx)} rows): "
          f"{_metrics_text(net, Xt, yt, loss, y[train_idx])}")
    if validation is not None:
        print(f"validation ({len(val_idx)} rows): "
              f"{_metrics_text(net, *validation, loss, y[val_idx])}")
    if args.save is not None:
        try:
            net.save(args.save)
        except OSError as exc:
            raise CLIError(f"--save {args.save}: cannot write: "
                           f"{exc.strerror or exc}") from None
        print(f"saved the model to {args.save}")
    else:
        print(_save_hint(args.data))
    sys.stdout.flush()
    return 0


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
    _check_dtype_range(X, net.dtype, name, table.where_x)
    return X


def _label_names(net):
    k = net.layer_sizes[-1]
    return net.class_labels if net.class_labels is not None else tuple(range(k))


def cmd_predict(args):
    net = _load_model(args.model)
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
    from fastmlp import _bench

    try:
        chosen = _bench.prepare(args.configs, args.repeat, args.simd)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    kinds = _bench.KINDS if args.reference else ("fastmlp", "gemm_floor")
    # Timings and ratios only: the performance targets are the project's
    # claims about its benchmark machine (benchmarks/targets.py), which
    # say nothing about the machine this runs on.
    return _bench.run_report(chosen, args.repeat, kinds=kinds, json_path=args.json)


_RUNNERS = {"train": cmd_train, "predict": cmd_predict, "bench": cmd_bench}


def run_command(prog, command, argv):
    """Parse ``argv`` for ``command`` and run it; its exit status."""
    return _RUNNERS[command](command_parser(prog, command).parse_args(argv))
