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
