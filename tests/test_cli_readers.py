"""The data-file readers of the command line (fastmlp.cli.readers), called
directly: no subprocess, no argparse. What each format yields, and the
error messages, which must name the file and the place in it."""
import numpy as np
import pytest

from fastmlp import Preprocessor
from fastmlp.cli import readers
from fastmlp.cli.preprocess import column_error
from fastmlp.cli.readers import CSVOptions
from fastmlp.cli.status import CLIError
from fastmlp.tabular.columns import ColumnError


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def read_table(path, **kw):
    """The table as train reads it: the file, then its feature columns as
    numbers (a CSV file's columns come back raw; the command's Preprocessor
    checks them, naming the file's row, line and column)."""
    table = readers.read_table(path, **kw)
    try:
        table.X = Preprocessor(standardize=False).fit(table.X).transform(table.X)
    except ColumnError as exc:
        raise column_error(table, exc) from None
    return table


def error_of(path, **kw):
    with pytest.raises(CLIError) as info:
        read_table(path, **kw)
    assert info.value.status == 2
    message = str(info.value)
    assert message.startswith(str(path)), message
    return message


# -- CSV -----------------------------------------------------------------------------

def test_csv_header_and_numbers(tmp_path):
    path = write(tmp_path, "d.csv", "a, b ,label\n1,2.5,0\n-3,4e1,1\n")
    table = read_table(path, target="label")
    assert table.name == str(path)
    assert table.feature_names == ["a", "b"]        # header cells are stripped
    assert table.target_name == "label"
    assert table.X.dtype == np.float64
    np.testing.assert_array_equal(table.X, [[1, 2.5], [-3, 40]])
    np.testing.assert_array_equal(table.target, [0, 1])


def test_csv_without_target_keeps_every_column(tmp_path):
    path = write(tmp_path, "d.csv", "a,b,c\n1,2,3\n4,5,6\n")
    table = read_table(path)
    assert table.target is None and table.target_name is None
    assert table.feature_names == ["a", "b", "c"]
    np.testing.assert_array_equal(table.X, [[1, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize("target, name, features, values", [
    ("b", "b", [[1, 3], [4, 6]], [2, 5]),
    ("0", "a", [[2, 3], [5, 6]], [1, 4]),
    (1, "b", [[1, 3], [4, 6]], [2, 5]),
    ("-1", "c", [[1, 2], [4, 5]], [3, 6]),
    ("-3", "a", [[2, 3], [5, 6]], [1, 4]),
])
def test_csv_target_by_name_index_and_negative_index(tmp_path, target, name, features,
                                                     values):
    path = write(tmp_path, "d.csv", "a,b,c\n1,2,3\n4,5,6\n")
    table = read_table(path, target=target)
    assert table.target_name == name
    assert table.feature_names == [c for c in "abc" if c != name]
    np.testing.assert_array_equal(table.X, features)
    np.testing.assert_array_equal(table.target, values)


def test_csv_a_header_name_wins_over_an_index(tmp_path):
    # A column named "0" is the target "0", not column index 0.
    path = write(tmp_path, "d.csv", "x,0\n7,1\n8,0\n")
    table = read_table(path, target="0")
    assert table.target_name == "0"
    np.testing.assert_array_equal(table.target, [1, 0])
    np.testing.assert_array_equal(table.X[:, 0], [7, 8])


def test_csv_byte_order_mark_quotes_and_blank_lines(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b'\xef\xbb\xbf"first",second\n\n"1",2\n\n  \n3,"4"\n')
    table = read_table(path)
    assert table.feature_names == ["first", "second"]
    np.testing.assert_array_equal(table.X, [[1, 2], [3, 4]])


def test_csv_format_comes_from_the_content_not_the_extension(tmp_path):
    path = write(tmp_path, "data.txt", "a,b\n1,2\n")
    np.testing.assert_array_equal(read_table(path).X, [[1, 2]])


def test_csv_not_a_number_names_file_row_line_and_column(tmp_path):
    # The blank line makes the file's line differ from row + 1.
    path = write(tmp_path, "d.csv", "age,b,label\n1,2,0\n\n3,4,1\nabc,5,0\n")
    message = error_of(path, target="label")
    assert 'row 3 (line 5), column "age"' in message
    assert "not a number: 'abc'" in message


def test_csv_bad_target_value_carries_the_hint(tmp_path):
    path = write(tmp_path, "d.csv", "a,species\n1,setosa\n")
    message = error_of(path, target="species", csv_options=CSVOptions(target_hint=" (use labels)"))
    assert 'row 1 (line 2), column "species"' in message
    assert message.endswith("not a number: 'setosa' (use labels)")


def test_csv_empty_value(tmp_path):
    path = write(tmp_path, "d.csv", "a,b\n1,2\n3, \n")
    message = error_of(path)
    assert 'row 2 (line 3), column "b": missing value' in message
    assert "--impute" in message


@pytest.mark.parametrize("cell", ["inf", "-Infinity"])
def test_csv_rejects_inf(tmp_path, cell):
    path = write(tmp_path, "d.csv", f"a,b\n1,2\n3,{cell}\n")
    message = error_of(path)
    assert 'row 2 (line 3), column "b"' in message
    assert f"not a finite number: {float(cell)!r}" in message


@pytest.mark.parametrize("cell", ["nan", "NaN", "NA", ""])
def test_csv_nan_is_a_missing_value(tmp_path, cell):
    # pandas' missing-value markers: an error that offers --impute, or imputed.
    path = write(tmp_path, "d.csv", f"a,b\n1,2\n3,{cell}\n5,6\n")
    message = error_of(path)
    assert 'row 2 (line 3), column "b": missing value' in message and "--impute" in message
    table = readers.read_table(path)
    X = Preprocessor(standardize=False, impute="mean").fit(table.X).transform(table.X)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])


def test_csv_rejects_inf_in_the_target(tmp_path):
    path = write(tmp_path, "d.csv", "a,y\n1,inf\n")
    assert 'row 1 (line 2), column "y": not a finite number' in error_of(path, target="y")


@pytest.mark.parametrize("rows, where, values", [
    ("1,2,3\n4,5\n", "row 2 (line 3)", "2 values"),
    ("1,2,3\n4,5,6,7\n", "row 2 (line 3)", "4 values"),
])
def test_csv_ragged_rows(tmp_path, rows, where, values):
    path = write(tmp_path, "d.csv", "a,b,c\n" + rows)
    message = error_of(path)
    assert where in message and values in message
    assert "the header has 3 columns" in message


def test_csv_empty_file(tmp_path):
    assert "the file is empty" in error_of(write(tmp_path, "d.csv", ""))
    assert "the file is empty" in error_of(write(tmp_path, "blank.csv", "\n \n"))


def test_csv_header_only(tmp_path):
    assert "no data rows after the header" in error_of(write(tmp_path, "d.csv", "a,b\n"))


@pytest.mark.parametrize("text, target, expected", [
    ("a,b\n1,2\n", "label", ["no column 'label' in the header", "'a', 'b'"]),
    ("a,b\n1,2\n", "2", ["--target 2 is out of range", "2 columns"]),
    ("a,b\n1,2\n", "-3", ["--target -3 is out of range"]),
    ("y,a,y\n1,2,3\n", "y", ["2 columns named 'y'", "column index"]),
    ("y\n1\n", "y", ["no feature columns left besides the target column 'y'"]),
])
def test_csv_target_errors(tmp_path, text, target, expected):
    message = error_of(write(tmp_path, "d.csv", text), target=target)
    for part in expected:
        assert part in message, (part, message)


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,b\n1,\xff\xfe\n")
    assert "neither UTF-8 text" in error_of(path)


def test_table_where_helpers_name_csv_cells(tmp_path):
    path = write(tmp_path, "d.csv", "a,y,b\n1,0,2\n\n3,1,4\n")
    table = read_table(path, target="y")
    # X column 1 is the file's column "b": the helpers skip the target.
    assert table.where_x(1, 1) == 'row 2 (line 4), column "b"'
    assert table.where_y(0) == 'row 1 (line 2), column "y"'


# -- .npy ----------------------------------------------------------------------------

def test_npy_2d_with_a_target_column(tmp_path):
    A = np.arange(12.0).reshape(4, 3)
    np.save(tmp_path / "a.npy", A)
    table = read_table(tmp_path / "a.npy", target="1")
    np.testing.assert_array_equal(table.X, A[:, [0, 2]])
    np.testing.assert_array_equal(table.target, A[:, 1])
    assert table.target_name == "column 1" and table.feature_names is None
    assert table.where_x(3, 1) == "row 3, column 2 (0-based)"

    whole = read_table(tmp_path / "a.npy")
    assert whole.target is None
    np.testing.assert_array_equal(whole.X, A)


def test_npy_integers_become_float64(tmp_path):
    np.save(tmp_path / "i.npy", np.array([[1, 2], [3, 4]], dtype=np.int16))
    table = read_table(tmp_path / "i.npy", target="-1")
    assert table.X.dtype == np.float64 and table.target.dtype == np.float64
    np.testing.assert_array_equal(table.target, [2, 4])


def test_npy_extension_on_any_name(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((2, 2)))
    (tmp_path / "a.csv").write_bytes((tmp_path / "a.npy").read_bytes())
    assert read_table(tmp_path / "a.csv").X.shape == (2, 2)


@pytest.mark.parametrize("array, expected", [
    (np.arange(5.0), "2-D array (rows, columns), got shape (5,)"),
    (np.ones((2, 2, 2)), "got shape (2, 2, 2)"),
    (np.ones((0, 3)), "has no rows"),
    (np.array([["a", "b"]]), "must be numeric"),
])
def test_npy_shape_and_dtype_errors(tmp_path, array, expected):
    np.save(tmp_path / "bad.npy", array)
    assert expected in error_of(tmp_path / "bad.npy")


def test_npy_rejects_nan_and_inf_with_position(tmp_path):
    A = np.ones((4, 3))
    A[2, 1] = np.inf
    np.save(tmp_path / "inf.npy", A)
    message = error_of(tmp_path / "inf.npy")
    assert "row 2, column 1 (0-based): not a finite number: inf" in message


def test_npy_target_must_be_an_index(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((2, 3)))
    assert "must be a column index" in error_of(tmp_path / "a.npy", target="label")
    assert "out of range" in error_of(tmp_path / "a.npy", target="3")


def test_npy_truncated_and_fake(tmp_path):
    np.save(tmp_path / "good.npy", np.ones((6, 4)))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "good.npy").read_bytes()[:100])
    assert "cannot read the NumPy file" in error_of(tmp_path / "cut.npy")
    fake = write(tmp_path, "fake.npy", "a,b\n1,2\n")
    assert "not a NumPy .npy/.npz file" in error_of(fake)


# -- .npz ----------------------------------------------------------------------------

def test_npz_default_keys(tmp_path):
    X, y = np.arange(6.0).reshape(3, 2), np.array([0, 1, 0])
    np.savez(tmp_path / "d.npz", X=X, y=y)
    table = read_table(tmp_path / "d.npz", with_y=True)
    np.testing.assert_array_equal(table.X, X)
    np.testing.assert_array_equal(table.target, y)
    assert table.target_name == "array 'y'"
    assert table.where_y(2) == "array 'y', row 2 (0-based)"
    # Without with_y (predict), y is not read.
    assert read_table(tmp_path / "d.npz").target is None


def test_npz_custom_keys(tmp_path):
    feats, labels = np.ones((3, 2)), np.array([1.0, 2.0, 3.0])
    np.savez(tmp_path / "d.npz", feats=feats, labels=labels, X=np.zeros((1, 1)))
    table = read_table(tmp_path / "d.npz", x_key="feats", y_key="labels", with_y=True)
    np.testing.assert_array_equal(table.X, feats)
    np.testing.assert_array_equal(table.target, labels)
    assert table.target_name == "array 'labels'"
    assert table.where_x(1, 0) == "array 'feats', row 1, column 0 (0-based)"


def test_npz_2d_target_and_one_column_target(tmp_path):
    np.savez(tmp_path / "k.npz", X=np.ones((3, 2)), y=np.arange(6.0).reshape(3, 2))
    assert read_table(tmp_path / "k.npz", with_y=True).target.shape == (3, 2)
    np.savez(tmp_path / "one.npz", X=np.ones((3, 2)), y=np.arange(3.0).reshape(3, 1))
    np.testing.assert_array_equal(read_table(tmp_path / "one.npz", with_y=True).target,
                                  [0, 1, 2])


def test_npz_target_column_of_x(tmp_path):
    X = np.arange(6.0).reshape(2, 3)
    np.savez(tmp_path / "d.npz", X=X)
    table = read_table(tmp_path / "d.npz", target="0", with_y=True)
    np.testing.assert_array_equal(table.X, X[:, 1:])
    np.testing.assert_array_equal(table.target, X[:, 0])
    assert table.target_name == "column 0 of array 'X'"


@pytest.mark.parametrize("kw, expected", [
    (dict(with_y=True), ["no array 'y'", "--y-array", "'X', 'other'"]),
    (dict(x_key="feats"), ["no array 'feats'", "--x-array"]),
])
def test_npz_missing_keys(tmp_path, kw, expected):
    np.savez(tmp_path / "d.npz", X=np.ones((2, 2)), other=np.ones(2))
    message = error_of(tmp_path / "d.npz", **kw)
    for text in expected:
        assert text in message, (text, message)


def test_npz_errors_in_y(tmp_path):
    np.savez(tmp_path / "rows.npz", X=np.ones((4, 2)), y=np.zeros(3))
    assert "array 'y' has 3 rows but array 'X' has 4" in error_of(tmp_path / "rows.npz",
                                                                   with_y=True)
    y = np.zeros((3, 2))
    y[1, 1] = np.nan
    np.savez(tmp_path / "nan.npz", X=np.ones((3, 2)), y=y)
    assert "array 'y', row 1, column 1 (0-based): not a finite number: nan" in \
        error_of(tmp_path / "nan.npz", with_y=True)
    np.savez(tmp_path / "nan1.npz", X=np.ones((3, 2)), y=np.array([0.0, 1.0, np.nan]))
    assert "array 'y', row 2 (0-based): not a finite number" in \
        error_of(tmp_path / "nan1.npz", with_y=True)
    np.savez(tmp_path / "cube.npz", X=np.ones((2, 2)), y=np.ones((2, 1, 1)))
    assert "must be 1-D" in error_of(tmp_path / "cube.npz", with_y=True)


# -- paths ---------------------------------------------------------------------------

def test_missing_file_and_directory(tmp_path):
    assert "cannot open" in error_of(tmp_path / "nowhere.csv")
    assert "is a directory" in error_of(tmp_path)


def test_is_npz(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.ones((1, 1)))
    np.save(tmp_path / "d.npy", np.ones((1, 1)))
    assert readers.is_npz(tmp_path / "d.npz")
    assert not readers.is_npz(tmp_path / "d.npy")
    assert not readers.is_npz(tmp_path / "missing.npz")
    assert not readers.is_npz(tmp_path)


def test_a_large_file_gets_a_status_line(tmp_path, monkeypatch, capsys):
    # Once: nothing printed for the 10-15 s a large file took to read.
    path = write(tmp_path, "d.csv", "a,b\n1,2\n3,4\n")
    monkeypatch.setattr(readers, "STATUS_BYTES", path.stat().st_size)
    readers.read_table(path)
    err = capsys.readouterr().err
    assert f"reading {path} (0 MB) ..." in err
    assert "read 2 rows x 2 columns in" in err
    monkeypatch.setattr(readers, "STATUS_BYTES", path.stat().st_size + 1)
    readers.read_table(path)
    assert capsys.readouterr().err == ""
