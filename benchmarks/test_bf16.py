"""bfloat16 products: one epoch of each kind of benchmarks/bf16.py.

Run with ``pytest benchmarks/test_bf16.py --benchmark-only``; one group per
config. The kinds of a group run one after the other here, not alternated:
``benchmarks/bf16_report.py`` interleaves them and checks the targets, so
prefer it for the ratios. Needs the extra fastmlp[bf16]; the PyTorch kinds
need torch (benchmark-only) and are skipped, with the reason, without it.
"""
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import bf16
from fastmlp.network import bf16lib as _bf16lib

_cases = {}


def _case(name):
    if name not in _cases:
        _cases[name] = bf16.build(bf16.CONFIGS[name])
    return _cases[name]


@pytest.mark.skipif(not _bf16lib.available(), reason="needs fastmlp[bf16] (MKL or oneDNN)")
@pytest.mark.parametrize("kind", bf16.FASTMLP_KINDS + bf16.TORCH_KINDS)
@pytest.mark.parametrize("name", list(bf16.CONFIGS))
def test_bf16_epoch(benchmark, blas_info, name, kind):
    if kind in bf16.TORCH_KINDS and bf16.torch_or_none() is None:
        pytest.skip("PyTorch is not installed (benchmark-only: pip install torch==2.13.0)")
    cfg = bf16.CONFIGS[name]
    benchmark.group = f"bf16 {name} {list(cfg.sizes)} B{cfg.batch}: one epoch of {cfg.steps} steps"
    benchmark.name = f"{name}:{kind}"
    # oneDNN's products run on OpenMP threads, which the session's BLAS
    # limit does not cover: one thread for them too.
    with threadpool_limits(1, user_api="openmp"):
        assert all(lib["num_threads"] == 1 for lib in threadpool_info()
                   if lib.get("user_api") == "openmp")
        benchmark.pedantic(_case(name)[kind], rounds=5, iterations=1, warmup_rounds=1)
    assert all(lib["num_threads"] == 1 for lib in blas_info)
    if benchmark.stats is not None:
        benchmark.extra_info.update(config=name, kind=kind, steps=cfg.steps,
                                    ms_per_step_min=benchmark.stats.stats.min / cfg.steps * 1e3)
