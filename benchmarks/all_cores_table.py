"""Markdown tables of a benchmarks/all_cores.py result (the dict it writes as JSON).

One table per thread mode: a row per workload, the minimum seconds of each
library's fit, then the ratios peer / fastmlp of the minima (above 1:
fastmlp ahead; the ratio of the medians in parentheses).
"""


def _label(result, name):
    for t in result["timings"]:
        if t["library"] == name:
            return t["label"]
    return name


def _machine_line(result):
    m = result["machine"]
    flags = ", ".join(f for f, present in m["flags"].items() if present) or "none"
    return (f"CPU: {m['model_name']} (family {m['cpu_family']}, model {m['model']}), "
            f"{m['nproc']} cores in the affinity {m['affinity']}, "
            f"{m['memory_total_gib']} GiB; flags: {flags}")


def _ceiling_line(result):
    c = result.get("ceiling")
    if not c:
        return None
    if "skipped" in c:
        return f"Ceiling: not measured ({c['skipped']})."
    return (f"Ceiling ({c['workload']}, two one-thread fastmlp fits side by side): "
            f"alone {c['t_alone']:.3f} s, pair wall {c['t_pair_wall']:.3f} s, "
            f"ceiling = 2 t_alone / t_pair = {c['ceiling']:.2f} (ideal 2).")


def _other_line(result):
    """How busy other processes kept the machine during the children."""
    other = sorted(x for t in result["timings"] for x in t["other_cores_per_run"])
    if not other:
        return "Other processes: no child ran."
    busy = sum(x > 0.25 for x in other)
    retries = result.get("retries", 0)
    again = f"run again up to {retries} time(s) at the end of their round; " if retries else ""
    return (f"Other processes during the {len(other)} timed children: median "
            f"{other[len(other) // 2]:.2f} cores busy, max {other[-1]:.2f}; "
            f"{busy} children saw more than 0.25 cores busy ({again}left out of the "
            f"minima; a time marked * had no undisturbed run).")


def _mode_table(result, mode):
    timings = {(t["library"], t["workload"]): t for t in result["timings"]
               if t["mode"] == mode}
    ratios = {(r["peer"], r["workload"]): r for r in result["ratios"] if r["mode"] == mode}
    libs = [lib for lib in result["libraries"]
            if any(k[0] == lib for k in timings)]
    pairs = sorted({(r["peer"], r["baseline"]) for r in ratios.values()},
                   key=lambda p: libs.index(p[0]) if p[0] in libs else 0)
    threads = next((t["threads"] for t in timings.values()), None)
    title = f"### {mode}" + (f" ({threads})" if mode == "N threads" else "")
    head = (["workload"] + [f"{_label(result, lib)} s" for lib in libs]
            + [f"{_label(result, p)} / {_label(result, b)}" for p, b in pairs])
    lines = [title, "", "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for wname in result["workloads"]:
        cells = [wname]
        for lib in libs:
            t = timings.get((lib, wname))
            mark = "" if not t or t.get("quiet_runs", 1) else "*"
            cells.append(f"{t['min']:.3f}{mark}" if t else "")
        for peer, _ in pairs:
            r = ratios.get((peer, wname))
            cells.append(f"{r['ratio_min']:.2f} ({r['ratio_median']:.2f})" if r else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tables(result):
    """The markdown text: the machine, the ceiling, one table per mode."""
    parts = [_machine_line(result)]
    ceiling = _ceiling_line(result)
    if ceiling:
        parts.append(ceiling)
    for name, reason in result.get("skipped", {}).items():
        parts.append(f"Skipped {name}: {reason}.")
    parts.append(_other_line(result))
    parts.append(f"Seconds per whole fit: minimum over the undisturbed runs of "
                 f"{result['rounds']} interleaved round(s); ratios peer / fastmlp of the "
                 f"minima (of the medians), above 1: fastmlp ahead.")
    parts += [_mode_table(result, mode) for mode in result["modes"]]
    return "\n\n".join(parts)
