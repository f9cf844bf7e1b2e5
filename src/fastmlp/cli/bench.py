"""Per-step timing of fastmlp against its GEMM floor and the NumPy reference.

The core of ``fastmlp bench``, ``benchmarks/report.py`` (the interleaved
report) and ``benchmarks/test_step.py`` (pytest-benchmark, through
``benchmarks/configs.py``): the configurations, their data, the three timed
callables of each, the interleaved measurement and the table.

The performance targets are not here: they are claims about the machine
the project benchmarks on, not about the installed package, so they live in
``benchmarks/targets.py``; ``run_report`` adds the target columns only when
it is given targets (``benchmarks/report.py`` does, ``fastmlp bench`` not).

The timed callables of a config (``build_case``), each one epoch of
``cfg.steps`` training steps:

- ``fastmlp``: one epoch of ``fastmlp.MLP``'s compiled training loop, with the
  permutation drawn from the model's generator as ``fit(shuffle=True)`` does
  (the draw is part of the cost);
- ``reference``: one epoch of ``fastmlp.reference.MLP`` (the NumPy loop) on
  the same data and steps, again with a fresh permutation (fewer epochs per
  round, since it is slower);
- ``gemm_floor``: only the GEMMs of the same steps (``_probes.gemm_floor``),
  in one nogil call: what a step cannot go below.

Per-step time is the epoch time divided by ``steps``. A "round" is
``epochs`` such calls, chosen so that one round takes about 20 ms or more
while the data set stays small (a few MB), so that the timer and per-call
overhead are amortized without turning the benchmark into a
memory-bandwidth test.

The measurement (``measure``) interleaves the kinds: every round times one
block of each, in an order that rotates from round to round, so that a burst
of load from another process hits all of them alike rather than one. The
reported per-step time is the MINIMUM over rounds of (block time / steps in
the block); the median is kept too (JSON, and the "noise" column: how far
the worst kind's median is above its minimum). The ratio fastmlp/floor is
the ratio of the minima; "paired" is the median over rounds of the per-round
ratio, a cross-check that does not depend on one lucky round. The garbage
collector is off during the timed blocks.

All of this must run with one BLAS thread (``blas_single_thread()``);
``run_report`` sees to it.
"""
import gc
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from .. import __version__
from .. import reference as _reference
from ..mlp import MLP
from ..training.settings import FitData, fit_settings
from .._kernels import _probes, _train
from ..inputs.validation import check_X, check_y

LR = 1e-3
MOMENTUM = 0.9


@dataclass(frozen=True)
class Config:
    name: str
    sizes: tuple
    batch: int
    dtype: str = "float32"
    loss: str = "cross_entropy"
    activation: str = "relu"
    steps: int = 200          # training steps per fastmlp / floor epoch
    epochs: int = 1           # epochs per timed round (fastmlp and floor)
    ref_epochs: int = 1       # epochs per timed round (reference)
    rounds: int = 15          # pytest-benchmark rounds (report: twice this by default)

    @property
    def n(self):
        return self.batch * self.steps


# Rough per-step times on the 2-vCPU Zen4 box (one thread), used only to size
# the rounds: tiny ~8 us (floor ~5), small ~270 us, medium ~5 ms, large
# ~135 ms; the reference is ~50 us on tiny. Rounds are >= ~20 ms each.
CONFIGS = {
    c.name: c for c in [
        Config("tiny", (64, 32, 10), 32, "float32",
               steps=200, epochs=16, ref_epochs=2, rounds=20),
        Config("tiny64", (64, 32, 10), 32, "float64",
               steps=200, epochs=12, ref_epochs=2, rounds=20),
        Config("small", (784, 128, 10), 64, "float32",
               steps=20, epochs=4, ref_epochs=3, rounds=15),
        Config("medium", (784, 512, 256, 10), 256, "float32",
               steps=8, epochs=1, ref_epochs=1, rounds=10),
        # The same network with smooth activations: their exp-based kernels
        # must stay cheap next to the GEMMs.
        Config("medium_tanh", (784, 512, 256, 10), 256, "float32", activation="tanh",
               steps=8, epochs=1, ref_epochs=1, rounds=10),
        Config("medium_sigmoid", (784, 512, 256, 10), 256, "float32",
               activation="sigmoid", steps=8, epochs=1, ref_epochs=1, rounds=10),
        Config("large", (1024, 2048, 2048, 10), 512, "float32",
               steps=4, epochs=1, ref_epochs=1, rounds=5),
        Config("reg", (8, 64, 64, 1), 32, "float64", loss="mse",
               steps=200, epochs=5, ref_epochs=2, rounds=20),
    ]
}

KINDS = ("fastmlp", "gemm_floor", "reference")


def select(names, configs=None):
    """Configs named in ``names`` (a comma-separated string, a list, or None
    for all), in the order of ``configs`` (a dict by name; default CONFIGS)."""
    configs = CONFIGS if configs is None else configs
    if names is None:
        return list(configs.values())
    if isinstance(names, str):
        names = [s.strip() for s in names.split(",") if s.strip()]
    unknown = [s for s in names if s not in configs]
    if unknown:
        raise ValueError(f"unknown config(s) {unknown}; known: {list(configs)}")
    return [c for c in configs.values() if c.name in names]


def make_data(cfg, seed=0):
    """Synthetic (X, y): X standard normal, y class labels or regression targets."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((cfg.n, cfg.sizes[0]))
    if cfg.loss == "mse":
        y = rng.standard_normal(cfg.n) if cfg.sizes[-1] == 1 else \
            rng.standard_normal((cfg.n, cfg.sizes[-1]))
    else:
        y = rng.integers(0, cfg.sizes[-1], size=cfg.n)
    return X, y


@dataclass
class Case:
    """The three timed callables of one config; each runs one epoch."""
    cfg: Config
    fastmlp: object = None
    gemm_floor: object = None
    reference: object = None
    keep: dict = field(default_factory=dict)   # objects the callables use

    def steps(self, kind):
        return self.cfg.steps

    def epochs(self, kind):
        return self.cfg.ref_epochs if kind == "reference" else self.cfg.epochs

    def callable(self, kind):
        return getattr(self, kind)


def build_case(cfg, seed=0):
    """Models, validated data and the three epoch callables for ``cfg``."""
    X, y = make_data(cfg, seed)
    kw = dict(activation=cfg.activation, loss=cfg.loss, dtype=cfg.dtype, seed=seed)
    net = MLP(list(cfg.sizes), **kw)
    dtype = np.dtype(cfg.dtype)
    Xc = check_X(X, cfg.sizes[0], dtype)
    Y = check_y(y, cfg.n, cfg.loss, cfg.sizes[-1], dtype)
    n, B = cfg.n, cfg.batch

    # fit's own epoch object, without fit's per-call validation.
    loop = net._epochs(FitData(Xc, Y, None), fit_settings(net, Xc, y, B, MOMENTUM))
    rng = net.rng

    def fast_epoch():
        return loop.run(rng.permutation(n), LR)

    # The floor runs on the loop's own spec: the same layout and GEMM table.
    spec, work, params = loop.spec, loop.work, net.params
    # Scratch output for the floor's weight-gradient GEMMs (beta = 0).
    floor_grads = np.zeros_like(net.params)
    steps = cfg.steps

    def floor_epoch():
        return _probes.gemm_floor(spec, params, floor_grads, Xc, work, B, steps)

    # The reference through its public fit (one epoch per call, shuffled
    # from its generator); its input checks on the converted data cost
    # about 1% of its epoch.
    ref = _reference.MLP(list(cfg.sizes), **kw)
    Xr = Xc.copy()

    def ref_epoch():
        return ref.fit(Xr, y, epochs=1, batch_size=B, lr=LR, momentum=MOMENTUM)

    return Case(cfg, fast_epoch, floor_epoch, ref_epoch,
                keep=dict(net=net, ref=ref, X=Xc, Y=Y, loop=loop))


def blas_single_thread():
    """Context manager: every BLAS threadpool limited to one thread."""
    return threadpool_limits(limits=1, user_api="blas")


BLAS_KEYS = ("internal_api", "version", "architecture", "num_threads",
             "threading_layer", "prefix", "filepath")


def blas_info():
    """threadpoolctl's view of every loaded BLAS library (call it inside
    ``blas_single_thread()`` to see the thread count in force). fastmlp's
    kernels call scipy's BLAS (scipy.linalg.cython_blas); the NumPy reference
    calls numpy's. Listed in that order (fastmlp's first), whatever the
    order in which the libraries were loaded."""
    out = []
    for lib in threadpool_info():
        if lib.get("user_api") != "blas":
            continue
        d = {k: lib.get(k) for k in BLAS_KEYS}
        # Both wheels ship a "libscipy_openblas*": tell them apart by the
        # directory the wheel installed it in.
        where = os.path.basename(os.path.dirname(str(lib.get("filepath", ""))))
        d["used_by"] = {"scipy.libs": "scipy: fastmlp kernels",
                        "numpy.libs": "numpy: reference"}.get(where, where or "?")
        out.append(d)
    rank = {"scipy: fastmlp kernels": 0, "numpy: reference": 1}
    return sorted(out, key=lambda d: rank.get(d["used_by"], 2))


def machine_summary():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "fastmlp": __version__,
        # Read only, never set here: the environment chooses the kernels.
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
    }


def load_average():
    """The three load averages, or None where the system keeps none:
    ``os.getloadavg`` does not exist on Windows, and raises OSError where
    the figure cannot be had. The report only notes the load; it must not
    fail for want of it."""
    getloadavg = getattr(os, "getloadavg", None)
    if getloadavg is None:
        return None
    try:
        return getloadavg()
    except OSError:
        return None


# -- measurement --------------------------------------------------------------

def time_block(fn, calls):
    t0 = time.perf_counter_ns()
    for _ in range(calls):
        fn()
    return (time.perf_counter_ns() - t0) * 1e-9


def measure(case, repeat, kinds=KINDS):
    """Per-step seconds of every kind in ``kinds``, one value per round,
    interleaved (the order rotates from round to round)."""
    kinds = tuple(kinds)
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
    """The result dict of one config; ``reference_us`` and
    ``speedup_vs_reference`` are None when the reference was not timed."""
    us = {k: np.asarray(v) * 1e6 for k, v in per_step.items()}
    fast, floor = us["fastmlp"].min(), us["gemm_floor"].min()
    ref = us["reference"].min() if "reference" in us else None
    med = {k: float(np.median(v)) for k, v in us.items()}
    noise = max(med[k] / us[k].min() - 1 for k in us)
    paired = float(np.median(us["fastmlp"] / us["gemm_floor"]))
    return {
        "config": cfg.name, "sizes": list(cfg.sizes), "batch": cfg.batch,
        "dtype": cfg.dtype, "loss": cfg.loss, "steps_per_epoch": cfg.steps,
        "rounds": len(us["fastmlp"]), "statistic": "min over rounds",
        "fastmlp_us": float(fast), "floor_us": float(floor),
        "reference_us": None if ref is None else float(ref),
        "ratio_fastmlp_floor": float(fast / floor), "ratio_paired_median": paired,
        "speedup_vs_reference": None if ref is None else float(ref / fast),
        "median_us": med, "noise": float(noise),
        "per_round_us": {k: [float(x) for x in v] for k, v in us.items()},
    }


# -- the table ----------------------------------------------------------------

def fmt_us(x):
    return f"{x:,.0f}" if x >= 1000 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


HEADER = ("config", "dtype", "fastmlp us/step", "floor us/step", "fastmlp/floor",
          "(paired)", "reference us/step", "vs reference", "target", "met", "noise")
_REFERENCE_COLUMNS = ("reference us/step", "vs reference")
_TARGET_COLUMNS = ("target", "met")


def header(with_reference=True, with_targets=False):
    """HEADER without the columns of what was not timed or judged."""
    left_out = (() if with_reference else _REFERENCE_COLUMNS) + \
        (() if with_targets else _TARGET_COLUMNS)
    return tuple(h for h in HEADER if h not in left_out)


def row(res):
    """The table row of one result, with the reference columns when the
    reference was timed and the target columns when it was judged."""
    cells = [res["config"], res["dtype"], fmt_us(res["fastmlp_us"]), fmt_us(res["floor_us"]),
             f"{res['ratio_fastmlp_floor']:.3f}x", f"{res['ratio_paired_median']:.3f}x"]
    if res.get("reference_us") is not None:
        cells += [fmt_us(res["reference_us"]), f"{res['speedup_vs_reference']:.2f}x"]
    if "target_met" in res:
        cells += [res["target"], {True: "met", False: "MISSED", None: "-"}[res["target_met"]]]
    cells += [f"{100 * res['noise']:.1f}%"]
    return tuple(cells)


def judge(res, target):
    """Add ``target`` and ``target_met`` to the result ``res``: ``target``
    is None (then "-" and None) or an object with ``text``, the table cell,
    and ``met(res)``, whether the result meets it."""
    res["target"] = "-" if target is None else target.text
    res["target_met"] = None if target is None else bool(target.met(res))
    return res


def print_table(rows, head=HEADER, file=None):
    out = file if file is not None else sys.stdout
    rows = [head] + rows
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for j, r in enumerate(rows):
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))), file=out)
        if j == 0:
            print("  ".join("-" * w for w in widths), file=out)
    out.flush()


# -- the whole report -----------------------------------------------------------

def add_arguments(parser, reference_flag=False):
    """The options of the report (``benchmarks/report.py`` and ``fastmlp
    bench``); with ``reference_flag``, a ``--reference`` switch too (the
    reference is then timed only on request). Targets, and ``--strict``,
    are the benchmark report's own."""
    parser.add_argument("--configs", default=None,
                        help=f"comma-separated subset of {','.join(CONFIGS)} (default: all)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="interleaved rounds per config (default: twice the config's "
                             "pytest round count: 40 for tiny, 10 for large)")
    if reference_flag:
        parser.add_argument("--reference", action="store_true",
                            help="also time fastmlp.reference.MLP (the NumPy loop)")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="also write the results here")
    parser.add_argument("--simd", default=None,
                        help="force the elementwise kernels' instruction-set path "
                             "(baseline, avx2, avx512; default: the best this CPU runs)")


def prepare(configs=None, repeat=None, simd=None):
    """Check the options (and switch the SIMD path if asked): the list of
    configs to run, or ValueError saying what is wrong."""
    if simd is not None:
        try:
            _train.simd_select(simd)
        except (ValueError, RuntimeError) as exc:
            raise ValueError(str(exc)) from None
    chosen = select(configs)
    if repeat is not None and repeat < 1:
        raise ValueError("--repeat must be >= 1")
    return chosen


def finish_report(say, results, json_path, payload):
    """The end of a report: a note on noisy configs, and the JSON file."""
    noisy = [r["config"] for r in results if r["noise"] > 0.05]
    if noisy:
        say(f"note: median more than 5% above minimum for {', '.join(noisy)}: "
            "the machine was busy; the minima are still comparable, rerun to confirm")
    if json_path:
        with open(json_path, "w") as f:
            f.write(json.dumps(payload, indent=1) + "\n")
        say(f"wrote {json_path}")


def run_report(chosen, repeat=None, kinds=KINDS, json_path=None, targets=None, strict=False,
               file=None):
    """Measure every config of ``chosen`` with one BLAS thread and print the
    machine, the table and a summary to ``file`` (stdout); the exit status:
    1 if ``strict`` and a target was missed, else 0.

    ``targets``: None (no target columns), or a mapping from config name to
    a target as ``judge`` takes it; a config it does not name has none."""
    out = file if file is not None else sys.stdout
    kinds = tuple(kinds)
    with_reference = "reference" in kinds

    def say(text=""):
        print(text, file=out)

    t_start = time.perf_counter()
    load_start = load_average()
    with blas_single_thread():
        blas = blas_info()
        machine = machine_summary()
        say("BLAS libraries (threadpoolctl, inside threadpool_limits(1, user_api='blas')):")
        for lib in blas:
            say(f"  {lib['internal_api']} {lib['version']}  architecture={lib['architecture']}"
                f"  threads={lib['num_threads']}  threading={lib['threading_layer']}"
                f"  [{lib['used_by']}]  {os.path.basename(str(lib['filepath']))}")
        say(f"fastmlp elementwise kernels: {_train.simd_active()} path")
        cpu = (f"CPU: {machine['cpu']} ({machine['cpu_count']} logical)  "
               f"OPENBLAS_CORETYPE={machine['OPENBLAS_CORETYPE']}  "
               f"OPENBLAS_L2_SIZE={machine['OPENBLAS_L2_SIZE']}")
        if load_start is not None:
            cpu += f"  load average at start {load_start[0]:.2f}"
        say(cpu)
        if any(lib["num_threads"] != 1 for lib in blas):
            say("WARNING: a BLAS library is not limited to one thread")
        if with_reference:
            say("Per-step time = min over interleaved rounds (fastmlp, floor, reference "
                "alternated, order rotating); noise = worst (median/min - 1) of the three.\n")
        else:
            say("Per-step time = min over interleaved rounds (fastmlp and floor "
                "alternated, order rotating); noise = worst (median/min - 1) of the two.\n")
        out.flush()

        results, rows = [], []
        for cfg in chosen:
            case = build_case(cfg)
            rounds = repeat if repeat is not None else 2 * cfg.rounds
            res = summarize(cfg, measure(case, rounds, kinds))
            if targets is not None:
                judge(res, targets.get(cfg.name))
            del case
            results.append(res)
            rows.append(row(res))
        print_table(rows, header(with_reference, targets is not None), file=out)

    elapsed = time.perf_counter() - t_start
    load_end = load_average()
    summary = f"\n{len(results)} configs in {elapsed:.1f} s"
    if load_end is not None:
        summary += f"; load average at end {load_end[0]:.2f}"
    say(summary)
    finish_report(say, results, json_path, {
        "blas": blas, "machine": machine,
        "load_average": {"start": load_start, "end": load_end},
        "statistic": "min over interleaved rounds of per-step time",
        "elapsed_s": elapsed, "results": results})
    out.flush()
    missed = [r["config"] for r in results if r.get("target_met") is False]
    return 1 if (strict and missed) else 0
