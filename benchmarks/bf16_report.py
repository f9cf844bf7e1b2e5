"""bfloat16 products: epoch times side by side, with the issue's targets.

    taskset -c 1 python benchmarks/bf16_report.py [--configs medium,large]
        [--rounds N] [--json PATH] [--strict]

The kinds of benchmarks/bf16.py run in this one process, one thread each,
interleaved: every round times one epoch of each kind, in an order that
rotates from round to round, so a burst of load from another process hits
all kinds alike. Each figure is the MINIMUM over rounds (the machine is
shared; the median is in the JSON). Printed with the CPU model, its
bfloat16 flags and the load average.

Targets (a CPU with AMX): large bfloat16 >= 3x faster than fastmlp float32
and >= 1.3x faster than PyTorch bfloat16 autocast; medium bfloat16 >= 1.3x
faster than PyTorch bfloat16 autocast; the bfloat16 epoch within 1.10x of
its bfloat16 GEMM floor. "other" is epoch minus floor: the elementwise
passes (with bfloat16, the conversions fused into them); the fusion adds no
pass when bfloat16's "other" stays near float32's.
"""
import argparse
import gc
import json
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bf16  # noqa: E402
from fastmlp.cli import bench as _bench  # noqa: E402
from fastmlp.network.bf16lib import cpu_bf16_flags, cpu_flags  # noqa: E402

# (config, numerator kind, denominator kind, at least): time(den) / time(num).
SPEEDUP_TARGETS = [
    ("large", "fastmlp_bf16", "fastmlp_f32", 3.0),
    ("large", "fastmlp_bf16", "torch_bf16", 1.3),
    ("medium", "fastmlp_bf16", "torch_bf16", 1.3),
]
FLOOR_TARGET = 1.10   # fastmlp_bf16 / floor_bf16, at most


def cpu_line():
    shown = sorted(f for f in cpu_flags() if f.startswith(("avx512", "amx"))
                   or f in ("avx2", "fma"))
    return f"{_bench.machine_summary()['cpu']}; flags: {' '.join(shown)}"


def measure(kinds_to_fn, rounds):
    names = list(kinds_to_fn)
    times = {k: [] for k in names}
    for fn in kinds_to_fn.values():
        fn()    # warm-up: first-touch of buffers, library dispatch
    gc.disable()
    try:
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for k in order:
                t0 = time.perf_counter()
                kinds_to_fn[k]()
                times[k].append(time.perf_counter() - t0)
    finally:
        gc.enable()
    return times


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", default="medium,large")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--json", default=None)
    p.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = p.parse_args(argv)
    names = [c for c in args.configs.split(",") if c]
    unknown = [c for c in names if c not in bf16.CONFIGS]
    if unknown:
        p.error(f"unknown configs {unknown}; known: {', '.join(bf16.CONFIGS)}")
    print(f"cpu: {cpu_line()}")
    print(f"bf16 units: {cpu_bf16_flags()}; load average: {_bench.load_average()}")
    print(f"one thread (threadpoolctl, torch.set_num_threads(1)); minimum of "
          f"{args.rounds} interleaved rounds; machine shared, so minima, not medians")
    result, missed = {}, []
    with threadpool_limits(1):
        for name in names:
            cfg = bf16.CONFIGS[name]
            times = measure(bf16.build(cfg), args.rounds)
            best = {k: min(v) for k, v in times.items()}
            result[name] = {"sizes": list(cfg.sizes), "batch": cfg.batch, "steps": cfg.steps,
                            "min_s": best,
                            "median_s": {k: float(np.median(v)) for k, v in times.items()}}
            print(f"\n{name} {list(cfg.sizes)} B{cfg.batch}, {cfg.steps} steps per epoch "
                  f"({cfg.n} rows):")
            for k, t in best.items():
                print(f"  {k:13s} {t * 1e3:9.2f} ms/epoch   {t / cfg.steps * 1e3:8.3f} ms/step")
            for kind in ("f32", "bf16"):
                other = best[f"fastmlp_{kind}"] - best[f"floor_{kind}"]
                print(f"  other ({kind}): epoch - floor = {other * 1e3:8.2f} ms")
            ratio = best["fastmlp_bf16"] / best["floor_bf16"]
            ok = ratio <= FLOOR_TARGET
            print(f"  bf16 epoch / bf16 floor = {ratio:.3f} (target <= {FLOOR_TARGET}) "
                  f"{'met' if ok else 'MISSED'}")
            missed += [] if ok else [f"{name} floor"]
            for cname, num, den, at_least in SPEEDUP_TARGETS:
                if cname != name:
                    continue
                if den not in best:
                    print(f"  {den} / {num}: not measured (PyTorch not installed)")
                    continue
                speedup = best[den] / best[num]
                ok = speedup >= at_least
                print(f"  {den} / {num} = {speedup:.2f}x (target >= {at_least}x) "
                      f"{'met' if ok else 'MISSED'}")
                missed += [] if ok else [f"{name} {den}/{num}"]
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_line(), "configs": result, "missed": missed}, f, indent=1)
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
