"""Training with matmul_dtype="bfloat16": it learns as well as float32, and
divergence, interruption and the CLI behave as they do in float32 (the
float32 tests of test_recovery.py, run again on a bfloat16 model)."""
import subprocess
import sys

import numpy as np
import pytest

import fastmlp
from fastmlp.datasets import load_digits, train_test_split_indices

import test_recovery
from bf16_support import needs_bf16_gemm

pytestmark = needs_bf16_gemm

# Test accuracy of the bfloat16 model may trail the float32 one by this much.
ACCURACY_SLACK = 0.005


def accuracies(sizes, X, y, train, test, **fit_kw):
    from threadpoolctl import threadpool_limits
    out = {}
    for matmul_dtype in (None, "bfloat16"):
        net = fastmlp.MLP(sizes, activation="relu", loss="cross_entropy", seed=0,
                          matmul_dtype=matmul_dtype)
        with threadpool_limits(1):
            net.fit(X[train], y[train], **fit_kw)
        assert all(np.isfinite(net.history))
        out[matmul_dtype] = float(np.mean(net.predict(X[test]) == y[test]))
    return out[None], out["bfloat16"]


def test_digits_reach_the_float32_accuracy():
    X, y = load_digits()
    train, test = train_test_split_indices(len(X), 0.2, seed=0)
    f32, bf16 = accuracies([64, 64, 10], X, y, train, test, epochs=30, batch_size=32,
                           lr=0.2, momentum=0.9)
    assert f32 >= 0.95
    assert bf16 >= f32 - ACCURACY_SLACK, (bf16, f32)


def synthetic_classification(n=12000, d=32, k=5, seed=0):
    """Labels from a random two-layer teacher network plus label noise:
    learnable, not linearly separable, with a known ceiling below 100%."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    W1 = rng.standard_normal((d, 32)) / np.sqrt(d)
    W2 = rng.standard_normal((32, k)) / np.sqrt(32)
    y = np.argmax(np.tanh(X @ W1) @ W2, axis=1)
    flip = rng.random(n) < 0.05
    y[flip] = rng.integers(0, k, int(flip.sum()))
    return X, y


def test_larger_synthetic_set_reaches_the_float32_accuracy():
    X, y = synthetic_classification()
    train, test = train_test_split_indices(len(X), 0.25, seed=1)
    f32, bf16 = accuracies([32, 128, 64, 5], X, y, train, test, epochs=8,
                           batch_size=64, lr=0.05, momentum=0.9)
    assert f32 >= 0.75, f32   # chance is 0.2; the 5% flipped labels cap it near 0.96
    assert bf16 >= f32 - ACCURACY_SLACK, (bf16, f32)


class BF16MLP(fastmlp.MLP):
    """fastmlp.MLP with bfloat16 products, for the float32 tests below."""

    def __init__(self, *args, **kw):
        super().__init__(*args, matmul_dtype="bfloat16", **kw)


@pytest.fixture
def bf16_models(monkeypatch):
    # test_recovery builds its models as fastmlp.MLP: make those bfloat16.
    monkeypatch.setattr(test_recovery.fastmlp, "MLP", BF16MLP)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_nonfinite_update_restores_the_last_finite_state(bf16_models, momentum):
    test_recovery.test_nonfinite_update_restores_last_finite_state("float32", momentum)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("checkpoint_rows", [None, 24])
def test_divergence_after_the_checkpoint_restores_exactly(bf16_models, monkeypatch,
                                                          momentum, shuffle,
                                                          checkpoint_rows):
    test_recovery.test_divergence_epochs_after_the_checkpoint_restores_exactly(
        monkeypatch, "float32", momentum, shuffle, checkpoint_rows)


def test_nonfinite_loss_stops_before_the_step(bf16_models):
    test_recovery.test_nonfinite_loss_stops_before_the_step()
    test_recovery.test_nan_is_not_hidden_by_relu()


def test_a_bf16_model_was_really_used(bf16_models):
    assert test_recovery.fastmlp.MLP([3, 2]).matmul_dtype == "bfloat16"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child needs POSIX signals")
def test_sigint_stops_a_bf16_fit_at_a_step_boundary():
    child = test_recovery.CHILD.replace(
        'seed=0)', 'seed=0, matmul_dtype="bfloat16")')
    assert 'matmul_dtype="bfloat16"' in child
    # bfloat16 epochs are shorter than float32 ones: interrupt sooner.
    test_recovery.interrupt_child(child, 1.0)


def test_cli_trains_with_bfloat16_products(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] > 0).astype(int)
    data = tmp_path / "d.csv"
    np.savetxt(data, np.column_stack([X, y]), delimiter=",", fmt="%.6f",
               header="a,b,c,d,label", comments="")
    model = tmp_path / "m.npz"
    proc = subprocess.run(
        [sys.executable, "-m", "fastmlp", "train", str(data), "--target", "label",
         "--hidden", "8", "--epochs", "2", "--matmul-dtype", "bfloat16", "--save",
         str(model)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert fastmlp.load(model).network.matmul_dtype == "bfloat16"
