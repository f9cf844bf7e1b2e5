"""One BLAS thread or two? Per-step training time of fastmlp at each count.

Measures the training step (an epoch of fit's kernel call, divided by its
steps) with the BLAS limited to 1 and to 2 threads, interleaved in rounds,
minimum over rounds, for networks from tiny to large; prints the GEMM
flops per step (fastmlp.mlp.step_flops) beside the ratio. This is why fit
leaves the BLAS thread count alone (a second thread was never slower).

    python benchmarks/threads.py [--rounds 5]
"""
import argparse
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import fastmlp
from fastmlp.training.settings import FitData, fit_settings
from fastmlp.inputs.validation import check_X, check_y
from fastmlp.mlp import step_flops

CONFIGS = [
    ([64, 32, 10], 32),
    ([784, 64, 10], 32),
    ([784, 128, 10], 64),
    ([784, 256, 10], 128),
    ([784, 512, 10], 128),
    ([784, 512, 256, 10], 128),
    ([784, 512, 256, 10], 256),
    ([1024, 2048, 2048, 10], 512),
]


def epoch_seconds_per_step(sizes, rows, threads, rounds):
    steps = max(2, int(2e8 / step_flops(sizes, rows)))
    steps = min(steps, 2000)
    rng = np.random.default_rng(0)
    n = rows * steps
    X = rng.standard_normal((n, sizes[0]))
    y = rng.integers(0, sizes[-1], n)
    net = fastmlp.MLP(sizes, loss="cross_entropy", seed=0)
    Xc = check_X(X, sizes[0], net.dtype)
    Y = check_y(y, n, "cross_entropy", sizes[-1], net.dtype)
    loop = net._epochs(FitData(Xc, Y, None), fit_settings(net, Xc, y, rows, 0.9))
    best = {t: np.inf for t in threads}
    for _ in range(rounds):
        for t in threads:
            with threadpool_limits(t, user_api="blas"):
                perm = net.rng.permutation(n)
                start = time.perf_counter()
                loop.run(perm, 1e-3)
                best[t] = min(best[t], (time.perf_counter() - start) / steps)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for lib in threadpool_info():
        if lib["user_api"] == "blas":
            print(f"# {lib['internal_api']} {lib['version']} {lib['architecture']} "
                  f"max threads {lib['num_threads']}: {lib['filepath']}")
    print(f"{'config':>26} {'batch':>5} {'MFLOP/step':>10} {'1 thread us':>11} "
          f"{'2 threads us':>12} {'2t/1t':>6}")
    for sizes, rows in CONFIGS:
        best = epoch_seconds_per_step(sizes, rows, (1, 2), args.rounds)
        print(f"{'-'.join(map(str, sizes)):>26} {rows:>5} {step_flops(sizes, rows) / 1e6:>10.1f} "
              f"{best[1] * 1e6:>11.1f} {best[2] * 1e6:>12.1f} {best[2] / best[1]:>6.2f}")


if __name__ == "__main__":
    main()
