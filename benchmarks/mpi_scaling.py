"""Weak scaling of the data-parallel fit on this machine, in one command:

    python benchmarks/mpi_scaling.py [--configs tiny,small,medium] [--rounds 5]

For each config of benchmarks/configs.py, training throughput (rows per
second, every rank's rows counted) of
- 1 process, 1 BLAS thread (fit without comm);
- 2 ranks under mpiexec, 1 BLAS thread each, each with the config's batch
  and as many rows as the single process (the same per-rank batch);
- 1 process with 2 BLAS threads;
- 2 independent single-process fits side by side, one per core: the
  ceiling of any two processes on this machine;
- 1 process running the data-parallel step with MPI_COMM_SELF as its
  reduction (a local copy): what the step's structure costs (the gradient
  formed and reduced before one update pass, instead of each layer stepped
  right after its backward pass), without any exchange between ranks;
alternated round by round, best of the rounds taken (the machine is shared).
Each 2-rank job also times one in-place mpi4py Allreduce of the config's parameter
count (plus the 3 tail elements the step's message carries), and reports
the time per step its training spent inside the reduction (the epoch
kernel's reduce_seconds, on the rank that waited more): the Allreduce plus
the wait for the slower rank, since the ranks' steps run in lockstep. Then the
ring-allreduce model's efficiency at 8, 32 and 128 ranks over 10 and 25
Gb/s. The MPI settings are those of tests/mpi_launch.py; OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE are unset for the measured jobs.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))


def fit_reduced_on_self(net, X, y, **options):
    """net.fit(X, y, **options) through the data-parallel step, reducing
    over MPI_COMM_SELF (one rank: the reduction is a copy). fit(comm=) takes
    the plain step for a communicator of one rank, so this gives the fit
    the data-parallel strategy itself, as fastmlp.training.mpi.strategy does for
    more ranks."""
    from mpi4py import MPI

    from fastmlp.training import mpi as _mpi
    from fastmlp.training.settings import FitArguments
    return net._fit_with(_mpi.MpiRanks(MPI.COMM_SELF), X, y,
                         FitArguments(**options))


def worker(name, threads, use_comm, reduced_self=False):
    """One rank (or the single process): time fit epochs; rank 0 prints JSON."""
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    import fastmlp
    from configs import CONFIGS, LR, MOMENTUM, make_data
    cfg = CONFIGS[name]
    comm = None
    rank = 0
    if use_comm:
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
        rank = comm.Get_rank()
    X, y = make_data(cfg, seed=rank)
    # In the model dtype already: fit's validation then copies nothing.
    X = np.ascontiguousarray(X, dtype=cfg.dtype)
    epochs = max(1, 4000 // cfg.steps) if cfg.steps >= 100 else cfg.epochs * 4
    # Each fit's epoch object, for the time its steps spent in the reduction.
    loops = []
    made = fastmlp.mlp.MLP._epochs

    def recording(*args, **kwargs):
        loops.append(made(*args, **kwargs))
        return loops[-1]
    fastmlp.mlp.MLP._epochs = recording
    in_reduction = None
    with threadpool_limits(limits=threads, user_api="blas"):
        net = fastmlp.MLP(cfg.sizes, loss=cfg.loss, dtype=cfg.dtype, seed=0)
        fit = net.fit
        if reduced_self:
            def fit(X, y, comm, **options):
                return fit_reduced_on_self(net, X, y, **options)
        fit(X, y, epochs=1, batch_size=cfg.batch, lr=LR, momentum=MOMENTUM, comm=comm)
        best = float("inf")
        for _ in range(3):
            if comm is not None:
                comm.Barrier()
            start = time.perf_counter()
            fit(X, y, epochs=epochs, batch_size=cfg.batch, lr=LR, momentum=MOMENTUM,
                shuffle=False, comm=comm)
            seconds = time.perf_counter() - start
            if seconds < best:
                best = seconds
                in_reduction = loops[-1].kernel.reduce_seconds / (cfg.steps * epochs)
        blas_threads = [i.get("num_threads") for i in threadpool_info()
                        if i.get("user_api") == "blas"]
    ranks = 1 if comm is None else comm.Get_size()
    out = {"seconds": best, "rows": X.shape[0] * epochs * ranks,
           "steps": cfg.steps * epochs, "blas_threads": blas_threads}
    if comm is not None:
        from mpi4py import MPI
        # In place, as the compiled epoch reduces (zeros stay zeros).
        buf = np.zeros(net.params.size + 3, dtype=net.dtype)
        times = []
        for _ in range(200):
            comm.Barrier()
            start = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buf)
            times.append(time.perf_counter() - start)
        out["allreduce_seconds"] = float(np.median(times))
        # Per step inside training: the Allreduce plus the wait for the
        # slower rank (the steps run in lockstep).
        out["in_reduction_seconds"] = float(np.max(comm.allgather(in_reduction)))
        out["n_params"] = int(net.params.size)
        # The call the compiled epoch makes instead (through ctypes here,
        # which adds about a microsecond): MPI_Allreduce by its address.
        import ctypes
        from fastmlp.training import mpi as _mpi
        h = _mpi.allreduce_of(comm)
        handle = ctypes.c_void_p if h["pointer_handles"] else ctypes.c_int
        fn = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                              handle, handle, handle)(h["address"])
        args = (h["in_place"], buf.ctypes.data, buf.size, h[net.dtype.name], h["op_sum"],
                h["comm"])
        times = []
        for _ in range(200):
            comm.Barrier()
            start = time.perf_counter()
            fn(*args)
            times.append(time.perf_counter() - start)
        out["raw_allreduce_seconds"] = float(np.median(times))
    if rank == 0:
        print("RESULT " + json.dumps(out), flush=True)


def cpu_busy(seconds=0.5):
    """Fraction of the machine's CPU time busy over the next `seconds`
    (/proc/stat), for the record and for --wait-idle."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]    # total, idle + iowait
    t0, i0 = sample()
    time.sleep(seconds)
    t1, i1 = sample()
    return 1 - (i1 - i0) / max(t1 - t0, 1)


def wait_idle(limit, patience):
    """Wait (up to `patience` seconds) until other processes keep the CPUs
    below `limit` busy; returns the busy fraction seen last."""
    deadline = time.monotonic() + patience
    busy = cpu_busy()
    while busy > limit and time.monotonic() < deadline:
        busy = cpu_busy()
    return busy


def launch(name, kind, busy_poll=True):
    import mpi_launch
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env.update({k: v for k, v in mpi_launch.settings().items() if k not in env})
    script = [sys.executable, str(Path(__file__).resolve()), "--worker", name]
    if kind == "2 ranks":
        # One rank per core: busy polling (MPICH's default) answers fastest,
        # unless other processes want the cores too (--throttle).
        if busy_poll:
            env.pop("MPIR_CVAR_CH4_PROGRESS_THROTTLE", None)
        cmd = [mpi_launch.mpiexec(), "-n", "2", "-bind-to", "core", *script, "--comm"]
    else:
        threads = "2" if kind == "2 threads" else "1"
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = threads
        cmd = ["taskset", "-c", "0,1" if threads == "2" else "1", *script,
               "--threads", threads]
        if kind == "reduced step":
            cmd.append("--reduced-self")
    if kind == "2 independent":
        # The ceiling of any two processes here: two single-process fits
        # side by side, one per core, sharing nothing but the machine.
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"
        jobs = [subprocess.Popen(["taskset", "-c", core, *script, "--threads", "1"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=env) for core in ("0", "1")]
        results = [_result(kind, name, *job.communicate(timeout=600)) for job in jobs]
        return {"seconds": max(r["seconds"] for r in results),
                "rows": sum(r["rows"] for r in results), "steps": results[0]["steps"]}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    return _result(kind, name, done.stdout, done.stderr)


def _result(kind, name, stdout, stderr):
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{kind} {name} failed:\n{stdout}\n{stderr}")


def ring_efficiency(step_seconds, n_params, ranks, gbit, latency=20e-6, itemsize=4):
    """Weak-scaling efficiency step / (step + allreduce) with the ring model:
    2 (p-1)/p * bytes / bandwidth + 2 (p-1) * latency, no overlap."""
    nbytes = (n_params + 3) * itemsize
    t = 2 * (ranks - 1) / ranks * nbytes / (gbit * 1e9 / 8) + 2 * (ranks - 1) * latency
    return step_seconds / (step_seconds + t)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="tiny,small,medium")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--comm", action="store_true")
    parser.add_argument("--reduced-self", action="store_true")
    parser.add_argument("--wait-idle", type=float, default=None, metavar="SECONDS",
                        help="before each job, wait up to this long for the other "
                             "processes to leave the CPUs at most 10%% busy")
    parser.add_argument("--throttle", action="store_true",
                        help="2 ranks with MPICH's progress throttle (tests/mpi_launch.py) "
                             "instead of busy polling")
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.threads, args.comm, args.reduced_self)
    print("lscpu flags (SIMD):", subprocess.run("lscpu | grep -io -w -E 'sse4_2|avx|avx2|fma|avx512[a-z]*' | sort -u | tr '\\n' ' '", shell=True,
                                         capture_output=True, text=True).stdout.strip())
    print("loadavg at start:", open("/proc/loadavg").read().strip())
    kinds = ("1 rank", "2 ranks", "2 threads", "2 independent", "reduced step")
    rows = []
    busy_seen = []
    for name in args.configs.split(","):
        best = {}
        for _ in range(args.rounds):
            for kind in kinds:
                if args.wait_idle is not None:
                    busy_seen.append(wait_idle(0.10, args.wait_idle))
                r = launch(name, kind, busy_poll=not args.throttle)
                rate = r["rows"] / r["seconds"]
                if kind not in best or rate > best[kind][0]:
                    best[kind] = (rate, r)
        one = best["1 rank"][0]
        two = best["2 ranks"][1]
        step = best["1 rank"][1]["seconds"] / best["1 rank"][1]["steps"]
        step2 = two["seconds"] / two["steps"]
        reduced = best["reduced step"][1]
        rows.append((name, one, best["2 ranks"][0], best["2 threads"][0],
                     best["2 independent"][0], step, step2,
                     reduced["seconds"] / reduced["steps"],
                     (two["raw_allreduce_seconds"], two["allreduce_seconds"]),
                     two["n_params"], two["in_reduction_seconds"]))
    print("loadavg at end:", open("/proc/loadavg").read().strip())
    if busy_seen:
        print(f"CPU busy (other processes) just before the jobs: median "
              f"{sorted(busy_seen)[len(busy_seen) // 2]:.0%}, max {max(busy_seen):.0%}")
    print("\n| config | 1 rank rows/s | 2 ranks rows/s | 2 ranks / 1 | 2 BLAS threads / 1 "
          "| 2 independent fits / 1 | step, 1 rank | step, 2 ranks | data-parallel step "
          "without exchange, 1 rank | Allreduce, 2 local "
          "ranks: MPI_Allreduce call (the kernel's) / mpi4py | in the reduction per "
          "step of training, 2 ranks (the rank that waited more) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, one, two, thr, pair, step, step2, stepr, ar, n, inside in rows:
        print(f"| {name} | {one:,.0f} | {two:,.0f} | {two / one:.2f}x | {thr / one:.2f}x "
              f"| {pair / one:.2f}x "
              f"| {step * 1e6:.1f} us | {step2 * 1e6:.1f} us "
              f"| {stepr * 1e6:.1f} us ({stepr / step:.2f}x) "
              f"| {ar[0] * 1e6:.1f} / {ar[1] * 1e6:.1f} us ({n + 3:,} floats) "
              f"| {inside * 1e6:.1f} us |")
    for latency in (20e-6, 0.0):
        print(f"\nring-allreduce model, weak-scaling efficiency step / (step + allreduce), "
              f"no overlap, latency {latency * 1e6:.0f} us per hop"
              f"{' (the bandwidth term alone)' if latency == 0 else ''}:")
        print("| config | 8 x 10 Gb/s | 32 x 10 | 128 x 10 | 8 x 25 Gb/s | 32 x 25 | "
              "128 x 25 |")
        print("|---|---|---|---|---|---|---|")
        for name, _, _, _, _, step, _, _, _, n, _ in rows:
            cells = [ring_efficiency(step, n, p, g, latency=latency)
                     for g in (10, 25) for p in (8, 32, 128)]
            print(f"| {name} | " + " | ".join(f"{c:.0%}" for c in cells) + " |")

if __name__ == "__main__":
    main()
