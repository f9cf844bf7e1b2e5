"""Format version 4: a TabularModel's preprocessor is saved in the header
("preprocessor", tabular/stored.py) with the network; ``fastmlp.load``
gives back a model whose predictions are identical, ``MLP.load`` refuses
the file naming fastmlp.load, ``save`` refuses a preprocessor that load
would reject, and every malformed preprocessor is a ValueError naming the
problem, whichever load reads it."""
import copy
import json

import numpy as np
import pandas as pd
import pytest

import fastmlp
import fastmlp.reference
from fastmlp.io import persist as _persist

import persist_files
from test_persist import INVALID

N = 60


def _table(seed=0):
    """A table with a missing number, a text column and an int column."""
    rng = np.random.default_rng(seed)
    size = rng.normal(10.0, 3.0, N)
    size[[4, 17]] = np.nan
    return pd.DataFrame({
        "size": size,
        "colour": rng.choice(["red", "green", "blue"], N),
        "count": rng.integers(0, 50, N),
    })


def _targets(kind, X, seed=0):
    rng = np.random.default_rng(seed + 1)
    s = np.nan_to_num(X["size"].to_numpy(), nan=10.0)
    if kind == "classes":
        return np.where(s > 11, "big", np.where(X["colour"] == "red", "red", "other"))
    if kind == "binary":
        return np.where(s + rng.normal(0, 1, N) > 10, "yes", "no")
    return np.column_stack([s * 100 + 3, X["count"].to_numpy() * 0.5 - 7])


LOSSES = {"classes": ("cross_entropy", 3), "binary": ("binary_cross_entropy", 1),
          "number": ("mse", 2)}


def _fitted(kind, dtype="float64", seed=0):
    X = _table(seed)
    y = _targets(kind, X, seed)
    loss, n_out = LOSSES[kind]
    pre = fastmlp.Preprocessor(impute="median", one_hot=True).fit(X, y, loss=loss)
    net = fastmlp.MLP([pre.n_inputs, 6, n_out], activation="tanh", loss=loss, dtype=dtype,
                      seed=seed)
    model = fastmlp.TabularModel(net, pre).fit(X, y, epochs=3, batch_size=8,
                                               validation_data=(X, y))
    return model, X


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["classes", "binary", "number"])
def test_a_tabular_model_round_trips_with_identical_predictions(kind, dtype, tmp_path):
    model, X = _fitted(kind, dtype)
    model.save(tmp_path / "m")
    loaded = fastmlp.load(tmp_path / "m")
    assert isinstance(loaded, fastmlp.TabularModel) and type(loaded.network) is fastmlp.MLP
    assert loaded.preprocessor.to_json() == model.preprocessor.to_json()
    np.testing.assert_array_equal(loaded.network.params, model.network.params, strict=True)
    assert loaded.network.metrics == model.network.metrics and len(loaded.network.metrics) == 3
    X_new = _table(seed=5)
    for table in (X, X_new):
        expected = model.predict(table)
        got = loaded.predict(table)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
        if kind != "number":
            np.testing.assert_array_equal(loaded.predict_proba(table),
                                          model.predict_proba(table), strict=True)
    assert list(loaded.feature_names_in_) == ["size", "colour", "count"]
    if kind == "number":
        assert loaded.classes_ is None
    else:
        assert list(loaded.classes_) == list(model.classes_)
        assert len(set(model.predict(X).tolist())) >= 2  # the labels' mapping is used


def test_the_header_holds_the_preprocessor_and_the_metrics(tmp_path):
    model, _ = _fitted("classes")
    model.save(tmp_path / "m")
    header, members = persist_files.read(tmp_path / "m")
    assert header["version"] == 4 and list(header) == list(_persist.HEADER_FIELDS)
    assert header["preprocessor"] == model.preprocessor.to_json()
    pre = header["preprocessor"]
    assert sorted(pre) == ["columns", "feature_names", "impute", "one_hot", "standardize",
                           "target"]
    assert [c["kind"] for c in pre["columns"]] == ["number", "category", "number"]
    assert pre["columns"][1]["categories"] == ["blue", "green", "red"]
    assert pre["target"] == {"kind": "classes", "name": None,
                             "labels": ["big", "other", "red"], "binary": False}
    assert header["metrics"] == model.network.metrics
    assert header["layer_sizes"][0] == 5   # size, 3 colours, count


@pytest.mark.parametrize("cls", [fastmlp.MLP, fastmlp.reference.MLP])
def test_mlp_load_refuses_a_tabular_model_file(cls, tmp_path):
    model, _ = _fitted("binary")
    model.save(tmp_path / "m")
    with pytest.raises(ValueError, match=r"load it with fastmlp\.load\(path\)"):
        cls.load(tmp_path / "m")
    net, pre = _persist.load_any(cls, tmp_path / "m")
    assert type(net) is cls and pre.to_json() == model.preprocessor.to_json()


def test_a_passthrough_preprocessor_is_saved_too(tmp_path):
    net = fastmlp.MLP([3, 4, 2], loss="mse", seed=0)
    model = fastmlp.TabularModel(net, fastmlp.Preprocessor.passthrough(net))
    model.save(tmp_path / "m")
    loaded = fastmlp.load(tmp_path / "m")
    assert isinstance(loaded, fastmlp.TabularModel)
    X = np.random.default_rng(0).standard_normal((7, 3))
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def test_save_refuses_a_preprocessor_load_would_reject(tmp_path):
    model, _ = _fitted("classes")
    model.preprocessor.columns[0].scale = 0.0
    with pytest.raises(ValueError, match="cannot save: preprocessor column 0 scale must be "
                                         "a finite number > 0"):
        model.save(tmp_path / "m")
    model.preprocessor.columns[0].scale = 1.0
    model.preprocessor.target.labels = ("a", "b")
    with pytest.raises(ValueError, match="cannot save: the target has 2 labels, but the "
                                         "model has 3 outputs"):
        model.save(tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


# -- malformed preprocessors -----------------------------------------------------

def _in_pre(*keys_and_value):
    """A change of the header setting ["preprocessor"][keys...] to value (a
    callable value is called on the preprocessor object instead)."""
    *keys, value = keys_and_value

    def change(header):
        pre = header["preprocessor"]
        if callable(value):
            value(pre)
            return
        target = pre
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value
    return change


def _drop_column(j):
    def change(pre):
        del pre["columns"][j]
        del pre["feature_names"][j]
    return change


def _add_column(pre):
    pre["columns"].append({"name": "more", "kind": "number", "mean": 0.0, "scale": 1.0,
                           "impute": None})
    pre["feature_names"].append("more")


def _extra_category(pre):
    pre["columns"][1]["categories"] = ["blue", "green", "purple", "red"]


# On the saved "classes" model of _fitted: columns size (number, imputed),
# colour (category: blue, green, red), count (number); 5 inputs, 3 outputs.
BAD_CLASSES = [
    ("not-object", lambda h: h.update(preprocessor=[1]), "the preprocessor must be an object with the keys"),
    ("key-unknown", _in_pre("scaler", "standard"), "the preprocessor must be an object with the keys"),
    ("key-missing", lambda h: h["preprocessor"].pop("one_hot"), "the preprocessor must be an object with the keys"),
    ("impute-unknown", _in_pre("impute", "mode"), "the preprocessor impute must be null or one of"),
    ("standardize-string", _in_pre("standardize", "yes"), "standardize and one_hot must be true or false"),
    ("columns-empty", lambda h: h["preprocessor"].update(columns=[], feature_names=[]), "the preprocessor columns must be a list of 1 to 5 columns"),
    ("column-dropped", _in_pre(None, _drop_column(2)), "the preprocessor makes 4 inputs, but the network takes 5"),
    ("column-added", _in_pre(None, _add_column), "the preprocessor makes 6 inputs, but the network takes 5"),
    ("category-added", _in_pre(None, _extra_category), "the preprocessor makes 6 inputs, but the network takes 5"),
    ("names-count", lambda h: h["preprocessor"]["feature_names"].pop(), "feature_names must be null or one distinct string per column"),
    ("names-duplicated", _in_pre("feature_names", ["size", "size", "count"]), "feature_names must be null or one distinct string per column"),
    ("column-misnamed", _in_pre("columns", 2, "name", "total"), "preprocessor column 2 is named 'total', expected 'count'"),
    ("column-kind", _in_pre("columns", 0, "kind", "date"), 'preprocessor column 0 must be an object with "kind"'),
    ("column-key-unknown", _in_pre("columns", 2, "offset", 1.0), "preprocessor column 2 must be an object with the keys"),
    ("column-key-missing", lambda h: h["preprocessor"]["columns"][0].pop("impute"), "preprocessor column 0 must be an object with the keys"),
    ("scale-zero", _in_pre("columns", 2, "scale", 0.0), "preprocessor column 2 scale must be a finite number > 0"),
    ("scale-negative", _in_pre("columns", 0, "scale", -2.0), "preprocessor column 0 scale must be a finite number > 0"),
    ("scale-null", _in_pre("columns", 0, "scale", None), "preprocessor column 0 scale must be a finite number > 0"),
    ("mean-huge", _in_pre("columns", 0, "mean", 10**400), "preprocessor column 0 mean must be a finite number"),
    ("mean-string", _in_pre("columns", 2, "mean", "1.0"), "preprocessor column 2 mean must be a finite number"),
    ("mean-bool", _in_pre("columns", 2, "mean", True), "preprocessor column 2 mean must be a finite number"),
    ("impute-huge", _in_pre("columns", 0, "impute", -10**400), "preprocessor column 0 impute must be a finite number"),
    ("categories-unsorted", _in_pre("columns", 1, "categories", ["red", "green", "blue"]), "preprocessor column 1 categories must be a sorted list of distinct strings"),
    ("categories-duplicated", _in_pre("columns", 1, "categories", ["blue", "blue", "red"]), "preprocessor column 1 categories must be a sorted list of distinct strings"),
    ("categories-empty", _in_pre("columns", 1, "categories", []), "preprocessor column 1 categories must be a sorted list of distinct strings"),
    ("categories-numbers", _in_pre("columns", 1, "categories", [1, 2, 3]), "preprocessor column 1 categories must be a sorted list of distinct strings"),
    ("category-impute-unknown", _in_pre("columns", 1, "impute", "purple"), "preprocessor column 1 impute must be null or one of its categories"),
    ("target-kind", _in_pre("target", "kind", "ranks"), 'the preprocessor target must be null or an object with "kind"'),
    ("target-name", _in_pre("target", "name", 7), "the target name must be null or a string, got 7"),
    ("target-key-unknown", _in_pre("target", "order", "sorted"), "the preprocessor target must be an object with the keys"),
    ("labels-fewer", _in_pre("target", "labels", ["big", "red"]), "the target has 2 labels, but the model has 3 outputs"),
    ("labels-more", _in_pre("target", "labels", ["a", "big", "other", "red"]), "the target has 4 labels, but the model has 3 outputs"),
    ("labels-one", _in_pre("target", "labels", ["big"]), "the target labels must be a list of at least 2 labels"),
    ("labels-duplicated", _in_pre("target", "labels", ["big", "big", "red"]), "the target labels has duplicates"),
    ("labels-mixed", _in_pre("target", "labels", ["big", 1, "red"]), "must be all integers or all strings"),
    ("labels-bools", _in_pre("target", "labels", [True, False, True]), "must be all integers or all strings"),
    ("binary-on-cross-entropy", _in_pre("target", "binary", True), "target labels with binary=True do not fit a cross_entropy model"),
    ("binary-not-bool", _in_pre("target", "binary", 0), "target labels with binary=0 do not fit a cross_entropy model"),
    ("scaled-target-on-classes", _in_pre("target", {"kind": "number", "name": None, "mean": [0.0] * 3, "scale": [1.0] * 3}), "a standardized target applies to mse models, not cross_entropy"),
]

# On the saved "binary" and "number" models.
BAD_OTHERS = [
    ("binary", "binary-flag-off", _in_pre("target", "binary", False), "target labels with binary=False do not fit a binary_cross_entropy model"),
    ("binary", "binary-labels-three", _in_pre("target", "labels", ["maybe", "no", "yes"]), "the target has 3 labels, but the model has 1 outputs"),
    ("number", "mean-count", _in_pre("target", "mean", [0.0]), "the target mean must be a list of 2 numbers"),
    ("number", "scale-zero", _in_pre("target", "scale", [1.0, 0.0]), "the target scale must be a finite number > 0"),
    ("number", "mean-huge", _in_pre("target", "mean", [0.0, 10**400]), "the target mean must be a finite number"),
    ("number", "scale-without-mean", _in_pre("target", "mean", None), "the target mean and scale must both be set or both be null"),
    ("number", "labels-on-mse", _in_pre("target", {"kind": "classes", "name": None, "labels": ["a", "b"], "binary": False}), "class labels do not apply to an mse model"),
]

_SAVED = {}


def _saved(kind, tmp_path):
    """(header, members) of a saved model of ``kind`` (fitted once)."""
    if kind not in _SAVED:
        model, _ = _fitted(kind)
        model.save(tmp_path / "good")
        _SAVED[kind] = persist_files.read(tmp_path / "good")
    return copy.deepcopy(_SAVED[kind][0]), _SAVED[kind][1]


def _refused(kind, change, match, tmp_path):
    header, members = _saved(kind, tmp_path)
    persist_files.write(tmp_path / "same", header, members)
    fastmlp.load(tmp_path / "same")   # unchanged, the rewritten file loads
    change(header)
    persist_files.write(tmp_path / "bad", header, members)
    for load in (fastmlp.load, fastmlp.MLP.load, fastmlp.reference.MLP.load):
        with pytest.raises(ValueError, match=match) as info:
            load(tmp_path / "bad")
        assert INVALID in str(info.value)


@pytest.mark.parametrize("change,match", [c[1:] for c in BAD_CLASSES],
                         ids=[c[0] for c in BAD_CLASSES])
def test_malformed_preprocessor_is_rejected(change, match, tmp_path):
    _refused("classes", change, match, tmp_path)


@pytest.mark.parametrize("kind,change,match", [(c[0],) + c[2:] for c in BAD_OTHERS],
                         ids=[c[1] for c in BAD_OTHERS])
def test_malformed_target_is_rejected(kind, change, match, tmp_path):
    _refused(kind, change, match, tmp_path)


def test_non_finite_json_in_the_preprocessor_is_rejected(tmp_path):
    header, members = _saved("classes", tmp_path)
    header["preprocessor"]["columns"][2]["scale"] = 1234.5   # a mark to replace
    raw = json.dumps(header)
    assert raw.count("1234.5") == 1
    for value, match in (("1e400", "preprocessor column 2 scale must be a finite number > 0, "
                                   "got inf"),
                         ("NaN", "header is not valid JSON.*NaN is not allowed")):
        members = dict(members, header=np.frombuffer(raw.replace("1234.5", value).encode(),
                                                     dtype=np.uint8))
        with open(tmp_path / "bad", "wb") as f:
            np.savez(f, **members)
        with pytest.raises(ValueError, match=match):
            fastmlp.load(tmp_path / "bad")
