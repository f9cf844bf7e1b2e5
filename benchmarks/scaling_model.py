"""How far fastmlp's fits could scale with more cores: an Amdahl model fitted at 1 and 2 threads.

    python benchmarks/scaling_model.py --from PATH [--json OUT]     # all_cores.py's JSON
    python benchmarks/scaling_model.py --measure [--rounds 3] [--json OUT]

Input: the whole-fit times of fastmlp (float32, and bfloat16 products when
measured) on the medium (784-256-128-10, batch 128) and wide
(1024-2048-2048-10, batch 512) workloads at one thread (T1) and two threads
(T2), and the machine's ceiling C = 2 t_alone / t_pair_wall, all as
benchmarks/all_cores.py measures them (minimum over the interleaved runs
that no other process disturbed);
``--measure`` runs those children itself (one thread pinned to the first
core; two threads on the first two cores).

The model. Amdahl's law: a fraction f of the one-thread time does not run
in parallel (the elementwise passes between products, the per-step
bookkeeping, thread wake-ups), the rest divides evenly over the cores:

    T(p) = T1 (f + (1 - f) / p),   S(p) = T1 / T(p) = 1 / (f + (1 - f) / p)

so from S2 = T1 / T2 alone:  f = 2 / S2 - 1.

The ceiling correction. That formula assumes the second core adds a whole
core's speed. C measures what it really adds: two independent one-thread
fits side by side, sharing nothing but the machine, do two fits in t_pair
where one fit alone takes t_alone, so two busy cores deliver
C = 2 t_alone / t_pair single-core equivalents (C < 2 when they share
memory bandwidth, a cache, frequency headroom, or a host with other
guests). The parallel part of a two-thread fit therefore takes
(1 - f) T1 / C, not (1 - f) T1 / 2:

    S2 = 1 / (f + (1 - f) / C)   =>   f = (C / S2 - 1) / (C - 1)

which is f = 2 / S2 - 1 at C = 2. Without the correction, a machine that
cannot give two full cores makes a perfectly parallel fit look serial. The
correction needs C > 1 (otherwise nothing can be said: f is left
uncorrected), and f is clipped to [0, 1] (a two-thread fit faster than the
ceiling allows is noise, or a cache effect the model does not have).

Predictions at p = 8, 16, 64 cores, three ways:
- "raw": the uncorrected f, on cores like these (what 2 threads here suggest);
- "ideal cores": the corrected f on p cores that each add a full core
  (a machine whose ceiling is p): the model's best case;
- "cores like these": the corrected f on p cores that each add C / 2 of a
  core, as the second one does here: S = 1 / (f + (1 - f) / (p C / 2)).

Assumptions, each of which makes the predictions upper bounds:
- f is a constant of the workload and the batch size: the serial work per
  step does not grow with the thread count (synchronisation in fact grows,
  at least as log p);
- the parallel part divides evenly at any p: a product of a batch of 128
  rows cut into 64 pieces leaves each thread blocks too small to run at
  full speed, and OpenBLAS splits a GEMM only along some dimensions;
- per-core speed does not fall further with p than C says for p = 2 (memory
  bandwidth per core and turbo headroom usually do fall);
- two measured points fix one parameter: noise in T2 moves f directly
  (a 5 % error in T2 moves S2 by 5 %, and f by about 0.1 at S2 near 1.8).
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

CORES = (8, 16, 64)
WORKLOADS = ("medium", "wide")
LIBRARIES = ("fastmlp", "fastmlp_bf16")


def serial_fraction(s2, ceiling=2.0):
    """Amdahl's f from the two-thread speedup S2, on a machine whose two
    busy cores deliver ``ceiling`` single-core equivalents; clipped to
    [0, 1]. None when the ceiling leaves nothing to fit (C <= 1)."""
    if ceiling <= 1.0:
        return None
    f = (ceiling / s2 - 1.0) / (ceiling - 1.0)
    return min(1.0, max(0.0, f))


def speedup(f, cores):
    """Amdahl's S(p) = 1 / (f + (1 - f) / p); ``cores`` may be fractional
    (cores that each add less than a full one)."""
    return 1.0 / (f + (1.0 - f) / cores)


def model_row(library, wname, t1, t2, ceiling):
    """The model fitted on one (library, workload): f raw and corrected,
    and the predicted speedups."""
    s2 = t1 / t2
    f_raw = serial_fraction(s2)
    usable = ceiling is not None and ceiling > 1.0
    f_corr = serial_fraction(s2, min(ceiling, 2.0)) if usable else f_raw
    per_core = min(ceiling, 2.0) / 2.0 if usable else 1.0
    return {
        "library": library, "workload": wname, "t1": t1, "t2": t2, "s2": s2,
        "f_raw": f_raw, "f_corrected": f_corr, "ceiling": ceiling,
        "ceiling_used": usable,
        "amdahl_limit": (1.0 / f_corr) if f_corr else None,
        "predicted": {str(p): {"raw": speedup(f_raw, p),
                               "ideal_cores": speedup(f_corr, p),
                               "cores_like_these": speedup(f_corr, p * per_core)}
                      for p in CORES},
    }


# -- the inputs ---------------------------------------------------------------------

def times_from_result(result):
    """{(library, workload): (T1, T2)} from all_cores.py's result: the
    "1 thread" minimum and the minimum of an explicit 2-thread mode."""
    found = {}
    for t in result["timings"]:
        if t["library"] not in LIBRARIES or t["workload"] not in WORKLOADS:
            continue
        if t["mode"] == "1 thread":
            found.setdefault((t["library"], t["workload"]), {})[1] = t["min"]
        elif t["mode"] == "N threads" and t["threads"] == 2:
            found.setdefault((t["library"], t["workload"]), {})[2] = t["min"]
    return {k: (v[1], v[2]) for k, v in found.items() if 1 in v and 2 in v}


def ceiling_from_result(result):
    c = result.get("ceiling") or {}
    return c.get("ceiling")


def measure(rounds, quick=False, log=print):
    """Measure T1 and T2 (and the ceiling) here, with all_cores.py's children."""
    import all_cores
    cpus = all_cores.machine.affinity()
    if len(cpus) < 2:
        raise SystemExit("the model needs two cores in the affinity")
    libraries, _ = all_cores.available_libraries(list(LIBRARIES), log)
    runs = {}
    for r in range(rounds):
        for wname in WORKLOADS:
            for lib in all_cores.rotated(libraries, r):
                for threads in (1, 2):
                    spec = {"library": lib, "workload": wname, "quick": quick,
                            "threads": threads, "cpus": cpus[:threads]}
                    res = all_cores.run_child(spec, threads)
                    runs.setdefault((lib, wname, threads), []).append(res)
                    log(f"round {r + 1} {wname} {lib} {threads} thread(s): "
                        f"{res['best']:.3f} s (other processes {res['other_cores']:.2f} cores)")
    # As all_cores.py: the minimum over the runs no other process disturbed.
    best = {key: all_cores.summary([r["best"] for r in rs],
                                   [r["other_cores"] for r in rs])["min"]
            for key, rs in runs.items()}
    ceiling = all_cores.measure_ceiling(cpus, "medium", quick, rounds, log).get("ceiling")
    return {(lib, w): (best[lib, w, 1], best[lib, w, 2])
            for lib in libraries for w in WORKLOADS}, ceiling


# -- output ---------------------------------------------------------------------------

def table(rows):
    head = ["library", "workload", "T1 s", "T2 s", "S2", "f raw", "f corrected"]
    for p in CORES:
        head += [f"S{p} raw", f"S{p} ideal", f"S{p} like these"]
    head.append("limit 1/f")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] *
                                                            (len(head) - 2)) + "|"]
    for r in rows:
        cells = [r["library"], r["workload"], f"{r['t1']:.3f}", f"{r['t2']:.3f}",
                 f"{r['s2']:.2f}", f"{r['f_raw']:.3f}", f"{r['f_corrected']:.3f}"]
        for p in CORES:
            pred = r["predicted"][str(p)]
            cells += [f"{pred['raw']:.2f}", f"{pred['ideal_cores']:.2f}",
                      f"{pred['cores_like_these']:.2f}"]
        cells.append(f"{r['amdahl_limit']:.1f}" if r["amdahl_limit"] else "inf")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="source", metavar="PATH",
                        help="all_cores.py's JSON (needs its 1-thread and 2-thread modes)")
    source.add_argument("--measure", action="store_true", help="measure T1, T2, C here")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny fits (smoke run)")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    if args.source:
        with open(args.source) as f:
            result = json.load(f)
        times, ceiling = times_from_result(result), ceiling_from_result(result)
    else:
        times, ceiling = measure(args.rounds, args.quick)
    if not times:
        raise SystemExit("no fastmlp times at 1 and 2 threads for medium or wide")
    rows = [model_row(lib, w, t1, t2, ceiling) for (lib, w), (t1, t2) in sorted(times.items())]
    print(f"ceiling C = {ceiling if ceiling is None else round(ceiling, 3)} "
          f"(2 = two full cores); predictions are upper bounds (see the docstring)")
    print(table(rows))
    out = {"source": args.source or "measured", "ceiling": ceiling, "cores": list(CORES),
           "rows": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
        print(f"wrote {args.json}")
    return out


if __name__ == "__main__":
    main()
