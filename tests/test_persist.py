"""net.save(path) / MLP.load(path): exact round trips (training resumes bit
for bit), atomic writes, and a ValueError naming the problem for every kind
of truncated, corrupted or tampered file.

Round-trip tests run against both ``fastmlp.MLP`` and ``fastmlp.reference.MLP``;
the file-validation tests use the reference (loading is shared code in
BaseMLP, and the kernels are exercised by the round trips).
"""
import copy
import io
import json
import os
import pathlib
import pickle
import zipfile

import numpy as np
import pytest

import fastmlp
import fastmlp.reference
from fastmlp import _model
from fastmlp.io import persist as _persist
from fastmlp.io import rngstate as _rngstate
from fastmlp.network.layout import Layout

from conftest import make_data

BIT_GENERATORS = ["PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"]
INVALID = "invalid fastmlp model file"

# (layer_sizes, activation, loss, output, target kind, l2)
CONFIGS = [
    ([3, 5, 2], "relu", "cross_entropy", None, "labels", 0.0),
    ([3, 4, 4, 2], ["tanh", "leaky_relu"], "mse", None, "regression", 1e-3),
    ([3, 6, 1], "sigmoid", "binary_cross_entropy", None, "binary", 0.0),
    ([3, 4, 2], "identity", "mse", "sigmoid", "unit", 0.01),
]


def _config_id(cfg):
    return f"{cfg[2]}-{cfg[1] if isinstance(cfg[1], str) else '+'.join(cfg[1])}"


def _build(impl, cfg, dtype, seed=7):
    sizes, act, loss, out, _, l2 = cfg
    return impl(sizes, activation=act, loss=loss, output=out, l2=l2, dtype=dtype, seed=seed)


def _assert_same_model(a, b):
    assert a.layer_sizes == b.layer_sizes
    assert a.hidden_activations == b.hidden_activations
    assert a.loss_name == b.loss_name
    assert a.output_activation == b.output_activation
    assert a.init_schemes == b.init_schemes
    assert a.l2 == b.l2
    assert a.dtype == b.dtype
    assert a.params.dtype == b.params.dtype
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.velocity, b.velocity)
    assert a.optimizer == b.optimizer
    assert a.optimizer_steps == b.optimizer_steps
    if a.second_moment is None:
        assert b.second_moment is None
    else:
        np.testing.assert_array_equal(a.second_moment, b.second_moment, strict=True)
    assert a.history == b.history
    assert type(a.rng.bit_generator) is type(b.rng.bit_generator)
    assert json.dumps(_rngstate.generator_to_json(a.rng)) == \
        json.dumps(_rngstate.generator_to_json(b.rng))


def set_optimizer_state(net, optimizer, seed=0):
    """``net`` given, by hand, the state of ``optimizer`` that fit would leave
    (the training code sets it): a random velocity and, for adam, a random
    second moment >= 0 (exact zeros, a signed zero and a subnormal among its
    values) and a step count."""
    rng = np.random.default_rng(seed)
    net.optimizer = optimizer
    net.velocity[...] = rng.standard_normal(net.velocity.size)
    if optimizer == "adam":
        second = rng.uniform(0, 1, net.params.size).astype(net.dtype)
        second[:3] = [0.0, -0.0, np.finfo(net.dtype).smallest_subnormal]
        net.second_moment = second
        net.optimizer_steps = 7 + seed
    return net


def canonical(net, flat):
    """W_l row-major in (n_{l+1}, n_l) order, then b_l, computed from the
    views alone: the documented meaning of a file's arrays."""
    return np.concatenate([w.ravel() for w in net._layout.weight_views(flat)]
                          + net._layout.bias_views(flat))


# -- round trips -------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=_config_id)
def test_fit_after_load_continues_bit_for_bit(impl, cfg, dtype, tmp_path):
    X, y = make_data(cfg[4], 23, cfg[0], seed=1)
    kw = dict(batch_size=5, lr=0.05, momentum=0.9, shuffle=True)
    a = _build(impl, cfg, dtype).fit(X, y, epochs=2, **kw)
    path = tmp_path / "model.npz"
    a.save(path)
    b = impl.load(path)
    assert type(b) is impl
    _assert_same_model(a, b)
    b.fit(X, y, epochs=2, **kw)
    c = _build(impl, cfg, dtype).fit(X, y, epochs=4, **kw)
    assert b.params.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(b.params, c.params)
    np.testing.assert_array_equal(b.velocity, c.velocity)
    assert b.history == c.history and len(b.history) == 4
    _assert_same_model(b, c)  # generator state included
    # The shuffles matter here: without them the trajectory differs, so the
    # equality above really depends on the restored generator state.
    d = _build(impl, cfg, dtype).fit(X, y, epochs=4, **{**kw, "shuffle": False})
    assert not np.array_equal(c.params, d.params)


def test_loaded_weights_are_views_into_params(impl, tmp_path):
    a = impl([4, 3, 2], seed=0)
    a.save(tmp_path / "m")
    b = impl.load(tmp_path / "m")
    for W, bias, Wa, ba in zip(b.weights, b.biases, a.weights, a.biases):
        assert np.shares_memory(W, b.params) and np.shares_memory(bias, b.params)
        np.testing.assert_array_equal(W, Wa)
        np.testing.assert_array_equal(bias, ba)
    b.weights[1][0, 0] = 123.0
    b.biases[0][2] = -7.0
    assert 123.0 in b.params and -7.0 in b.params
    np.testing.assert_array_equal(b.forward(np.ones((2, 4))), b.forward(np.ones((2, 4))))
    assert not np.array_equal(b.forward(np.ones((2, 4))), a.forward(np.ones((2, 4))))


def test_forward_and_loss_identical_after_load(impl, tmp_path):
    X, y = make_data("labels", 15, [3, 5, 4])
    a = impl([3, 5, 4], activation="tanh", loss="cross_entropy", seed=2).fit(X, y, epochs=1)
    a.save(tmp_path / "m.npz")
    b = impl.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(a.forward(X), b.forward(X))
    assert a.loss(X, y) == b.loss(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=_config_id)
def test_metrics_round_trip_exactly(impl, cfg, dtype, tmp_path):
    X, y = make_data(cfg[4], 23, cfg[0], seed=1)
    Xv, yv = make_data(cfg[4], 9, cfg[0], seed=2)
    a = _build(impl, cfg, dtype)
    a.fit(X, y, epochs=2, batch_size=5, validation_data=(Xv, yv))
    a.fit(X, y, epochs=1, batch_size=5)  # a second fit: a record without validation
    assert len(a.metrics) == 3 and "val_loss" in a.metrics[0] and "val_loss" not in a.metrics[2]
    a.save(tmp_path / "m")
    b = impl.load(tmp_path / "m")
    assert isinstance(b.metrics, list) and b.metrics is not a.metrics
    assert b.metrics == a.metrics
    for rec_a, rec_b in zip(a.metrics, b.metrics):
        assert list(rec_b) == [k for k in ("epoch", "objective", "seconds",
                                           "samples_per_second", "val_loss", "val_accuracy")
                               if k in rec_a]
        assert type(rec_b["epoch"]) is int
        assert all(type(x) is float for k, x in rec_b.items() if k != "epoch")
    # Training after load goes on counting epochs where the file left off.
    b.fit(X, y, epochs=1, batch_size=5)
    assert b.metrics[:3] == a.metrics and b.metrics[3]["epoch"] == 3


def test_metrics_keys_a_callback_added_are_not_saved(tmp_path):
    X, y = make_data("regression", 12, [3, 4, 2])

    def note(net, metrics):
        metrics["note"] = "mine"

    a = fastmlp.reference.MLP([3, 4, 2], seed=5).fit(X, y, epochs=2, callback=note)
    assert a.metrics[0]["note"] == "mine"
    a.save(tmp_path / "m")
    b = fastmlp.reference.MLP.load(tmp_path / "m")
    assert b.metrics == [{k: x for k, x in m.items() if k != "note"} for m in a.metrics]


@pytest.mark.parametrize("change,match", [
    (lambda n: n.metrics.append(dict(n.metrics[0])), "3 metrics records for 2 epochs"),
    (lambda n: n.metrics[1].update(objective=float("nan")),
     r"metrics\[1\]\['objective'\] is not a finite number"),
    (lambda n: n.metrics[0].update(val_loss=float("inf")),
     r"metrics\[0\]\['val_loss'\] is not a finite number"),
    (lambda n: n.metrics[0].update(epoch=2), r"metrics\[0\]\['epoch'\] is 2, outside"),
    (lambda n: n.metrics[0].pop("seconds"), r"metrics\[0\] must be a dict with the keys"),
], ids=["too-many", "nan", "inf", "epoch", "key-missing"])
def test_save_refuses_metrics_load_would_reject(change, match, tmp_path):
    X, y = make_data("regression", 12, [3, 4, 2])
    net = fastmlp.reference.MLP([3, 4, 2], seed=5).fit(X, y, epochs=2,
                                                        validation_data=(X, y))
    change(net)
    with pytest.raises(ValueError, match="cannot save: " + match):
        net.save(tmp_path / "m")
    assert os.listdir(tmp_path) == []


def test_load_returns_the_class_it_is_called_on(tmp_path):
    X, y = make_data("regression", 12, [3, 4, 2])
    a = fastmlp.MLP([3, 4, 2], dtype="float64", seed=5).fit(X, y, epochs=1, batch_size=4)
    a.save(tmp_path / "m")
    ref = fastmlp.reference.MLP.load(tmp_path / "m")
    fast = fastmlp.MLP.load(tmp_path / "m")
    assert type(ref) is fastmlp.reference.MLP and type(fast) is fastmlp.MLP
    np.testing.assert_array_equal(canonical(ref, ref.params), canonical(a, a.params))
    np.testing.assert_allclose(ref.forward(X), a.forward(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", BIT_GENERATORS)
def test_every_numpy_bit_generator_round_trips(name, tmp_path):
    gen = np.random.Generator(getattr(np.random, name)(11))
    a = fastmlp.reference.MLP([2, 3, 1], seed=gen)
    gen.random(3)          # leave a buffered/odd position in the stream
    gen.integers(0, 10, 1)
    a.save(tmp_path / "m")
    b = fastmlp.reference.MLP.load(tmp_path / "m")
    assert type(b.rng.bit_generator).__name__ == name
    assert b.rng is not a.rng
    np.testing.assert_array_equal(b.rng.integers(0, 2**63, 20), a.rng.integers(0, 2**63, 20))
    np.testing.assert_array_equal(b.rng.random(7), a.rng.random(7))


def test_save_refuses_a_bit_generator_numpy_does_not_provide(tmp_path):
    class MyPCG64(np.random.PCG64):
        pass

    net = fastmlp.reference.MLP([2, 1], seed=np.random.Generator(MyPCG64(1)))
    with pytest.raises(ValueError, match="MyPCG64"):
        net.save(tmp_path / "m")
    assert os.listdir(tmp_path) == []


def test_save_into_a_missing_folder_names_the_path_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = os.path.join("no", "such", "dir", "m.npz")
    with pytest.raises(FileNotFoundError) as info:
        fastmlp.reference.MLP([2, 1], seed=0).save(path)
    assert info.value.filename == path
    assert repr(os.path.dirname(path)) in str(info.value) and ".tmp" not in str(info.value)


def test_header_holds_the_documented_fields(tmp_path):
    net = fastmlp.MLP([3, 4, 2], activation="tanh", loss="mse", output="relu", init="glorot",
                      l2=0.25, dtype="float64", seed=3)
    X, y = make_data("regression", 8, [3, 4, 2])
    net.fit(X, y, epochs=3)
    net.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["header", "params", "velocity"]
        assert z["header"].dtype == np.uint8 and z["header"].ndim == 1
        header = json.loads(z["header"].tobytes().decode("utf-8"))
        assert z["params"].dtype == np.float64 and z["velocity"].dtype == np.float64
        np.testing.assert_array_equal(z["params"], canonical(net, net.params))
        np.testing.assert_array_equal(z["velocity"], canonical(net, net.velocity))
    assert list(header) == list(_persist.HEADER_FIELDS)
    assert list(header) == ["format", "version", "layer_sizes", "hidden_activations", "loss",
                            "output_activation", "init_schemes", "l2", "dtype", "history",
                            "rng", "feature_names", "optimizer", "optimizer_steps",
                            "matmul_dtype", "metrics", "preprocessor"]
    assert header["format"] == "fastmlp-mlp" and header["version"] == 4
    assert header["optimizer"] == "momentum" and header["optimizer_steps"] == 0
    assert header["layer_sizes"] == [3, 4, 2]
    assert header["hidden_activations"] == ["tanh"]
    assert header["loss"] == "mse" and header["output_activation"] == "relu"
    assert header["init_schemes"] == ["glorot", "glorot"]
    assert header["l2"] == 0.25 and header["dtype"] == "float64"
    assert header["history"] == net.history and len(header["history"]) == 3
    assert header["rng"]["bit_generator"] == "PCG64"
    assert header["rng"]["state"]["state"]["state"] == net.rng.bit_generator.state["state"]["state"]
    assert header["rng"]["state"]["state"]["state"] >= 0
    assert header["feature_names"] is None and header["matmul_dtype"] is None
    assert header["metrics"] == net.metrics and len(header["metrics"]) == 3
    assert [m["epoch"] for m in header["metrics"]] == [0, 1, 2]
    assert header["preprocessor"] is None  # a network saved alone


def test_header_as_0d_unicode_array_is_accepted(tmp_path):
    header, members = _parts(tmp_path)
    members["header"] = np.array(json.dumps(header))
    _write(tmp_path / "u", members)
    b = fastmlp.reference.MLP.load(tmp_path / "u")
    np.testing.assert_array_equal(canonical(b, b.params), members["params"])


# -- memory layout -------------------------------------------------------------

def with_layout(impl, first_transposed):
    """``impl`` with its parameters laid out with W_0 transposed or not,
    whatever layout the class itself picks: the layout is forced where
    BaseMLP builds it."""
    def forced(sizes, *args, **kwargs):
        return Layout(sizes, first_transposed=first_transposed)

    class Forced(impl):
        def __init__(self, *args, **kwargs):
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(_model, "Layout", forced)
                super().__init__(*args, **kwargs)
            assert self._layout.first_transposed is first_transposed

    Forced.__name__ = f"{impl.__name__}{'FirstTransposed' if first_transposed else 'Plain'}"
    return Forced


def _copy_state(src, dst):
    """src's trained state put into dst by hand, through the views."""
    for name in ("params", "velocity"):
        a, b = getattr(src, name), getattr(dst, name)
        for x, y in zip(src._layout.weight_views(a) + src._layout.bias_views(a),
                        dst._layout.weight_views(b) + dst._layout.bias_views(b)):
            y[...] = x
    dst.history = list(src.history)
    dst.rng = copy.deepcopy(src.rng)
    return dst


LAYOUT_CFG = ([3, 5, 4, 2], ["tanh", "relu"], "cross_entropy", None, "labels", 1e-3)
LAYOUT_FIT = dict(batch_size=4, lr=0.05, momentum=0.9, shuffle=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_first_transposed_model_saves_the_canonical_layout(impl, dtype, tmp_path):
    X, y = make_data("labels", 13, LAYOUT_CFG[0], seed=2)
    net = _build(with_layout(impl, True), LAYOUT_CFG, dtype).fit(X, y, epochs=2, **LAYOUT_FIT)
    expected = np.concatenate([w.ravel() for w in net.weights] + [b for b in net.biases])
    # In memory W_0 is held transposed, so the buffer is not the canonical form.
    assert not np.array_equal(net.params, expected)
    net.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        np.testing.assert_array_equal(z["params"], expected, strict=True)
        np.testing.assert_array_equal(z["velocity"], canonical(net, net.velocity), strict=True)
    assert np.count_nonzero(canonical(net, net.velocity)) > 0


@pytest.mark.parametrize("src_transposed,dst_transposed",
                         [(True, False), (False, True), (True, True), (False, False)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_files_load_across_memory_layouts_bit_for_bit(impl, dtype, src_transposed,
                                                      dst_transposed, tmp_path):
    Src, Dst = with_layout(impl, src_transposed), with_layout(impl, dst_transposed)
    X, y = make_data("labels", 13, LAYOUT_CFG[0], seed=2)
    a = _build(Src, LAYOUT_CFG, dtype).fit(X, y, epochs=2, **LAYOUT_FIT)
    a.save(tmp_path / "m.npz")
    b = Dst.load(tmp_path / "m.npz")
    assert type(b) is Dst and b._layout.first_transposed is dst_transposed
    for wa, wb in zip(a.weights, b.weights):
        assert np.shares_memory(wb, b.params)
        np.testing.assert_array_equal(wb, wa, strict=True)
    for ba, bb in zip(a.biases, b.biases):
        np.testing.assert_array_equal(bb, ba, strict=True)
    np.testing.assert_array_equal(canonical(b, b.velocity), canonical(a, a.velocity))
    assert b.history == a.history
    assert _rngstate.generator_to_json(b.rng) == _rngstate.generator_to_json(a.rng)
    np.testing.assert_array_equal(b.forward(X), _copy_state(a, _build(Dst, LAYOUT_CFG, dtype))
                                  .forward(X))
    # Training after load continues exactly as the saved state, held in the
    # destination layout without a file, would.
    by_hand = _copy_state(a, _build(Dst, LAYOUT_CFG, dtype)).fit(X, y, epochs=2, **LAYOUT_FIT)
    b.fit(X, y, epochs=2, **LAYOUT_FIT)
    np.testing.assert_array_equal(b.params, by_hand.params, strict=True)
    np.testing.assert_array_equal(b.velocity, by_hand.velocity, strict=True)
    assert b.history == by_hand.history and len(b.history) == 4
    if src_transposed == dst_transposed:
        uninterrupted = _build(Src, LAYOUT_CFG, dtype).fit(X, y, epochs=4, **LAYOUT_FIT)
        np.testing.assert_array_equal(b.params, uninterrupted.params, strict=True)
        assert b.history == uninterrupted.history


# -- writing -----------------------------------------------------------------

def test_path_is_used_exactly_as_given(tmp_path):
    net = fastmlp.reference.MLP([2, 2], seed=0)
    net.save(str(tmp_path / "plain"))
    net.save(tmp_path / "with.npz")
    net.save(tmp_path / "other.ext")
    assert sorted(os.listdir(tmp_path)) == ["other.ext", "plain", "with.npz"]
    for name in ("plain", "with.npz", "other.ext"):
        assert zipfile.is_zipfile(tmp_path / name)
        fastmlp.reference.MLP.load(str(tmp_path / name))


def test_save_overwrites_and_leaves_no_temporary_file(tmp_path):
    p = tmp_path / "m"
    fastmlp.reference.MLP([2, 3], seed=0).save(p)
    second = fastmlp.reference.MLP([2, 5, 1], seed=1)
    second.save(p)
    assert os.listdir(tmp_path) == ["m"]
    np.testing.assert_array_equal(fastmlp.reference.MLP.load(p).params, second.params)


def test_saved_file_mode_follows_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        fastmlp.reference.MLP([2, 2], seed=0).save(tmp_path / "m")
    finally:
        os.umask(old)
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o640


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_save_writes_through_a_symlink(tmp_path):
    real = tmp_path / "real.npz"
    link = tmp_path / "link.npz"
    fastmlp.reference.MLP([2, 2], seed=0).save(real)
    link.symlink_to(real)
    net = fastmlp.reference.MLP([2, 4, 2], seed=1)
    net.save(link)
    assert link.is_symlink()
    np.testing.assert_array_equal(fastmlp.reference.MLP.load(real).params, net.params)


def test_failure_mid_write_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch):
    p = tmp_path / "m.npz"
    fastmlp.reference.MLP([2, 3], seed=0).save(p)
    before = p.read_bytes()

    def broken(f, *args):
        f.write(b"PK\x03\x04 half an archive")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(_persist, "_write_payload", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        fastmlp.reference.MLP([2, 4], seed=1).save(p)
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]


def test_failure_at_rename_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch):
    p = tmp_path / "m.npz"
    fastmlp.reference.MLP([2, 3], seed=0).save(p)
    before = p.read_bytes()

    def no_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", no_replace)
    with pytest.raises(OSError, match="rename failed"):
        fastmlp.reference.MLP([2, 4], seed=1).save(p)
    monkeypatch.undo()
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]


def test_file_and_directory_are_fsynced(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.path.realpath(f"/proc/self/fd/{fd}") if os.path.isdir("/proc/self/fd")
                      else fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    fastmlp.reference.MLP([2, 2], seed=0).save(tmp_path / "m")
    monkeypatch.undo()
    assert len(synced) == (2 if os.name == "posix" else 1)
    if os.path.isdir("/proc/self/fd"):
        assert os.path.dirname(synced[0]) == str(tmp_path.resolve())  # the temporary file
        assert synced[1] == str(tmp_path.resolve())                   # then the directory


def test_save_into_missing_directory_raises_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastmlp.reference.MLP([2, 2], seed=0).save(tmp_path / "nope" / "m")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("what", ["params", "velocity", "history"])
def test_save_refuses_non_finite_state(what, tmp_path):
    p = tmp_path / "m"
    fastmlp.reference.MLP([2, 2], seed=0).save(p)
    before = p.read_bytes()
    net = fastmlp.reference.MLP([2, 2], seed=1)
    if what == "history":
        net.history.append(float("nan"))
    else:
        getattr(net, what)[1] = np.inf
    with pytest.raises(ValueError, match=what):
        net.save(p)
    assert p.read_bytes() == before and os.listdir(tmp_path) == ["m"]


def test_path_type_is_checked(tmp_path):
    net = fastmlp.reference.MLP([2, 2], seed=0)
    with pytest.raises(TypeError, match="path"):
        net.save(3)
    with pytest.raises(TypeError, match="path"):
        fastmlp.reference.MLP.load(None)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastmlp.reference.MLP.load(tmp_path / "absent.npz")


# -- bad files ----------------------------------------------------------------

_GENUINE = {}
V1_FIXTURE = pathlib.Path(__file__).parent / "data" / "model_v1_float64.npz"


def _parts(tmp_path, optimizer="momentum"):
    """(header dict, {member: array}) of a genuine saved model, whose file is
    also written to tmp_path / "good.npz" (built and saved once per session
    and optimizer; "adam" adds the second moment and a step count; "v1" is
    the version-1 fixture of float64, which has its own layer sizes)."""
    if optimizer not in _GENUINE:
        if optimizer == "v1":
            _GENUINE[optimizer] = V1_FIXTURE.read_bytes()
        else:
            X, y = make_data("labels", 10, [3, 4, 2])
            net = fastmlp.reference.MLP([3, 4, 2], loss="cross_entropy", dtype="float64",
                                        seed=4)
            net.fit(X, y, epochs=2, batch_size=3)
            if optimizer != "momentum":
                set_optimizer_state(net, optimizer)
            net.save(tmp_path / "good.npz")
            _GENUINE[optimizer] = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "good.npz").write_bytes(_GENUINE[optimizer])
    with np.load(tmp_path / "good.npz", allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    return json.loads(members["header"].tobytes()), members


def _encode(header):
    text = header if isinstance(header, (str, bytes)) else json.dumps(header)
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return np.frombuffer(raw, dtype=np.uint8)


def _write(path, members):
    with open(path, "wb") as f:  # a file object: np.savez appends no suffix
        np.savez(f, **members)


def _load_bad(path, match):
    with pytest.raises(ValueError, match=match) as info:
        fastmlp.reference.MLP.load(path)
    assert INVALID in str(info.value)
    return info.value


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def mutate(h, m):
        target = h
        for k in keys[:-1]:
            target = target[k]
        if value is _DELETE:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
    return mutate


_DELETE = object()


def _members(fn):
    return lambda h, m: fn(m)


TAMPERED = [
    # format and version
    ("format-wrong", _set("format", "keras-h5"), "not a fastmlp model file"),
    ("format-missing", _set("format", _DELETE), "not a fastmlp model file"),
    ("version-5", _set("version", 5), "unknown format version 5; this fastmlp reads versions 1, 2, 3 and 4"),
    ("version-0", _set("version", 0), "unknown format version 0"),
    ("version-float", _set("version", 2.0), '"version" must be an integer'),
    ("version-string", _set("version", "1"), '"version" must be an integer'),
    ("version-bool", _set("version", True), '"version" must be an integer'),
    ("field-missing", _set("history", _DELETE), r"missing the fields \['history'\]"),
    ("field-extra", _set("code", "import os"), r"unexpected fields \['code'\]"),
    ("metrics-missing", _set("metrics", _DELETE), r"missing the fields \['metrics'\]"),
    ("preprocessor-missing", _set("preprocessor", _DELETE), r"missing the fields \['preprocessor'\]"),
    # metrics: at most one record per epoch of history (2 here), finite numbers
    ("metrics-more-than-history", lambda h, m: h["metrics"].append(dict(h["metrics"][0])), r'"metrics" must be a list of at most 2 records'),
    ("metrics-null", _set("metrics", None), r'"metrics" must be a list of at most 2 records'),
    ("metrics-object", _set("metrics", {"epoch": 0}), r'"metrics" must be a list of at most 2 records'),
    ("metrics-record-list", _set("metrics", 0, [0, 1.0]), r'"metrics"\[0\] must hold the keys'),
    ("metrics-key-missing", _set("metrics", 1, "objective", _DELETE), r'"metrics"\[1\] must hold the keys'),
    ("metrics-key-unknown", _set("metrics", 0, "lr", 0.1), r'"metrics"\[0\] must hold the keys'),
    ("metrics-huge", _set("metrics", 0, "objective", 10**400), r'"metrics"\[0\]\["objective"\] is not valid'),
    ("metrics-string", _set("metrics", 1, "seconds", "0.5"), r'"metrics"\[1\]\["seconds"\] is not valid'),
    ("metrics-bool", _set("metrics", 0, "samples_per_second", True), r'"metrics"\[0\]\["samples_per_second"\] is not valid'),
    ("metrics-epoch-float", _set("metrics", 0, "epoch", 0.0), r'"metrics"\[0\]\["epoch"\] is not valid'),
    ("metrics-epoch-beyond", _set("metrics", 1, "epoch", 2), r'"metrics"\[1\]\["epoch"\] is not valid: 2'),
    ("metrics-epoch-negative", _set("metrics", 0, "epoch", -1), r'"metrics"\[0\]\["epoch"\] is not valid: -1'),
    # model description, checked by the constructor's own validation
    ("sizes-negative", _set("layer_sizes", [3, -4, 2]), r"layer_sizes\[1\] must be a positive int"),
    ("sizes-float", _set("layer_sizes", [3, 4.0, 2]), r"layer_sizes\[1\] must be an int"),
    ("sizes-bool", _set("layer_sizes", [3, True, 2]), r"layer_sizes\[1\] must be an int"),
    ("sizes-string", _set("layer_sizes", "342"), '"layer_sizes" must be a list'),
    ("sizes-one", _set("layer_sizes", [3]), "at least 2 entries"),
    ("sizes-inconsistent", _set("layer_sizes", [3, 5, 2]), r"params has shape \(26,\), but the header's layer_sizes need \(32,\)"),
    ("activation-unknown", _set("hidden_activations", ["swish"]), "unknown activation 'swish'"),
    ("activation-string", _set("hidden_activations", "relu"), '"hidden_activations" must be a list'),
    ("activation-count", _set("hidden_activations", ["relu", "relu"]), "activation list has 2 entries"),
    ("activation-type", _set("hidden_activations", [1]), "activation names must be strings"),
    ("loss-unknown", _set("loss", "hinge"), "unknown loss 'hinge'"),
    ("loss-type", _set("loss", 3), '"loss" must be a string'),
    ("output-incompatible", _set("output_activation", "sigmoid"), "incompatible with loss 'cross_entropy'"),
    ("output-null", _set("output_activation", None), '"output_activation" must be a string'),
    ("init-unknown", _set("init_schemes", ["lecun", "lecun"]), "unknown init 'lecun'"),
    ("init-mixed-unknown", _set("init_schemes", ["he", "lecun"]), '"init_schemes" .* is not a valid init'),
    ("init-length", _set("init_schemes", ["he"]), '"init_schemes" .* is not a valid init'),
    ("init-type", _set("init_schemes", [None, None]), r'"init_schemes"\[0\] must be a string'),
    ("l2-negative", _set("l2", -1.0), "l2 must be a finite number >= 0"),
    ("l2-string", _set("l2", "0.0"), "l2 must be a real number"),
    ("l2-huge-int", _set("l2", 10**400), "l2 must be a finite number"),
    ("dtype-float16", _set("dtype", "float16"), "dtype must be float32 or float64"),
    ("dtype-garbage", _set("dtype", "pickle"), "dtype must be float32 or float64"),
    ("dtype-alias", _set("dtype", "f8"), '"dtype" must be "float32" or "float64"'),
    ("dtype-mismatch", _set("dtype", "float32"), r"params has dtype <f8, but the header says float32"),
    ("history-string", _set("history", [1.0, "x"]), r'"history"\[1\] must be a finite number'),
    ("history-null", _set("history", [None]), r'"history"\[0\] must be a finite number'),
    ("history-bool", _set("history", [True]), r'"history"\[0\] must be a finite number'),
    ("history-nested", _set("history", [[1.0]]), r'"history"\[0\] must be a finite number'),
    ("history-huge", _set("history", [10**400]), r'"history"\[0\] must be a finite number'),
    ("history-not-list", _set("history", 1.0), '"history" must be a list'),
    # generator state
    ("rng-unknown", _set("rng", "bit_generator", "EvilGen"), '"rng.bit_generator" must be one of'),
    ("rng-empty", _set("rng", {}), '"rng" must be an object with exactly'),
    ("rng-not-object", _set("rng", [1, 2]), '"rng" must be an object with exactly'),
    ("rng-name-mismatch", _set("rng", "state", "bit_generator", "SFC64"), 'whose "bit_generator" is \'PCG64\''),
    ("rng-negative", _set("rng", "state", "state", "state", -1), r"rng.state.state.state must be an int in \[0, "),
    ("rng-too-big", _set("rng", "state", "state", "inc", 2**128), r"rng.state.state.inc must be an int in \[0, "),
    ("rng-string", _set("rng", "state", "state", "state", "12"), r"rng.state.state.state must be an int"),
    ("rng-missing", _set("rng", "state", "state", "inc", _DELETE), "rng.state.state is missing 'inc'"),
    ("rng-extra", _set("rng", "state", "spare", 0), r"rng.state has unexpected entries \['spare'\]"),
    ("rng-cache-flag", _set("rng", "state", "has_uint32", 5), r"rng.state.has_uint32 must be an int in \[0, 2\)"),
    # arrays
    ("params-short", _members(lambda m: m.update(params=m["params"][:-1])), r"params has shape \(25,\), but the header's layer_sizes need \(26,\)"),
    ("params-2d", _members(lambda m: m.update(params=m["params"].reshape(2, -1))), r"params has shape \(2, 13\)"),
    ("velocity-long", _members(lambda m: m.update(velocity=np.append(m["velocity"], 0.0))), r"velocity has shape \(27,\)"),
    ("params-float32", _members(lambda m: m.update(params=m["params"].astype(np.float32))), "params has dtype <f4, but the header says float64"),
    ("params-big-endian", _members(lambda m: m.update(params=m["params"].astype(">f8"))), "params has dtype >f8"),
    ("velocity-int", _members(lambda m: m.update(velocity=m["velocity"].astype(np.int64))), "velocity has dtype <i8"),
    ("params-nan", _members(lambda m: m["params"].__setitem__(3, np.nan)), r"params contains NaN or infinity \(first at index 3\)"),
    ("velocity-inf", _members(lambda m: m["velocity"].__setitem__(20, -np.inf)), r"velocity contains NaN or infinity \(first at index 20\)"),
    ("params-object", _members(lambda m: m.update(params=np.array([1.0, "x"], dtype=object))), "'params' holds Python objects"),
    ("header-missing", _members(lambda m: m.pop("header")), "missing 'header'"),
    ("params-missing", _members(lambda m: m.pop("params")), "missing 'params'"),
    ("velocity-missing", _members(lambda m: m.pop("velocity")), "missing 'velocity'"),
    ("member-extra", _members(lambda m: m.update(extra=np.zeros(2))), r"unexpected members \['extra.npy'\]"),
    # header encoding
    ("header-not-json", _members(lambda m: m.update(header=_encode("{not json"))), "header is not valid JSON"),
    ("header-not-utf8", _members(lambda m: m.update(header=_encode(b"\xff\xfe{}"))), "header is not UTF-8"),
    ("header-list", _members(lambda m: m.update(header=_encode("[1, 2]"))), "header must be a JSON object, got a list"),
    ("header-nested", _members(lambda m: m.update(header=_encode("[" * 100000))), "header is not valid JSON"),
    ("header-float-array", _members(lambda m: m.update(header=np.zeros(4))), "header must be a 1-D uint8 array"),
    ("header-2d", _members(lambda m: m.update(header=m["header"].reshape(1, -1))), "header must be a 1-D uint8 array"),
    ("header-empty", _members(lambda m: m.update(header=np.zeros(0, np.uint8))), "header is not valid JSON"),
]


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
@pytest.mark.parametrize("mutate,match", [c[1:] for c in TAMPERED], ids=[c[0] for c in TAMPERED])
def test_tampered_file_is_rejected(mutate, match, optimizer, tmp_path):
    load_tampered(tmp_path, mutate, match, optimizer)


def load_tampered(tmp_path, mutate, match, optimizer="momentum"):
    """A genuine file of ``optimizer`` (see _parts), changed by
    ``mutate(header, members)``, is rejected with a message matching ``match``."""
    header, members = _parts(tmp_path, optimizer)
    original = members["header"]
    mutate(header, members)
    if members.get("header") is original:
        # The header member was not replaced: write the (mutated) dict.
        members["header"] = _encode(header)
    _write(tmp_path / "bad", members)
    _load_bad(tmp_path / "bad", match)


@pytest.mark.parametrize("text,match", [
    ('"l2": NaN', "header is not valid JSON.*NaN is not allowed"),
    ('"l2": -Infinity', "header is not valid JSON.*-Infinity is not allowed"),
    ('"l2": 0.0, "l2": 0.0', "header is not valid JSON.*duplicate key 'l2'"),
    ('"l2": 1e400', "l2 must be a finite number >= 0, got inf"),
    ('"l2": 0.0, "history": [1e400]', r'"history"\[0\] must be a finite number'),
])
def test_non_strict_json_header_is_rejected(text, match, tmp_path):
    header, members = _parts(tmp_path)
    del header["history"]
    raw = json.dumps(header).replace('"l2": 0.0', text)
    if "history" not in text:
        raw = raw[:-1] + ', "history": []}'
    assert text in raw
    members["header"] = _encode(raw)
    _write(tmp_path / "bad", members)
    _load_bad(tmp_path / "bad", match)


@pytest.mark.parametrize("text,match", [
    ('"objective": 1e400', r'"metrics"\[0\]\["objective"\] is not valid: inf'),
    ('"objective": -1e400', r'"metrics"\[0\]\["objective"\] is not valid: -inf'),
    ('"objective": NaN', "header is not valid JSON.*NaN is not allowed"),
])
def test_non_finite_metrics_are_rejected(text, match, tmp_path):
    header, members = _parts(tmp_path)
    raw = json.dumps(header)
    first = raw.index('"objective": ', raw.index('"metrics"'))
    end = raw.index(",", first)
    raw = raw[:first] + text + raw[end:]
    members["header"] = _encode(raw)
    _write(tmp_path / "bad", members)
    _load_bad(tmp_path / "bad", match)


def test_mt19937_position_out_of_range_is_rejected(tmp_path):
    # numpy's own setter accepts any position and then reads past the key.
    header, members = _parts(tmp_path)
    gen = np.random.Generator(np.random.MT19937(1))
    header["rng"] = _rngstate.generator_to_json(gen)
    members["header"] = _encode(header)
    _write(tmp_path / "ok", members)
    fastmlp.reference.MLP.load(tmp_path / "ok")  # the genuine state loads
    header["rng"]["state"]["state"]["pos"] = 10**6
    members["header"] = _encode(header)
    _write(tmp_path / "bad", members)
    _load_bad(tmp_path / "bad", r"rng.state.state.pos must be an int in \[0, 625\)")
    header["rng"]["state"]["state"]["pos"] = 0
    header["rng"]["state"]["state"]["key"] = header["rng"]["state"]["state"]["key"][:-1]
    members["header"] = _encode(header)
    _write(tmp_path / "bad", members)
    _load_bad(tmp_path / "bad", "rng.state.state.key must be a list of 624 ints")


class _Marker:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def test_pickled_object_array_is_refused_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    header, members = _parts(tmp_path)
    members["params"] = np.array([_Marker(marker), 1.0], dtype=object)
    _write(tmp_path / "bad", members)  # np.savez pickles object arrays
    assert b"touch" in (tmp_path / "bad").read_bytes()
    _load_bad(tmp_path / "bad", "'params' holds Python objects")
    assert not marker.exists()


def test_pickle_file_is_refused_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "bad").write_bytes(pickle.dumps(_Marker(marker)))
    _load_bad(tmp_path / "bad", "not an .npz archive")
    assert not marker.exists()


@pytest.mark.parametrize("content,match", [
    (b"", "not an .npz archive"),
    (b"hello, I am a text file\n", "not an .npz archive"),
    (b"PK\x03\x04" + b"\x00" * 40, "not an .npz archive"),
    (b"PK\x05\x06" + b"\x00" * 18, "missing 'header', 'params', 'velocity'"),
])
def test_non_archive_is_rejected(content, match, tmp_path):
    (tmp_path / "bad").write_bytes(content)
    _load_bad(tmp_path / "bad", match)


def test_single_npy_array_is_rejected(tmp_path):
    with open(tmp_path / "bad", "wb") as f:
        np.save(f, np.zeros(5))
    _load_bad(tmp_path / "bad", "a single .npy array")


FUZZED = ["momentum", "adam", "v1"]  # version 2 without and with a second moment; version 1


@pytest.mark.parametrize("kind", FUZZED)
def test_every_truncation_is_rejected(kind, tmp_path):
    _parts(tmp_path, kind)
    path = tmp_path / "good.npz"
    size = path.stat().st_size
    # Shrink the file in place, longest prefix first (rewriting a file per
    # length is slow on some file systems).
    for n in range(size - 1, -1, -1):
        os.truncate(path, n)
        _load_bad(path, "not an .npz archive|member|missing")


@pytest.mark.parametrize("kind", FUZZED)
def test_flipped_bytes_give_value_error_or_the_same_model(kind, tmp_path):
    _parts(tmp_path, kind)
    path = tmp_path / "good.npz"
    good = fastmlp.reference.MLP.load(path)
    data = path.read_bytes()
    rejected = 0
    with open(path, "r+b") as f:
        for i in range(len(data)):
            # Patched in place and restored: fast, and the file stays whole.
            f.seek(i)
            f.write(bytes([data[i] ^ 0x5A]))
            f.flush()
            try:
                net = fastmlp.reference.MLP.load(path)
            except ValueError as exc:
                assert INVALID in str(exc)
                rejected += 1
            else:
                # Only bytes nothing reads (zip timestamps, attributes) may
                # change undetected: the model must be exactly the saved one.
                _assert_same_model(net, good)
            f.seek(i)
            f.write(data[i:i + 1])
            f.flush()
    assert rejected > len(data) // 2
    assert path.read_bytes() == data


@pytest.mark.parametrize("member", ["params", "velocity", "second_moment"])
def test_corrupted_array_bytes_fail_the_crc(member, tmp_path):
    _, members = _parts(tmp_path, "adam")
    data = bytearray((tmp_path / "good.npz").read_bytes())
    raw = members[member].tobytes()
    assert bytes(data).count(raw) == 1
    at = bytes(data).index(raw) + 5
    data[at] ^= 0x01
    (tmp_path / "bad").write_bytes(data)
    _load_bad(tmp_path / "bad", f"'{member}'.*Bad CRC-32")


def _zip_with(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, payload in members.items():
            zf.writestr(name + ".npy", payload)


def _npy(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


@pytest.mark.parametrize("member", ["params", "velocity", "second_moment"])
def test_huge_claimed_shape_is_rejected_before_allocating(member, tmp_path):
    header, members = _parts(tmp_path, "adam")
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": (10**15,)})
    payload = {k: _npy(v) for k, v in members.items()}
    payload[member] = buf.getvalue() + b"\x00" * 64
    _zip_with(tmp_path / "bad", payload)
    _load_bad(tmp_path / "bad", rf"'{member}' claims shape \(1000000000000000,\)")


@pytest.mark.parametrize("member", ["params", "velocity", "second_moment"])
def test_member_that_is_not_npy_is_rejected(member, tmp_path):
    header, members = _parts(tmp_path, "adam")
    payload = {k: _npy(v) for k, v in members.items()}
    payload[member] = b"just some bytes"
    _zip_with(tmp_path / "bad", payload)
    _load_bad(tmp_path / "bad", f"'{member}' is not a readable .npy array")


def test_unsupported_compression_is_rejected(tmp_path):
    header, members = _parts(tmp_path)
    _zip_with(tmp_path / "bad", {k: _npy(v) for k, v in members.items()}, zipfile.ZIP_BZIP2)
    _load_bad(tmp_path / "bad", "unsupported compression method 12")


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_deflated_archive_is_accepted(optimizer, tmp_path):
    header, members = _parts(tmp_path, optimizer)
    _zip_with(tmp_path / "z", {k: _npy(v) for k, v in members.items()}, zipfile.ZIP_DEFLATED)
    net = fastmlp.reference.MLP.load(tmp_path / "z")
    np.testing.assert_array_equal(canonical(net, net.params), members["params"])
    if optimizer == "adam":
        np.testing.assert_array_equal(canonical(net, net.second_moment),
                                      members["second_moment"], strict=True)


@pytest.mark.parametrize("member", ["params", "velocity", "second_moment"])
def test_duplicate_members_are_rejected(member, tmp_path):
    header, members = _parts(tmp_path, "adam")
    payload = {k: _npy(v) for k, v in members.items()}
    _zip_with(tmp_path / "bad", payload)
    with pytest.warns(UserWarning, match="Duplicate name"):
        with zipfile.ZipFile(tmp_path / "bad", "a") as zf:
            zf.writestr(f"{member}.npy", payload[member])
    _load_bad(tmp_path / "bad", rf"duplicate members \['{member}.npy'\]")


def test_a_data_file_is_not_taken_for_a_pickle(tmp_path):
    # Once: numpy's own message, which suggests allow_pickle=True.
    path = tmp_path / "data.csv"
    path.write_text("alcohol,malic_acid\n1,2\n")
    with pytest.raises(ValueError) as info:
        fastmlp.MLP.load(path)
    message = str(info.value)
    assert "allow_pickle" not in message and "pickle" not in message
    assert "not an .npz archive" in message and "b'alcohol,malic_ac'" in message
