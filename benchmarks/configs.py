"""Benchmark configurations and the three timed callables of each.

Shared by ``benchmarks/test_step.py`` (pytest-benchmark) and
``benchmarks/report.py`` (the interleaved report). Nothing here times
anything; it only builds models, data and the callables:

- ``fastmlp``: one epoch of ``fastmlp.MLP``'s compiled training loop, with the
  permutation drawn from the model's generator as ``fit(shuffle=True)`` does
  (the draw is part of the cost);
- ``reference``: one epoch of ``fastmlp.reference.MLP`` (the NumPy loop) on
  the same data and steps, again with a fresh permutation (fewer epochs per
  round, since it is slower);
- ``gemm_floor``: only the GEMMs of the same steps (``_train.gemm_floor``),
  in one nogil call: what a step cannot go below.

Each callable runs a whole epoch of ``steps`` training steps; per-step time
is the epoch time divided by ``steps``. A "round" is ``epochs`` such calls,
chosen so that one round takes about 20 ms or more while the data set stays
small (a few MB), so that the timer and per-call overhead are amortized
without turning the benchmark into a memory-bandwidth test.

All of this must run with one BLAS thread (``blas_single_thread()``).
"""
import os
import platform
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import fastmlp
import fastmlp.reference
from fastmlp._kernels import _train

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
    rounds: int = 15          # pytest-benchmark rounds (report.py: --repeat)
    # Target: an absolute bound in us per step, or a bound on fastmlp/floor.
    target_us: float = None
    target_ratio: float = None

    @property
    def n(self):
        return self.batch * self.steps

    def target_text(self):
        if self.target_us is not None:
            return f"<= {self.target_us:g} us"
        if self.target_ratio is not None:
            return f"<= {self.target_ratio:g}x floor"
        return "-"

    def target_met(self, fast_us, floor_us):
        """True/False, or None when the config has no target."""
        if self.target_us is not None:
            return bool(fast_us <= self.target_us)
        if self.target_ratio is not None:
            return bool(fast_us <= self.target_ratio * floor_us)
        return None


# Rough per-step times on the 2-vCPU Zen4 box (one thread), used only to size
# the rounds: tiny ~8 us (floor ~5), small ~270 us, medium ~5 ms, large
# ~135 ms; the reference is ~50 us on tiny. Rounds are >= ~20 ms each.
CONFIGS = {
    c.name: c for c in [
        Config("tiny", (64, 32, 10), 32, "float32",
               steps=200, epochs=16, ref_epochs=2, rounds=20,
               target_us=6.0),
        Config("tiny64", (64, 32, 10), 32, "float64",
               steps=200, epochs=12, ref_epochs=2, rounds=20,
               target_us=9.0),
        Config("small", (784, 128, 10), 64, "float32",
               steps=20, epochs=4, ref_epochs=3, rounds=15,
               target_ratio=1.08),
        Config("medium", (784, 512, 256, 10), 256, "float32",
               steps=8, epochs=1, ref_epochs=1, rounds=10,
               target_ratio=1.04),
        # The same network with smooth activations: their exp-based kernels
        # must stay cheap next to the GEMMs.
        Config("medium_tanh", (784, 512, 256, 10), 256, "float32", activation="tanh",
               steps=8, epochs=1, ref_epochs=1, rounds=10,
               target_ratio=1.06),
        Config("medium_sigmoid", (784, 512, 256, 10), 256, "float32",
               activation="sigmoid", steps=8, epochs=1, ref_epochs=1, rounds=10,
               target_ratio=1.06),
        Config("large", (1024, 2048, 2048, 10), 512, "float32",
               steps=4, epochs=1, ref_epochs=1, rounds=5,
               target_ratio=1.02),
        Config("reg", (8, 64, 64, 1), 32, "float64", loss="mse",
               steps=200, epochs=5, ref_epochs=2, rounds=20,
               target_us=12.0),
    ]
}

KINDS = ("fastmlp", "gemm_floor", "reference")


def select(names):
    """Configs named in ``names`` (a comma-separated string, a list, or None
    for all), in the order of CONFIGS."""
    if names is None:
        return list(CONFIGS.values())
    if isinstance(names, str):
        names = [s.strip() for s in names.split(",") if s.strip()]
    unknown = [s for s in names if s not in CONFIGS]
    if unknown:
        raise ValueError(f"unknown config(s) {unknown}; known: {list(CONFIGS)}")
    return [c for c in CONFIGS.values() if c.name in names]


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
    net = fastmlp.MLP(list(cfg.sizes), **kw)
    Xc, Y = net._check_Xy(X, y)
    n, B = cfg.n, cfg.batch

    run = net._epoch_runner(Xc, Y, B, LR, MOMENTUM)
    rng = net.rng

    def fast_epoch():
        return run(rng.permutation(n))

    spec, work = net._workspace(B)
    params = net.params
    # Scratch output for the floor's weight-gradient GEMMs (beta = 0).
    floor_grads = np.zeros_like(net.params)
    steps = cfg.steps

    def floor_epoch():
        return _train.gemm_floor(spec, params, floor_grads, Xc, work, B, steps)

    ref = fastmlp.reference.MLP(list(cfg.sizes), **kw)
    ref_run = ref._epoch_runner(Xc, Y, B, LR, MOMENTUM)
    ref_rng = ref.rng

    def ref_epoch():
        return ref_run(ref_rng.permutation(n))

    return Case(cfg, fast_epoch, floor_epoch, ref_epoch,
                keep=dict(net=net, ref=ref, X=Xc, Y=Y, spec=spec, work=work))


def blas_single_thread():
    """Context manager: every BLAS threadpool limited to one thread."""
    return threadpool_limits(limits=1, user_api="blas")


BLAS_KEYS = ("internal_api", "version", "architecture", "num_threads",
             "threading_layer", "prefix", "filepath")


def blas_info():
    """threadpoolctl's view of every loaded BLAS library (call it inside
    ``blas_single_thread()`` to see the thread count in force). fastmlp's
    kernels call scipy's BLAS (scipy.linalg.cython_blas); the NumPy reference
    calls numpy's."""
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
    return out


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
        "fastmlp": getattr(fastmlp, "__version__", "?"),
        # Read only, never set here: the environment chooses the kernels.
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
    }
