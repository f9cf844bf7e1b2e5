"""Prediction latency under pytest-benchmark: the calls of
``benchmarks/latency.py`` (which times them interleaved; prefer it for the
figures), one group per row count. No timing is asserted."""
import pytest

import latency  # benchmarks/ is on sys.path: conftest.py

_built = {}


def _calls():
    if not _built:
        _built["calls"], _built["X"] = latency.build()
    return _built["calls"], _built["X"]


@pytest.mark.parametrize("rows", latency.ROWS)
@pytest.mark.parametrize("name", latency.CONTENDERS)
def test_latency(benchmark, name, rows):
    calls, X = _calls()
    if name not in calls:
        pytest.skip("onnxruntime is not installed")
    x = X[:rows].copy()
    benchmark.group = f"digits 64-64-10 predict, {rows} row(s)"
    benchmark.name = name
    out = benchmark(calls[name], x)
    assert out.shape == (rows, 10)
