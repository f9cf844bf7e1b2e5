"""Whole fits of fastmlp against PyTorch, JAX and scikit-learn, on all cores and on one.

    python benchmarks/all_cores.py [--rounds 3] [--json PATH] [--quick]
                                   [--libraries fastmlp,torch,...] [--workloads digits,...]
                                   [--modes defaults,1,N]
    python benchmarks/all_cores.py --table PATH      # markdown tables of a saved run

What is measured: the wall time of one whole fit (a fresh model, every
epoch; benchmarks/all_cores_fits.py says exactly what each library runs and
why they are the same training) of three workloads (digits 64-64-10, medium
784-256-128-10, wide 1024-2048-2048-10) by fastmlp (float32, and bfloat16
products), PyTorch eager (float32, and bf16 autocast), JAX (jit, an epoch
as one lax.scan) and scikit-learn, in three thread modes:

- "defaults": each library as it comes (no pinning, no limits);
- "1 thread": pinned to the first core of the affinity (as ``taskset -c 0``)
  with every thread setting at one (OMP/MKL/OPENBLAS_NUM_THREADS=1, XLA's
  single-threaded flags, torch.set_num_threads(1), fastmlp ``n_threads=1``
  or threadpoolctl limits where fastmlp has no ``n_threads``);
- "N threads": N = the cores of the affinity, set explicitly the same ways
  (JAX has no thread setting: its threads follow the affinity).

Why children: every (library, workload, mode) timing runs in its own child
process (this script with ``--child SPEC``), so that one library's thread
pools, pinning and loaded kernels never affect another's. The child sets its
affinity before importing anything, does one untimed fit, then the best of
k timed fits. The machine's OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are
removed from every child's environment (they pin OpenBLAS to an older, slower
kernel); the kernel threadpoolctl then reports is recorded with each timing.

Rounds are interleaved (every child of a round before the next round, the
library order rotated each round) so slow drift of the machine (other work,
temperature) spreads over all libraries; each timing reports the minimum and
the median over rounds, and the ratios peer / fastmlp (above 1: fastmlp
ahead) are ratios of minima (the medians' ratio beside them). Each child
also records how many cores other processes kept busy while it ran
("other_cores", from /proc/stat less this run's own CPU time): on a shared
machine a library whose threads meet at a barrier every step slows down
many times over when one of its cores is taken, so a timing with other
work beside it says little about the library. A child with more than
OTHER_CORES_LIMIT such cores is run again at the end of its round
(``--retries``), and the summaries use the undisturbed runs (all runs, and
a mark in the tables, when none was undisturbed).

The ceiling: two independent one-thread fastmlp fits started together, each
pinned to its own core, against one alone: ceiling = 2 t_alone / t_pair_wall
(2 on a machine whose second core is as fast as its first with both busy;
less when they share something: memory bandwidth, a cache, a host's other
guests). benchmarks/scaling_model.py uses it.
"""
import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import all_cores_machine as machine  # noqa: E402  (light: no numerical library)

MODES = {"defaults": "defaults", "1": "1 thread", "N": "N threads"}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
REMOVED_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# (peer, the fastmlp kind it is compared with): peer time / fastmlp time.
RATIOS = (("torch", "fastmlp"), ("torch_bf16", "fastmlp_bf16"), ("jax", "fastmlp"),
          ("sklearn", "fastmlp"))
CHILD_TIMEOUT = 1200
# A child during which other processes kept more cores busy than this is
# "disturbed": summaries use the undisturbed runs when there are any.
OTHER_CORES_LIMIT = 0.25


# -- the plan of a mode: thread count, cores, environment ------------------------

def mode_settings(mode, cpus):
    """(threads, cpus to pin to) of a mode: None, None for the defaults."""
    if mode == "1 thread":
        return 1, cpus[:1]
    if mode == "N threads":
        return len(cpus), list(cpus)
    return None, None


def child_env(threads):
    """The environment of a child running at ``threads`` (None: defaults)."""
    env = {k: v for k, v in os.environ.items() if k not in REMOVED_VARIABLES}
    if threads is not None:
        env.update({name: str(threads) for name in THREAD_VARIABLES})
    if threads == 1:
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {XLA_ONE_THREAD}".strip()
    return env


def _last_json_line(text):
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line")


def launch(spec, threads, wait=False):
    """Start one child on ``spec`` (a dict, see child_main); a Popen."""
    command = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)]
    return subprocess.Popen(command, env=child_env(threads), text=True,
                            stdin=subprocess.PIPE if wait else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def collect(process, spec):
    """The JSON result of a finished child; RuntimeError with its stderr if it failed."""
    try:
        out, err = process.communicate(timeout=CHILD_TIMEOUT)
    except BaseException:
        # Interrupted or timed out: no child outlives the run.
        process.kill()
        process.wait()
        raise
    try:
        if process.returncode != 0:
            raise ValueError(f"exit status {process.returncode}")
        return _last_json_line(out)
    except ValueError as exc:
        tail = "\n".join(err.strip().splitlines()[-15:])
        raise RuntimeError(f"child {spec} failed ({exc}):\n{tail}") from None


def _cpu_seconds():
    """(CPU seconds the whole machine has been busy, CPU seconds of this
    process and its finished children) since boot / since start."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:9]]
    busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    own = sum(getattr(resource.getrusage(who), field)
              for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for field in ("ru_utime", "ru_stime"))
    return busy, own


def run_child(spec, threads):
    """One child's result, with how many cores other processes kept busy
    meanwhile ("other_cores": the machine is shared, and a library whose
    threads wait for each other at every step suffers badly when one of
    its cores is taken)."""
    busy, own = _cpu_seconds()
    started = time.perf_counter()
    result = collect(launch(spec, threads), spec)
    wall = time.perf_counter() - started
    busy_after, own_after = _cpu_seconds()
    result["child_wall_seconds"] = wall
    result["other_cores"] = max(0.0, (busy_after - busy) - (own_after - own)) / wall
    return result


# -- the child ---------------------------------------------------------------------

def child_main(spec):
    """Time one (library, workload, threads) in this process; print JSON.

    spec: library, workload, quick, threads (None: defaults), cpus (None:
    leave the affinity), fits (None: the workload's), wait (print "ready"
    after the warm-up and wait for a line on stdin: the ceiling's pairs)."""
    if spec.get("cpus"):
        # Before any numerical library loads: their pools size themselves
        # from the affinity they find.
        os.sched_setaffinity(0, spec["cpus"])
    import all_cores_fits as fits

    def wait_for_go():
        print("ready", flush=True)
        sys.stdin.readline()

    w = fits.workload(spec["workload"], spec.get("quick", False))
    result = fits.measure(spec["library"], w, spec.get("threads"), spec.get("fits"),
                          wait_for_go if spec.get("wait") else None)
    result["affinity"] = sorted(os.sched_getaffinity(0))
    print(json.dumps(result), flush=True)


# -- which libraries can run ----------------------------------------------------------

def available_libraries(names, log=print):
    """(names that can run, {name: reason} for the others); the reasons are printed."""
    import all_cores_fits as fits
    ok, skipped = [], {}
    for name in names:
        reason = fits.LIBRARIES[name].unavailable()
        if reason is None:
            ok.append(name)
        else:
            skipped[name] = reason
            log(f"skipping {fits.LIBRARIES[name].label}: {reason}")
    return ok, skipped


def fastmlp_facts():
    """Where fastmlp is imported from, whether MLP takes n_threads, its bf16 GEMM."""
    import fastmlp
    import all_cores_fits as fits
    facts = {"path": os.path.dirname(fastmlp.__file__),
             "mlp_accepts_n_threads": fits.fastmlp_accepts_n_threads()}
    if fits.LIBRARIES["fastmlp_bf16"].unavailable() is None:
        from fastmlp.network import bf16lib
        facts["bf16_library"] = bf16lib.library()[0]
    return facts


# -- rounds ---------------------------------------------------------------------------

def rotated(items, shift):
    shift %= max(len(items), 1)
    return list(items[shift:]) + list(items[:shift])


def _round_jobs(plan, r):
    """The (library, workload, mode) of round r, in the order they run."""
    return [(lib, wname, mode) for wname in plan["workloads"] for mode in plan["modes"]
            for lib in rotated(plan["libraries"], r)]


def _run_job(plan, job, label, log):
    lib, wname, mode = job
    threads, cpus = mode_settings(mode, plan["cpus"])
    spec = {"library": lib, "workload": wname, "quick": plan["quick"],
            "threads": threads, "cpus": cpus}
    res = run_child(spec, threads)
    log(f"{label} {wname:>6} {mode:>9} {lib:>12}: {res['best']:.4f} s "
        f"(acc {res['train_accuracy']:.3f}, other processes {res['other_cores']:.2f} cores)")
    return res


def run_rounds(plan, rounds, retries=0, log=print):
    """Every (library, workload, mode) of ``plan`` once per round, library
    order rotated per round; at the end of a round, the children disturbed
    by other processes run again, up to ``retries`` times.
    {(library, workload, mode): [child results, in the order they ran]}."""
    results = {}
    for r in range(rounds):
        pending = _round_jobs(plan, r)
        for attempt in range(retries + 1):
            label = f"round {r + 1}/{rounds}" + (f" retry {attempt}" if attempt else "")
            disturbed = []
            for job in pending:
                res = _run_job(plan, job, label, log)
                results.setdefault(job, []).append(res)
                if res["other_cores"] > OTHER_CORES_LIMIT:
                    disturbed.append(job)
            pending = disturbed
    return results


def summary(per_run, other_cores):
    """min, median and the count of the undisturbed runs among ``per_run``
    (seconds of each child) given the other processes' cores during each."""
    quiet = [t for t, o in zip(per_run, other_cores) if o <= OTHER_CORES_LIMIT]
    used = quiet or per_run
    return {"min": min(used), "median": statistics.median(used), "quiet_runs": len(quiet)}


def summarize(results, plan):
    """One JSON entry per (library, workload, mode): min and median over
    its undisturbed runs (over all of them when every one was disturbed)."""
    import all_cores_fits as fits
    out = []
    for (lib, wname, mode), runs in results.items():
        best = [r["best"] for r in runs]
        other = [r["other_cores"] for r in runs]
        threads, cpus = mode_settings(mode, plan["cpus"])
        last = runs[-1]
        out.append({
            "library": lib, "label": fits.LIBRARIES[lib].label, "workload": wname,
            "mode": mode, "threads": threads, "pinned_cpus": cpus,
            "knob": last["knob"], "library_threads": last["library_threads"],
            **summary(best, other), "per_run": best, "other_cores_per_run": other,
            "fits_per_child": len(last["seconds"]),
            "train_accuracy": last["train_accuracy"], "pools": last["pools"],
        })
    return out


def rescore(result):
    """Recompute each timing's summary and the ratios from its runs (after
    a change of OTHER_CORES_LIMIT, say); returns ``result``, changed."""
    for t in result["timings"]:
        t.update(summary(t["per_run"], t["other_cores_per_run"]))
    result["ratios"] = ratios(result["timings"])
    return result


def ratios(timings):
    """peer / fastmlp for each mode and workload (above 1: fastmlp ahead)."""
    index = {(t["library"], t["workload"], t["mode"]): t for t in timings}
    out = []
    for (lib, wname, mode), t in index.items():
        for peer, base in RATIOS:
            b = index.get((base, wname, mode))
            if lib != peer or b is None:
                continue
            out.append({"mode": mode, "workload": wname, "peer": peer, "baseline": base,
                        "ratio_min": t["min"] / b["min"],
                        "ratio_median": t["median"] / b["median"]})
    return out


# -- the ceiling ------------------------------------------------------------------------

def _timed_together(specs):
    """Run the children of ``specs`` (one-thread, waiting ones) so that their
    timed fits start together: each says "ready" after its warm-up, then all
    are told to go. Their results, in order."""
    procs = [launch(s, 1, wait=True) for s in specs]
    for p in procs:
        if p.stdout.readline().strip() != "ready":
            p.kill()
    busy, own = _cpu_seconds()
    started = time.perf_counter()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    results = [collect(p, s) for p, s in zip(procs, specs)]
    busy_after, own_after = _cpu_seconds()
    other = max(0.0, (busy_after - busy) - (own_after - own))
    for r in results:
        r["other_cores"] = other / (time.perf_counter() - started)
    return results


def measure_ceiling(cpus, wname, quick, rounds, log=print):
    """2 t_alone / t_pair_wall of one-thread fastmlp fits on cpus[0] and cpus[1]."""
    if len(cpus) < 2:
        return {"skipped": "fewer than two cores in the affinity"}
    spec = {"library": "fastmlp", "workload": wname, "quick": quick, "threads": 1,
            "wait": True}
    alone, pair, other = [], [], []
    for _ in range(rounds):
        a, = _timed_together([{**spec, "cpus": cpus[:1]}])
        alone.append(a["span"][1] - a["span"][0])
        both = _timed_together([{**spec, "cpus": [c]} for c in cpus[:2]])
        pair.append(max(r["span"][1] for r in both) - min(r["span"][0] for r in both))
        other.append(max(a["other_cores"], both[0]["other_cores"]))
    t_alone, t_pair = summary(alone, other)["min"], summary(pair, other)["min"]
    ceiling = 2 * t_alone / t_pair
    log(f"ceiling ({wname}, fastmlp 1 thread): alone {t_alone:.3f} s, pair wall "
        f"{t_pair:.3f} s, ceiling {ceiling:.3f} (ideal 2)")
    return {"workload": wname, "library": "fastmlp", "cpus": cpus[:2],
            "t_alone": t_alone, "t_pair_wall": t_pair, "ceiling": ceiling,
            "alone_per_round": alone, "pair_wall_per_round": pair,
            "other_cores_per_round": other,
            "quiet_rounds": sum(o <= OTHER_CORES_LIMIT for o in other)}


# -- the whole run ----------------------------------------------------------------------

def _names(text, allowed, what):
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in allowed]
    if bad:
        raise SystemExit(f"unknown {what}: {', '.join(bad)} (known: {', '.join(allowed)})")
    return names


def build_plan(args):
    import all_cores_fits as fits
    libraries = _names(args.libraries, list(fits.LIBRARIES), "libraries")
    runnable, skipped = available_libraries(libraries)
    return {"libraries": runnable, "skipped": skipped, "quick": args.quick,
            "workloads": _names(args.workloads, list(fits.WORKLOADS), "workloads"),
            "modes": [MODES[m] for m in _names(args.modes, list(MODES), "modes")],
            "cpus": machine.affinity()}


def benchmark(args):
    """Run everything the arguments ask for; the result as a JSON-ready dict."""
    import all_cores_fits as fits
    started = time.time()
    plan = build_plan(args)
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    result = {
        "benchmark": "all_cores", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": sys.argv, "quick": args.quick, "rounds": rounds,
        "machine": machine.describe(), "versions": machine.versions(),
        "fastmlp": fastmlp_facts(), "optimizer": fits.OPTIMIZER,
        "workloads": {n: fits.workload(n, args.quick).describe() for n in plan["workloads"]},
        "modes": plan["modes"], "libraries": plan["libraries"], "skipped": plan["skipped"],
        "removed_variables": list(REMOVED_VARIABLES),
    }
    if "fastmlp" in plan["libraries"] and not args.no_ceiling:
        result["ceiling"] = measure_ceiling(plan["cpus"], args.ceiling_workload, args.quick,
                                            rounds)
    retries = args.retries if args.retries is not None else (0 if args.quick else 1)
    result["retries"] = retries
    timings = summarize(run_rounds(plan, rounds, retries), plan)
    result.update(timings=timings, ratios=ratios(timings),
                  loadavg_at_end=list(os.getloadavg()),
                  elapsed_seconds=time.time() - started)
    return result


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny fits (smoke run)")
    parser.add_argument("--json", metavar="PATH", help="write the results here")
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds (default 3; 1 with --quick)")
    parser.add_argument("--retries", type=int, default=None,
                        help="re-runs of a child disturbed by other processes, at the "
                        "end of its round (default 1; 0 with --quick)")
    parser.add_argument("--libraries", default="fastmlp,fastmlp_bf16,torch,torch_bf16,"
                        "jax,sklearn")
    parser.add_argument("--workloads", default="digits,medium,wide")
    parser.add_argument("--modes", default="defaults,1,N", help="of defaults, 1, N")
    parser.add_argument("--ceiling-workload", default="medium")
    parser.add_argument("--no-ceiling", action="store_true")
    parser.add_argument("--table", metavar="PATH", help="print the tables of a saved run")
    parser.add_argument("--child", metavar="SPEC", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.child is not None:
        return child_main(json.loads(args.child))
    # A terminated run raises SystemExit, so the child being waited for is
    # killed too (collect) instead of running on, orphaned.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    import all_cores_table
    if args.table is not None:
        with open(args.table) as f:
            print(all_cores_table.tables(json.load(f)))
        return None
    result = benchmark(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {args.json}")
    print(all_cores_table.tables(result))
    return result


if __name__ == "__main__":
    main()
