"""One thread or two? Per-step training time of fastmlp at n_threads 1 and 2.

Times the training step (one epoch of fit's compiled kernel, divided by its
steps) of networks from tiny to wide, in float32:

- ``1 thread``: n_threads=1 (no pool; BLAS at one thread, as fit runs it);
- ``2 threads``: n_threads=2 (a pool of two; BLAS at one thread on each);
- ``BLAS x2`` (with ``--blas``): no pool, OpenBLAS's own two threads, the
  way fit ran before it had threads of its own.

The variants run interleaved in rounds (each round times every variant once,
in turn), and the table shows the minimum over rounds, the GEMM flops per
step (fastmlp.training.epoch.step_flops) beside the ratio, and the noise:
each variant's median over its minimum, the worst of the variants. The
automatic thread count (fastmlp.execution.threads.THREAD_MIN_FLOPS) is the
step size from which two threads are more than 5% faster than one.

    python benchmarks/threads.py [--rounds 15] [--blas] [--epoch-gflop 2] [--idle 0.1]
                                 [--json FILE]
    python benchmarks/threads.py --merge RUN1.json RUN2.json ...
"""
import argparse
import json
import os
import platform
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import fastmlp
from fastmlp.execution import threads as _threads
from fastmlp.inputs.validation import check_X, check_y
from fastmlp.network.kernels import Objective
from fastmlp.training.epoch import EpochLoop, OptimizerState, StepPlan, step_flops

# (layer sizes, batch rows), from tiny to wide by flops per step; dense
# between 5 and 35 MFLOP, where a second thread starts to pay.
CONFIGS = [
    ([64, 32, 10], 32),
    ([64, 64, 10], 32),
    ([784, 32, 10], 32),
    ([784, 64, 10], 32),
    ([64, 128, 10], 200),
    ([784, 128, 10], 32),
    ([64, 128, 10], 400),
    ([256, 256, 10], 64),
    ([784, 128, 10], 48),
    ([128, 128, 128, 10], 128),
    ([784, 128, 10], 64),
    ([64, 256, 256, 10], 64),
    ([64, 128, 10], 800),
    ([784, 256, 10], 64),
    ([784, 256, 10], 128),
    ([784, 256, 128, 10], 128),
    ([784, 512, 10], 128),
    ([784, 512, 256, 10], 128),
    ([784, 512, 256, 10], 256),
    ([1024, 2048, 2048, 10], 512),
]
# Steps per timed epoch: about 0.1 s on one thread here by default; shorter
# epochs and more rounds find the quiet moments of a busy machine.
EPOCH_FLOPS = 2e9
MAX_STEPS = 2000
SPEEDUP_THAT_PAYS = 1.05


def _loop(net, X, Y, rows, pool):
    state = OptimizerState("momentum", net.params.size, net.dtype,
                           first=net.velocity).with_hyperparameters(0.9)
    plan = StepPlan(rows, threads=pool)
    return EpochLoop(net._kernels, net.params, X, Y, Objective(0.0), state, plan)


def _busy_share(seconds=0.05):
    """The share of the machine's CPU time that was not idle over the next
    ``seconds`` (this process sleeps meanwhile: it is the others')."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait
    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


def wait_for_idle(threshold, patience):
    """Wait (up to ``patience`` seconds) until other processes use less
    than ``threshold`` of the machine; whether they did."""
    deadline = time.perf_counter() + patience
    while time.perf_counter() < deadline:
        if _busy_share() < threshold:
            return True
    return False


def time_config(sizes, rows, rounds, blas, epoch_flops=EPOCH_FLOPS, idle=None):
    """{variant: [seconds per step, one per round]} for one config; with
    idle=(threshold, patience), each timing waits for a quiet machine
    first (wait_for_idle) and is kept only if it came."""
    steps = int(min(MAX_STEPS, max(4, epoch_flops // step_flops(sizes, rows))))
    n = rows * steps
    rng = np.random.default_rng(0)
    net = fastmlp.MLP(sizes, loss="cross_entropy", seed=0)
    X = check_X(rng.standard_normal((n, sizes[0])), sizes[0], net.dtype)
    Y = check_y(rng.integers(0, sizes[-1], n), n, "cross_entropy", sizes[-1], net.dtype,
                as_indices=True)
    times = {"1 thread": [], "2 threads": []}
    if blas:
        times["BLAS x2"] = []
    perm = np.arange(n)
    with _threads.CallThreads(2) as pool:
        loops = {"1 thread": _loop(net, X, Y, rows, None),
                 "2 threads": _loop(net, X, Y, rows, pool)}
        for loop in loops.values():  # warm up (page faults, pool start)
            loop.run(perm, 1e-4)
    blas_loop = _loop(net, X, Y, rows, None) if blas else None
    for _ in range(rounds):
        for variant in times:
            rng.shuffle(perm)
            if idle is not None and not wait_for_idle(*idle):
                continue
            if variant == "BLAS x2":
                with threadpool_limits(2, user_api="blas"):
                    started = time.perf_counter()
                    blas_loop.run(perm, 1e-4)
                    times[variant].append((time.perf_counter() - started) / steps)
                continue
            # A pool per round, as every fit makes its own.
            with _threads.CallThreads(2 if variant == "2 threads" else 1) as pool:
                loop = loops[variant]
                if variant == "2 threads":
                    loop = _loop(net, X, Y, rows, pool)
                started = time.perf_counter()
                loop.run(perm, 1e-4)
                times[variant].append((time.perf_counter() - started) / steps)
    return times


def _machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = [f"{lib['internal_api']} {lib['version']} {lib['architecture']} "
            f"({os.path.basename(lib['filepath'])}, {lib['num_threads']} threads)"
            for lib in threadpool_info() if lib["user_api"] == "blas"]
    return {"cpu": model, "cores": _threads.cores(), "machine": platform.machine(),
            "blas": blas, "load_average": os.getloadavg()}


def print_table(configs, blas):
    """The table of configs (dicts of sizes, batch, step_flops and seconds
    per variant, one entry per round) and where two threads start to pay."""
    head = (f"{'config':>22} {'batch':>5} {'MFLOP/step':>10} {'1 thread us':>11} "
            f"{'2 threads us':>12} {'2t/1t':>6}")
    if blas:
        head += f" {'BLAS x2 us':>10} {'BLASx2/1t':>9}"
    print(head + f" {'noise':>6} {'rounds':>6}")
    pays = []
    for r in sorted(configs, key=lambda r: r["step_flops"]):
        times = r["seconds"]
        best = {k: min(v) for k, v in times.items()}
        noise = max(float(np.median(v)) / min(v) for v in times.values())
        line = (f"{'-'.join(map(str, r['sizes'])):>22} {r['batch']:>5} "
                f"{r['step_flops'] / 1e6:>10.2f} {best['1 thread'] * 1e6:>11.1f} "
                f"{best['2 threads'] * 1e6:>12.1f} {best['2 threads'] / best['1 thread']:>6.2f}")
        if blas:
            line += (f" {best['BLAS x2'] * 1e6:>10.1f} "
                     f"{best['BLAS x2'] / best['1 thread']:>9.2f}")
        print(line + f" {noise:>6.2f} {len(times['1 thread']):>6}", flush=True)
        pays.append((r["step_flops"], best["1 thread"] / best["2 threads"] > SPEEDUP_THAT_PAYS))
    # The smallest step size from which every larger config pays.
    from_here = None
    for flops, paid in reversed(pays):
        if not paid:
            break
        from_here = flops
    print(f"# two threads more than {SPEEDUP_THAT_PAYS - 1:.0%} faster on every config from "
          + (f"{from_here / 1e6:.2f} MFLOP/step on" if from_here else "none"))
    print(f"# THREAD_MIN_FLOPS in use: {_threads.THREAD_MIN_FLOPS / 1e6:.2f} MFLOP")


def merged(paths):
    """The configs of several runs (--json files) with their rounds pooled."""
    pooled = {}
    for path in paths:
        with open(path) as f:
            run = json.load(f)
        print(f"# {path}: {run['machine']['cpu']}, {run['rounds']} rounds, load average "
              f"{' '.join(f'{x:.2f}' for x in run['machine']['load_average'])}")
        for r in run["configs"]:
            key = (tuple(r["sizes"]), r["batch"])
            entry = pooled.setdefault(key, {**r, "seconds": {}})
            for variant, values in r["seconds"].items():
                entry["seconds"].setdefault(variant, []).extend(values)
    return list(pooled.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--blas", action="store_true",
                        help="also time OpenBLAS's own two threads (no pool)")
    parser.add_argument("--epoch-gflop", type=float, default=EPOCH_FLOPS / 1e9,
                        help="GEMM work of one timed epoch (default: %(default)s)")
    parser.add_argument("--idle", type=float, default=None, metavar="SHARE",
                        help="time only when other processes use less than this share "
                             "of the machine (waiting up to 10 s each time; a shared "
                             "machine's quiet moments)")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--merge", nargs="+", metavar="JSON", default=None,
                        help="time nothing: the table of earlier runs' --json files, "
                             "their rounds pooled (minimum over all of them)")
    args = parser.parse_args()
    if args.merge:
        configs = merged(args.merge)
        print_table(configs, all("BLAS x2" in r["seconds"] for r in configs))
        return
    machine = _machine()
    print(f"# {machine['cpu']}, {machine['cores']} cores; load average "
          f"{' '.join(f'{x:.2f}' for x in machine['load_average'])}")
    for line in machine["blas"]:
        print(f"# {line}")
    configs = []
    for sizes, rows in CONFIGS:
        idle = None if args.idle is None else (args.idle, 10.0)
        times = time_config(sizes, rows, args.rounds, args.blas, args.epoch_gflop * 1e9, idle)
        if not all(times.values()):
            print(f"# {sizes} batch {rows}: no quiet moment for some variant; left out")
            continue
        configs.append({"sizes": sizes, "batch": rows, "step_flops": step_flops(sizes, rows),
                        "seconds": times})
    print_table(configs, args.blas)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "rounds": args.rounds, "idle": args.idle,
                       "epoch_gflop": args.epoch_gflop, "configs": configs}, f, indent=1)


if __name__ == "__main__":
    main()
