"""cross_entropy labels reach the compiled epochs as class indices (an
(n, 1) column in the model dtype), not as an n x K one-hot array: the
trajectory is bit for bit the one of the same labels given as one-hot
probability rows (which keep the dense path). Memory: tests/test_memory_scale.py."""
import numpy as np
import pytest

import fastmlp
from fastmlp.inputs import validation as _validation
from fastmlp.inputs.sparse import input_rows
from fastmlp._kernels import _train


def _data(n=203, d=5, k=7, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.integers(0, k, n)
    y[:k] = np.arange(k)
    return X, y, np.eye(k)[y]


def _fit(y, dtype, **kw):
    X, _, _ = _data()
    net = fastmlp.MLP([5, 9, 7], activation="tanh", loss="cross_entropy", dtype=dtype,
                      l2=1e-3, seed=2)
    net.fit(X, y, epochs=3, **kw)
    return net


FITS = {
    "momentum": dict(batch_size=16, lr=0.1),
    "full-batch": dict(batch_size=None, lr=0.5),
    "adam": dict(batch_size=10, lr=0.01, optimizer="adam"),
    "nesterov-unshuffled": dict(batch_size=32, lr=0.1, optimizer="nesterov",
                                shuffle=False),
    "weighted": dict(batch_size=16, lr=0.1, class_weight="balanced"),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(FITS))
def test_indices_train_bit_for_bit_like_one_hot_rows(simd_path, dtype, case):
    _, labels, one_hot = _data()
    kw = dict(FITS[case])
    if "class_weight" in kw:
        # class_weight needs labels; the same weights as sample weights.
        counts = np.bincount(labels)
        kw.pop("class_weight")
        weights = len(labels) / (len(counts) * counts[labels])
        a = _fit(labels, dtype, sample_weight=weights, **kw)
        b = _fit(one_hot, dtype, sample_weight=weights, **kw)
        c = _fit(labels, dtype, class_weight="balanced", **kw)
        np.testing.assert_array_equal(c.params, a.params)
    else:
        a, b = _fit(labels, dtype, **kw), _fit(one_hot, dtype, **kw)
    assert a.params.tobytes() == b.params.tobytes()
    assert a.velocity.tobytes() == b.velocity.tobytes()
    assert a.history == b.history


def test_fit_encodes_labels_as_indices_and_the_reference_as_rows():
    X, labels, _ = _data()
    net = fastmlp.MLP([5, 9, 7], loss="cross_entropy", seed=0)
    _, Y = net._check_Xy(X, labels, net._fit_class_indices)
    assert Y.shape == (203, 1) and Y.dtype == np.float32
    np.testing.assert_array_equal(Y[:, 0], labels)
    assert _validation.holds_class_indices(Y)
    ref = fastmlp.reference.MLP([5, 9, 7], loss="cross_entropy", seed=0)
    _, Y = ref._check_Xy(X, labels, ref._fit_class_indices)
    assert Y.shape == (203, 7)


def test_one_output_keeps_the_dense_target():
    # One output: the one-hot column is no bigger than the indices, and
    # (n, 1) could not tell the two apart.
    Y = _validation.check_y(np.zeros(203, int), 203, "cross_entropy", 1, np.float32,
                            as_indices=True)
    np.testing.assert_array_equal(Y, np.ones((203, 1), np.float32))
    assert not _validation.holds_class_indices(Y)


def test_the_kernel_checks_the_index_range():
    net = fastmlp.MLP([2, 3], loss="cross_entropy", dtype="float64", seed=0)
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"class indices in Y must be in \[0, 3\)"):
        fastmlp.training.epoch.EpochLoop(
            net._kernels, net.params, X, np.full((4, 1), 3.0).view(_validation.ClassIndices),
            fastmlp.network.kernels.Objective(),
            fastmlp.training.epoch.OptimizerState("momentum", 9, net.dtype),
            fastmlp.training.epoch.StepPlan(2))
    # A workspace whose loss reads class indices refuses target rows.
    indices = net._kernels.workspace(2, Y=np.zeros((4, 1)).view(_validation.ClassIndices))
    with pytest.raises(ValueError, match=r"Y must be a C-contiguous float64 array of "
                                         r"shape \(4, 1\)"):
        _train.EpochKernel(indices, net.params, input_rows(X), np.zeros((4, 3)),
                           fastmlp.network.kernels.Objective(),
                           fastmlp.training.epoch.OptimizerState("momentum", 9, net.dtype),
                           fastmlp.training.epoch.StepPlan(2))
    assert "cross_entropy_labels" in _train.LOSS_CODES
