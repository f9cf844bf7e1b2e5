"""Version-1 files written by earlier fastmlp still load bit for bit.

tests/data/model_v1_<dtype>.npz were written by fastmlp at commit b8edc38,
before the file stopped following the in-memory parameter layout; their
expected contents (taken from the live model when it was saved) are in
tests/data/expected_v1_<dtype>.npz. tests/data/make_v1_fixtures.py made
both and documents every array; see its docstring for why the files must
not be regenerated with newer code.
"""
import json
import pathlib

import numpy as np
import pytest

from conftest import FIT_RTOL, assert_close
from test_persist import with_layout

DATA = pathlib.Path(__file__).parent / "data"
SIZES = [3, 4, 2]
MODEL = dict(activation="tanh", loss="cross_entropy", l2=0.01, seed=20240)
FIT = dict(batch_size=4, lr=0.1, momentum=0.9, shuffle=True)
DTYPES = ["float32", "float64"]


def _expected(dtype):
    with np.load(DATA / f"expected_v1_{dtype}.npz", allow_pickle=False) as z:
        out = {k: z[k] for k in z.files}
    out["rng"] = json.loads(out.pop("rng_json").tobytes().decode("utf-8"))
    return out


def _state_json(rng):
    bg = rng.bit_generator
    return json.dumps({"bit_generator": type(bg).__name__, "state": bg.state}, default=int)


def _restored_by_hand(cls, dtype, e):
    """A model holding the expected state, set through the public views, not
    through load: what the saved model would be had it never left memory."""
    net = cls(SIZES, dtype=dtype, **MODEL)
    velocity_w = net._layout.weight_views(net.velocity)
    velocity_b = net._layout.bias_views(net.velocity)
    for l in range(len(SIZES) - 1):
        net.weights[l][...] = e[f"w{l}"]
        net.biases[l][...] = e[f"b{l}"]
        velocity_w[l][...] = e[f"vw{l}"]
        velocity_b[l][...] = e[f"vb{l}"]
    net.history = [float(h) for h in e["history"]]
    bg = getattr(np.random, e["rng"]["bit_generator"])()
    bg.state = e["rng"]["state"]
    net.rng = np.random.Generator(bg)
    return net


def test_fixture_holds_trained_state():
    # Zero velocity or an empty history would let a loader that drops them pass.
    for dtype in DTYPES:
        e = _expected(dtype)
        assert len(e["history"]) == 3
        for l in range(len(SIZES) - 1):
            assert np.count_nonzero(e[f"vw{l}"]) == e[f"vw{l}"].size
            assert np.count_nonzero(e[f"vb{l}"]) == e[f"vb{l}"].size
            assert e[f"w{l}"].dtype == np.dtype(dtype)
        with np.load(DATA / f"model_v1_{dtype}.npz", allow_pickle=False) as z:
            header = json.loads(z["header"].tobytes().decode("utf-8"))
            params, velocity = z["params"], z["velocity"]
        assert header["version"] == 1 and header["dtype"] == dtype
        # What the old code wrote is the canonical layout the format now
        # names, which is why the version did not change.
        layers = range(len(SIZES) - 1)
        np.testing.assert_array_equal(params, np.concatenate(
            [e[f"w{l}"].ravel() for l in layers] + [e[f"b{l}"] for l in layers]), strict=True)
        np.testing.assert_array_equal(velocity, np.concatenate(
            [e[f"vw{l}"].ravel() for l in layers] + [e[f"vb{l}"] for l in layers]), strict=True)


@pytest.mark.parametrize("first_transposed", [False, True], ids=["plain", "transposed"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_version_1_file_loads_exactly(impl, dtype, first_transposed):
    # Into either memory layout: the file's arrays are canonical.
    cls = with_layout(impl, first_transposed)
    e = _expected(dtype)
    net = cls.load(DATA / f"model_v1_{dtype}.npz")
    assert type(net) is cls
    assert list(net.layer_sizes) == SIZES and net.hidden_activations == ["tanh"]
    assert net.loss_name == "cross_entropy" and net.l2 == 0.01
    assert net.params.dtype == np.dtype(dtype)
    velocity_w = net._layout.weight_views(net.velocity)
    velocity_b = net._layout.bias_views(net.velocity)
    for l in range(len(SIZES) - 1):
        np.testing.assert_array_equal(net.weights[l], e[f"w{l}"], strict=True)
        np.testing.assert_array_equal(net.biases[l], e[f"b{l}"], strict=True)
        np.testing.assert_array_equal(velocity_w[l], e[f"vw{l}"], strict=True)
        np.testing.assert_array_equal(velocity_b[l], e[f"vb{l}"], strict=True)
    assert net.history == e["history"].tolist()
    assert _state_json(net.rng) == json.dumps(e["rng"])
    np.testing.assert_array_equal(net.rng.integers(0, 2**63, 8), e["draws"])


@pytest.mark.parametrize("first_transposed", [False, True], ids=["plain", "transposed"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_fit_after_loading_a_version_1_file_continues_the_saved_state(impl, dtype,
                                                                      first_transposed):
    cls = with_layout(impl, first_transposed)
    e = _expected(dtype)
    X, y = e["X"], e["y"]
    loaded = cls.load(DATA / f"model_v1_{dtype}.npz").fit(X, y, epochs=2, **FIT)
    by_hand = _restored_by_hand(cls, dtype, e).fit(X, y, epochs=2, **FIT)
    np.testing.assert_array_equal(loaded.params, by_hand.params, strict=True)
    np.testing.assert_array_equal(loaded.velocity, by_hand.velocity, strict=True)
    assert loaded.history == by_hand.history and len(loaded.history) == 5
    assert _state_json(loaded.rng) == _state_json(by_hand.rng)
    # The continuation the writing code computed: equal up to the rounding
    # differences allowed between implementations (and kernel versions).
    for l, W in enumerate(loaded.weights):
        assert not np.array_equal(W, e[f"w{l}"])  # training moved it
    canonical = np.concatenate([w.ravel() for w in loaded.weights] + list(loaded.biases))
    assert_close(canonical, e["continued_params"], FIT_RTOL[dtype], "continued params")
    assert_close(loaded.history, e["continued_history"], FIT_RTOL[dtype], "continued history")
