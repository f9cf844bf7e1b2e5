"""Prediction latency on the digits network (64-64-10, relu, softmax): one
row and 256 rows, for fastmlp.MLP.forward, fastmlp.sklearn's and
scikit-learn's MLPClassifier.predict_proba, and onnxruntime running
fastmlp's exported graph (net.to_onnx()).

    python benchmarks/latency.py [--repeat 15]

One BLAS thread (threadpoolctl), onnxruntime with one intra-op and one
inter-op thread. Every round times a block of calls of each contender, in an
order that rotates from round to round; the figure is the minimum over
rounds of the time per call (the median beside it), in microseconds. All
contenders are fitted on the same digits rows and must agree (argmax of the
probabilities) before anything is timed. ``benchmarks/test_latency.py``
runs the same calls under pytest-benchmark.
"""
import argparse
import gc
import sys
import time
import warnings

import numpy as np

from fastmlp.cli import bench as _bench

CONTENDERS = ("fastmlp.MLP.forward", "fastmlp.sklearn predict_proba",
              "scikit-learn predict_proba", "onnxruntime")
ROWS = (1, 256)


def build(seed=0):
    """{contender: fn(X)} on float32 digits, and the test rows."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SkMLP

    import fastmlp
    from fastmlp.datasets import load_digits
    from fastmlp.sklearn import MLPClassifier as FastSkMLP

    X, y = load_digits()
    X = X.astype(np.float32)
    net = fastmlp.MLP([64, 64, 10], activation="relu", loss="cross_entropy", seed=seed)
    net.fit(X, y, epochs=10, batch_size=32, lr=0.2, momentum=0.9)
    kw = dict(hidden_layer_sizes=(64,), max_iter=10, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fast_sk = FastSkMLP(**kw).fit(X, y)
        sk = SkMLP(**kw).fit(X, y)
    calls = {"fastmlp.MLP.forward": net.forward,
             "fastmlp.sklearn predict_proba": fast_sk.predict_proba,
             "scikit-learn predict_proba": sk.predict_proba}
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    if ort is not None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = ort.InferenceSession(net.to_onnx().SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        calls["onnxruntime"] = lambda x: session.run(["Y"], {"X": x})[0]
    # The same models must give the same answers: the exported graph as the
    # network, the drop-in estimator as scikit-learn's.
    for a, b in (("onnxruntime", "fastmlp.MLP.forward"),
                 ("fastmlp.sklearn predict_proba", "scikit-learn predict_proba")):
        if a in calls:
            np.testing.assert_allclose(calls[a](X[:256]), calls[b](X[:256]), rtol=1e-4,
                                       atol=1e-5, err_msg=f"{a} against {b}")
    return calls, X


def measure(calls, X, rows, repeat):
    x = np.ascontiguousarray(X[:rows])
    names = list(calls)
    per_call = {n: [] for n in names}
    block = max(20, 20000 // rows)
    for r in range(repeat):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            fn = calls[name]
            gc.disable()
            start = time.perf_counter()
            for _ in range(block):
                fn(x)
            elapsed = time.perf_counter() - start
            gc.enable()
            per_call[name].append(elapsed / block * 1e6)
    return {n: (min(v), float(np.median(v))) for n, v in per_call.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=15)
    args = p.parse_args(argv)
    with _bench.blas_single_thread():
        calls, X = build()
        print(_bench.machine_summary()["cpu"], "| one BLAS thread")
        print(f"{'contender':32s}" + "".join(f"{f'{r} row(s) us (median)':>26s}" for r in ROWS))
        results = {r: measure(calls, X, r, args.repeat) for r in ROWS}
        for name in calls:
            cells = "".join(f"{results[r][name][0]:>14.1f} ({results[r][name][1]:>8.1f})"
                            for r in ROWS)
            print(f"{name:32s}{cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
