"""Throughput of the elementwise kernels on every SIMD path this CPU runs.

For each instruction-set path (baseline, avx2, avx512), activation and
precision, times the in-place activation and the derivative multiply at
sizes from 1e3 to 1e7 elements, and prints ns per element and GB/s (bytes
read and written: 2 per element for an activation, 3 for a derivative).
Minimum over rounds; single-threaded by construction (the kernels do not
use threads).

    python benchmarks/elementwise.py [--sizes 1e3,1e5,1e7] [--rounds 5]
"""
import argparse
import time

import numpy as np

from fastmlp._kernels import _probes, _train
from fastmlp.network.workspace import ACTIVATION_CODES

ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu"]


def best_seconds(fn, rounds, min_time=0.02):
    """Minimum over rounds of the time of one call (calls repeated within a
    round until it lasts min_time)."""
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - start >= min_time or calls >= 1 << 20:
            break
        calls *= 2
    best = np.inf
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def measure(path, dtype, sizes, rounds):
    _train.simd_select(path)
    rows = []
    rng = np.random.default_rng(0)
    for n in sizes:
        source = rng.uniform(-4, 4, n).astype(dtype)
        x = source.copy()
        a = np.clip(source / 8 + 0.5, 0.01, 0.99).astype(dtype)
        delta = rng.standard_normal(n).astype(dtype)
        for name in ACTIVATIONS:
            code = ACTIVATION_CODES[name]

            def forward():
                np.copyto(x, source)
                _probes.activate_inplace(code, x)

            def copy_only():
                np.copyto(x, source)

            def derivative():
                _probes.derivative_mul_inplace(code, a, delta)

            # The refill keeps inputs in range; its cost is measured and removed.
            t_fwd = max(best_seconds(forward, rounds) - best_seconds(copy_only, rounds), 1e-12)
            t_der = best_seconds(derivative, rounds)
            # Keep the derivative's repeated products away from subnormals.
            delta[:] = rng.standard_normal(n)
            item = np.dtype(dtype).itemsize
            rows.append((path, np.dtype(dtype).name, name, n,
                         t_fwd / n * 1e9, 2 * n * item / t_fwd / 1e9,
                         t_der / n * 1e9, 3 * n * item / t_der / 1e9))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e3,1e4,1e5,1e6,1e7")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    before = _train.simd_active()
    print(f"paths on this CPU: {', '.join(_train.simd_paths())} (default {before})")
    print(f"{'path':>8} {'dtype':>7} {'activation':>10} {'n':>9} "
          f"{'fwd ns/el':>9} {'fwd GB/s':>8} {'der ns/el':>9} {'der GB/s':>8}")
    try:
        for path in _train.simd_paths():
            for dtype in (np.float32, np.float64):
                for r in measure(path, dtype, sizes, args.rounds):
                    print(f"{r[0]:>8} {r[1]:>7} {r[2]:>10} {r[3]:>9} "
                          f"{r[4]:>9.3f} {r[5]:>8.1f} {r[6]:>9.3f} {r[7]:>8.1f}")
    finally:
        _train.simd_select(before)


if __name__ == "__main__":
    main()
