"""Data files to arrays: CSV with a header row, ``.npy`` and ``.npz``.

- CSV: a header row with the column names, then one row per sample,
  separated by commas, semicolons, tabs or bars (given, or guessed from the
  first lines), quoting as in Excel's CSV, UTF-8 (a byte-order mark is
  skipped), blank lines ignored; read by pandas' C engine. The feature
  columns come back as they are (a DataFrame: numbers, bools, text,
  missing values), for fastmlp.tabular to check and encode; the target
  column must hold numbers, or text only when the caller allows it
  (``text_target``: class labels). ``target`` names a column of the
  header, or gives its index (0-based, negative from the end) when no
  column has that name. A first column with no name (``""`` or pandas' ``"Unnamed:
  0"``) while the others have one is a row index, as
  ``DataFrame.to_csv`` writes it: it is left out of the features and
  reported in ``Table.index_column``.
- .npy: a 2-D numeric array, one row per sample; ``target`` is a column
  index.
- .npz: the arrays ``X`` (2-D) and ``y`` (1-D, or 2-D for several mse or
  binary_cross_entropy outputs), renamed with ``x_key``/``y_key``
  (``--x-array``/``--y-array``); with ``target``, the target is instead a
  column of ``X``.

The format comes from the file's first bytes (NumPy's magic string or a zip
archive), so the extension does not matter.

Every problem is a ``CLIError`` naming the file and, where it applies, the
place in it, in the file's own terms: CSV rows count data rows from 1 (the
header is not a row), with the line of the file beside them; rows and
columns of .npy/.npz arrays are 0-based indices. A ``Table`` carries that
naming on (``where_x``, ``where_y``) so that checks made later, against the
loss or the model, can point into the file as well.

Nothing here knows argparse: the commands pass the option values in.
"""
import csv
import os
import re
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..tabular.columns import first_non_number, is_text, raw_values
from .status import CLIError, one_line

NUMPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


@dataclass
class Table:
    """Data read from a file: ``X`` (n, d), a float64 array (.npy, .npz) or a
    DataFrame of the raw feature columns (CSV), and optionally the
    ``target`` (n,) or (n, k) float64, with where-to-look helpers for
    messages: ``where_x(i, j)`` and ``where_y(i, j)`` name row i and
    column j of X or of the target (j None for a 1-D target) in the file's
    own terms."""

    name: str
    X: object
    target: np.ndarray | None
    feature_names: list | None      # None for arrays: their columns have no names
    target_name: str | None
    where_x: Callable
    where_y: Callable | None
    index_column: str | None = None  # the header of a row-index column left out
    weights: object = None           # --sample-weight: taken out of X (train)


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


def first_bad(mask):
    """Index tuple of the first True in ``mask`` (row-major)."""
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _check_finite(arr, name, where):
    bad = ~np.isfinite(arr)
    if bad.any():
        at = first_bad(bad)
        raise CLIError(f"{name}, {where(*at)}: not a finite number: {float(arr[at])!r}")


_INDEX_HEADER = re.compile(r"(Unnamed: 0)?")


def _index_column(header, target):
    """0 when the first column is a row index (no name of its own, unlike
    some other column, and not the target), else None."""
    if (len(header) > 1 and target != 0 and _INDEX_HEADER.fullmatch(header[0])
            and any(h for h in header[1:])):
        return 0
    return None


def _selected_columns(header, select, t, name):
    """Indices of the columns named ``select`` (each exactly once in the
    header), none of them the target column ``t``."""
    missing = [n for n in select if n not in header]
    if missing:
        raise CLIError(f"{name}: missing the feature column(s) {_describe_columns(missing)} "
                       f"the model was trained on (columns: {_describe_columns(header)})")
    twice = [n for n in select if header.count(n) > 1]
    if twice:
        raise CLIError(f"{name}: the header has several columns named {twice[0]!r}, a "
                       f"feature of the model")
    cols = [header.index(n) for n in select]
    if t is not None and t in cols:
        raise CLIError(f"{name}: --target names the column {header[t]!r}, one of the "
                       f"model's features (the model reads its features by name and "
                       f"needs no --target)")
    return cols


# Files at least this large get a status line while they are read.
STATUS_BYTES = 50 * 2**20
SEPARATORS = ",;\t|"


def _pandas(name):
    try:
        import pandas
    except ImportError:
        raise CLIError(f'{name}: reading CSV files needs pandas: pip install '
                       f'"fastmlp[tabular]"') from None
    return pandas


def _guess_separator(path, name):
    """The separator of a CSV file: the one of SEPARATORS that splits the
    header and the next lines into the same number of fields (more than
    one), as csv.Sniffer decides, else a comma."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            head = f.read(64 * 1024)
    except UnicodeDecodeError:
        raise CLIError(f"{name}: neither UTF-8 text (CSV) nor a NumPy .npy/.npz "
                       f"file") from None
    except OSError as exc:
        raise CLIError(f"{name}: cannot open: {exc.strerror or exc}") from None
    lines = [line for line in head.splitlines() if line.strip()][:20]
    if len(lines) > 1 and not head.endswith(("\n", "\r")) and len(head) == 64 * 1024:
        lines = lines[:-1]      # the last line may be cut
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=SEPARATORS).delimiter
    except csv.Error:
        return ","


def _records(path, sep):
    """(record, file line) of each non-blank line of a CSV file, the header
    first: the slow, exact reading that error messages are made from."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=sep)
        for rec in reader:
            if rec and not (len(rec) == 1 and not rec[0].strip()):
                yield rec, reader.line_num


def _line_of(path, sep, row):
    """The file line (1-based) of data row ``row`` (0-based): blank lines
    are skipped and quoted fields may span lines, as the reader does."""
    for i, (_, line) in enumerate(_records(path, sep)):
        if i == row + 1:
            return line
    return None


def _header(path, sep):
    """The header's cells as written (pandas renames repeated names)."""
    for rec, _ in _records(path, sep):
        return [c.strip() for c in rec]
    return []


def _check_ragged(path, name, sep):
    """A CLIError for the first row whose length differs from the header's;
    None when every row is whole."""
    header = None
    try:
        for i, (rec, line) in enumerate(_records(path, sep)):
            if header is None:
                header = rec
            elif len(rec) != len(header):
                return CLIError(f"{name}, row {i} (line {line}): {len(rec)} values, but the "
                                f"header has {len(header)} columns")
    except csv.Error as exc:
        return CLIError(f"{name}: not valid CSV: {exc}")
    return None


def _parse(pd, path, name, sep):
    """pandas' reading of the file, with its C engine: on this project's
    benchmark (benchmarks/csv_read.py, 200,000 x 50) it read in 0.6x the
    time and 0.8x the memory of the pyarrow engine. A row with more values
    than the header is its error; one with fewer it fills with missing
    values, so when the last column has any, the rows are counted exactly
    (the slow reading, only then) to tell a short row from empty cells."""
    try:
        frame = pd.read_csv(path, sep=sep, engine="c", encoding="utf-8-sig",
                            skip_blank_lines=True)
    except pd.errors.ParserError:
        ragged = _check_ragged(path, name, sep)
        if ragged is not None:
            raise ragged from None
        raise
    if frame.shape[1] and frame.iloc[:, -1].isna().any():
        ragged = _check_ragged(path, name, sep)
        if ragged is not None:
            raise ragged
    return frame


def _read_frame(path, name, sep):
    pd = _pandas(name)
    size = os.path.getsize(path)
    started = time.perf_counter()
    if size >= STATUS_BYTES:
        print(f"reading {name} ({size / 2**20:,.0f} MB) ...", file=sys.stderr, flush=True)
    try:
        frame = _parse(pd, path, name, sep)
    except pd.errors.EmptyDataError:
        raise CLIError(f"{name}: the file is empty (a CSV file needs a header row)") from None
    except UnicodeDecodeError:
        raise CLIError(f"{name}: neither UTF-8 text (CSV) nor a NumPy .npy/.npz "
                       f"file") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise CLIError(f"{name}: not valid CSV: {one_line(str(exc))}") from None
    except OSError as exc:
        raise CLIError(f"{name}: cannot open: {exc.strerror or exc}") from None
    if size >= STATUS_BYTES:
        print(f"read {len(frame):,} rows x {frame.shape[1]} columns in "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return frame


def _separator_hint(header, sep):
    others = [s for s in SEPARATORS if s != sep and any(s in h for h in header)]
    if len(header) <= 2 and others:
        return f" (the header looks {others[0]!r}-separated: give --sep {others[0]!r})"
    return ""


def _text_target(values, missing, name, where):
    """A text target column (class labels) as a str array; no empty values."""
    labels = np.array([str(t).strip() for t in values], dtype=object)
    empty = missing | (labels == "")
    if empty.any():
        raise CLIError(f"{name}, {where(int(np.argmax(empty)))}: empty value (every row "
                       f"needs a class label)")
    return labels.astype(str)


def _target_values(column, name, where, hint, text_target):
    """The target column: float64 numbers, or text labels when allowed and
    no value is a number (a column of numbers with a typo stays an error)."""
    values, missing = raw_values(column)
    if values.dtype.kind == "f":
        bad = missing | ~np.isfinite(values)
        if bad.any():
            i = int(np.argmax(bad))
            what = "empty value" if missing[i] else f"not a finite number: {values[i]!r}"
            raise CLIError(f"{name}, {where(i)}: {what}{hint}")
        return values
    if text_target and is_text(values[~missing]):
        return _text_target(values, missing, name, where)
    i = first_non_number(values)
    if i is None:
        i = int(np.argmax(missing))
        raise CLIError(f"{name}, {where(i)}: empty value{hint}")
    raise CLIError(f"{name}, {where(i)}: not a number: {values[i]!r}{hint}")


def _read_csv(path, name, target, options):
    """A Table from a CSV file with a header row; ``target`` (None: no target
    column) is a header name or a column index. The feature columns are
    returned as a DataFrame of their raw values (fastmlp.tabular reads
    them); with ``options.select`` only the columns so named, in that
    order."""
    sep = options.sep or _guess_separator(path, name)
    frame = _read_frame(path, name, sep)
    header = _header(path, sep)
    if len(header) != frame.shape[1] or not any(header):
        raise CLIError(f"{name}: the file is empty (a CSV file needs a header row)")
    frame.columns = header
    if len(frame) == 0:
        raise CLIError(f"{name}: no data rows after the header")
    t = None if target is None else _resolve_target(target, header, len(header), name)
    if options.select is None:
        index = _index_column(header, t)
        feature_cols = [j for j in range(len(header)) if j != t and j != index]
    else:
        index = None
        feature_cols = _selected_columns(header, options.select, t, name)
    if not feature_cols:
        raise CLIError(f"{name}: no feature columns left besides the target column "
                       f"{header[t]!r}{_separator_hint(header, sep)}")

    def where_row(i):
        line = _line_of(path, sep, i)
        return f"row {i + 1}" + (f" (line {line})" if line else "")

    def column_where(j):
        return lambda i: f'{where_row(i)}, column "{header[j]}"'

    y = None
    if t is not None and options.read_target:
        y = _target_values(frame.iloc[:, t], name, column_where(t), options.target_hint,
                           options.text_target)
    features = frame.iloc[:, feature_cols]

    def where_x(i, k):
        return column_where(feature_cols[k])(i)

    def where_y(i, k=None):
        return column_where(t)(i)

    return Table(name, features, y, [header[j] for j in feature_cols],
                 None if t is None else header[t], where_x, where_y,
                 index_column=None if index is None else header[index])


def _load_numpy(path, name, mmap_mode=None):
    """The ndarray or NpzFile in ``path`` (no pickles)."""
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except Exception as exc:
        raise CLIError(f"{name}: cannot read the NumPy file: "
                       f"{type(exc).__name__}: {exc}") from None


def _check_numeric_2d(arr, name, what):
    if arr.dtype.kind not in "biuf":
        raise CLIError(f"{name}: {what} must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise CLIError(f"{name}: {what} must be a 2-D array (rows, columns), got shape "
                       f"{arr.shape}")
    if arr.shape[0] == 0:
        raise CLIError(f"{name}: {what} has no rows")


def _numeric_2d(arr, name, what):
    _check_numeric_2d(arr, name, what)
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


def _read_npy(arr, name, target, first=0):
    """A Table of arr, rows [first, first + len(arr)) of the file ``name``."""
    def where(i, j):
        return f"row {first + i}, column {j} (0-based)"

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


@dataclass
class CSVOptions:
    """How to read a CSV file: ``sep`` (None: guessed), the hint added to a
    bad target value's message, whether a target of text is allowed (class
    labels), the feature columns to keep by name (None: every one), and
    whether the target column's values are read (predict only drops it)."""

    sep: str | None = None
    target_hint: str = ""
    text_target: bool = False
    select: tuple | None = None
    read_target: bool = True        # False: the target column is only left out


def read_table(path, target=None, x_key="X", y_key="y", with_y=False, csv_options=None):
    """Read a data file. ``target``: the target column (a name or an index)
    or None; ``with_y``: for .npz without ``target``, also read the target
    array ``y_key``; ``csv_options``: CSVOptions (arrays ignore them)."""
    name = os.fspath(path)
    if os.path.isdir(path):
        raise CLIError(f"{name}: is a directory, not a data file")
    kind = _sniff(path, name)
    if kind == "csv":
        if name.lower().endswith((".npy", ".npz")):
            raise CLIError(f"{name}: not a NumPy .npy/.npz file (it does not start with "
                           f"NumPy's or zip's magic bytes)")
        return _read_csv(path, name, target, csv_options or CSVOptions())
    loaded = _load_numpy(path, name)
    if isinstance(loaded, np.ndarray):
        return _read_npy(loaded, name, target)
    return _read_npz(loaded, name, target, x_key, y_key, with_y)


def read_npy_rows(path, target, rows_of):
    """A Table of the rows [lo, hi) = ``rows_of(n)`` of the n rows of a 2-D
    .npy file, read through a memory map so that no other row is touched
    (each rank of a data-parallel job reads its own); messages name rows by
    their index in the whole file."""
    name = os.fspath(path)
    if os.path.isdir(path):
        raise CLIError(f"{name}: is a directory, not a data file")
    if _sniff(path, name) != "npy":
        raise CLIError(f"{name}: not a NumPy .npy file")
    arr = _load_numpy(path, name, mmap_mode="r")
    _check_numeric_2d(arr, name, "the array")
    lo, hi = rows_of(arr.shape[0])
    return _read_npy(arr[lo:hi], name, target, first=lo)



def is_npz(path):
    """Whether ``path`` is a readable zip archive (an .npz file)."""
    try:
        return _sniff(path, os.fspath(path)) == "npz"
    except CLIError:
        return False
