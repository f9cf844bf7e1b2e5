"""``fastmlp train``, written once for one process and for the ranks of
``mpiexec -n P fastmlp train``: the option checks, the targets, the
standardization, the model, the fit, the report and the save.

Where the training rows are is the business of a *rows* object, passed in:
``OneProcess`` here (every row read by this process, split into training
and validation rows), or ``distributed.RankRows`` (each rank its own block
of a .npy file). It reads the data, reduces over every row (``total``,
``mean``, ``average``, ``distinct``, ``count``, ``scale_of``), makes a
failure on one place a failure everywhere (``collective``, ``on_root``),
speaks (``say``), and refuses what it cannot do (``refuse``); the same
calls on one process are the plain NumPy ones, so the single-process
command computes exactly what it always did.
"""
import math
import os
import sys

import numpy as np

from . import fit_options, preprocess, splits
from .readers import first_bad, is_npz, read_table
from .status import INTERRUPTED, CLIError, one_line


class OneProcess:
    """Every training row is in this process."""

    root = True
    fit_options = {}
    distinct = staticmethod(np.unique)
    count = staticmethod(len)
    scale_of = staticmethod(preprocess.fit_scale)
    read_table = staticmethod(read_table)

    def refuse(self, args):
        pass

    def collective(self, call):
        return call()

    on_root = collective

    def total(self, value):
        return value

    def mean(self, values, axis=None):
        return np.mean(values, axis=axis)

    def average(self, value, rows):
        return value

    def spread(self, rows):
        """Where the rows are, for the data line: nowhere but here."""
        return ""

    def say(self, text, flush=False):
        print(text, flush=flush)


def _fmt(value):
    return f"{value:g}"


def _targets(table, loss, classes, rows):
    """(the target array fit takes, the number of outputs, the class labels
    or None), checked for the loss with messages that point into the file."""
    y, name = table.target, table.name
    if loss == "cross_entropy":
        codes, labels = preprocess.encode_classes(table, classes, rows.distinct, rows.count)
        return codes, len(labels), labels
    if loss == "binary_cross_entropy":
        bad = (y != 0) & (y != 1)
        if bad.any():
            at = first_bad(bad)
            raise CLIError(f"{name}, {table.where_y(*at)}: a binary_cross_entropy target "
                           f"must be 0 or 1, got {_fmt(y[at])}")
    return y, (1 if y.ndim == 1 else y.shape[1]), None


def _metrics_text(net, X, y, loss, y_original, rows):
    """One line of metrics of ``net`` on (X, y), the data as the model sees
    it, over every row of ``rows``; mse errors are measured in the target's
    own units (``y_original``, the model's outputs mapped back by its
    standardization)."""
    parts = [f"objective {rows.average(net.loss(X, y), len(y)):.6g}"]
    if loss == "cross_entropy":
        right = rows.total(int(np.sum(net.predict(X) == y)))
        n = rows.total(len(y))
        # minlength: the ranks' counts are added, and a rank may lack the
        # highest classes.
        majority = int(rows.total(np.bincount(y, minlength=net.layer_sizes[-1])).max())
        parts.append(f"accuracy {right / n:.4f} ({right}/{n}; majority class "
                     f"{majority / n:.4f})")
    elif loss == "binary_cross_entropy":
        predicted = net.predict(X)
        parts.append(f"accuracy {rows.mean(predicted == y):.4f}")
    else:
        y = y if y_original is None else y_original
        out = preprocess.unscale_outputs(net.standardization,
                                         net.predict(X).astype(np.float64))
        err = out - y
        parts.append(f"rmse {math.sqrt(float(rows.mean(err ** 2))):.6g}")
        ys = y.reshape(len(y), -1)
        ss_tot = rows.total(np.sum((ys - rows.mean(ys, axis=0)) ** 2, axis=0))
        if np.all(ss_tot > 0):
            r2 = 1 - rows.total(np.sum(err.reshape(len(y), -1) ** 2, axis=0)) / ss_tot
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


def _read_training_data(args, rows):
    loss = args.loss
    hint = " (a cross_entropy target holds class labels: integers or text)" \
        if loss == "cross_entropy" else ""
    target = args.target
    if target is None and not is_npz(args.data):
        target = "-1"
    table = rows.read_table(args.data, target=target, x_key=args.x_array,
                            y_key=args.y_array, with_y=True, target_hint=hint,
                            text_target=loss == "cross_entropy")
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


def _check_options(args, rows):
    """The options' own conflicts, before any data is read."""
    rows.refuse(args)
    if args.classes is not None and args.loss != "cross_entropy":
        raise CLIError(f"--classes applies to --loss cross_entropy only, not {args.loss}")
    fit_options.check(args)
    if args.save is not None:
        rows.on_root(lambda: _check_save_path(args.save))


def _split(args, n, name, codes=None):
    """(training rows, validation rows) of n; with the class ``codes`` of
    the rows, each class's share of them (splits.validation_split)."""
    if args.val_fraction > 0 and n < 2:
        raise CLIError(f"{name}: 1 row is too few to hold out a validation split "
                       f"(use --val-fraction 0)")
    try:
        return splits.validation_split(n, args.val_fraction, args.seed, codes)
    except ValueError as exc:
        raise CLIError(f"{name}: --val-fraction {args.val_fraction}: {exc} (use "
                       f"--val-fraction 0)") from None


class _Prepared:
    """The data as the model takes it, and what the report says of it."""

    def __init__(self, args, rows):
        loss = args.loss
        self.table = table = _read_training_data(args, rows)
        self.y, self.n_out, self.labels = _targets(table, loss, args.classes, rows)
        self.train_idx, self.val_idx = _split(args, len(table.X), table.name,
                                              splits.classes_to_split(loss, self.y))
        self.std = None
        if args.standardize:
            self.std = preprocess.standardization(
                table.X[self.train_idx], self.y[self.train_idx] if loss == "mse" else None,
                rows.scale_of)
        self.X = preprocess.scale_features(self.std, table.X)
        preprocess.check_dtype_range(self.X, args.dtype, table.name, table.where_x)
        self.y_model = preprocess.scale_target(self.std, self.y)


def _model(args, data):
    import fastmlp

    activation = args.activation.split(",") if "," in args.activation else args.activation
    try:
        net = fastmlp.MLP([data.X.shape[1], *args.hidden, data.n_out], activation=activation,
                          loss=args.loss, output=args.output, init=args.init, l2=args.l2,
                          dtype=args.dtype, seed=args.seed, matmul_dtype=args.matmul_dtype,
                          n_threads=args.threads)
    except (ValueError, TypeError, ImportError) as exc:
        raise CLIError(f"invalid model: {exc}") from None
    _record_data(net, data.table, data.labels, data.std)
    return net


def _announce(args, data, net, rows):
    table, n_out, labels = data.table, data.n_out, data.labels
    n, d = table.X.shape
    # Every rank takes part in the reductions; the root alone speaks.
    n_all, spread = rows.total(n), rows.spread(n)
    n_train, n_val = rows.total(len(data.train_idx)), rows.total(len(data.val_idx))
    target_text = preprocess._target_text(table)
    if labels is not None:
        shown = ", ".join(map(str, labels[:10])) + (", ..." if len(labels) > 10 else "")
        target_text += f" ({n_out} classes: {shown})"
    rows.say(f"{table.name}: {n_all} rows{spread}, {d} features, {target_text}; {n_train} "
             f"training and {n_val} validation rows (seed {args.seed})")
    if data.std is not None:
        scaled = "features" + (" and target" if data.std["target_mean"] is not None else "")
        rows.say(f"standardized the {scaled} with the training rows' mean and standard "
                 f"deviation (--no-standardize to use them as they are)")
    rows.say(f"{net!r}: {net.params.size:,} parameters")
    batch = "full" if args.batch_size is None else args.batch_size
    rows.say(f"fit: epochs={args.epochs}, batch_size={batch}, lr={args.lr}, "
             f"momentum={args.momentum}", flush=True)


def _report(args, data, net, rows):
    loss, y, X, y_model = args.loss, data.y, data.X, data.y_model
    for split, idx in (("training", data.train_idx), ("validation", data.val_idx)):
        if split == "training" or len(idx):
            text = _metrics_text(net, X[idx], y_model[idx], loss, y[idx], rows)
            rows.say(f"{split} ({rows.total(len(idx))} rows): {text}")


def _save(net, path):
    try:
        net.save(path)
    except OSError as exc:
        raise CLIError(f"--save {path}: cannot write: {exc.strerror or exc}") from None


def train(args, rows):
    """``fastmlp train`` with the training rows where ``rows`` says."""
    _check_options(args, rows)
    data = rows.collective(lambda: _Prepared(args, rows))
    net = _model(args, data)
    _announce(args, data, net, rows)
    Xt, yt = data.X[data.train_idx], data.y_model[data.train_idx]
    validation = ((data.X[data.val_idx], data.y_model[data.val_idx])
                  if len(data.val_idx) else None)
    try:
        net.fit(Xt, yt, epochs=args.epochs, batch_size=args.batch_size,
                momentum=args.momentum, verbose=not args.quiet and rows.root,
                validation_data=validation, **fit_options.options(args, data, rows),
                **rows.fit_options)
    except KeyboardInterrupt:
        raise CLIError(f"interrupted after {len(net.history)} epochs; the model was not "
                       f"saved", status=INTERRUPTED) from None
    _report(args, data, net, rows)
    if args.save is not None:
        rows.on_root(lambda: _save(net, args.save))
        rows.say(f"saved the model to {args.save}")
    else:
        rows.say(_save_hint(args.data))
    sys.stdout.flush()
    return 0
