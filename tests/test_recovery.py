"""Divergence and interruption lose nothing: fit stops at a step boundary,
with parameters and velocity as they were after the last good step."""
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fastmlp
from fastmlp import DivergenceError


def failing_step(exc):
    return int(re.search(r"step (\d+)", str(exc)).group(1))


def replay(kw, X, y, steps, batch, **fit_kw):
    """A fresh model trained on the first `steps` batches in one epoch: the
    state the failing fit must be restored to."""
    net = fastmlp.MLP(**kw)
    if steps:
        net.fit(X[: steps * batch], y[: steps * batch], epochs=1, batch_size=batch,
                shuffle=False, **fit_kw)
    return net


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_nonfinite_update_restores_last_finite_state(dtype, momentum):
    """A step on tiny rows first (a small, finite step even at an absurd
    learning rate), then rows with an enormous target: their loss is still
    finite, but the update overflows to inf. The model must come back to its
    state after the first step exactly."""
    tiny, big, lr = (1e-170, 1e150, 1e162) if dtype == "float64" else (1e-33, 4e18, 1e22)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 3)) * tiny
    y = rng.standard_normal(8) * tiny
    X[4:] = rng.standard_normal((4, 3))
    y[4:] = big
    kw = dict(layer_sizes=[3, 4, 1], activation="tanh", loss="mse", dtype=dtype, seed=0)

    def warmed_up():
        net = fastmlp.MLP(**kw)
        net.fit(X[:4] / tiny, y[:4] / tiny, epochs=1, batch_size=4, shuffle=False, lr=1e-3)
        # Zero biases and velocity keep every output, and so every gradient,
        # of the tiny rows tiny: the absurd lr then makes a small step.
        net.velocity[...] = 0
        for b in net.biases:
            b[...] = 0
        return net

    net = warmed_up()
    history = list(net.history)
    with pytest.raises(DivergenceError, match="restored") as info:
        net.fit(X, y, epochs=3, batch_size=4, shuffle=False, lr=lr, momentum=momentum)
    step = failing_step(info.value)
    assert "epoch 1" in str(info.value) and step == 1
    assert np.isfinite(net.params).all() and np.isfinite(net.velocity).all()
    assert net.history == history  # the interrupted epoch is not recorded
    # Exactly the state after the last good step: the same model taken
    # through the same steps and stopped there.
    expected = warmed_up()
    expected.fit(X[: 4 * step], y[: 4 * step], epochs=1, batch_size=4, shuffle=False,
                 lr=lr, momentum=momentum)
    assert not np.array_equal(expected.params, warmed_up().params)  # the steps did move
    np.testing.assert_array_equal(net.params, expected.params)
    np.testing.assert_array_equal(net.velocity, expected.velocity)
    # The model is still usable.
    assert np.isfinite(net.loss(X[:4], y[:4]))
    net.fit(X[:4], y[:4], epochs=1, batch_size=4, lr=1e-3)


# An unstable L2 step (lr * l2 beyond the stable range for the momentum)
# makes every weight grow geometrically, and a first layer started 1e30
# (float32) or 1e300 (float64) times larger than usual overflows after a few
# epochs. Its tanh units are saturated all along, so the outputs, and with
# them the loss, stay finite: the update, not the loss, diverges. The output
# layer's data gradient makes the trajectory depend on the row order.
UNSTABLE_LR = {0.0: 3.0, 0.5: 9.0, 0.9: 60.0}


def saturated_model(dtype):
    rng = np.random.default_rng(7)
    X = rng.uniform(-0.15, 0.15, (12, 3))  # |W0 x| < max|W0|: never inf
    y = rng.integers(0, 3, 12)
    kw = dict(layer_sizes=[3, 5, 3], activation="tanh", loss="cross_entropy", l2=1.0,
              dtype=dtype, seed=3)

    def model():
        net = fastmlp.MLP(**kw)
        net.weights[0][...] *= 1e30 if dtype == "float32" else 1e300
        return net

    return X, y, model


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("checkpoint_rows", [None, 24])
def test_divergence_epochs_after_the_checkpoint_restores_exactly(
        monkeypatch, dtype, momentum, shuffle, checkpoint_rows):
    """With short epochs the divergence checkpoint is refreshed only every
    CHECKPOINT_ROWS rows (None: the default, far more than this fit runs;
    24: every 2 epochs of 12 rows), and the recovery replays the epochs
    since then: the model must still come back to its state after the last
    finite step, bit for bit."""
    if checkpoint_rows is not None:
        monkeypatch.setattr(fastmlp.mlp, "CHECKPOINT_ROWS", checkpoint_rows)
    X, y, model = saturated_model(dtype)
    fit_kw = dict(batch_size=4, lr=UNSTABLE_LR[momentum], momentum=momentum,
                  shuffle=shuffle)
    net = model()
    with pytest.raises(DivergenceError, match="restored") as info:
        net.fit(X, y, epochs=1000, **fit_kw)
    epoch, step = info.value.epoch, info.value.step
    assert len(net.history) == epoch
    if checkpoint_rows is None:
        assert epoch >= 3  # the replay runs whole epochs before the failing one
    expected = model()
    expected.fit(X, y, epochs=epoch, **fit_kw)
    if step:  # and the failing epoch's first steps, in its row order
        order = expected.rng.permutation(12) if shuffle else np.arange(12)
        rows = order[: 4 * step]
        expected.fit(X[rows], y[rows], epochs=1, **dict(fit_kw, shuffle=False))
    np.testing.assert_array_equal(net.params, expected.params)
    np.testing.assert_array_equal(net.velocity, expected.velocity)
    assert net.history == expected.history[:epoch]
    assert np.isfinite(net.params).all()


def test_a_callback_that_changes_the_model_is_never_replayed_over():
    """A callback may change the model between epochs, which a replay from
    an older checkpoint would not repeat: with one, every epoch keeps its
    own checkpoint, and the recovery still lands on the last finite state."""
    X, y, model = saturated_model("float32")
    fit_kw = dict(batch_size=4, lr=UNSTABLE_LR[0.9], momentum=0.9)

    def nudge(net, metrics):
        if metrics["epoch"] == 1:
            net.weights[1][...] *= 1.5

    net = model()
    with pytest.raises(DivergenceError, match="restored") as info:
        net.fit(X, y, epochs=1000, callback=nudge, **fit_kw)
    assert info.value.epoch >= 3 and info.value.step > 0
    for cb, same in ((nudge, True), (None, False)):  # the nudge does matter
        expected = model()
        expected.fit(X, y, epochs=info.value.epoch, callback=cb, **fit_kw)
        rows = expected.rng.permutation(12)[: 4 * info.value.step]
        expected.fit(X[rows], y[rows], epochs=1, batch_size=4, lr=fit_kw["lr"],
                     momentum=0.9, shuffle=False)
        assert np.array_equal(net.params, expected.params) == same
        assert np.array_equal(net.velocity, expected.velocity) == same


class SpyKernel:
    """An EpochKernel stand-in that records the calls a Recovery makes and
    passes them on; with `fail` set, the next whole-epoch run reports an
    update that went non-finite at step `fail` instead of training."""

    def __init__(self, real):
        self.real, self.state_size, self.dtype = real, real.state_size, real.dtype
        self.calls, self.fail = [], None

    def save_state(self, checkpoint):
        self.calls.append(("save",))
        return self.real.save_state(checkpoint)

    def restore_state(self, checkpoint, adam_steps):
        self.calls.append(("restore",))
        return self.real.restore_state(checkpoint, adam_steps)

    def run(self, perm, lr, steps=-1, **kw):
        self.calls.append(("run", None if perm is None else np.array(perm), lr, steps))
        if self.fail is not None and steps < 0:
            failed, self.fail = self.fail, None
            return 2, 0.0, failed
        return self.real.run(perm, lr, steps=steps, **kw)


def test_checkpoint_bookkeeping_hands_the_kernel_the_right_epochs(monkeypatch):
    """The recovery takes the checkpoint every CHECKPOINT_ROWS rows and, when
    an update fails, replays exactly the epochs run since then (row orders
    and learning rates), then the failed epoch's steps before the failure."""
    from fastmlp.training import recovery as _recovery
    from fastmlp.training.epoch import EpochLoop, OptimizerState, StepPlan
    from fastmlp.network.kernels import Objective

    monkeypatch.setattr(fastmlp.mlp, "CHECKPOINT_ROWS", 4 * 37)  # every 4 epochs
    spies = []
    real_init = _recovery.Recovery.__init__

    def spying_init(self, kernel, *args, **kw):
        spies.append(SpyKernel(kernel))
        real_init(self, spies[-1], *args, **kw)

    monkeypatch.setattr(_recovery.Recovery, "__init__", spying_init)
    rng = np.random.default_rng(6)
    net = fastmlp.MLP([3, 4, 2], loss="cross_entropy", seed=0)
    X, y = rng.standard_normal((37, 3)), rng.integers(0, 2, 37)
    net.fit(X, y, epochs=10, batch_size=5)
    calls = spies[0].calls
    kinds = [c[0] for c in calls]
    # A checkpoint before epochs 0, 4 and 8, and no restore.
    assert kinds == (["save"] + ["run"] * 4) * 2 + ["save", "run", "run"]
    assert len({c[1].tobytes() for c in calls if c[0] == "run"}) == 10  # orders differ

    # A failure in the 7th epoch (index 6, two after the checkpoint at 4):
    # restore, replay epochs 4 and 5 in their orders and at their learning
    # rates, then steps [0, 3) of epoch 6 in its order and at its rate.
    Xc, Y = net._check_Xy(X, y)
    loop = EpochLoop(net._kernels, net.params, Xc, Y, Objective(),
                     OptimizerState("momentum", net.params.size, net.dtype,
                                    first=net.velocity).with_hyperparameters(0.9),
                     StepPlan(5), recovery=(4 * 37, True))
    spy = spies[1]
    orders = [rng.permutation(37) for _ in range(7)]
    for e, order in enumerate(orders):
        spy.fail = 3 if e == 6 else None
        assert loop.run(order, 0.01 * (e + 1))[0] == (2 if e == 6 else 0)
    tail = spy.calls[[c[0] for c in spy.calls].index("restore"):]
    assert [c[0] for c in tail] == ["restore", "run", "run", "run"]
    for c, e in zip(tail[1:], (4, 5, 6)):
        np.testing.assert_array_equal(c[1], orders[e])
        assert c[2] == pytest.approx(0.01 * (e + 1))
    assert [c[3] for c in tail[1:]] == [-1, -1, 3]


@pytest.mark.parametrize("rule", ["momentum", "nesterov", "adam", "sklearn_sgd",
                                  "sklearn_nesterov", "sklearn_adam"])
def test_checkpoint_holds_the_whole_rule_state(rule):
    """save_state / restore_state cover every buffer the rule updates (Adam:
    both moments and the step count), so a restored run repeats exactly;
    a checkpoint of the wrong size or dtype is refused before any copy."""
    from fastmlp.training.epoch import EpochLoop, OptimizerState, StepPlan
    from fastmlp.network.kernels import Objective

    rng = np.random.default_rng(3)
    net = fastmlp.MLP([3, 4, 2], loss="cross_entropy", seed=0)
    X, Y = net._check_Xy(rng.standard_normal((20, 3)), rng.integers(0, 2, 20))
    state = OptimizerState(rule, net.params.size, net.dtype,
                           first=net.velocity if rule == "momentum" else None)
    loop = EpochLoop(net._kernels, net.params, X, Y, Objective(),
                     state.with_hyperparameters(0.9), StepPlan(4))
    kernel = loop.kernel
    perm = rng.permutation(20)
    kernel.run(perm, 0.05)
    checkpoint = np.empty(kernel.state_size, dtype=net.dtype)
    adam = rule.endswith("adam")
    assert kernel.state_size == net.params.size * (3 if adam else 2)
    steps = kernel.save_state(checkpoint)
    assert steps == (5 if adam else 0)

    def snapshot():
        return [a.copy() for a in (net.params, state.first, state.second, state.steps)
                if a is not None]

    kernel.run(perm, 0.05)
    after = snapshot()
    kernel.run(perm, 0.05)  # move on, then back
    kernel.restore_state(checkpoint, steps)
    kernel.run(perm, 0.05)
    for got, want in zip(snapshot(), after):
        np.testing.assert_array_equal(got, want)
    for bad in (checkpoint[:-1], checkpoint.astype(np.float64),
                np.empty((2, kernel.state_size // 2), dtype=net.dtype)):
        with pytest.raises(ValueError, match="checkpoint"):
            kernel.save_state(bad)
        with pytest.raises(ValueError, match="checkpoint"):
            kernel.restore_state(bad, steps)


def test_nonfinite_loss_stops_before_the_step():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 4))
    y = rng.standard_normal(40)
    kw = dict(layer_sizes=[4, 8, 1], activation="identity", loss="mse", dtype="float32",
              seed=0)
    net = fastmlp.MLP(**kw)
    with pytest.raises(DivergenceError, match="objective is not finite") as info:
        net.fit(X * 1e6, y * 1e6, epochs=20, batch_size=8, shuffle=False, lr=50.0,
                momentum=0.0)
    step = failing_step(info.value)
    assert np.isfinite(net.params).all()
    epochs_done = len(net.history)
    expected = fastmlp.MLP(**kw)
    if epochs_done:
        expected.fit(X * 1e6, y * 1e6, epochs=epochs_done, batch_size=8, shuffle=False,
                     lr=50.0, momentum=0.0)
    if step:
        expected.fit(X[: 8 * step] * 1e6, y[: 8 * step] * 1e6, epochs=1, batch_size=8,
                     shuffle=False, lr=50.0, momentum=0.0)
    np.testing.assert_array_equal(net.params, expected.params)


def test_nan_is_not_hidden_by_relu():
    """A NaN weight must surface (relu passes NaN on, as numpy's maximum does)."""
    X = np.random.default_rng(2).standard_normal((10, 3))
    net = fastmlp.MLP([3, 5, 2], activation="relu", loss="cross_entropy", seed=0)
    ref = fastmlp.reference.MLP([3, 5, 2], activation="relu", loss="cross_entropy", seed=0)
    for m in (net, ref):
        m.weights[0][1, 2] = np.nan
        assert np.isnan(m.forward(X)).all()
    before = net.params.copy()
    with pytest.raises(DivergenceError):
        net.fit(X, np.zeros(10, dtype=int), epochs=1)
    np.testing.assert_array_equal(net.params, before)  # NaN where it was, nothing else
    assert not np.any(net.velocity)


def test_infinite_weight_behind_tanh_is_caught():
    """tanh(inf) is finite, so the loss alone would not notice; the update's
    finiteness check does, and nothing is changed."""
    X = np.random.default_rng(3).standard_normal((8, 3))
    net = fastmlp.MLP([3, 4, 1], activation="tanh", loss="mse", seed=0)
    net.weights[0][0, 0] = np.inf
    before = net.params.copy()
    with pytest.raises(DivergenceError, match="inf or NaN"):
        net.fit(X, np.ones(8), epochs=1, batch_size=8)
    np.testing.assert_array_equal(net.params, before)
    assert not np.any(net.velocity)


CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    import fastmlp
    rng = np.random.default_rng(0)
    # About a second per epoch, so the interrupt lands inside the kernel's
    # epoch loop rather than between epochs in Python.
    n, batch = 200_000, 32
    X = rng.standard_normal((n, 32)).astype(np.float32)
    y = rng.integers(0, 10, n)
    kw = dict(layer_sizes=[32, 2048, 10], loss="cross_entropy", seed=0)
    net = fastmlp.MLP(**kw)
    fit_kw = dict(batch_size=batch, shuffle=False, lr=1e-3, momentum=0.3)
    start = time.perf_counter()
    net.fit(X, y, epochs=1, **fit_kw)
    epoch_seconds = time.perf_counter() - start
    print("ready", flush=True)
    try:
        net.fit(X, y, epochs=10**6, **fit_kw)
    except KeyboardInterrupt:
        stopped = time.perf_counter()
        print(f"interrupted {stopped!r}", flush=True)
    else:
        sys.exit("fit finished without interruption")
    epochs = len(net.history)
    # Replay step by step (momentum < 0.5: full-batch fits on each batch are
    # the same arithmetic) until the state matches exactly.
    replay = fastmlp.MLP(**kw)
    if epochs:
        replay.fit(X, y, epochs=epochs, **fit_kw)
    for step in range(n // batch + 1):
        if np.array_equal(replay.params, net.params) and \\
                np.array_equal(replay.velocity, net.velocity):
            print(f"matched epochs={epochs} step={step}", flush=True)
            break
        rows = slice(batch * step, batch * step + batch)
        replay.fit(X[rows], y[rows], epochs=1, batch_size=None, shuffle=False, lr=1e-3,
                   momentum=0.3)
    else:
        sys.exit("no step boundary matches the interrupted model: half-updated")
    # History holds only whole epochs, and the model goes on training.
    assert len(net.history) == epochs
    net.fit(X[:256], y[:256], epochs=1, **fit_kw)
    print(f"epoch_seconds {epoch_seconds!r}", flush=True)
    print("ok", flush=True)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child needs POSIX signals")
def test_sigint_stops_fit_at_a_step_boundary():
    interrupt_child(CHILD, 1.7)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child needs POSIX signals")
def test_sigint_stops_a_threaded_fit_at_a_step_boundary():
    """The same with two threads: the hidden layer's passes and update run
    in blocks on both (and the replay is on two threads too)."""
    key = 'loss="cross_entropy", seed=0)'
    interrupt_child(CHILD.replace(key, 'loss="cross_entropy", seed=0, n_threads=2)'), 1.7)


def interrupt_child(code, wait):
    """Run CHILD-like code, send SIGINT `wait` seconds after it is ready,
    and check what it reports."""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(wait)
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)  # about halfway through an epoch
        # Natively the child finishes in seconds; the limit only stops a hang
        # (an emulated aarch64 run, about 100x slower, took 121 s).
        out, err = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    lines = out.splitlines()
    stopped = float(lines[0].split()[1])
    # perf_counter is system-wide monotonic on Linux and macOS, so the two
    # processes' readings compare: the interrupt is served within 0.5 s.
    epoch_seconds = float(lines[-2].split()[1])
    assert 0 <= stopped - sent < min(0.25, epoch_seconds / 2), (stopped - sent, epoch_seconds)
    assert lines[1].startswith("matched") and lines[-1] == "ok", out
    assert "step=0" not in lines[1], "the interrupt landed between epochs: not a test of the kernel"


def test_reference_detects_nonfinite_parameters_too(impl):
    """Both implementations stop where an update overflows, even with a
    finite objective (here the l2 term overflows the weight update)."""
    X = np.random.default_rng(4).standard_normal((8, 3))
    net = impl([3, 4, 1], activation="tanh", loss="mse", l2=1e300, dtype="float64", seed=0)
    before = (net.params.copy(), net.velocity.copy())
    with pytest.raises(DivergenceError, match="inf or NaN") as info:
        net.fit(X, np.ones(8), epochs=3, batch_size=8, lr=1e10, momentum=0.0)
    assert info.value.epoch == 0 and info.value.step == 0
    np.testing.assert_array_equal(net.params, before[0])
    np.testing.assert_array_equal(net.velocity, before[1])
