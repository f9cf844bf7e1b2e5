"""Reading a large CSV file: fastmlp's reader and preprocessing against pandas alone.

    python benchmarks/csv_read.py [--rows 200000] [--columns 50] [--rounds 3]

The file: ``rows`` x ``columns`` random floats (the last column the target)
written by pandas' ``DataFrame.to_csv`` into a temporary directory (about
195 MB at the defaults). Each measurement is one child process, timed
from outside (wall time of the whole process, interpreter start and
imports included) and from inside (the work alone, after the imports), with
its peak resident memory from ``os.wait4`` (this child's own ru_maxrss,
not the largest of every child so far as RUSAGE_CHILDREN would give):

- ``import pandas``, ``import fastmlp``: the imports alone, nothing read
  (the floors under the rows below: the pandas rows import pandas only,
  the fastmlp rows fastmlp's command line, which imports pandas too);
- ``pandas c``: ``pandas.read_csv(path)``, its default engine;
- ``pandas pyarrow``: ``pandas.read_csv(path, engine="pyarrow")``;
- ``fastmlp prepare``: what ``fastmlp train`` does before the model is
  built, ``cli.training._Prepared`` (``read_table`` with the last column
  as the target, the split, the Preprocessor fit on the training rows and
  the transform of every row);
- ``fastmlp train``: ``python -m fastmlp train FILE --loss mse --epochs 1
  --quiet`` whole (one epoch of training included).

Rounds are interleaved (every child once per round); each row reports the
best of the rounds, and the ratios to ``pandas c`` (the baseline: pandas'
read_csv as a person calls it) and to ``pandas pyarrow`` (the engine
fastmlp's reader uses when pyarrow is installed).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

CHILDREN = ("import pandas", "import fastmlp", "pandas c", "pandas pyarrow", "fastmlp prepare", "fastmlp train")


def make_file(path, rows, columns, seed=0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.standard_normal((rows, columns)),
                         columns=[f"c{j}" for j in range(columns)])
    frame.to_csv(path, index=False)


def child(kind, path):
    """Run one measurement in this process; print the inner seconds."""
    if kind.startswith("pandas") or kind == "import pandas":
        import pandas as pd
    else:
        from fastmlp.cli import training
        from fastmlp.cli.parser import command_parser
        from fastmlp.cli.readers import _pandas
        _pandas(path)       # the reader imports pandas when it reads

    started = time.perf_counter()
    if kind == "pandas c":
        pd.read_csv(path)
    elif kind == "pandas pyarrow":
        pd.read_csv(path, engine="pyarrow")
    elif kind == "fastmlp prepare":
        args = command_parser("fastmlp", "train").parse_args([path, "--loss", "mse"])
        training._Prepared(args, training.OneProcess())
    elif not kind.startswith("import "):
        raise SystemExit(f"unknown child {kind!r}")
    print(f"inner {time.perf_counter() - started!r}")


def measure(kind, path):
    """(wall seconds, inner seconds or None, peak MB) of one child."""
    if kind == "fastmlp train":
        argv = [sys.executable, "-m", "fastmlp", "train", path, "--loss", "mse",
                "--epochs", "1", "--quiet"]
    else:
        argv = [sys.executable, __file__, "--child", kind, path]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # wait4 gives this child's own rusage; communicate first would reap it.
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{kind}: exit {proc.returncode}: {err.decode()[-2000:]}")
    inner = None
    for line in out.decode().splitlines():
        if line.startswith("inner "):
            inner = float(line.split()[1])
    return wall, inner, usage.ru_maxrss / 1024      # ru_maxrss: KiB on Linux


def report(best):
    def ratio(a, b):
        return f"{a / b:5.2f}x" if a is not None and b else "    -"

    base_c, base_a = best["pandas c"], best["pandas pyarrow"]
    print(f"{'':16} {'wall s':>7} {'inner s':>8} {'peak MB':>8}   "
          f"{'/ pandas c (wall, inner, MB)':>30}   {'/ pandas pyarrow':>22}")
    for kind in CHILDREN:
        wall, inner, mb = best[kind]
        inner_text = f"{inner:8.2f}" if inner is not None else "       -"
        vs_c = (f"{ratio(wall, base_c[0])} {ratio(inner, base_c[1])} "
                f"{ratio(mb, base_c[2])}")
        vs_a = (f"{ratio(wall, base_a[0])} {ratio(inner, base_a[1])} "
                f"{ratio(mb, base_a[2])}")
        print(f"{kind:16} {wall:7.2f} {inner_text} {mb:8.0f}   {vs_c:>30}   {vs_a:>22}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--columns", type=int, default=50)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    p.add_argument("--make", nargs=3, metavar=("PATH", "ROWS", "COLUMNS"),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.make:
        return make_file(args.make[0], int(args.make[1]), int(args.make[2]))
    if args.child:
        return child(*args.child)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.csv")
        # In a child: Linux carries a process's peak memory across exec, so
        # the parent stays small for its children's ru_maxrss to be their own.
        subprocess.run([sys.executable, __file__, "--make", path, str(args.rows),
                        str(args.columns)], check=True)
        print(f"{path}: {args.rows:,} rows x {args.columns} columns, "
              f"{os.path.getsize(path) / 1e6:.0f} MB; best of {args.rounds} rounds")
        best = {}
        for _ in range(args.rounds):
            for kind in CHILDREN:
                wall, inner, mb = measure(kind, path)
                old = best.get(kind)
                best[kind] = (wall, inner, mb) if old is None else (
                    min(old[0], wall), None if inner is None else min(old[1], inner),
                    min(old[2], mb))
        report(best)


if __name__ == "__main__":
    main()
