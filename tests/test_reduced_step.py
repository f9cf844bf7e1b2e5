"""The data-parallel step (reduced_step of _kernels/_steps.pxd) in one
process, without MPI: the kernel calls its reduction through the address of
an MPI_Allreduce, here a ctypes stand-in that emulates P identical ranks
(recv = P * send). Every rank's gradient sum, rows, weight and loss sum are
then P times one rank's, so the step is the formed step on one rank's batch.
This runs wherever the kernels do (the sanitized build included); the real
MPI runs are tests/test_mpi.py.

Tolerances: the formed step scales each row's output delta by 1/denom
before the GEMMs; the reduced step sums unscaled and scales the summed
gradient after (and the emulated sum multiplies by P, exact for P = 2 and
4), so the two round differently, by a few ulp per step relative to the
step's scale: COMBINE_RTOL of the largest element, as in
test_epoch_protocol (3 epochs of 5 steps).
"""
import ctypes

import numpy as np
import pytest

import fastmlp
from fastmlp.training import mpi as _mpi
from fastmlp.training.epoch import EpochLoop, OptimizerState, StepPlan
from fastmlp.training.settings import FitArguments
from fastmlp.network.kernels import Objective
from fastmlp._kernels import _train
from fastmlp.training.strategy import SingleProcess

COMBINE_RTOL = {np.float32: 1e-5, np.float64: 1e-12}
ALLREDUCE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                             ctypes.c_int, ctypes.c_int, ctypes.c_int)
# The stand-in's own handles (int handles, as in the MPICH ABI) and its
# MPI_IN_PLACE.
F32, F64, SUM, COMM = 11, 12, 13, 14
IN_PLACE = 0x1234


class FakeAllreduce:
    """MPI_Allreduce over `ranks` identical ranks, in place (the kernel's
    only call); records its calls."""

    def __init__(self, ranks, fail_at=None):
        self.ranks, self.fail_at, self.calls = ranks, fail_at, []
        self.fn = ALLREDUCE(self._call)

    def _call(self, send, recv, count, dtype, op, comm):
        assert (op, comm) == (SUM, COMM) and dtype in (F32, F64)
        assert send == IN_PLACE, "the kernel reduces in place"
        self.calls.append(count)
        if self.fail_at is not None and len(self.calls) > self.fail_at:
            return 1
        ctype = ctypes.c_float if dtype == F32 else ctypes.c_double
        b = np.ctypeslib.as_array((ctype * count).from_address(recv))
        b *= self.ranks
        return 0

    def handles(self):
        return {"address": ctypes.cast(self.fn, ctypes.c_void_p).value,
                "pointer_handles": False, "in_place": IN_PLACE, "comm": COMM,
                "op_sum": SUM, "float32": F32, "float64": F64}


class Reducing(SingleProcess):
    """A fit's strategy whose steps reduce through the given stand-in."""

    def __init__(self, reduction):
        super().__init__()
        self.reduction = reduction


def _loop(rule, dtype, reduction=None, weights=None, momentum=0.9, l2=1e-3, combine="formed"):
    rng = np.random.default_rng(4)
    net = fastmlp.MLP([6, 9, 7, 3], activation="tanh", loss="cross_entropy", dtype=dtype,
                      seed=1, l2=l2)
    X = rng.standard_normal((40, 6)).astype(dtype)
    Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, 40)]
    state = OptimizerState(rule, net.params.size, dtype,
                           first=net.velocity if rule == "momentum" else None)
    terms = Objective(net.l2, row_weights=weights, weighted=weights is not None)
    plan = StepPlan(8, combine=None if reduction else combine, reduction=reduction)
    loop = EpochLoop(net._kernels, net.params, X, Y, terms,
                     state.with_hyperparameters(momentum), plan)
    return net, state, loop


def _train_3_epochs(loop):
    perms = np.random.default_rng(2)
    return np.array([loop.run(perms.permutation(40), 0.05)[1] for _ in range(3)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("rule", ["momentum", "nesterov", "adam"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ranks", [2, 4])
def test_reduced_step_over_identical_ranks_is_the_formed_step(rule, dtype, weighted, ranks):
    weights = np.random.default_rng(9).uniform(0.5, 2, 40).astype(dtype) if weighted else None
    net1, state1, formed = _loop(rule, dtype, weights=weights)
    t1 = _train_3_epochs(formed)
    fake = FakeAllreduce(ranks)
    # Two steps more per epoch than this rank's 5 batches: every rank has
    # run out of rows there (all ranks are alike), so they change nothing.
    reduction = _mpi.Reduction(fake.handles(), n_steps=7)
    net2, state2, reduced = _loop(rule, dtype, reduction, weights)
    assert reduced.kernel.combine == "reduced"
    t2 = _train_3_epochs(reduced)
    n_msg = net1.params.size + _train.REDUCED_EXTRA
    assert fake.calls == [n_msg] * 21     # one reduction per step, 7 steps x 3 epochs
    tol = COMBINE_RTOL[dtype]
    for got, want in ((net2.params, net1.params), (state2.first, state1.first)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
    # The epoch total weighs each step by its rows (or weight) over all ranks.
    np.testing.assert_allclose(t2, ranks * t1, rtol=tol)
    assert int(state2.steps[0]) == int(state1.steps[0])   # Adam's t: 15 steps, or 0
    # The time inside the reduction is kept (the stand-in's Python call
    # takes microseconds); a kernel without one keeps none.
    assert reduced.kernel.reduce_seconds > 0 and formed.kernel.reduce_seconds == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("momentum", [0.0, 0.3, 0.9])
@pytest.mark.parametrize("l2", [0.0, 1e-3])
def test_reduced_momentum_step_mixes_in_the_update_pass_like_the_fused_step(dtype, momentum,
                                                                           l2):
    """The reduced (and formed) momentum step mixes the summed gradient into
    the velocity in its update pass (fm_mix_apply_velocity); the fused step
    has the GEMM write the velocity (beta = momentum below 0.5, the scaled
    velocity above): a different computation of the same rule, for each
    branch of the mixing pass (momentum 0, with and without L2)."""
    net1, state1, fused = _loop("momentum", dtype, momentum=momentum, l2=l2, combine="fused")
    assert fused.kernel.combine == "fused"
    t1 = _train_3_epochs(fused)
    fake = FakeAllreduce(2)
    net2, state2, reduced = _loop("momentum", dtype,
                                  _mpi.Reduction(fake.handles(), n_steps=5),
                                  momentum=momentum, l2=l2)
    t2 = _train_3_epochs(reduced)
    tol = COMBINE_RTOL[dtype]
    assert np.abs(net2.params - _loop("momentum", dtype)[0].params).max() > 100 * tol
    for got, want in ((net2.params, net1.params), (state2.first, state1.first)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
    np.testing.assert_allclose(t2, 2 * t1, rtol=tol)


def test_a_failed_reduction_stops_the_epoch_before_its_update():
    fake = FakeAllreduce(2, fail_at=2)
    net, state, loop = _loop("momentum", np.float64,
                             _mpi.Reduction(fake.handles(), n_steps=5))
    # (Each stand-in kept referenced while the kernel may call it.)
    fake_ok = FakeAllreduce(2)
    net_ok, _, loop_ok = _loop("momentum", np.float64,
                               _mpi.Reduction(fake_ok.handles(), n_steps=5))
    status, _, step = loop.run(None, 0.05)
    loop_ok.kernel.run(None, 0.05, steps=2)
    assert status == _train.STATUS_CODES["reduce_failed"] and step == 2
    np.testing.assert_array_equal(net.params, net_ok.params)   # steps 0 and 1 only
    failing = FakeAllreduce(2, fail_at=0)
    m = fastmlp.MLP([6, 9, 7, 3], seed=1)
    strategy = Reducing(_mpi.Reduction(failing.handles(), 5))
    settings, data = strategy.begin(
        m, np.ones((40, 6), np.float32), np.ones((40, 3), np.float32),
        FitArguments(batch_size=8, lr=0.05, momentum=0.9))
    run = m._epoch_runner(data, settings, strategy)
    with pytest.raises(RuntimeError, match="MPI_Allreduce of the gradient failed"):
        run(None)


def test_the_kernel_makes_the_reduced_message_itself():
    """Under a reduction the kernel decides the combination and makes the
    message (the gradient sums, then the step's rows, weight and loss sum),
    zeroed; its step count is the reduction's; a reduction without the
    address of its MPI_Allreduce is refused."""
    fake = FakeAllreduce(2)
    net, state, loop = _loop("momentum", np.float64, _mpi.Reduction(fake.handles(), 7))
    assert loop.kernel.combine == "reduced" and loop.kernel.n_steps == 7
    assert loop.grads.shape == (net.params.size + _train.REDUCED_EXTRA,)
    assert not loop.grads.any()
    assert _loop("momentum", np.float64, combine="fused")[2].grads is None
    with pytest.raises(ValueError, match="address of MPI_Allreduce"):
        _loop("momentum", np.float64, _mpi.Reduction({**fake.handles(), "address": 0}, 5))
