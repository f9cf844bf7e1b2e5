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

from ..tabular import Preprocessor
from ..tabular.columns import CategoryColumn, ColumnError, raw_values
from ..tabular.preprocessor import fit_scale
from ..tabular.target import ClassTarget, NumberTarget
from . import fit_options, preprocess, splits
from .readers import CSVOptions, is_npz, read_table
from .status import INTERRUPTED, CLIError, one_line


class OneProcess:
    """Every training row is in this process."""

    root = True
    fit_options = {}
    distinct = staticmethod(np.unique)
    count = staticmethod(len)
    scale_of = staticmethod(fit_scale)
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


def _targets(table, args, rows):
    """(the target array fit takes, the number of outputs, the class labels
    or None), checked for the loss with messages that point into the file."""
    if args.loss == "cross_entropy":
        codes, labels = preprocess.encode_classes(table, args.classes, rows.distinct,
                                                  rows.count)
        return codes, len(labels), labels
    y = table.target
    if args.loss == "binary_cross_entropy":
        y, labels = preprocess.encode_binary(table, rows.distinct)
        return y, (1 if y.ndim == 1 else y.shape[1]), labels
    return y, (1 if y.ndim == 1 else y.shape[1]), None


def _target(args, data, rows):
    """The target's record in the model: its labels, or its scale (an mse
    target standardized with the training rows' statistics)."""
    name = data.table.target_name
    if data.labels is not None:
        return ClassTarget(name, data.labels, binary=args.loss == "binary_cross_entropy")
    if args.loss == "mse" and args.standardize:
        y = data.y[data.train_idx]
        return NumberTarget(name, *rows.scale_of(y.reshape(len(y), -1)))
    return NumberTarget(name)


def _metrics_text(net, X, y, loss, y_original, rows, target):
    """One line of metrics of ``net`` on (X, y), the data as the model sees
    it, over every row of ``rows``; mse errors are measured in the target's
    own units (``y_original``, the model's outputs mapped back by
    ``target``)."""
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
        out = target.decode(net.predict(X).astype(np.float64))
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
    options = CSVOptions(sep=args.sep, target_hint=hint, text_target=loss != "mse")
    table = rows.read_table(args.data, target=target, x_key=args.x_array,
                            y_key=args.y_array, with_y=True, csv_options=options)
    table.weights = _take_weights(table, args.sample_weight)
    if table.index_column is not None:
        shown = repr(table.index_column) if table.index_column else "with no name"
        warn(f"{table.name}: the first column ({shown}) looks like a row index, as "
             f"pandas' DataFrame.to_csv writes it; it is not used as a feature")
    return table


def _take_weights(table, column):
    """The --sample-weight column taken out of the features: finite numbers
    >= 0, not all 0 (None without the option)."""
    if column is None:
        return None
    names = table.feature_names
    if names is not None and column in names:
        k = names.index(column)
    else:
        try:
            k = int(column)
        except ValueError:
            raise CLIError(f"{table.name}: --sample-weight {column}: no such feature column"
                           + (f" (columns: {', '.join(names[:12])})" if names else ""))
        if not -table.X.shape[1] <= k < table.X.shape[1]:
            raise CLIError(f"{table.name}: --sample-weight {column} is out of range: "
                           f"{table.X.shape[1]} feature columns")
        k %= table.X.shape[1]
    frame = hasattr(table.X, "iloc")
    values, missing = raw_values(table.X.iloc[:, k] if frame else table.X[:, k])
    bad = missing | ~(values >= 0) | ~np.isfinite(values) if values.dtype.kind == "f" \
        else np.ones(len(values), dtype=bool)
    if bad.any():
        i = int(np.argmax(bad))
        shown = float(values[i]) if values.dtype.kind == "f" else values[i]
        raise CLIError(f"{table.name}, {table.where_x(i, k)}: a sample weight must be a "
                       f"finite number >= 0, got {shown!r}")
    if not values.any():
        raise CLIError(f"{table.name}: every --sample-weight is 0")
    keep = [j for j in range(table.X.shape[1]) if j != k]
    where_x = table.where_x
    table.where_x = lambda i, j: where_x(i, keep[j])
    table.X = table.X.iloc[:, keep] if frame else table.X[:, keep]
    if names is not None:
        table.feature_names = [names[j] for j in keep]
    return values


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


def _check_features(args, table):
    """Raise the CLIError of the first bad value among the features, if any."""
    try:
        Preprocessor(args.standardize, args.impute, args.one_hot).fit(table.X)
    except ColumnError as exc:
        raise preprocess.column_error(table, exc) from None


class _Prepared:
    """The data as the model takes it, and what the report says of it."""

    def __init__(self, args, rows):
        loss = args.loss
        self.table = table = _read_training_data(args, rows)
        self.y, self.n_out, self.labels = _targets(table, args, rows)
        try:
            self.train_idx, self.val_idx = _split(args, len(table.X), table.name,
                                                  splits.classes_to_split(loss, self.y))
        except CLIError:
            # A bad value in the file is the first thing to mend: look for
            # one before refusing the split.
            _check_features(args, table)
            raise
        self.target = _target(args, self, rows)
        self.preprocessor = Preprocessor(args.standardize, args.impute, args.one_hot)
        try:
            self.X = self.preprocessor.fit_transform(
                table.X, loss=loss, rows=self.train_idx, target=self.target,
                scale_of=rows.scale_of)
        except ColumnError as exc:
            raise preprocess.column_error(table, exc) from None
        inputs = self.preprocessor.input_columns()
        preprocess.check_dtype_range(self.X, args.dtype, table.name,
                                     lambda i, k: table.where_x(i, inputs[k]))
        self.y_model = self.target.encode(self.y) if loss == "mse" else self.y


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
    return fastmlp.TabularModel(net, data.preprocessor)


def _announce(args, data, net, rows):
    table, n_out, labels = data.table, data.n_out, data.labels
    n, d = table.X.shape
    net = net.network
    # Every rank takes part in the reductions; the root alone speaks.
    n_all, spread = rows.total(n), rows.spread(n)
    n_train, n_val = rows.total(len(data.train_idx)), rows.total(len(data.val_idx))
    target_text = preprocess._target_text(table)
    if labels is not None:
        shown = ", ".join(map(str, labels[:10])) + (", ..." if len(labels) > 10 else "")
        target_text += f" ({n_out} classes: {shown})"
    rows.say(f"{table.name}: {n_all} rows{spread}, {d} features, {target_text}; {n_train} "
             f"training and {n_val} validation rows (seed {args.seed})")
    if args.standardize:
        scaled = "features" + (" and target" if args.loss == "mse" else "")
        rows.say(f"standardized the {scaled} with the training rows' mean and standard "
                 f"deviation (--no-standardize to use them as they are)")
    pre = data.preprocessor
    encoded = sum(isinstance(c, CategoryColumn) for c in pre.columns)
    if encoded:
        rows.say(f"one-hot encoded {encoded} text column(s): {pre.n_inputs} inputs from "
                 f"{len(pre.columns)} columns")
    rows.say(f"{net!r}: {net.params.size:,} parameters")
    batch = "full" if args.batch_size is None else args.batch_size
    rows.say(f"fit: epochs={args.epochs}, batch_size={batch}, lr={args.lr}, "
             f"momentum={args.momentum}", flush=True)


def _report(args, data, model, rows):
    loss, y, X, y_model = args.loss, data.y, data.X, data.y_model
    net = model.network
    for split, idx in (("training", data.train_idx), ("validation", data.val_idx)):
        if split == "training" or len(idx):
            text = _metrics_text(net, X[idx], y_model[idx], loss, y[idx], rows, data.target)
            rows.say(f"{split} ({rows.total(len(idx))} rows): {text}")


def _save(model, path):
    try:
        model.save(path)
    except OSError as exc:
        raise CLIError(f"--save {path}: cannot write: {exc.strerror or exc}") from None


def _interrupted(args, model, rows):
    """Ctrl-C: the model of the last finished epoch is kept when --save was
    given (fit leaves the parameters and optimizer state of that epoch)."""
    done = len(model.network.history)
    if args.save is None or done == 0:
        why = "no epoch finished" if done == 0 else "no --save was given"
        return CLIError(f"interrupted after {done} epochs; the model was not saved ({why})",
                        status=INTERRUPTED)
    rows.on_root(lambda: _save(model, args.save))
    return CLIError(f"interrupted after {done} epochs; saved the model of epoch {done} to "
                    f"{args.save}", status=INTERRUPTED)


def train(args, rows):
    """``fastmlp train`` with the training rows where ``rows`` says."""
    _check_options(args, rows)
    data = rows.collective(lambda: _Prepared(args, rows))
    model = _model(args, data)
    net = model.network
    _announce(args, data, model, rows)
    Xt, yt = data.X[data.train_idx], data.y_model[data.train_idx]
    validation = ((data.X[data.val_idx], data.y_model[data.val_idx])
                  if len(data.val_idx) else None)
    weights = data.table.weights
    try:
        net.fit(Xt, yt, epochs=args.epochs, batch_size=args.batch_size,
                momentum=args.momentum, verbose=not args.quiet and rows.root,
                validation_data=validation,
                sample_weight=None if weights is None else weights[data.train_idx],
                **fit_options.options(args, data, rows),
                **rows.fit_options)
    except KeyboardInterrupt:
        raise _interrupted(args, model, rows) from None
    _report(args, data, model, rows)
    if args.save is not None:
        rows.on_root(lambda: _save(model, args.save))
        rows.say(f"saved the model to {args.save}")
    else:
        rows.say(_save_hint(args.data))
    sys.stdout.flush()
    return 0
