"""pytest configuration for the step benchmarks (``pytest benchmarks/ --benchmark-only``).

Every benchmark runs with one BLAS thread: a session-wide autouse fixture
holds ``threadpool_limits(1, user_api="blas")`` for the whole run, and the
BLAS libraries threadpoolctl sees (with the thread count in force) are
recorded in pytest-benchmark's machine info.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import configs  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def blas_one_thread():
    with configs.blas_single_thread():
        info = configs.blas_info()
        bad = [lib for lib in info if lib["num_threads"] != 1]
        assert not bad, f"BLAS not limited to one thread: {bad}"
        yield info


@pytest.fixture(scope="session")
def blas_info(blas_one_thread):
    return blas_one_thread


def pytest_benchmark_update_machine_info(config, machine_info):
    with configs.blas_single_thread():
        machine_info["blas"] = configs.blas_info()
    machine_info["fastmlp_bench"] = configs.machine_summary()
