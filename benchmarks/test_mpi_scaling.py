"""Smoke test of benchmarks/mpi_scaling.py (the benchmark itself is run as
a script, not timed here): the ring-allreduce model, and one 2-rank job of
the tiny config under mpiexec, so that the script cannot rot unnoticed."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import mpi_launch  # noqa: E402
import mpi_scaling  # noqa: E402


def test_ring_model_efficiency_falls_with_ranks_and_rises_with_bandwidth():
    e = {(p, g): mpi_scaling.ring_efficiency(5e-3, 535_818, p, g)
         for p in (2, 8, 128) for g in (10, 25)}
    assert all(0 < v < 1 for v in e.values())
    assert e[(2, 10)] > e[(8, 10)] > e[(128, 10)]
    assert e[(8, 25)] > e[(8, 10)]
    # No latency, p = 2: the bytes cross once each way, 2 * 1/2 * bytes / bandwidth.
    t = (535_818 + 3) * 4 / (10e9 / 8)
    assert mpi_scaling.ring_efficiency(5e-3, 535_818, 2, 10, latency=0) == \
        pytest.approx(5e-3 / (5e-3 + t))


@pytest.mark.skipif(mpi_launch.unavailable() is not None,
                    reason=str(mpi_launch.unavailable()))
def test_two_rank_job_reports_throughput_and_allreduce_time():
    r = mpi_scaling.launch("tiny", "2 ranks")
    assert r["rows"] > 0 and r["seconds"] > 0 and r["allreduce_seconds"] > 0
    assert r["n_params"] == 64 * 32 + 32 + 32 * 10 + 10


@pytest.mark.skipif(mpi_launch.unavailable() is not None,
                    reason=str(mpi_launch.unavailable()))
def test_reduced_step_on_self_trains_like_fit_and_goes_through_the_reduction(monkeypatch):
    """The "reduced step" column times the data-parallel step: it must train
    the same model as fit (the formed step's rounding differs by a few ulp
    per step, as in tests/test_reduced_step.py) and must reach the reduction."""
    import numpy as np

    import fastmlp
    from fastmlp.training import mpi as _mpi
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 6)).astype(np.float32)
    y = rng.integers(0, 3, 50)
    made = []
    real = _mpi.Reduction
    begin = _mpi.MpiRanks.begin

    def recording(*args, **kwargs):
        made.append(args)
        return real(*args, **kwargs)

    def recording_begin(strategy, *args):
        begun = begin(strategy, *args)
        made.append(("total weight", strategy.total_weight))
        return begun
    monkeypatch.setattr(_mpi, "Reduction", recording)
    monkeypatch.setattr(_mpi.MpiRanks, "begin", recording_begin)
    nets = [fastmlp.MLP([6, 8, 3], loss="cross_entropy", seed=1) for _ in range(2)]
    options = dict(epochs=3, batch_size=7, lr=0.1, momentum=0.9, shuffle=False)
    nets[0].fit(X, y, **options)
    mpi_scaling.fit_reduced_on_self(nets[1], X, y, **options)
    assert len(made) == 2 and made[0][1] == 8 and made[1] == ("total weight", 50)
    np.testing.assert_allclose(nets[1].params, nets[0].params, rtol=0, atol=1e-5)
