"""Per-step time of fastmlp vs its GEMM floor vs the NumPy reference, with targets.

    python benchmarks/report.py [--configs tiny,small] [--repeat N] [--json PATH]

Everything runs in this one process with one BLAS thread
(``threadpool_limits(1, user_api="blas")``). For each config the three
measurements (fastmlp epoch, GEMM floor, reference epoch; see configs.py)
are interleaved: every round times one block of each, in an order that
rotates from round to round, so that a burst of load from another process
hits all three alike rather than one of them. The reported per-step time is
the MINIMUM over rounds of (block time / steps in the block); the median is
kept too (JSON, and the "noise" column: how far the worst kind's median is
above its minimum). The ratio fastmlp/floor is the ratio of the minima;
"paired" is the median over rounds of the per-round ratio, a cross-check
that does not depend on one lucky round. The garbage collector is off
during the timed blocks.
"""
import argparse
import gc
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import configs  # noqa: E402


def time_block(fn, calls):
    t0 = time.perf_counter_ns()
    for _ in range(calls):
        fn()
    return (time.perf_counter_ns() - t0) * 1e-9


def measure(case, repeat):
    """Per-step seconds of every kind, one value per round, interleaved."""
    kinds = configs.KINDS
    per_step = {k: [] for k in kinds}
    blocks = {k: (case.callable(k), case.epochs(k), case.steps(k) * case.epochs(k))
              for k in kinds}
    for k in kinds:                      # warm-up: caches, page faults, BLAS buffers
        fn, calls, _ = blocks[k]
        time_block(fn, calls)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(repeat):
            order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]
            for k in order:
                fn, calls, steps = blocks[k]
                per_step[k].append(time_block(fn, calls) / steps)
    finally:
        if gc_was_enabled:
            gc.enable()
    return per_step


def summarize(cfg, per_step):
    us = {k: np.asarray(v) * 1e6 for k, v in per_step.items()}
    fast, floor, ref = us["fastmlp"].min(), us["gemm_floor"].min(), us["reference"].min()
    med = {k: float(np.median(v)) for k, v in us.items()}
    noise = max(med[k] / us[k].min() - 1 for k in us)
    paired = float(np.median(us["fastmlp"] / us["gemm_floor"]))
    met = cfg.target_met(fast, floor)
    return {
        "config": cfg.name, "sizes": list(cfg.sizes), "batch": cfg.batch,
        "dtype": cfg.dtype, "loss": cfg.loss, "steps_per_epoch": cfg.steps,
        "rounds": len(us["fastmlp"]), "statistic": "min over rounds",
        "fastmlp_us": float(fast), "floor_us": float(floor), "reference_us": float(ref),
        "ratio_fastmlp_floor": float(fast / floor), "ratio_paired_median": paired,
        "speedup_vs_reference": float(ref / fast),
        "median_us": med, "noise": float(noise),
        "target": cfg.target_text(), "target_met": met,
        "per_round_us": {k: [float(x) for x in v] for k, v in us.items()},
    }


def fmt_us(x):
    return f"{x:,.0f}" if x >= 1000 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


HEADER = ("config", "dtype", "fastmlp us/step", "floor us/step", "fastmlp/floor",
          "(paired)", "reference us/step", "vs reference", "target", "met", "noise")


def row(res):
    met = {True: "met", False: "MISSED", None: "-"}[res["target_met"]]
    return (res["config"], res["dtype"], fmt_us(res["fastmlp_us"]), fmt_us(res["floor_us"]),
            f"{res['ratio_fastmlp_floor']:.3f}x", f"{res['ratio_paired_median']:.3f}x",
            fmt_us(res["reference_us"]), f"{res['speedup_vs_reference']:.2f}x",
            res["target"], met, f"{100 * res['noise']:.1f}%")


def print_table(rows):
    rows = [HEADER] + rows
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    for j, r in enumerate(rows):
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))))
        if j == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", default=None,
                   help=f"comma-separated subset of {','.join(configs.CONFIGS)} (default: all)")
    p.add_argument("--repeat", type=int, default=None,
                   help="interleaved rounds per config (default: twice the config's "
                        "pytest round count: 40 for tiny, 10 for large)")
    p.add_argument("--json", metavar="PATH", default=None, help="also write the results here")
    p.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    p.add_argument("--simd", default=None,
                   help="force the elementwise kernels' instruction-set path "
                        "(baseline, avx2, avx512; default: the best this CPU runs)")
    args = p.parse_args(argv)
    if args.simd is not None:
        from fastmlp._kernels import _train
        try:
            _train.simd_select(args.simd)
        except (ValueError, RuntimeError) as exc:
            p.error(str(exc))
    try:
        chosen = configs.select(args.configs)
    except ValueError as exc:
        p.error(str(exc))
    if args.repeat is not None and args.repeat < 1:
        p.error("--repeat must be >= 1")

    t_start = time.perf_counter()
    load_start = os.getloadavg()
    with configs.blas_single_thread():
        blas = configs.blas_info()
        machine = configs.machine_summary()
        print("BLAS libraries (threadpoolctl, inside threadpool_limits(1, user_api='blas')):")
        for lib in blas:
            print(f"  {lib['internal_api']} {lib['version']}  architecture={lib['architecture']}"
                  f"  threads={lib['num_threads']}  threading={lib['threading_layer']}"
                  f"  [{lib['used_by']}]  {os.path.basename(str(lib['filepath']))}")
        from fastmlp._kernels import _train
        print(f"fastmlp elementwise kernels: {_train.simd_active()} path")
        print(f"CPU: {machine['cpu']} ({machine['cpu_count']} logical)  "
              f"OPENBLAS_CORETYPE={machine['OPENBLAS_CORETYPE']}  "
              f"OPENBLAS_L2_SIZE={machine['OPENBLAS_L2_SIZE']}  "
              f"load average at start {load_start[0]:.2f}")
        if any(lib["num_threads"] != 1 for lib in blas):
            print("WARNING: a BLAS library is not limited to one thread")
        print("Per-step time = min over interleaved rounds (fastmlp, floor, reference "
              "alternated, order rotating); noise = worst (median/min - 1) of the three.\n")

        results, rows = [], []
        for cfg in chosen:
            case = configs.build_case(cfg)
            repeat = args.repeat if args.repeat is not None else 2 * cfg.rounds
            res = summarize(cfg, measure(case, repeat))
            del case
            results.append(res)
            rows.append(row(res))
        print_table(rows)

    elapsed = time.perf_counter() - t_start
    load_end = os.getloadavg()
    print(f"\n{len(results)} configs in {elapsed:.1f} s; load average at end {load_end[0]:.2f}")
    noisy = [r["config"] for r in results if r["noise"] > 0.05]
    if noisy:
        print(f"note: median more than 5% above minimum for {', '.join(noisy)}: "
              "the machine was busy; the minima are still comparable, rerun to confirm")
    if args.json:
        text = json.dumps({"blas": blas, "machine": machine,
                           "load_average": {"start": load_start, "end": load_end},
                           "statistic": "min over interleaved rounds of per-step time",
                           "elapsed_s": elapsed, "results": results}, indent=1)
        with open(args.json, "w") as f:
            f.write(text + "\n")
        print(f"wrote {args.json}")
    missed = [r["config"] for r in results if r["target_met"] is False]
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
