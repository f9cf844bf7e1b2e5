"""Write the version-1 model files that tests/test_persist_v1.py loads.

    python tests/data/make_v1_fixtures.py      (from the repository root)

The files were made once, by fastmlp at commit b8edc38 (before the file
stopped following the in-memory parameter layout), and are committed: they
are what a user's old files look like, so they must not be regenerated with
a newer fastmlp. Running this again with that code gives identical arrays.

For each dtype it writes:

model_v1_<dtype>.npz
    ``net.save`` of a [3, 4, 2] tanh / cross-entropy model (l2 = 0.01,
    seed 20240) after 3 shuffled epochs, so that velocity and history are
    non-zero and the generator has moved.
expected_v1_<dtype>.npz
    What loading that file must restore, taken from the live model at save
    time: ``w<l>``, ``b<l>`` (weights in their (n_{l+1}, n_l) shape),
    ``vw<l>``, ``vb<l>`` (velocity through the same views), ``history``,
    ``rng_json`` (the UTF-8 JSON of the generator state),
    ``draws`` (the next 8 ``integers(0, 2**63)`` of a copy of the
    generator), the training data ``X`` and ``y``, and ``continued_params``,
    ``continued_history``: the model after 2 more epochs with ``FIT``, as
    this code computed them.
"""
import copy
import json
import os
import sys

import numpy as np

import fastmlp

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = [3, 4, 2]
MODEL = dict(activation="tanh", loss="cross_entropy", l2=0.01, seed=20240)
FIT = dict(batch_size=4, lr=0.1, momentum=0.9, shuffle=True)


def data():
    rng = np.random.default_rng(5)
    return rng.standard_normal((12, SIZES[0])), rng.integers(0, SIZES[-1], 12)


def main():
    X, y = data()
    for dtype in ("float32", "float64"):
        net = fastmlp.MLP(SIZES, dtype=dtype, **MODEL).fit(X, y, epochs=3, **FIT)
        net.save(os.path.join(HERE, f"model_v1_{dtype}.npz"))
        bg = net.rng.bit_generator
        state = {"bit_generator": type(bg).__name__, "state": bg.state}
        expected = {"history": np.array(net.history), "X": X, "y": y}
        for l in range(len(SIZES) - 1):
            expected[f"w{l}"] = net.weights[l].copy()
            expected[f"b{l}"] = net.biases[l].copy()
        velocity_w = net._layout.weight_views(net.velocity)
        velocity_b = net._layout.bias_views(net.velocity)
        for l in range(len(SIZES) - 1):
            expected[f"vw{l}"] = velocity_w[l].copy()
            expected[f"vb{l}"] = velocity_b[l].copy()
        expected["rng_json"] = np.frombuffer(
            json.dumps(state, default=int).encode("utf-8"), dtype=np.uint8)
        expected["draws"] = copy.deepcopy(net.rng).integers(0, 2**63, 8)
        net.fit(X, y, epochs=2, **FIT)
        expected["continued_params"] = net.params.copy()
        expected["continued_history"] = np.array(net.history)
        with open(os.path.join(HERE, f"expected_v1_{dtype}.npz"), "wb") as f:
            np.savez(f, allow_pickle=False, **expected)
    return 0


if __name__ == "__main__":
    sys.exit(main())
