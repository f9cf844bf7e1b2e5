"""pandas DataFrames as X: the model records the columns it was fit on,
reads later frames by name, checks column dtypes one by one, and keeps the
names through save and load (CONTRACT.md, "Model metadata")."""
import numpy as np
import pytest

import fastmlp
import fastmlp.reference

pd = pytest.importorskip("pandas", reason="DataFrame input needs pandas")


def _frame(n=30, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    return pd.DataFrame({"age": X[:, 0], "height": X[:, 1], "weight": X[:, 2]}), \
        rng.integers(0, 2, n)


def _net(impl):
    return impl([3, 4, 2], loss="cross_entropy", dtype="float64", seed=1)


def test_fit_records_the_column_names_and_reads_frames_by_them(impl):
    df, y = _frame()
    net = _net(impl)
    net.fit(df, y, epochs=3)
    assert net.feature_names == ("age", "height", "weight")
    reordered = df[["weight", "age", "height"]].assign(extra=1.0)
    np.testing.assert_array_equal(net.forward(reordered), net.forward(df))
    np.testing.assert_array_equal(net.forward(df.to_numpy()), net.forward(df))
    assert net.loss(reordered, y) == net.loss(df, y)
    np.testing.assert_array_equal(net.predict(reordered), net.predict(df))
    with pytest.raises(ValueError, match=r"missing the feature column\(s\) \['height'\]"):
        net.forward(df[["age", "weight"]])
    with pytest.raises(ValueError, match="network expects 3"):
        net.forward(df.to_numpy()[:, :2])


def test_a_later_fit_reads_its_frame_by_name(impl):
    df, y = _frame()
    a, b = _net(impl), _net(impl)
    a.fit(df, y, epochs=1, shuffle=False)
    b.fit(df, y, epochs=1, shuffle=False)
    a.fit(df[["height", "weight", "age"]], y, epochs=1, shuffle=False)
    b.fit(df, y, epochs=1, shuffle=False)
    np.testing.assert_array_equal(a.params, b.params)
    a.fit(df.to_numpy(), y, epochs=1)  # an array: the names stay
    assert a.feature_names == ("age", "height", "weight")


def test_names_only_when_every_column_name_is_a_string(impl):
    df, y = _frame()
    net = _net(impl)
    net.fit(df.set_axis([0, 1, 2], axis=1), y, epochs=1)
    assert net.feature_names is None
    net = _net(impl)
    net.fit(df.to_numpy(), y, epochs=1)
    assert net.feature_names is None


def test_nullable_and_bool_columns_are_numbers(impl):
    df, y = _frame()
    mixed = pd.DataFrame({
        "age": pd.array(np.round(df["age"] * 10).astype(int), dtype="Int64"),
        "height": pd.array(df["height"], dtype="Float64"),
        "weight": pd.array(df["weight"] > 0, dtype="boolean"),
    })
    plain = np.column_stack([np.round(df["age"] * 10), df["height"],
                             (df["weight"] > 0).astype(float)])
    a, b = _net(impl), _net(impl)
    a.fit(mixed, y, epochs=2)
    b.fit(plain, y, epochs=2)
    np.testing.assert_array_equal(a.params, b.params)
    bools = mixed.assign(weight=(df["weight"] > 0).to_numpy())  # numpy bool
    np.testing.assert_array_equal(a.forward(bools), a.forward(plain))


def test_bad_columns_are_named(impl):
    df, y = _frame()
    # A nullable column with a missing value is not a supported dtype (the
    # contract: TypeError naming the column), for every nullable kind.
    with_na = df.assign(height=pd.array([None] + list(df["height"][1:]), dtype="Float64"))
    net = _net(impl)
    before = net.params.copy()
    with pytest.raises(TypeError, match="column 'height' has dtype Float64 with missing "
                                        r"values \(first at row 0\)"):
        net.fit(with_na, y)
    np.testing.assert_array_equal(net.params, before)
    assert net.history == [] and net.feature_names is None
    ints = pd.array([1, 2, None] + [3] * (len(df) - 3), dtype="Int64")
    with pytest.raises(TypeError, match="column 'age' has dtype Int64 with missing"):
        _net(impl).fit(df.assign(age=ints), y)
    flags = pd.array([True, None] + [False] * (len(df) - 2), dtype="boolean")
    with pytest.raises(TypeError, match=r"column 'weight' .* \(first at row 1\)"):
        _net(impl).fit(df.assign(weight=flags), y)
    with pytest.raises(TypeError, match="column 'height' has dtype Float64 with missing"):
        net.forward(with_na)
    with pytest.raises(TypeError, match="column 'weight' has dtype"):
        _net(impl).fit(df.assign(weight=["heavy"] * len(df)), y)
    with pytest.raises(TypeError, match="column 'age' has dtype category"):
        _net(impl).fit(df.assign(age=pd.Categorical(["a"] * len(df))), y)
    with pytest.raises(ValueError, match="NaN"):
        _net(impl).fit(df.assign(age=np.nan), y)


def test_feature_names_survive_save_and_load(impl, tmp_path):
    df, y = _frame()
    net = _net(impl)
    net.fit(df, y, epochs=2)
    net.save(tmp_path / "m.npz")
    loaded = impl.load(tmp_path / "m.npz")
    assert loaded.feature_names == net.feature_names
    np.testing.assert_array_equal(loaded.forward(df[["weight", "height", "age"]]),
                                  net.forward(df))
    plain = _net(impl)
    plain.save(tmp_path / "p.npz")
    assert impl.load(tmp_path / "p.npz").feature_names is None


@pytest.mark.parametrize("names,match", [
    (["age", "height"], "has 2 names, but the model has 3 inputs"),
    (["age", "age", "weight"], "distinct strings"),
    (["age", 3, "weight"], "distinct strings"),
    ("age", "distinct strings"),
])
def test_bad_feature_names_in_a_file_are_refused(tmp_path, names, match):
    from test_persist import _encode, _load_bad, _parts, _write

    header, members = _parts(tmp_path)  # a genuine [3, 4, 2] model file
    header["feature_names"] = names
    members["header"] = _encode(header)
    _write(tmp_path / "bad", members)
    _load_bad(tmp_path / "bad", match)
    header["feature_names"] = ["a", "b", "c"]
    members["header"] = _encode(header)
    _write(tmp_path / "good", members)
    assert fastmlp.MLP.load(tmp_path / "good").feature_names == ("a", "b", "c")
