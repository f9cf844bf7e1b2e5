"""Format version 3: files written before version 4, whose header holds what
``fastmlp train`` did to the data (``target_name``, ``class_labels``,
``standardization``; fastmlp.io.metadata).

Such a file with class labels or a standardization loads with
``fastmlp.load`` as a TabularModel whose predictions on the raw table are
exactly what ``fastmlp predict`` computed from it (``_old_predict``);
``MLP.load`` refuses it, naming fastmlp.load; one without them loads as a
plain network either way; every malformed value is a ValueError naming the
field, whichever load reads it. The files are written as version 3 wrote
them (tests/persist_files.py).
"""
import numpy as np
import pandas as pd
import pytest

import fastmlp
import fastmlp.reference
from fastmlp.io import persist as _persist

import persist_files
from test_persist import INVALID, _load_bad

STANDARDIZATION = {"mean": np.array([0.5, -1.0, 1e-300]), "scale": np.array([2.0, 0.1, 3.5]),
                   "target_mean": None, "target_scale": None}
TARGET_SCALE = {"target_mean": np.array([147.25, -3.0]), "target_scale": np.array([77.0, 0.5])}

# (id, loss, class labels, standardization)
CASES = [
    ("labels-and-scaling", "cross_entropy", ("setosa", "versicolor"), STANDARDIZATION),
    ("labels-only", "cross_entropy", ("setosa", "versicolor"), None),
    ("integer-labels", "cross_entropy", (3, 1), STANDARDIZATION),
    ("scaling-only-classes", "cross_entropy", None, STANDARDIZATION),
    ("scaled-target", "mse", None, {**STANDARDIZATION, **TARGET_SCALE}),
    ("scaled-features-only", "mse", None, STANDARDIZATION),
]


def _network(cls, loss, dtype="float64", seed=1):
    return cls([3, 4, 2], activation="tanh", loss=loss, dtype=dtype, seed=seed)


def _raw_table(n=40, seed=0):
    """Raw feature values around the standardization's mean and scale, so
    that the scaled inputs spread over both classes."""
    rng = np.random.default_rng(seed)
    return STANDARDIZATION["mean"] + STANDARDIZATION["scale"] * rng.standard_normal((n, 3))


def _old_predict(net, labels, std, X):
    """What ``fastmlp predict`` computed from a version-3 file (fastmlp.cli
    before version 4): the features scaled in float64, the network's
    predictions in its dtype, class codes mapped to the labels, an mse
    target's scaling undone in float64 and cast back to the model dtype."""
    X = np.asarray(X, dtype=np.float64)
    if std is not None:
        X = (X - std["mean"]) / std["scale"]
    values = net.predict(X.astype(net.dtype))
    if net.loss_name == "mse" and std is not None and std["target_mean"] is not None:
        back = values.astype(np.float64) * std["target_scale"] + std["target_mean"]
        return back.astype(net.dtype)
    if labels is not None:
        return np.array(labels, dtype=object)[values]
    return values


def _write(path, net, labels, std, target_name="species"):
    persist_files.write_version3(path, net, target_name=target_name, class_labels=labels,
                                 standardization=std)


def test_the_helper_writes_the_version_3_header(tmp_path):
    net = _network(fastmlp.MLP, "mse")
    _write(tmp_path / "m", net, None, {**STANDARDIZATION, **TARGET_SCALE})
    header, members = persist_files.read(tmp_path / "m")
    assert list(header) == list(_persist.HEADER_FIELDS_V3)
    assert header["version"] == 3 and header["target_name"] == "species"
    assert header["standardization"] == {"mean": [0.5, -1.0, 1e-300], "scale": [2.0, 0.1, 3.5],
                                         "target_mean": [147.25, -3.0],
                                         "target_scale": [77.0, 0.5]}
    assert sorted(members) == ["header", "params", "velocity"]
    assert _persist.FORMAT_VERSION == 4 and 3 in _persist.READABLE_VERSIONS


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss,labels,std", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_fastmlp_load_predicts_what_fastmlp_predict_did(loss, labels, std, dtype, tmp_path):
    net = _network(fastmlp.MLP, loss, dtype)
    _write(tmp_path / "m", net, labels, std)
    model = fastmlp.load(tmp_path / "m")
    assert isinstance(model, fastmlp.TabularModel) and type(model.network) is fastmlp.MLP
    np.testing.assert_array_equal(model.network.params, net.params, strict=True)
    assert model.target_name == "species"
    X = _raw_table()
    expected = _old_predict(net, labels, std, X)
    got = model.predict(X)
    assert got.shape == expected.shape
    if loss == "mse":
        assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, expected)
    if labels is not None:
        assert list(model.classes_) == list(labels)
        assert len(set(expected.tolist())) == 2  # both classes occur: the mapping is tested
    else:
        assert model.classes_ is None


@pytest.mark.parametrize("loss,labels,std", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_preprocessor_holds_the_stored_values_exactly(impl, loss, labels, std, tmp_path):
    _write(tmp_path / "m", _network(fastmlp.MLP, loss), labels, std)
    net, pre = _persist.load_any(impl, tmp_path / "m")
    assert type(net) is impl
    assert pre.standardize is (std is not None)
    mean = std["mean"] if std is not None else np.zeros(3)
    scale = std["scale"] if std is not None else np.ones(3)
    assert [c.mean for c in pre.columns] == mean.tolist()
    assert [c.scale for c in pre.columns] == scale.tolist()
    assert [c.name for c in pre.columns] == [0, 1, 2] and pre.feature_names is None
    assert all(c.impute is None for c in pre.columns)
    assert pre.target.name == "species"
    if labels is not None:
        assert pre.target.labels == labels and pre.target.binary is False
    elif std is not None and std["target_mean"] is not None:
        np.testing.assert_array_equal(pre.target.mean, std["target_mean"], strict=True)
        np.testing.assert_array_equal(pre.target.scale, std["target_scale"], strict=True)
    else:
        assert pre.target.mean is None and pre.target.scale is None


@pytest.mark.parametrize("loss,labels,std", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_mlp_load_refuses_a_file_with_data_handling(impl, loss, labels, std, tmp_path):
    _write(tmp_path / "m", _network(fastmlp.MLP, loss), labels, std)
    with pytest.raises(ValueError, match=r"load it with fastmlp\.load\(path\)") as info:
        impl.load(tmp_path / "m")
    assert f"{impl.__name__}.load would ignore" in str(info.value)


def test_integer_labels_stay_integers(tmp_path):
    net = fastmlp.MLP([2, 3], loss="cross_entropy", seed=0)
    _write(tmp_path / "m", net, (1, 2, 3), None)     # wine's labels
    model = fastmlp.load(tmp_path / "m")
    labels = model.preprocessor.target.labels
    assert labels == (1, 2, 3) and all(type(x) is int for x in labels)
    assert model.classes_.dtype == np.int64
    X = np.random.default_rng(3).standard_normal((30, 2))
    got = model.predict(X)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, net.predict(X) + 1)


def test_feature_names_select_the_columns_by_name(tmp_path):
    net = _network(fastmlp.MLP, "cross_entropy")
    net.feature_names = ("a", "b", "c")
    _write(tmp_path / "m", net, ("no", "yes"), STANDARDIZATION)
    model = fastmlp.load(tmp_path / "m")
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    X = _raw_table()
    frame = pd.DataFrame({"c": X[:, 2], "extra": 0.0, "a": X[:, 0], "b": X[:, 1]})
    np.testing.assert_array_equal(model.predict(frame),
                                  _old_predict(net, ("no", "yes"), STANDARDIZATION, X))


@pytest.mark.parametrize("target_name", [None, "species"])
def test_a_version_3_file_without_labels_or_scaling_is_a_network(target_name, tmp_path):
    net = _network(fastmlp.MLP, "cross_entropy")
    net.feature_names = ("a", "b", "c")
    _write(tmp_path / "m", net, None, None, target_name=target_name)
    header, _ = persist_files.read(tmp_path / "m")
    assert [header[k] for k in persist_files.V3_METADATA] == [target_name, None, None]
    for loaded in (fastmlp.MLP.load(tmp_path / "m"), fastmlp.load(tmp_path / "m")):
        assert type(loaded) is fastmlp.MLP
        np.testing.assert_array_equal(loaded.params, net.params, strict=True)
        assert loaded.feature_names == ("a", "b", "c") and loaded.metrics == []


@pytest.mark.parametrize("loss,labels,std", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_loaded_version_3_model_saves_as_version_4(loss, labels, std, tmp_path):
    net = _network(fastmlp.MLP, loss)
    _write(tmp_path / "v3", net, labels, std)
    fastmlp.load(tmp_path / "v3").save(tmp_path / "v4")
    header, _ = persist_files.read(tmp_path / "v4")
    assert header["version"] == 4 and list(header) == list(_persist.HEADER_FIELDS)
    assert header["preprocessor"]["target"]["name"] == "species"
    again = fastmlp.load(tmp_path / "v4")
    X = _raw_table()
    np.testing.assert_array_equal(again.predict(X), _old_predict(net, labels, std, X))


def test_a_version_2_file_loads_as_a_network(tmp_path):
    net = _network(fastmlp.MLP, "cross_entropy")
    net.save(tmp_path / "m")
    header, members = persist_files.read(tmp_path / "m")
    for key in ("matmul_dtype",) + persist_files.V4_ONLY:
        del header[key]
    header["version"] = 2
    persist_files.write(tmp_path / "v2", header, members)
    for loaded in (fastmlp.MLP.load(tmp_path / "v2"), fastmlp.load(tmp_path / "v2")):
        assert type(loaded) is fastmlp.MLP
        assert loaded.matmul_dtype is None and loaded.metrics == []
        np.testing.assert_array_equal(loaded.params, net.params, strict=True)
        assert not hasattr(loaded, "class_labels") and not hasattr(loaded, "standardization")


STD = {"mean": [0.0, 0.0, 0.0], "scale": [1.0, 1.0, 1.0], "target_mean": None,
       "target_scale": None}

# On a version-3 file of a [3, 4, 2] cross_entropy network with labels and
# a standardization (or, with loss "mse", of an mse network).
BAD_FIELDS = [
    ("cross_entropy", "target_name", 3, '"target_name" must be null or a string'),
    ("cross_entropy", "class_labels", ["a"], "class_labels has 1 labels, but the model has 2 outputs"),
    ("cross_entropy", "class_labels", ["a", "a"], "class_labels has duplicates"),
    ("cross_entropy", "class_labels", ["a", 1], "all integers or all strings"),
    ("cross_entropy", "class_labels", [1.5, 2], "all integers or all strings"),
    ("cross_entropy", "class_labels", [True, False], "all integers or all strings"),
    ("cross_entropy", "class_labels", "ab", "class_labels must be a list"),
    ("mse", "class_labels", ["a", "b"], "class_labels apply to cross_entropy models, not mse"),
    ("cross_entropy", "standardization", [], "standardization must be an object"),
    ("cross_entropy", "standardization", {**STD, "extra": 1}, "standardization must be an object"),
    ("cross_entropy", "standardization", {**STD, "mean": [0.0, 0.0]}, "mean must be a list of 3 numbers"),
    ("cross_entropy", "standardization", {**STD, "scale": [1.0, 0.0, 1.0]}, "scale must hold finite numbers > 0"),
    ("cross_entropy", "standardization", {**STD, "scale": [1.0, -1.0, 1.0]}, "scale must hold finite numbers > 0"),
    ("cross_entropy", "standardization", {**STD, "mean": [0.0, "x", 1.0]}, "mean must hold finite numbers"),
    ("cross_entropy", "standardization", {**STD, "mean": [0.0, 10**400, 1.0]}, "mean must hold finite numbers"),
    ("cross_entropy", "standardization", {**STD, "target_mean": [0.0, 0.0]}, "both be set or both be null"),
    ("cross_entropy", "standardization", {**STD, "target_mean": [0.0, 0.0], "target_scale": [1.0, 1.0]},
     "a standardized target applies to mse models, not cross_entropy"),
    ("mse", "standardization", {**STD, "target_mean": [0.0], "target_scale": [1.0]},
     "target_mean must be a list of 2 numbers"),
    ("mse", "standardization", {**STD, "target_mean": [0.0, 0.0], "target_scale": [1.0, 0.0]},
     "target_scale must hold finite numbers > 0"),
]


@pytest.mark.parametrize("loss,field,value,match", BAD_FIELDS,
                         ids=[f"{f}-{i}" for i, (_, f, _, _) in enumerate(BAD_FIELDS)])
def test_malformed_metadata_is_rejected(loss, field, value, match, tmp_path):
    labels = ("setosa", "versicolor") if loss == "cross_entropy" else None
    _write(tmp_path / "m", _network(fastmlp.reference.MLP, loss), labels,
           {**STANDARDIZATION, **(TARGET_SCALE if loss == "mse" else {})})
    header, members = persist_files.read(tmp_path / "m")
    fastmlp.load(tmp_path / "m")  # the file loads before the change
    header[field] = value
    persist_files.write(tmp_path / "bad", header, members)
    _load_bad(tmp_path / "bad", match)
    with pytest.raises(ValueError, match=match) as info:
        fastmlp.load(tmp_path / "bad")
    assert INVALID in str(info.value)
