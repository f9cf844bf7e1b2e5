"""Per-step time of fastmlp vs its GEMM floor vs the NumPy reference, with targets.

    python benchmarks/report.py [--configs tiny,small] [--repeat N] [--json PATH]

Everything runs in this one process with one BLAS thread
(``threadpool_limits(1, user_api="blas")``). For each config the three
measurements (fastmlp epoch, GEMM floor, reference epoch; see configs.py)
are interleaved: every round times one block of each, in an order that
rotates from round to round, so that a burst of load from another process
hits all three alike rather than one of them. The reported per-step time is
the MINIMUM over rounds of (block time / steps in the block); the median is
kept too (JSON, and the "noise" column: how far the worst kind's median is
above its minimum). The ratio fastmlp/floor is the ratio of the minima;
"paired" is the median over rounds of the per-round ratio, a cross-check
that does not depend on one lucky round. The garbage collector is off
during the timed blocks.

The measurement and the table are ``fastmlp.cli.bench`` (shared with the
installed ``fastmlp bench`` command, which times the reference only with
``--reference`` and shows no targets). The targets, the "target" and "met"
columns and ``--strict`` are this report's: see targets.py.
"""
import argparse
import sys

from fastmlp.cli import bench as _bench

import targets


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _bench.add_arguments(p)
    p.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = p.parse_args(argv)
    try:
        chosen = _bench.prepare(args.configs, args.repeat, args.simd)
    except ValueError as exc:
        p.error(str(exc))
    return _bench.run_report(chosen, args.repeat, kinds=_bench.KINDS, json_path=args.json,
                             targets=targets.TARGETS, strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
