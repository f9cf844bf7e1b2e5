"""The ``fastmlp`` command (also ``python -m fastmlp``).

    fastmlp [--epochs N ...]            the main job: train on the bundled digits
    fastmlp train DATA [options]        train on a CSV, .npy or .npz file, save the model
    fastmlp predict MODEL DATA [...]    write predictions as CSV
    fastmlp bench [--configs ...]       per-step time against the GEMM floor

Data files
----------
- CSV: a header row with the column names, then one row per sample, comma
  separated (quoting as in Excel's CSV), UTF-8 (a byte-order mark is
  skipped), blank lines ignored. Every value used must be a number; the
  target column of a classification loss must hold integer class labels.
  ``--target`` names a column of the header, or gives its index (0-based,
  negative from the end) when no column has that name.
- .npy: a 2-D numeric array, one row per sample; ``--target`` is a column
  index.
- .npz: the arrays ``X`` (2-D) and ``y`` (1-D, or 2-D for several mse or
  binary_cross_entropy outputs), renamed with ``--x-array``/``--y-array``;
  with ``--target``, the target is instead a column of ``X``.
The format comes from the file's first bytes (NumPy's magic string or a zip
archive), so the extension does not matter.

In error messages, CSV rows count data rows from 1 (the header is not a
row), with the line of the file beside them; rows and columns of .npy/.npz
arrays are 0-based indices.

Exit status: 0 on success; 2 for a bad file, bad argument or a model error
(one line on stderr, ``fastmlp: error: ...``); 1 when training diverges
(``fastmlp.DivergenceError``); 130 when interrupted.
"""
import argparse
import csv
import math
import os
import sys
import time

import numpy as np

COMMANDS = ("train", "predict", "bench")

NUMPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


class CLIError(Exception):
    """An error reported as one line on stderr, with an exit status."""

    def __init__(self, message, status=2):
        super().__init__(message)
        self.status = status


def _one_line(text):
    return " ".join(str(text).split("\n")).strip()


def _error(message):
    print(f"fastmlp: error: {_one_line(message)}", file=sys.stderr, flush=True)


# == the main job: the bundled digits ============================================

TEST_FRACTION = 0.2


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
    if not value > 0 or not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _unit_interval(text):
    """A number in [0, 1): momentum, validation fraction."""
    value = _number(text, float, "a number in [0, 1)")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


_COMMANDS_HELP = """\
commands (run '{prog} COMMAND --help' for their options):
  train DATA            train on a CSV, .npy or .npz file and save the model
  predict MODEL DATA    write a saved model's predictions as CSV
  bench                 time a training step against its GEMM floor
With no command, runs the digits job described above."""


def build_parser(prog="python -m fastmlp"):
    """The options of the main job (the digits)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Train fastmlp.MLP on the bundled handwritten digits (80/20 split), "
                    "then the NumPy reference with the same arguments and seed, and "
                    "print the speed-up.",
        epilog=_COMMANDS_HELP.format(prog=prog),
        formatter_class=_EpilogAsIs,
    )
    parser.add_argument("--epochs", type=_positive_int, default=30,
                        help="training epochs (default: %(default)s)")
    parser.add_argument("--hidden", type=_positive_int, default=64,
                        help="units in the relu hidden layer (default: %(default)s)")
    parser.add_argument("--lr", type=_positive_float, default=0.2,
                        help="learning rate (default: %(default)s)")
    parser.add_argument("--batch-size", type=_positive_int, default=32,
                        help="mini-batch size (default: %(default)s)")
    parser.add_argument("--momentum", type=_unit_interval, default=0.9,
                        help="momentum in v = m*v + (1-m)*g (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the split, the initial weights and the shuffles "
                             "(default: %(default)s)")
    parser.add_argument("--repeats", type=_positive_int, default=3,
                        help="timed trainings per implementation; the best time counts "
                             "(default: %(default)s)")
    return parser


class _EpilogAsIs(argparse.HelpFormatter):
    """Wraps the description as usual but prints the epilog as written."""

    def add_text(self, text):
        if text is not None and text.startswith("commands ("):
            self._add_item(lambda t: t + "\n", [text])
        else:
            super().add_text(text)


def _accuracy(net, X, y):
    return float(np.mean(net.predict(X) == y))


def _new_net(cls, args):
    return cls([64, args.hidden, 10], activation="relu", loss="cross_entropy",
               seed=args.seed)


def _fit_kwargs(args, epochs):
    return dict(epochs=epochs, batch_size=args.batch_size, lr=args.lr,
                momentum=args.momentum)


def _train_by_epoch(cls, args, data, report):
    """Train one epoch per fit call; ``report(epoch, net, seconds)`` after each."""
    X_train, y_train = data
    net = _new_net(cls, args)
    total = 0.0
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        net.fit(X_train, y_train, **_fit_kwargs(args, 1))
        seconds = time.perf_counter() - start
        total += seconds
        report(epoch, net, seconds)
    return net, total


def _best_time(cls, args, data):
    """Best wall time of ``args.repeats`` fresh trainings with one fit call each."""
    X_train, y_train = data
    best = float("inf")
    for _ in range(args.repeats):
        net = _new_net(cls, args)
        start = time.perf_counter()
        net.fit(X_train, y_train, **_fit_kwargs(args, args.epochs))
        best = min(best, time.perf_counter() - start)
    return best


def run(args, out=None):
    """The main job with parsed ``args``; returns the fastmlp test accuracy."""
    import fastmlp
    from fastmlp import reference
    from fastmlp.datasets import load_digits, train_test_split_indices

    out = out if out is not None else sys.stdout

    def say(*parts):
        print(*parts, file=out, flush=True)

    X, y = load_digits()
    train_idx, test_idx = train_test_split_indices(len(X), TEST_FRACTION, args.seed)
    X_train, y_train = X[train_idx], y[train_idx]
    X_test, y_test = X[test_idx], y[test_idx]
    data = (X_train, y_train)

    say(f"fastmlp {fastmlp.__version__}: handwritten digits, {len(train_idx)} training "
        f"and {len(test_idx)} test rows (seed {args.seed})")
    say(f"MLP([64, {args.hidden}, 10], activation='relu', loss='cross_entropy', "
        f"seed={args.seed}); fit: batch_size={args.batch_size}, lr={args.lr}, "
        f"momentum={args.momentum}")
    say(f"{'epoch':>5}  {'objective':>9}  {'train_acc':>9}  {'test_acc':>8}  {'seconds':>8}")

    def report(epoch, net, seconds):
        say(f"{epoch:5d}  {net.history[-1]:9.4f}  {_accuracy(net, X_train, y_train):9.4f}  "
            f"{_accuracy(net, X_test, y_test):8.4f}  {seconds:8.4f}")

    net, fast_total = _train_by_epoch(fastmlp.MLP, args, data, report)
    test_acc = _accuracy(net, X_test, y_test)
    n_right = int(round(test_acc * len(test_idx)))
    say(f"fastmlp test accuracy: {test_acc:.4f} ({n_right}/{len(test_idx)}), "
        f"training time {fast_total:.4f} s")

    ref, ref_total = _train_by_epoch(reference.MLP, args, data, lambda *a: None)
    ref_acc = _accuracy(ref, X_test, y_test)
    drift = float(np.max(np.abs(np.subtract(net.history, ref.history))))
    say(f"reference test accuracy: {ref_acc:.4f}, training time {ref_total:.4f} s, "
        f"max |objective difference| per epoch vs fastmlp: {drift:.2e}")

    fast_best = _best_time(fastmlp.MLP, args, data)
    ref_best = _best_time(reference.MLP, args, data)
    say(f"training time, best of {args.repeats} runs of {args.epochs} epochs: "
        f"fastmlp {fast_best:.4f} s, reference {ref_best:.4f} s")
    say(f"speed-up (reference time / fastmlp time): {ref_best / fast_best:.1f}x")
    return test_acc


def _main_job(argv, prog):
    args = build_parser(prog).parse_args(argv)
    try:
        run(args)
    except (ValueError, FloatingPointError) as exc:
        # FloatingPointError covers fastmlp.DivergenceError (lr too large).
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0


# == reading data files ==========================================================

class Table:
    """Numeric data read from a file: ``X`` (n, d) float64 and optionally the
    ``target`` (n,) or (n, k) float64, with where-to-look helpers for
    messages: ``where_x(i, j)`` and ``where_y(i, j)`` name row i and
    column j of X or of the target (j None for a 1-D target) in the file's
    own terms."""

    def __init__(self, name, X, target, feature_names, target_name, where_x, where_y):
        self.name = name
        self.X = X
        self.target = target
        self.feature_names = feature_names
        self.target_name = target_name
        self.where_x = where_x
        self.where_y = where_y


def _describe_columns(names, limit=12):
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _resolve_target(spec, names, n_columns, name, what="columns"):
    """0-based index of the target column: ``spec`` is a header name (when
    ``names`` is given: a CSV file) or an int index, negative from the end."""
    if names is not None and spec in names:
        hits = [i for i, n in enumerate(names) if n == spec]
        if len(hits) > 1:
            raise CLIError(f"{name}: the header has {len(hits)} columns named {spec!r}; "
                           f"give --target as a column index instead")
        return hits[0]
    try:
        index = int(spec)
    except (TypeError, ValueError):
        if names is None:
            raise CLIError(f"{name}: --target must be a column index (an integer) for a "
                           f"NumPy array, got {spec!r}") from None
        raise CLIError(f"{name}: no column {spec!r} in the header (columns: "
                       f"{_describe_columns(names)})") from None
    if not -n_columns <= index < n_columns:
        raise CLIError(f"{name}: --target {spec} is out of range: the data has "
                       f"{n_columns} {what}")
    return index % n_columns


def _first_bad(mask):
    """Index tuple of the first True in ``mask`` (row-major)."""
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _check_finite(arr, name, where):
    bad = ~np.isfinite(arr)
    if bad.any():
        at = _first_bad(bad)
        raise CLIError(f"{name}, {where(*at)}: not a finite number: {float(arr[at])!r}")


def _parse_column(values, name, where, hint=""):
    """Floats of one CSV column (a sequence of strings); the first bad value
    is reported with ``where(i)``."""
    try:
        col = np.asarray(values, dtype=str).astype(np.float64)
    except ValueError:
        for i, text in enumerate(values):
            if not text.strip():
                raise CLIError(f"{name}, {where(i)}: empty value{hint}") from None
            try:
                float(text)
            except ValueError:
                raise CLIError(f"{name}, {where(i)}: not a number: {text!r}{hint}") from None
        col = np.array([float(t) for t in values], dtype=np.float64)
    bad = ~np.isfinite(col)
    if bad.any():
        i = int(np.argmax(bad))
        raise CLIError(f"{name}, {where(i)}: not a finite number: {values[i]!r}")
    return col


def _open_text(path, name):
    try:
        return open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise CLIError(f"{name}: cannot open: {exc.strerror or exc}") from None


def _read_csv(path, name, target, target_hint=""):
    """A Table from a CSV file with a header row; ``target`` (None: no target
    column) is a header name or a column index."""
    with _open_text(path, name) as f:
        reader = csv.reader(f)
        rows, lines = [], []
        header = None
        try:
            for rec in reader:
                if not rec or (len(rec) == 1 and not rec[0].strip()):
                    continue        # a blank line
                if header is None:
                    header = [c.strip() for c in rec]
                    continue
                if len(rec) != len(header):
                    raise CLIError(
                        f"{name}, row {len(rows) + 1} (line {reader.line_num}): "
                        f"{len(rec)} values, but the header has {len(header)} columns")
                rows.append(rec)
                lines.append(reader.line_num)
        except UnicodeDecodeError:
            raise CLIError(f"{name}: neither UTF-8 text (CSV) nor a NumPy .npy/.npz "
                           f"file") from None
        except csv.Error as exc:
            raise CLIError(f"{name}, line {reader.line_num}: not valid CSV: {exc}") from None
    if header is None:
        raise CLIError(f"{name}: the file is empty (a CSV file needs a header row)")
    if not rows:
        raise CLIError(f"{name}: no data rows after the header")
    t = None if target is None else _resolve_target(target, header, len(header), name)
    feature_cols = [j for j in range(len(header)) if j != t]
    if not feature_cols:
        raise CLIError(f"{name}: no feature columns left besides the target column "
                       f"{header[t]!r}")

    def where_row(i):
        return f"row {i + 1} (line {lines[i]})"

    def column_where(j):
        return lambda i: f'{where_row(i)}, column "{header[j]}"'

    columns = list(zip(*rows))
    X = np.empty((len(rows), len(feature_cols)), dtype=np.float64)
    for k, j in enumerate(feature_cols):
        X[:, k] = _parse_column(columns[j], name, column_where(j))
    y = None
    if t is not None:
        y = _parse_column(columns[t], name, column_where(t), target_hint)

    def where_x(i, k):
        return column_where(feature_cols[k])(i)

    def where_y(i, k=None):
        return column_where(t)(i)

    return Table(name, X, y, [header[j] for j in feature_cols],
                 None if t is None else header[t], where_x, where_y)


def _load_numpy(path, name):
    """The ndarray or NpzFile in ``path`` (no pickles)."""
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:
        raise CLIError(f"{name}: cannot read the NumPy file: "
                       f"{type(exc).__name__}: {exc}") from None


def _numeric_2d(arr, name, what):
    if arr.dtype.kind not in "biuf":
        raise CLIError(f"{name}: {what} must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise CLIError(f"{name}: {what} must be a 2-D array (rows, columns), got shape "
                       f"{arr.shape}")
    if arr.shape[0] == 0:
        raise CLIError(f"{name}: {what} has no rows")
    return arr.astype(np.float64)


def _split_target_column(A, target, name, where_a, what):
    """Table fields with column ``target`` of A as the target."""
    t = _resolve_target(target, None, A.shape[1], name, what=f"columns in {what}")
    keep = [j for j in range(A.shape[1]) if j != t]
    if not keep:
        raise CLIError(f"{name}: no feature columns left besides the target column {t}")
    return dict(X=A[:, keep], target=A[:, t], target_name=f"column {t}",
                where_x=lambda i, k: where_a(i, keep[k]),
                where_y=lambda i, k=None: where_a(i, t))


def _read_npy(arr, name, target):
    def where(i, j):
        return f"row {i}, column {j} (0-based)"

    A = _numeric_2d(arr, name, "the array")
    _check_finite(A, name, where)
    if target is None:
        return Table(name, A, None, None, None, where, None)
    return Table(name, feature_names=None,
                 **_split_target_column(A, target, name, where, "the array"))


def _npz_array(archive, key, name, option):
    if key not in archive.files:
        raise CLIError(f"{name}: no array {key!r} in the .npz file (arrays: "
                       f"{_describe_columns(archive.files) or 'none'}); choose one with "
                       f"{option}")
    try:
        return archive[key]
    except Exception as exc:
        raise CLIError(f"{name}: cannot read array {key!r}: "
                       f"{type(exc).__name__}: {exc}") from None


def _read_npz(archive, name, target, x_key, y_key, with_y):
    def where_in(key):
        return lambda i, j=None: (f"array {key!r}, row {i}" if j is None else
                                  f"array {key!r}, row {i}, column {j}") + " (0-based)"

    with archive:
        A = _numeric_2d(_npz_array(archive, x_key, name, "--x-array"), name,
                        f"array {x_key!r}")
        _check_finite(A, name, where_in(x_key))
        if target is not None or not with_y:
            if target is None:
                return Table(name, A, None, None, None, where_in(x_key), None)
            fields = _split_target_column(A, target, name, where_in(x_key),
                                          f"array {x_key!r}")
            fields["target_name"] += f" of array {x_key!r}"
            return Table(name, feature_names=None, **fields)
        y = _npz_array(archive, y_key, name, "--y-array")
    if y.dtype.kind not in "biuf":
        raise CLIError(f"{name}: array {y_key!r} must be numeric, got dtype {y.dtype}")
    if y.ndim not in (1, 2):
        raise CLIError(f"{name}: array {y_key!r} must be 1-D (or 2-D for several outputs), "
                       f"got shape {y.shape}")
    if y.shape[0] != A.shape[0]:
        raise CLIError(f"{name}: array {y_key!r} has {y.shape[0]} rows but array "
                       f"{x_key!r} has {A.shape[0]}")
    y = y.astype(np.float64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    where_y = where_in(y_key)
    _check_finite(y.reshape(len(y), -1), name, where_y if y.ndim == 2 else
                  (lambda i, j: where_y(i)))
    return Table(name, A, y, None, f"array {y_key!r}", where_in(x_key), where_y)


def _sniff(path, name):
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as exc:
        raise CLIError(f"{name}: cannot open: {exc.strerror or exc}") from None
    if head.startswith(NUMPY_MAGIC):
        return "npy"
    if head[:4] in ZIP_MAGICS:
        return "npz"
    return "csv"


def read_table(path, target=None, x_key="X", y_key="y", with_y=False, target_hint=""):
    """Read a data file. ``target``: the target column (a name or an index)
    or None; ``with_y``: for .npz without ``target``, also read the target
    array ``y_key``."""
    name = os.fspath(path)
    if os.path.isdir(path):
        raise CLIError(f"{name}: is a directory, not a data file")
    kind = _sniff(path, name)
    if kind == "csv":
        if name.lower().endswith((".npy", ".npz")):
            raise CLIError(f"{name}: not a NumPy .npy/.npz file (it does not start with "
                           f"NumPy's or zip's magic bytes)")
        return _read_csv(path, name, target, target_hint)
    loaded = _load_numpy(path, name)
    if isinstance(loaded, np.ndarray):
        return _read_npy(loaded, name, target)
    return _read_npz(loaded, name, target, x_key, y_key, with_y)


# == train ========================================================================

def _hidden_sizes(text):
    text = text.strip()
    if text.lower() in ("", "none", "0"):
        return []
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated layer sizes like 128,64 (or none), got {text!r}") from None
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


def _classes(text):
    value = _number(text, int, "an integer >= 2")
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2, got {text}")
    return value


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
            at = _first_bad(bad)
            raise CLIError(f"{name}, {table.where_y(*at)}: a binary_cross_entropy target "
                           f"must be 0 or 1, got {_fmt(y[at])}")
    return y, (1 if y.ndim == 1 else y.shape[1])


def _check_dtype_range(X, dtype, name, where):
    if np.dtype(dtype) == np.float32:
        big = np.abs(X) > np.finfo(np.float32).max
        if big.any():
            at = _first_bad(big)
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
    if target is None and not _is_npz(args.data):
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
                       f"saved", status=130) from None
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


def _is_npz(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) in ZIP_MAGICS
    except OSError:
        return False


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
    return _bench.run_report(chosen, args.repeat, kinds=kinds, json_path=args.json,
                             strict=args.strict)


# == the parsers and main =========================================================

class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (``fastmlp: error: ...``), exit status 2."""

    def error(self, message):
        raise CLIError(f"{message} (see '{self.prog} --help')")


def _command_parser(prog, command):
    if command == "train":
        p = _Parser(
            prog=f"{prog} train",
            description="Train fastmlp.MLP on a data file (CSV with a header row, .npy or "
                        ".npz), holding out a validation split, print the progress and the "
                        "final metrics, and save the model.",
            epilog="The features are used as they are: scale them beforehand (to about "
                   "unit size) if their ranges differ a lot. Exit status: 0, 2 for a bad "
                   "file or argument (one line on stderr), 1 if training diverges.")
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
                            "fixed by --seed; 0 for none (default: %(default)s)")
        g.add_argument("--classes", type=_classes, default=None, metavar="K",
                       help="cross_entropy: number of classes (default: the largest label "
                            "+ 1)")
        g = p.add_argument_group("model")
        g.add_argument("--hidden", type=_hidden_sizes, default=[64], metavar="SIZES",
                       help="hidden layer sizes, comma separated, or none (default: 64)")
        g.add_argument("--activation", default="relu", metavar="NAME",
                       help="hidden activation: identity, sigmoid, tanh, relu, leaky_relu, or "
                            "one per hidden layer, comma separated (default: %(default)s)")
        g.add_argument("--loss", default="cross_entropy",
                       choices=("cross_entropy", "binary_cross_entropy", "mse"),
                       help="cross_entropy: integer class labels 0..K-1; "
                            "binary_cross_entropy: 0/1 targets; mse: numeric targets "
                            "(default: %(default)s)")
        g.add_argument("--output", default=None, metavar="NAME",
                       help="output activation (default: the loss's natural one)")
        g.add_argument("--init", default=None, choices=("xavier", "glorot", "he"),
                       help="weight initialization (default: he for relu layers, else "
                            "xavier)")
        g.add_argument("--l2", type=_nonnegative_float, default=0.0,
                       help="L2 penalty on the weights (default: %(default)s)")
        g.add_argument("--dtype", default="float32", choices=("float32", "float64"),
                       help="(default: %(default)s)")
        g.add_argument("--seed", type=int, default=0,
                       help="seed of the split, the initial weights and the shuffles "
                            "(default: %(default)s)")
        g = p.add_argument_group("training")
        g.add_argument("--epochs", type=_positive_int, default=20,
                       help="(default: %(default)s)")
        g.add_argument("--batch-size", type=_batch_size, default=32, metavar="N",
                       help="mini-batch size, or full (default: %(default)s)")
        g.add_argument("--lr", type=_positive_float, default=0.05,
                       help="learning rate (default: %(default)s)")
        g.add_argument("--momentum", type=_unit_interval, default=0.9,
                       help="momentum in v = m*v + (1-m)*g (default: %(default)s)")
        g.add_argument("--save", metavar="PATH", default=None,
                       help="write the trained model here (a .npz file; fastmlp.MLP.load "
                            "reads it)")
        g.add_argument("--quiet", action="store_true",
                       help="no per-epoch progress lines")
        return p
    if command == "predict":
        p = _Parser(
            prog=f"{prog} predict",
            description="Write the predictions of a saved model on a data file as CSV with "
                        "a header row: one row per data row, column 'prediction' (the class "
                        "for cross_entropy, 0/1 for binary_cross_entropy, the output for "
                        "mse; prediction_0, prediction_1, ... for several outputs).")
        p.add_argument("model", metavar="MODEL", help="a model file written by train --save")
        p.add_argument("data", metavar="DATA", help="CSV, .npy or .npz file")
        p.add_argument("--target", metavar="COLUMN", default=None,
                       help="drop this column (a CSV header name or a column index) before "
                            "predicting; default: every column is a feature")
        p.add_argument("--x-array", default="X", metavar="NAME",
                       help=".npz: the array of features (default: %(default)s)")
        p.add_argument("--out", metavar="FILE", default=None,
                       help="write the CSV here (default: standard output)")
        p.add_argument("--proba", action="store_true",
                       help="classification models: the probabilities instead "
                            "(prob_0, prob_1, ... per class for cross_entropy)")
        return p
    p = _Parser(
        prog=f"{prog} bench",
        description="Per-step training time of fastmlp.MLP against its GEMM floor (the "
                    "step's matrix products alone) and optionally the NumPy reference, on "
                    "this machine with one BLAS thread, measured in interleaved rounds "
                    "(minimum over rounds). Every config with the default rounds takes "
                    "about half a minute.")
    from fastmlp import _bench
    _bench.add_arguments(p, reference_flag=True)
    return p


_RUNNERS = {"train": cmd_train, "predict": cmd_predict, "bench": cmd_bench}


def _run_command(prog, command, argv):
    from fastmlp import DivergenceError

    try:
        args = _command_parser(prog, command).parse_args(argv)
        return _RUNNERS[command](args)
    except CLIError as exc:
        _error(exc)
        return exc.status
    except DivergenceError as exc:
        _error(f"training diverged: {exc}")
        return 1
    except BrokenPipeError:
        # The reader of our output went away (| head): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (ValueError, TypeError) as exc:
        _error(exc)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _error(f"{where}{exc.strerror or exc}")
        return 2
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


def main(argv=None, prog="fastmlp"):
    """Entry point of the ``fastmlp`` command; returns the exit status."""
    if argv is None:
        argv = sys.argv[1:]
    argv = list(argv)
    if argv and argv[0] in COMMANDS:
        return _run_command(prog, argv[0], argv[1:])
    if argv and not argv[0].startswith("-"):
        _error(f"unknown command {argv[0]!r} (commands: {', '.join(COMMANDS)}; with no "
               f"command, options like --epochs run the digits job; see '{prog} --help')")
        return 2
    return _main_job(argv, prog)


if __name__ == "__main__":
    sys.exit(main())
