"""Format version 2: the optimizer state (``net.optimizer``, the velocity,
Adam's ``second_moment`` and ``optimizer_steps``) is saved and restored bit
for bit in either memory layout, version-1 files load as the momentum rule,
and every malformed version-2 file is a ValueError naming the problem.

The optimizer state is set by hand (``set_optimizer_state``), not by fit:
the files here are written by ``save`` itself.
"""
import json
import os
import pathlib

import numpy as np
import pytest

import fastmlp
import fastmlp.reference
from fastmlp.io import persist as _persist

from test_persist import (
    _DELETE, _encode, _load_bad, _members, _parts, _set, _write, canonical,
    load_tampered, set_optimizer_state, with_layout,
)

DATA = pathlib.Path(__file__).parent / "data"
OPTIMIZERS = ["momentum", "nesterov", "adam"]
DTYPES = ["float32", "float64"]
SIZES = [3, 5, 4, 2]
MAX_STEPS = int(np.iinfo(np.intp).max)


def _bits(arr):
    """The array's bytes: equal only when bit for bit equal (signed zeros too)."""
    return np.ascontiguousarray(arr).tobytes()


def _model(cls, dtype, optimizer, seed=0):
    net = cls(SIZES, activation=["tanh", "relu"], loss="cross_entropy", dtype=dtype, seed=3)
    return set_optimizer_state(net, optimizer, seed)


def _blocks(net, flat):
    """Each W_l and b_l of ``flat`` through the views of net's own layout."""
    return net._layout.weight_views(flat) + net._layout.bias_views(flat)


# -- round trips ---------------------------------------------------------------

@pytest.mark.parametrize("src_transposed,dst_transposed",
                         [(False, False), (True, True), (True, False), (False, True)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimizer_state_round_trips_bit_for_bit(impl, optimizer, dtype, src_transposed,
                                                 dst_transposed, tmp_path):
    Src, Dst = with_layout(impl, src_transposed), with_layout(impl, dst_transposed)
    a = _model(Src, dtype, optimizer)
    a.save(tmp_path / "m")
    b = Dst.load(tmp_path / "m")
    assert type(b) is Dst and b._layout.first_transposed is dst_transposed
    assert b.optimizer == optimizer
    assert b.optimizer_steps == (7 if optimizer == "adam" else 0)
    assert _bits(canonical(b, b.params)) == _bits(canonical(a, a.params))
    assert _bits(canonical(b, b.velocity)) == _bits(canonical(a, a.velocity))
    for x, y in zip(_blocks(a, a.velocity), _blocks(b, b.velocity)):
        assert _bits(x) == _bits(y)
    if optimizer != "adam":
        assert b.second_moment is None
        return
    m2 = b.second_moment
    assert isinstance(m2, np.ndarray) and m2.dtype == np.dtype(dtype)
    assert m2.shape == b.params.shape and m2.flags.c_contiguous and m2.flags.writeable
    assert not np.shares_memory(m2, b.params) and not np.shares_memory(m2, b.velocity)
    # Laid out as b.params: block by block equal to the saved model's.
    for x, y in zip(_blocks(a, a.second_moment), _blocks(b, m2)):
        assert _bits(x) == _bits(y)
    if src_transposed == dst_transposed:
        assert _bits(m2) == _bits(a.second_moment)
    assert np.count_nonzero(np.signbit(m2)) == 1  # the -0.0 stayed a -0.0


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_load_into_the_other_class_keeps_the_optimizer_state(optimizer, tmp_path):
    a = _model(fastmlp.MLP, "float64", optimizer, seed=2)
    a.save(tmp_path / "m")
    b = fastmlp.reference.MLP.load(tmp_path / "m")
    assert type(b) is fastmlp.reference.MLP
    assert (b.optimizer, b.optimizer_steps) == (a.optimizer, a.optimizer_steps)
    assert _bits(canonical(b, b.velocity)) == _bits(canonical(a, a.velocity))
    if optimizer == "adam":
        assert b.optimizer_steps == 9
        assert _bits(canonical(b, b.second_moment)) == _bits(canonical(a, a.second_moment))


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_file_holds_the_documented_fields_and_members(dtype, tmp_path):
    net = _model(with_layout(fastmlp.MLP, True), dtype, "adam")
    # In memory W_0 is held transposed, so the buffer is not the canonical form.
    assert _bits(net.second_moment) != _bits(canonical(net, net.second_moment))
    net.save(tmp_path / "m")
    with np.load(tmp_path / "m", allow_pickle=False) as z:
        assert sorted(z.files) == ["header", "params", "second_moment", "velocity"]
        header = json.loads(z["header"].tobytes().decode("utf-8"))
        stored = z["second_moment"]
    assert list(header) == list(_persist.HEADER_FIELDS)
    assert header["version"] == 4 and header["optimizer"] == "adam"
    assert header["metrics"] == [] and header["preprocessor"] is None
    assert header["optimizer_steps"] == 7 and isinstance(header["optimizer_steps"], int)
    assert stored.dtype == np.dtype(dtype) and stored.shape == net.params.shape
    assert _bits(stored) == _bits(canonical(net, net.second_moment))


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov"])
def test_non_adam_file_has_no_second_moment(optimizer, tmp_path):
    _model(fastmlp.reference.MLP, "float32", optimizer).save(tmp_path / "m")
    with np.load(tmp_path / "m", allow_pickle=False) as z:
        assert sorted(z.files) == ["header", "params", "velocity"]
        header = json.loads(z["header"].tobytes().decode("utf-8"))
    assert header["optimizer"] == optimizer and header["optimizer_steps"] == 0


@pytest.mark.parametrize("steps", [0, 1, 2**40, MAX_STEPS])
def test_adam_step_counts_round_trip(steps, tmp_path):
    net = _model(fastmlp.reference.MLP, "float64", "adam")
    net.optimizer_steps = steps
    net.save(tmp_path / "m")
    loaded = fastmlp.reference.MLP.load(tmp_path / "m")
    assert loaded.optimizer_steps == steps and type(loaded.optimizer_steps) is int


def test_loaded_optimizer_state_is_the_models_own(tmp_path):
    # Two loads of one file share no buffer, and changing one leaves the other.
    _model(fastmlp.reference.MLP, "float64", "adam").save(tmp_path / "m")
    a = fastmlp.reference.MLP.load(tmp_path / "m")
    b = fastmlp.reference.MLP.load(tmp_path / "m")
    assert not np.shares_memory(a.second_moment, b.second_moment)
    a.second_moment[4] = 123.0
    a.optimizer_steps = 1
    assert b.second_moment[4] != 123.0 and b.optimizer_steps == 7


# -- version 1 -------------------------------------------------------------------

@pytest.mark.parametrize("first_transposed", [False, True], ids=["plain", "transposed"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_version_1_file_loads_as_the_momentum_rule(impl, dtype, first_transposed, tmp_path):
    net = with_layout(impl, first_transposed).load(DATA / f"model_v1_{dtype}.npz")
    assert net.optimizer == "momentum"
    assert net.second_moment is None
    assert net.optimizer_steps == 0
    assert np.count_nonzero(net.velocity) == net.velocity.size
    # Saved again it is a current-version momentum file holding the same state.
    net.save(tmp_path / "m")
    with np.load(tmp_path / "m", allow_pickle=False) as z:
        header = json.loads(z["header"].tobytes().decode("utf-8"))
        assert sorted(z.files) == ["header", "params", "velocity"]
    assert header["version"] == 4 and header["optimizer"] == "momentum"
    assert header["preprocessor"] is None
    assert header["metrics"] == [] and len(header["history"]) == 3  # version 1 kept none
    again = impl.load(tmp_path / "m")
    assert _bits(canonical(again, again.velocity)) == _bits(canonical(net, net.velocity))
    assert _bits(canonical(again, again.params)) == _bits(canonical(net, net.params))


def test_version_1_header_with_a_second_moment_member_is_rejected(tmp_path):
    header, members = _parts(tmp_path, "v1")
    members["second_moment"] = np.zeros_like(members["params"])
    _write(tmp_path / "bad", members)
    _load_bad(tmp_path / "bad", "'second_moment' member, which version-1 files never have")


# -- save refuses what load would reject -----------------------------------------

def _ruin(attr, value):
    def apply(net):
        setattr(net, attr, value(net) if callable(value) else value)
    return apply


def _ruin_second_moment(index, value):
    def apply(net):
        net.second_moment[index] = value
    return apply


UNSAVABLE = [
    # (id, base optimizer, change, message)
    ("optimizer-unknown", "momentum", _ruin("optimizer", "sgd"), "unknown optimizer 'sgd'"),
    ("optimizer-case", "adam", _ruin("optimizer", "Adam"), "unknown optimizer 'Adam'"),
    ("optimizer-none", "momentum", _ruin("optimizer", None), "unknown optimizer None"),
    ("optimizer-list", "momentum", _ruin("optimizer", ["adam"]), r"unknown optimizer \['adam'\]"),
    ("steps-negative", "adam", _ruin("optimizer_steps", -1), r"optimizer_steps must be an int in \[0, "),
    ("steps-without-adam", "nesterov", _ruin("optimizer_steps", 3), "optimizer_steps is 3, but optimizer 'nesterov' counts no steps"),
    ("adam-without-second-moment", "adam", _ruin("second_moment", None), "optimizer is 'adam' but second_moment is None"),
    ("second-moment-without-adam", "momentum", _ruin("second_moment", lambda n: np.zeros_like(n.params)), "second_moment is set, but optimizer 'momentum' has none"),
    ("second-moment-nan", "adam", _ruin_second_moment(5, np.nan), "second_moment contains NaN or infinity"),
    ("second-moment-inf", "adam", _ruin_second_moment(-1, np.inf), "second_moment contains NaN or infinity"),
    ("second-moment-negative", "adam", _ruin_second_moment(4, -1e-30), "second_moment is negative"),
    ("second-moment-float64", "adam", _ruin("second_moment", lambda n: n.second_moment.astype(np.float64)), "second_moment is not a 1-D float32 array of 54 values"),
    ("second-moment-short", "adam", _ruin("second_moment", lambda n: n.second_moment[:-1]), "second_moment is not a 1-D float32 array"),
    ("second-moment-2d", "adam", _ruin("second_moment", lambda n: n.second_moment[:42].reshape(6, 7)), "second_moment is not a 1-D float32 array"),
    ("second-moment-list", "adam", _ruin("second_moment", lambda n: n.second_moment.tolist()), "second_moment is not a 1-D float32 array"),
    ("velocity-nan", "adam", lambda n: n.velocity.__setitem__(2, np.nan), "velocity contains NaN"),
]


@pytest.mark.parametrize("optimizer,change,match", [c[1:] for c in UNSAVABLE],
                         ids=[c[0] for c in UNSAVABLE])
def test_save_refuses_an_optimizer_state_the_format_cannot_hold(optimizer, change, match,
                                                                 tmp_path):
    p = tmp_path / "m"
    fastmlp.reference.MLP([2, 2], seed=0).save(p)
    before = p.read_bytes()
    net = _model(fastmlp.reference.MLP, "float32", optimizer)
    net.save(tmp_path / "fine")  # the state before the change is savable
    os.unlink(tmp_path / "fine")
    change(net)
    with pytest.raises(ValueError, match=match):
        net.save(p)
    assert p.read_bytes() == before and os.listdir(tmp_path) == ["m"]


def test_save_accepts_a_zero_second_moment(tmp_path):
    # A fresh Adam state (all zeros, no step yet) is a valid file.
    net = _model(fastmlp.reference.MLP, "float64", "adam")
    net.second_moment = np.zeros_like(net.params)
    net.velocity[...] = 0.0
    net.optimizer_steps = 0
    net.save(tmp_path / "m")
    loaded = fastmlp.reference.MLP.load(tmp_path / "m")
    assert loaded.optimizer == "adam" and loaded.optimizer_steps == 0
    assert _bits(loaded.second_moment) == _bits(np.zeros_like(net.params))


# -- malformed version-2 files ---------------------------------------------------

def _drop(member):
    return _members(lambda m: m.pop(member))


def _change_member(member, fn):
    return _members(lambda m: m.update({member: fn(m[member])}))


def _poke(member, index, value):
    def fn(arr):
        arr = arr.copy()
        arr[index] = value
        return arr
    return _change_member(member, fn)


def _both(*mutations):
    def mutate(h, m):
        for f in mutations:
            f(h, m)
    return mutate


# On the genuine adam file of test_persist._parts ([3, 4, 2], float64, 26
# parameters, 7 steps).
TAMPERED_V2 = [
    # the version and its field set
    ("v2-optimizer-missing", _set("optimizer", _DELETE), r"missing the fields \['optimizer'\]"),
    ("v2-steps-missing", _set("optimizer_steps", _DELETE), r"missing the fields \['optimizer_steps'\]"),
    ("v2-both-missing", _both(_set("optimizer", _DELETE), _set("optimizer_steps", _DELETE)), r"missing the fields \['optimizer', 'optimizer_steps'\]"),
    ("v2-labelled-version-1", _set("version", 1), r"unexpected fields \['feature_names', 'matmul_dtype', 'metrics', 'optimizer', 'optimizer_steps', 'preprocessor'\] for version 1"),
    ("v2-field-extra", _set("beta_2", 0.999), r"unexpected fields \['beta_2'\]"),
    ("v4-version-5", _set("version", 5), "unknown format version 5"),
    ("v4-labelled-version-2", _set("version", 2), r"unexpected fields \['matmul_dtype', 'metrics', 'preprocessor'\] for version 2"),
    ("v4-labelled-version-3", _set("version", 3), r"missing the fields \['target_name', 'class_labels', 'standardization'\]"),
    ("v4-as-version-3", _both(_set("version", 3), _set("target_name", None), _set("class_labels", None), _set("standardization", None)), r"unexpected fields \['metrics', 'preprocessor'\] for version 3"),
    ("v1-with-second-moment", _both(_set("version", 1), _set("optimizer", _DELETE), _set("optimizer_steps", _DELETE), _set("feature_names", _DELETE), _set("metrics", _DELETE), _set("preprocessor", _DELETE), _set("matmul_dtype", _DELETE)), "'second_moment' member, which version-1 files never have"),
    # the optimizer name
    ("optimizer-unknown", _set("optimizer", "sgd"), "\"optimizer\" must be one of 'momentum', 'nesterov', 'adam', got 'sgd'"),
    ("optimizer-case", _set("optimizer", "ADAM"), "\"optimizer\" must be one of .* got 'ADAM'"),
    ("optimizer-empty", _set("optimizer", ""), "\"optimizer\" must be one of .* got ''"),
    ("optimizer-null", _set("optimizer", None), '"optimizer" must be one of .* got None'),
    ("optimizer-number", _set("optimizer", 2), '"optimizer" must be one of .* got 2'),
    ("optimizer-list", _set("optimizer", ["adam"]), r'"optimizer" must be one of .* got \[\'adam\'\]'),
    ("optimizer-object", _set("optimizer", {"name": "adam"}), '"optimizer" must be one of'),
    ("optimizer-huge", _set("optimizer", "a" * 10**6), r'"optimizer" must be one of .* got \'aaa+\.\.\.$'),
    # the step count
    ("steps-negative", _set("optimizer_steps", -1), r'"optimizer_steps" must be an int in \[0, \d+\], got -1'),
    ("steps-float", _set("optimizer_steps", 7.0), r'"optimizer_steps" must be an int .* got 7.0'),
    ("steps-fraction", _set("optimizer_steps", 1.5), r'"optimizer_steps" must be an int .* got 1.5'),
    ("steps-string", _set("optimizer_steps", "7"), r'"optimizer_steps" must be an int .* got \'7\''),
    ("steps-bool", _set("optimizer_steps", True), r'"optimizer_steps" must be an int .* got True'),
    ("steps-null", _set("optimizer_steps", None), r'"optimizer_steps" must be an int .* got None'),
    ("steps-list", _set("optimizer_steps", [7]), r'"optimizer_steps" must be an int .* got \[7\]'),
    ("steps-too-big", _set("optimizer_steps", MAX_STEPS + 1), rf'"optimizer_steps" must be an int in \[0, {MAX_STEPS}\], got {MAX_STEPS + 1}'),
    ("steps-huge", _set("optimizer_steps", 10**400), r'"optimizer_steps" must be an int .* got 1000+\.\.\.'),
    ("steps-without-adam", _both(_set("optimizer", "nesterov"), _drop("second_moment")), "\"optimizer_steps\" must be 0 unless \"optimizer\" is 'adam', got 7 with 'nesterov'"),
    # the second moment member, present exactly with adam
    ("adam-without-member", _drop("second_moment"), "\"optimizer\" is 'adam', but the archive has no 'second_moment' member"),
    ("momentum-with-member", _both(_set("optimizer", "momentum"), _set("optimizer_steps", 0)), "has a 'second_moment' member, but \"optimizer\" is 'momentum'"),
    ("nesterov-with-member", _both(_set("optimizer", "nesterov"), _set("optimizer_steps", 0)), "has a 'second_moment' member, but \"optimizer\" is 'nesterov'"),
    ("member-misnamed", _members(lambda m: m.update(m2=m.pop("second_moment"))), r"unexpected members \['m2.npy'\]"),
    ("member-third-moment", _members(lambda m: m.update(third_moment=m["second_moment"])), r"unexpected members \['third_moment.npy'\]"),
    # the second moment's values
    ("m2-short", _change_member("second_moment", lambda a: a[:-1]), r"second_moment has shape \(25,\), but the header's layer_sizes need \(26,\)"),
    ("m2-long", _change_member("second_moment", lambda a: np.append(a, 0.0)), r"second_moment has shape \(27,\)"),
    ("m2-2d", _change_member("second_moment", lambda a: a.reshape(2, -1)), r"second_moment has shape \(2, 13\)"),
    ("m2-0d", _change_member("second_moment", lambda a: np.float64(1.0)), r"second_moment has shape \(\)"),
    ("m2-empty", _change_member("second_moment", lambda a: a[:0]), r"second_moment has shape \(0,\)"),
    ("m2-float32", _change_member("second_moment", lambda a: a.astype(np.float32)), "second_moment has dtype <f4, but the header says float64"),
    ("m2-big-endian", _change_member("second_moment", lambda a: a.astype(">f8")), "second_moment has dtype >f8"),
    ("m2-int", _change_member("second_moment", lambda a: a.astype(np.int64)), "second_moment has dtype <i8"),
    ("m2-complex", _change_member("second_moment", lambda a: a.astype(np.complex128)), "second_moment has dtype <c16"),
    ("m2-object", _change_member("second_moment", lambda a: np.array([1.0, "x"], dtype=object)), "'second_moment' holds Python objects"),
    ("m2-nan", _poke("second_moment", 3, np.nan), r"second_moment contains NaN or infinity \(first at index 3\)"),
    ("m2-inf", _poke("second_moment", 25, np.inf), r"second_moment contains NaN or infinity \(first at index 25\)"),
    ("m2-minus-inf", _poke("second_moment", 0, -np.inf), r"second_moment contains NaN or infinity \(first at index 0\)"),
    ("m2-negative", _poke("second_moment", 11, -0.5), r"second_moment is negative \(first at index 11\)"),
    ("m2-negative-tiny", _poke("second_moment", 20, -5e-324), r"second_moment is negative \(first at index 20\)"),
    # the velocity of an adam file is checked as before
    ("m1-nan", _poke("velocity", 6, np.nan), r"velocity contains NaN or infinity \(first at index 6\)"),
]


@pytest.mark.parametrize("mutate,match", [c[1:] for c in TAMPERED_V2],
                         ids=[c[0] for c in TAMPERED_V2])
def test_tampered_version_2_file_is_rejected(mutate, match, tmp_path):
    load_tampered(tmp_path, mutate, match, "adam")


def test_tampered_cases_start_from_a_file_that_loads(tmp_path):
    header, members = _parts(tmp_path, "adam")
    assert header["optimizer"] == "adam" and header["optimizer_steps"] == 7
    assert sorted(members) == ["header", "params", "second_moment", "velocity"]
    assert members["second_moment"].shape == (26,) and members["second_moment"].dtype == np.float64
    net = fastmlp.reference.MLP.load(tmp_path / "good.npz")
    assert net.optimizer == "adam" and net.optimizer_steps == 7
    # Rewritten by the tests' own writer, unchanged, it still loads.
    members["header"] = _encode(header)
    _write(tmp_path / "same", members)
    again = fastmlp.reference.MLP.load(tmp_path / "same")
    assert _bits(again.second_moment) == _bits(net.second_moment)


@pytest.mark.parametrize("text,match", [
    ('"optimizer_steps": NaN', "header is not valid JSON.*NaN is not allowed"),
    ('"optimizer_steps": Infinity', "header is not valid JSON.*Infinity is not allowed"),
    ('"optimizer_steps": 1e400', r'"optimizer_steps" must be an int .* got inf'),
    ('"optimizer_steps": 7e0', r'"optimizer_steps" must be an int .* got 7.0'),
    ('"optimizer_steps": 7, "optimizer_steps": 7', "header is not valid JSON.*duplicate key 'optimizer_steps'"),
    ('"optimizer_steps": 7, "optimizer": "adam"', "header is not valid JSON.*duplicate key 'optimizer'"),
])
def test_non_strict_json_in_the_new_fields_is_rejected(text, match, tmp_path):
    header, members = _parts(tmp_path, "adam")
    raw = json.dumps(header)
    assert raw.count('"optimizer_steps": 7') == 1
    raw = raw.replace('"optimizer_steps": 7', text)
    members["header"] = _encode(raw)
    _write(tmp_path / "bad", members)
    _load_bad(tmp_path / "bad", match)
