"""The commands: ``train``, ``predict`` and ``bench``.

Each ``cmd_*`` takes the parsed arguments and returns the exit status, or
raises; ``run_command`` parses and runs one. Their problems are raised as
``CLIError`` with a message that names the file and option concerned, and
their statuses are left to ``status.run_job``. The checks made here are
those that need the loss or the model (class labels, float32 range, the
feature count a saved model expects): the file format itself is the
readers' business.
"""
import math
import os
import sys

import numpy as np

from .parser import command_parser
from .readers import ZIP_MAGICS, first_bad, is_npz, read_table
from .status import INTERRUPTED, CLIError


# == train ========================================================================

def _fmt(value):
    return f"{value:g}"


def _targets(table, loss, classes):
    """The target array fit takes and the number of outputs, checked for the
    loss with messages that point into the file."""
    y, name = table.target, table.name
    if loss == "cross_entropy":
        if y.ndim == 2:
            raise CLIError(f"{name}: cross_entropy needs one column of class labels, but "
                           f"the target {table.target_name} has shape {y.shape}")
        bad = (y != np.floor(y)) | (y < 0)
        if classes is not None:
            bad |= y >= classes
        if bad.any():
            i = int(np.argmax(bad))
            top = f"0..{classes - 1}" if classes is not None else "0, 1, 2, ..."
            raise CLIError(f"{name}, {table.where_y(i)}: a class label must be an integer "
                           f"{top}, got {_fmt(y[i])} (for a numeric target use --loss mse)")
        k = classes if classes is not None else int(y.max()) + 1
        if k < 2:
            raise CLIError(f"{name}: the target holds only the class 0; cross_entropy needs "
                           f"at least 2 classes (or give --classes K)")
        return y.astype(np.int64), k
    if loss == "binary_cross_entropy":
        bad = (y != 0) & (y != 1)
        if bad.any():
            at = first_bad(bad)
            raise CLIError(f"{name}, {table.where_y(*at)}: a binary_cross_entropy target "
                           f"must be 0 or 1, got {_fmt(y[at])}")
    return y, (1 if y.ndim == 1 else y.shape[1])


def _check_dtype_range(X, dtype, name, where):
    if np.dtype(dtype) == np.float32:
        big = np.abs(X) > np.finfo(np.float32).max
        if big.any():
            at = first_bad(big)
            raise CLIError(f"{name}, {where(*at)}: {float(X[at])!r} is too large for float32 "
                           f"(use --dtype float64)")


def _metrics_text(net, X, y, loss):
    """One line of metrics of ``net`` on (X, y)."""
    parts = [f"objective {net.loss(X, y):.6g}"]
    if loss == "cross_entropy":
        right = int(np.sum(net.predict(X) == y))
        parts.append(f"accuracy {right / len(y):.4f} ({right}/{len(y)})")
    elif loss == "binary_cross_entropy":
        predicted = net.predict(X)
        parts.append(f"accuracy {np.mean(predicted == y):.4f}")
    else:
        out = net.predict(X).astype(np.float64)
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
    hint = " (a cross_entropy target must hold integer class labels 0..K-1)" \
        if loss == "cross_entropy" else ""
    target = args.target
    if target is None and not is_npz(args.data):
        target = "-1"
    table = read_table(args.data, target=target, x_key=args.x_array, y_key=args.y_array,
                       with_y=True, target_hint=hint)
    y, n_out = _targets(table, loss, args.classes)
    X, name = table.X, table.name
    _check_dtype_range(X, args.dtype, name, table.where_x)
    n, d = X.shape

    if args.val_fraction > 0:
        if n < 2:
            raise CLIError(f"{name}: 1 row is too few to hold out a validation split "
                           f"(use --val-fraction 0)")
        train_idx, val_idx = train_test_split_indices(n, args.val_fraction, args.seed)
    else:
        train_idx, val_idx = np.arange(n), np.arange(0)

    activation = args.activation.split(",") if "," in args.activation else args.activation
    try:
        net = fastmlp.MLP([d, *args.hidden, n_out], activation=activation, loss=loss,
                          output=args.output, init=args.init, l2=args.l2, dtype=args.dtype,
                          seed=args.seed)
    except (ValueError, TypeError) as exc:
        raise CLIError(f"invalid model: {exc}") from None

    target_text = f"target {table.target_name}" if table.target_name else "target"
    if table.target_name and table.feature_names is not None:
        target_text = f'target column "{table.target_name}"'
    if loss == "cross_entropy":
        target_text += f" ({n_out} classes)"
    print(f"{name}: {n} rows, {d} features, {target_text}; {len(train_idx)} training and "
          f"{len(val_idx)} validation rows (seed {args.seed})")
    print(f"{net!r}: {net.params.size:,} parameters")
    batch = "full" if args.batch_size is None else args.batch_size
    print(f"fit: epochs={args.epochs}, batch_size={batch}, lr={args.lr}, "
          f"momentum={args.momentum}", flush=True)

    Xt, yt = X[train_idx], y[train_idx]
    validation = (X[val_idx], y[val_idx]) if len(val_idx) else None
    try:
        net.fit(Xt, yt, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                momentum=args.momentum, verbose=not args.quiet, validation_data=validation)
    except KeyboardInterrupt:
        raise CLIError(f"interrupted after {len(net.history)} epochs; the model was not "
                       f"saved", status=INTERRUPTED) from None
    print(f"training ({len(train_idx)} rows): {_metrics_text(net, Xt, yt, loss)}")
    if validation is not None:
        print(f"validation ({len(val_idx)} rows): "
              f"{_metrics_text(net, *validation, loss)}")
    if args.save is not None:
        try:
            net.save(args.save)
        except OSError as exc:
            raise CLIError(f"--save {args.save}: cannot write: "
                           f"{exc.strerror or exc}") from None
        print(f"saved the model to {args.save}")
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
    form that reads back to the same value of their dtype."""
    if values.dtype.kind in "iub":
        cells = [str(int(v)) for v in values.ravel()]
    else:
        cells = [str(v) for v in values.ravel()]
    k = values.shape[1]
    return [",".join(cells[i:i + k]) for i in range(0, len(cells), k)]


def cmd_predict(args):
    net = _load_model(args.model)
    if args.proba and net.loss_name == "mse":
        raise CLIError(f"--proba needs a classification model (loss cross_entropy or "
                       f"binary_cross_entropy); {args.model} has loss mse")
    table = read_table(args.data, target=args.target, x_key=args.x_array, with_y=False)
    n0, name = net.layer_sizes[0], table.name
    d = table.X.shape[1]
    if d != n0:
        hint = ""
        if d == n0 + 1 and args.target is None:
            hint = "; drop the target column with --target COLUMN"
        raise CLIError(f"{name}: {d} feature columns, but the model {args.model} expects "
                       f"{n0}{hint}")
    _check_dtype_range(table.X, net.dtype, name, table.where_x)
    if args.proba:
        values = net.forward(table.X)
        stem = "prob"
    else:
        values = net.predict(table.X)
        stem = "prediction"
    if values.ndim == 1:
        values = values[:, None]
    k = values.shape[1]
    if k == 1:
        head = stem
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
