"""Format version 3: the model's data metadata (``target_name``,
``class_labels``, ``standardization``; fastmlp.io.metadata) is saved and
restored exactly, version-2 files load with all three None, ``save``
refuses metadata ``load`` would reject, and every malformed value is a
ValueError naming the field."""
import json

import numpy as np
import pytest

import fastmlp
import fastmlp.reference
from fastmlp.io import persist as _persist

from test_persist import _encode, _load_bad, _write


def _labelled(cls, loss="cross_entropy"):
    net = cls([3, 4, 2], loss=loss, dtype="float64", seed=1)
    net.target_name = "species"
    net.standardization = {"mean": np.array([0.5, -1.0, 1e-300]),
                           "scale": np.array([2.0, 0.1, 3.5]),
                           "target_mean": None, "target_scale": None}
    if loss == "cross_entropy":
        net.class_labels = ("setosa", "versicolor")
    else:
        net.standardization.update(target_mean=np.array([147.25, -3.0]),
                                   target_scale=np.array([77.0, 0.5]))
    return net


def _header(path):
    with np.load(path, allow_pickle=False) as z:
        return json.loads(z["header"].tobytes().decode("utf-8")), dict(z)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_metadata_round_trips_exactly(impl, loss, tmp_path):
    net = _labelled(impl, loss)
    net.save(tmp_path / "m")
    header, _ = _header(tmp_path / "m")
    assert header["version"] == 3 and header["target_name"] == "species"
    loaded = impl.load(tmp_path / "m")
    assert loaded.target_name == "species"
    assert loaded.class_labels == net.class_labels
    for key, value in net.standardization.items():
        if value is None:
            assert loaded.standardization[key] is None
        else:
            assert loaded.standardization[key].dtype == np.float64
            np.testing.assert_array_equal(loaded.standardization[key], value)


def test_integer_labels_stay_integers(tmp_path):
    net = fastmlp.MLP([2, 3], loss="cross_entropy", seed=0)
    net.class_labels = (1, 2, 3)      # wine's labels
    net.save(tmp_path / "m")
    labels = fastmlp.MLP.load(tmp_path / "m").class_labels
    assert labels == (1, 2, 3) and all(type(x) is int for x in labels)


def test_a_model_without_metadata_saves_nulls(tmp_path):
    fastmlp.MLP([2, 3], loss="cross_entropy", seed=0).save(tmp_path / "m")
    header, _ = _header(tmp_path / "m")
    assert [header[k] for k in ("target_name", "class_labels", "standardization")] == \
        [None, None, None]


def test_a_version_2_file_loads_without_metadata(tmp_path):
    _labelled(fastmlp.MLP).save(tmp_path / "m")
    header, members = _header(tmp_path / "m")
    for key in ("target_name", "class_labels", "standardization", "matmul_dtype"):
        del header[key]
    header["version"] = 2
    members["header"] = _encode(header)
    _write(tmp_path / "v2", members)
    net = fastmlp.MLP.load(tmp_path / "v2")
    assert (net.target_name, net.class_labels, net.standardization) == (None, None, None)
    assert net.matmul_dtype is None


STD = {"mean": [0.0, 0.0, 0.0], "scale": [1.0, 1.0, 1.0], "target_mean": None,
       "target_scale": None}

BAD_FIELDS = [
    ("target_name", 3, '"target_name" must be null or a string'),
    ("class_labels", ["a"], "class_labels has 1 labels, but the model has 2 outputs"),
    ("class_labels", ["a", "a"], "class_labels has duplicates"),
    ("class_labels", ["a", 1], "all integers or all strings"),
    ("class_labels", [1.5, 2], "all integers or all strings"),
    ("class_labels", [True, False], "all integers or all strings"),
    ("class_labels", "ab", "class_labels must be a list"),
    ("standardization", [], "standardization must be an object"),
    ("standardization", {**STD, "extra": 1}, "standardization must be an object"),
    ("standardization", {**STD, "mean": [0.0, 0.0]}, "mean must be a list of 3 numbers"),
    ("standardization", {**STD, "scale": [1.0, 0.0, 1.0]}, "scale must hold finite numbers > 0"),
    ("standardization", {**STD, "mean": [0.0, "x", 1.0]}, "mean must hold finite numbers"),
    ("standardization", {**STD, "mean": [0.0, 10**400, 1.0]}, "mean must hold finite numbers"),
    ("standardization", {**STD, "target_mean": [0.0, 0.0]}, "both be set or both be null"),
    ("standardization", {**STD, "target_mean": [0.0, 0.0], "target_scale": [1.0, 1.0]},
     "a standardized target applies to mse models, not cross_entropy"),
]


@pytest.mark.parametrize("field,value,match", BAD_FIELDS,
                         ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(BAD_FIELDS)])
def test_malformed_metadata_is_rejected(field, value, match, tmp_path):
    _labelled(fastmlp.reference.MLP).save(tmp_path / "m")
    header, members = _header(tmp_path / "m")
    header[field] = value
    members["header"] = _encode(header)
    _write(tmp_path / "bad", members)
    _load_bad(tmp_path / "bad", match)


@pytest.mark.parametrize("attr,value,match", [
    ("target_name", 5, "target_name must be None or a str"),
    ("class_labels", ("a", "b", "c"), "3 labels, but the model has 2 outputs"),
    ("standardization", {**STD, "scale": np.array([1.0, -1.0, 1.0])}, "> 0"),
])
def test_save_refuses_metadata_load_would_reject(attr, value, match, tmp_path):
    net = _labelled(fastmlp.MLP)
    setattr(net, attr, value)
    with pytest.raises(ValueError, match=match):
        net.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_class_labels_only_for_cross_entropy(tmp_path):
    net = fastmlp.MLP([2, 1], loss="mse", seed=0)
    net.class_labels = ("a",)
    with pytest.raises(ValueError, match="class_labels apply to cross_entropy"):
        net.save(tmp_path / "m")
    assert _persist.FORMAT_VERSION == 3
