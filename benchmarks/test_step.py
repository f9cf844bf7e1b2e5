"""One training step of fastmlp vs its GEMM floor vs the NumPy reference.

Run with ``pytest benchmarks/ --benchmark-only`` (add ``--benchmark-disable-gc``
for a little less noise). One group per config; in each, three benchmarks:

- ``fastmlp``: one epoch of the compiled loop, permutation draw included;
- ``gemm_floor``: only the GEMMs of the same steps (one nogil call);
- ``reference``: one epoch of the NumPy reference (same steps).

pytest-benchmark's times are per epoch (one call; the three kinds run the
same number of steps, so the relative column is the ratio); ``extra_info`` carries
the steps per epoch and the per-step microseconds (min and median over
rounds). ``benchmarks/report.py`` measures the same things interleaved and
checks the targets; prefer it for the ratios, since here the three
benchmarks of a group run one after the other, not alternated.
"""
import pytest

import configs
import targets

_cases = {}


def _case(name):
    # Built once per config and shared by its three benchmarks (each uses
    # only its own buffers; the floor reads the fastmlp model's parameters).
    if name not in _cases:
        _cases[name] = configs.build_case(configs.CONFIGS[name])
    return _cases[name]


@pytest.mark.parametrize("kind", configs.KINDS)
@pytest.mark.parametrize("name", list(configs.CONFIGS))
def test_step(benchmark, blas_info, name, kind):
    cfg = configs.CONFIGS[name]
    case = _case(name)
    fn = case.callable(kind)
    steps, epochs = case.steps(kind), case.epochs(kind)

    benchmark.group = (f"{name} {list(cfg.sizes)} B{cfg.batch} {cfg.dtype}: "
                       f"time per epoch of {steps} steps")
    benchmark.name = f"{name}:{kind}"
    rounds = cfg.rounds if kind != "reference" else max(3, cfg.rounds // 2)
    benchmark.pedantic(fn, rounds=rounds, iterations=epochs, warmup_rounds=1)

    assert all(lib["num_threads"] == 1 for lib in blas_info)
    if benchmark.stats is None:
        # --benchmark-disable (the CI smoke run): the step ran once, untimed.
        return
    stats = benchmark.stats.stats
    info = benchmark.extra_info
    info.update(
        config=name, kind=kind, sizes=list(cfg.sizes), batch=cfg.batch,
        dtype=cfg.dtype, loss=cfg.loss,
        steps_per_call=steps, calls_per_round=epochs,
        us_per_step_min=stats.min / steps * 1e6,
        us_per_step_median=stats.median / steps * 1e6,
        target=targets.target_text(name),
        blas=[{k: lib[k] for k in ("internal_api", "version", "architecture",
                                   "num_threads", "used_by")} for lib in blas_info],
    )
