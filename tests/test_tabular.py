"""fastmlp.tabular in Python: the Preprocessor against scikit-learn's
ColumnTransformer of the same steps, and what a saved model keeps of its
training (net.metrics)."""
import numpy as np
import pytest

import fastmlp
from fastmlp.tabular import Preprocessor
from fastmlp.tabular.columns import ColumnError

pd = pytest.importorskip("pandas")


def mixed_frame(n=120, seed=0):
    """Numbers, ints, bools-as-numbers and text, with missing values in
    number and text columns, the text columns between number columns."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * 3 + 1
    x[[2, 17, 40]] = np.nan
    counts = rng.integers(0, 6, n).astype(np.float64)     # repeats: a mode to find
    counts[[5, 6]] = np.nan
    colour = np.array(["red", "green", "blue", "green"], dtype=object)[rng.integers(0, 4, n)]
    colour[[1, 30]] = np.nan          # what pandas reads for an empty cell
    size = np.array(["S", "M", "L"], dtype=object)[rng.integers(0, 3, n)]
    return pd.DataFrame({"x": x, "colour": colour, "counts": counts, "size": size,
                         "z": rng.uniform(-50, 50, n)})


NUMERIC, TEXT = ["x", "counts", "z"], ["colour", "size"]


def sklearn_output(frame, strategy, fit_rows):
    """What scikit-learn's ColumnTransformer of the same steps gives, its
    columns reordered to fastmlp's: table order, one-hot in place."""
    compose = pytest.importorskip("sklearn.compose")
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    ct = compose.ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy=strategy)),
                          ("scale", StandardScaler())]), NUMERIC),
        # fastmlp fills a missing text value with the most frequent
        # category whatever the strategy of the number columns.
        ("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                          ("onehot", OneHotEncoder(handle_unknown="ignore",
                                                   sparse_output=False))]), TEXT),
    ])
    ct.fit(frame.iloc[fit_rows])
    out = ct.transform(frame)
    names = list(ct.get_feature_names_out())
    order = []
    for col in frame.columns:
        if col in NUMERIC:
            order.append(names.index(f"num__{col}"))
        else:
            order += [j for j, n in enumerate(names) if n.startswith(f"cat__{col}_")]
    return out[:, order]


@pytest.mark.parametrize("strategy", ["mean", "median", "most_frequent"])
def test_preprocessor_equals_column_transformer(strategy):
    frame = mixed_frame()
    # Held-out rows, missing values among them (x: 40, colour: 1).
    fit_rows = np.setdiff1d(np.arange(len(frame)), [1, 33, 40, 60, 61, 99])
    pre = Preprocessor(impute=strategy, one_hot=True).fit(frame, rows=fit_rows)
    expected = sklearn_output(frame, strategy, fit_rows)
    got = pre.transform(frame)
    assert got.shape == expected.shape == (len(frame), 3 + 3 + 3)
    # Both impute, center and divide in float64; the means and standard
    # deviations are summed in other orders, so they agree to rounding.
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    # Fitted on all rows (rows=None) as well.
    pre = Preprocessor(impute=strategy, one_hot=True).fit(frame)
    np.testing.assert_allclose(pre.transform(frame),
                               sklearn_output(frame, strategy, np.arange(len(frame))),
                               rtol=0, atol=1e-12)


def test_fit_errors_name_the_row_of_the_table():
    """fit on some rows checks every row of the table (the statistics come
    from the rows fitted) and reports the first bad value by its row in
    the whole table."""
    frame = mixed_frame()
    rows = np.arange(10, len(frame))
    frame.loc[25, "x"] = np.inf
    with pytest.raises(ColumnError) as info:
        Preprocessor(impute="mean", one_hot=True).fit(frame, rows=rows)
    assert info.value.row == 25 and info.value.column == "x"
    frame.loc[25, "x"] = 0.0
    first_missing = int(np.flatnonzero(frame["x"].isna())[0])
    assert first_missing < 10                   # outside the rows fitted
    with pytest.raises(ColumnError) as info:
        Preprocessor(one_hot=True).fit(frame, rows=rows)
    assert info.value.row == first_missing and info.value.column == "x"


def test_numbers_written_as_text_fit_as_numbers():
    """A column of numbers that pandas read as text (a blank or quoted cell)
    is a number column; a text value among them is named by its row,
    whether or not its row is fitted."""
    frame = pd.DataFrame({"age": ["1", "3", "abc", "7"], "b": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ColumnError) as info:
        Preprocessor().fit(frame, rows=[0, 1, 3])
    assert info.value.row == 2 and info.value.column == "age" and "'abc'" in str(info.value)
    frame.loc[2, "age"] = " "                   # a blank cell: missing
    pre = Preprocessor(impute="mean").fit(frame, rows=[0, 1, 3])
    assert pre.n_inputs == 2
    assert pre.columns[0].mean == pytest.approx(11 / 3, rel=1e-15)
    assert pre.columns[0].impute == pytest.approx(11 / 3, rel=1e-15)
    np.testing.assert_allclose(pre.transform(frame.iloc[[0, 1, 3]]).sum(axis=0), 0,
                               atol=1e-12)


# -- what a saved model keeps -------------------------------------------------------

def _trained_with_validation():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    X = 2.0 * np.eye(3)[y] + 0.5 * rng.standard_normal((300, 3))
    net = fastmlp.MLP([3, 8, 3], loss="cross_entropy", seed=0)
    net.fit(X[:240], y[:240], epochs=4, batch_size=32,
            validation_data=(X[240:], y[240:]))
    return net


def test_metrics_are_saved(tmp_path):
    net = _trained_with_validation()
    assert len(net.metrics) == 4 and "val_loss" in net.metrics[0]
    net.save(tmp_path / "m.npz")
    loaded = fastmlp.MLP.load(tmp_path / "m.npz")
    assert loaded.metrics == net.metrics
    assert loaded.history == net.history


def test_plot_of_a_loaded_model_has_the_validation_curves(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.image

    net = _trained_with_validation()
    net.save(tmp_path / "m.npz")
    fastmlp.plot_history(fastmlp.MLP.load(tmp_path / "m.npz"), tmp_path / "h.png")
    # The accuracy panel appears only with validation metrics: 1200 px wide,
    # against 800 for the training curve alone.
    assert matplotlib.image.imread(tmp_path / "h.png").shape == (450, 1200, 4)


def test_fit_takes_class_weights_in_the_labels():
    # The network's fit takes class codes; a TabularModel's user has labels.
    rng = np.random.default_rng(3)
    X = rng.standard_normal((90, 2))
    y = np.array(["cat", "dog", "eel"])[rng.integers(0, 3, 90)]

    def fitted(**options):
        pre = Preprocessor().fit(X, y, loss="cross_entropy")
        net = fastmlp.MLP([2, 4, 3], loss="cross_entropy", seed=0)
        return fastmlp.TabularModel(net, pre).fit(X, y, epochs=2, **options).network

    by_label = fitted(class_weight={"eel": 3.0, "cat": 0.5})
    pre = Preprocessor().fit(X, y, loss="cross_entropy")
    direct = fastmlp.MLP([2, 4, 3], loss="cross_entropy", seed=0)
    direct.fit(pre.transform(X), pre.target.encode(y), epochs=2,
               class_weight={2: 3.0, 0: 0.5})
    np.testing.assert_array_equal(by_label.params, direct.params)
    assert not np.array_equal(by_label.params, fitted().params)
    with pytest.raises(ValueError, match="'fox' is not one of the class labels"):
        fitted(class_weight={"fox": 1.0})
