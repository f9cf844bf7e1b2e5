"""fastmlp.cli.preprocess on its own: class labels to indices and back,
the numeric-target refusal, and the standardization train fits and
predict applies."""
import numpy as np
import pytest

from fastmlp.cli import preprocess
from fastmlp.cli.readers import Table
from fastmlp.cli.status import CLIError


def _table(target):
    target = np.asarray(target)
    return Table("d.csv", np.zeros((len(target), 1)), target, ["x"], "y",
                 lambda i, j: f"row {i + 1}", lambda i, j=None: f"row {i + 1}")


@pytest.mark.parametrize("target, labels", [
    ([1.0, 3.0, 2.0, 3.0], (1, 2, 3)),                   # wine: 3 classes, not 4
    ([-1.0, 1.0, 1.0, -1.0], (-1, 1)),
    (["setosa", "virginica", "setosa"], ("setosa", "virginica")),
])
def test_labels_become_indices_of_their_sorted_distinct_values(target, labels):
    codes, got = preprocess.encode_classes(_table(target))
    assert got == labels and all(type(x) is type(labels[0]) for x in got)
    assert codes.dtype == np.int64
    assert [got[c] for c in codes] == [type(labels[0])(t) for t in target]


def test_declared_classes_keep_absent_ones():
    codes, labels = preprocess.encode_classes(_table([0.0, 2.0, 2.0]), classes=4)
    assert labels == (0, 1, 2, 3) and codes.tolist() == [0, 2, 2]
    with pytest.raises(CLIError, match="with --classes 4 a class label must be an integer "
                                       "0..3, got 7"):
        preprocess.encode_classes(_table([0.0, 7.0]), classes=4)
    with pytest.raises(CLIError, match="--classes 3, but the target column \"y\" has 2 "
                                       "distinct text labels"):
        preprocess.encode_classes(_table(["a", "b"]), classes=3)


@pytest.mark.parametrize("target, match", [
    ([0.0, 1.5, 1.0], "got 1.5: for a numeric target use --loss mse"),
    (list(np.arange(101.0)), "101 distinct values in 101 rows.*use --loss mse"),
    (list(np.arange(11.0)) * 4, "11 distinct values in 44 rows.*--classes 11"),
    ([3.0, 3.0], "holds only the class 3"),
    ([f"id{i}" for i in range(120)], "120 distinct values.*is it the right column"),
])
def test_a_target_that_is_not_categorical_is_refused(target, match):
    with pytest.raises(CLIError, match=match):
        preprocess.encode_classes(_table(target))


def test_many_classes_with_enough_rows_are_classes():
    target = list(np.arange(11.0)) * 5          # 5 rows per class: classes
    assert len(preprocess.encode_classes(_table(target))[1]) == 11


def test_standardization_round_trip():
    # What train fits on the training rows and predict applies, now a
    # fastmlp.Preprocessor with a NumberTarget.
    from fastmlp import Preprocessor

    rng = np.random.default_rng(0)
    X = rng.normal(50.0, 7.0, (40, 3))
    X[:, 2] = 4.0                                # constant: left unscaled
    y = rng.normal(150.0, 70.0, 40)
    pre = Preprocessor().fit(X, y, rows=np.arange(30))
    assert pre.columns[2].scale == 1.0
    Xs = pre.transform(X[:30])
    np.testing.assert_allclose(Xs[:, :2].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Xs[:, :2].std(axis=0), 1, rtol=1e-12)
    np.testing.assert_array_equal(Xs[:, 2], 0.0)
    ys = pre.target.encode(y)
    np.testing.assert_allclose(ys[:30].mean(), 0, atol=1e-12)
    np.testing.assert_allclose(pre.target.decode(ys), y, rtol=1e-14)
    plain = Preprocessor(standardize=False).fit(X, y)
    np.testing.assert_array_equal(plain.transform(X), X)
    assert plain.target.decode(ys) is ys
