"""``fastmlp train`` at its defaults against scikit-learn's MLP at its own, on
five small tables: what a new user gets from each without choosing anything.

    python benchmarks/cli_defaults.py [--seeds N] [--sets iris,wine,...]
                                      [--json PATH] [-- TRAIN OPTIONS ...]

The data sets are scikit-learn's wine, breast_cancer, diabetes (regression:
the command runs with ``--loss mse``, the raw target), iris (its target
names as text labels) and digits, each written to a CSV file (target column
"target", last) in a temporary directory. For each seed s:

- the command: ``python -m fastmlp train FILE --quiet --seed s`` in a
  subprocess, with any TRAIN OPTIONS after ``--`` (to try other settings),
  its validation accuracy (R^2 for diabetes) read from its output, and the
  epochs it ran from the model it saved;
- scikit-learn: ``MLPClassifier(random_state=s)`` or ``MLPRegressor`` at
  their defaults, fit on the training rows' features scaled by a
  ``StandardScaler`` fitted on them (the command standardizes the same
  way), scored on the validation rows.

Both hold out the SAME rows: the split is the command's own function
(``fastmlp.cli.splits.validation_split``, its default fraction 0.2 and the
seed), and the command's reported counts are checked against it. Times are
wall-clock seconds: the command's include the interpreter's start-up and
reading the CSV file (printed once on its own, as "start-up"), scikit-learn's
are its fit alone. With several seeds every column is the mean over them.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

SETS = ("wine", "breast_cancer", "diabetes", "iris", "digits")
VAL_FRACTION = 0.2            # the command's default --val-fraction


def write_csv(name, where):
    """(path, X, y) of data set ``name`` written as CSV (target last)."""
    import pandas as pd
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    X, y = bunch.data, bunch.target
    if name == "iris":
        y = np.asarray(bunch.target_names)[y]
    frame = pd.DataFrame(X, columns=[str(n) for n in bunch.feature_names])
    frame["target"] = y
    path = os.path.join(where, f"{name}.csv")
    frame.to_csv(path, index=False)
    return path, X, y


def split(y, seed, regression):
    """The command's validation split of these rows."""
    from fastmlp.cli.splits import validation_split
    return validation_split(len(y), VAL_FRACTION, seed, None if regression else y)


def run_cli(path, seed, regression, extra, where):
    """(validation score, training rows, validation rows, epochs run,
    seconds) of one ``fastmlp train``."""
    import fastmlp

    model = os.path.join(where, "model.npz")
    argv = [sys.executable, "-m", "fastmlp", "train", path, "--quiet", "--seed", str(seed),
            "--save", model, *(["--loss", "mse"] if regression else []), *extra]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr}")
    out = done.stdout
    metric = "r2" if regression else "accuracy"
    score = re.search(rf"^validation \(\d+ rows\): .*\b{metric} (-?\d+\.\d+)", out, re.M)
    counts = re.search(r"(\d+) training and (\d+) validation rows", out)
    if not (score and counts):
        raise SystemExit(f"unexpected output of {' '.join(argv)}:\n{out}")
    epochs = len(fastmlp.load(model).network.history)
    return float(score.group(1)), int(counts.group(1)), int(counts.group(2)), epochs, seconds


def run_sklearn(X, y, train, val, seed, regression):
    """(validation score, iterations run, fit seconds) of scikit-learn's MLP
    at its defaults on standardized features."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X[train])
    model = (MLPRegressor if regression else MLPClassifier)(random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        started = time.perf_counter()
        model.fit(scaler.transform(X[train]), y[train])
        seconds = time.perf_counter() - started
    return model.score(scaler.transform(X[val]), y[val]), model.n_iter_, seconds


def startup_seconds():
    """Wall time of the command doing nothing but parse (the interpreter
    and the package's import)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fastmlp", "train", "--help"],
                   capture_output=True, check=True)
    return time.perf_counter() - started


def measure(name, seeds, extra, where):
    path, X, y = write_csv(name, where)
    regression = name == "diabetes"
    runs = []
    for seed in seeds:
        train, val = split(y, seed, regression)
        cli, n_train, n_val, epochs, cli_s = run_cli(path, seed, regression, extra, where)
        if (n_train, n_val) != (len(train), len(val)):
            raise SystemExit(f"{name}, seed {seed}: the command held out {n_val} rows, the "
                             f"split function {len(val)}")
        sk, iters, sk_s = run_sklearn(X, y, train, val, seed, regression)
        runs.append(dict(seed=seed, cli=cli, sklearn=sk, cli_epochs=epochs,
                         sklearn_iters=iters, cli_seconds=cli_s, sklearn_seconds=sk_s))
    mean = {key: float(np.mean([r[key] for r in runs])) for key in runs[0] if key != "seed"}
    return dict(name=name, rows=len(y), metric="r2" if regression else "accuracy",
                runs=runs, mean=mean)


def print_table(results, startup, seeds):
    head = ("data set", "rows", "metric", "cli", "sklearn", "cli - sk", "cli epochs",
            "sk iters", "cli s", "sk s")
    rows = [(r["name"], str(r["rows"]), r["metric"], f"{r['mean']['cli']:.4f}",
             f"{r['mean']['sklearn']:.4f}", f"{r['mean']['cli'] - r['mean']['sklearn']:+.4f}",
             f"{r['mean']['cli_epochs']:.0f}", f"{r['mean']['sklearn_iters']:.0f}",
             f"{r['mean']['cli_seconds']:.2f}", f"{r['mean']['sklearn_seconds']:.2f}")
            for r in results]
    widths = [max(len(x[j]) for x in (head, *rows)) for j in range(len(head))]
    for line in (head, *rows):
        print("  ".join(c.ljust(w) if j == 0 else c.rjust(w)
                        for j, (c, w) in enumerate(zip(line, widths))))
    print(f"validation scores on the same rows (fraction {VAL_FRACTION}), mean over seeds "
          f"{', '.join(map(str, seeds))}; cli s: wall time of the command (start-up alone: "
          f"{startup:.2f} s), sk s: scikit-learn's fit")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    extra = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=1,
                        help="seeds 0..N-1, each a split, an initialization and "
                             "shuffles (default: 1)")
    parser.add_argument("--sets", default=",".join(SETS),
                        help="comma-separated data sets (default: all five)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    names = args.sets.split(",")
    unknown = sorted(set(names) - set(SETS))
    if unknown:
        parser.error(f"unknown data sets {unknown}; choose from {', '.join(SETS)}")
    seeds = list(range(args.seeds))
    startup = startup_seconds()
    with tempfile.TemporaryDirectory() as where:
        results = [measure(name, seeds, extra, where) for name in names]
    if extra:
        print(f"train options: {' '.join(extra)}")
    print_table(results, startup, seeds)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(train_options=extra, seeds=seeds, startup_seconds=startup,
                           results=results), f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
