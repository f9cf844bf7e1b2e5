"""The main job, run with no command: the bundled digits.

Trains ``fastmlp.MLP`` on an 80/20 split of the handwritten digits, printing
the objective and the train and test accuracy after every epoch, then
``fastmlp.reference.MLP`` with the same arguments and seed (so the same
initial weights and shuffles: the objectives must agree to rounding), and
reports the speed-up from the best of a few fresh trainings of each, each
trained by one ``fit`` call so that the per-epoch evaluation is not timed.
"""
import sys
import textwrap
import time

import numpy as np

from .parser import (_COMMANDS_HELP, _EpilogAsIs, _Parser, _positive_float, _positive_int,
                     _unit_interval)
from .status import EXIT_STATUS_HELP

TEST_FRACTION = 0.2


def build_parser(prog="python -m fastmlp"):
    """The options of the main job (the digits)."""
    parser = _Parser(
        prog=prog,
        description="Train fastmlp.MLP on the bundled handwritten digits (80/20 split), "
                    "then the NumPy reference with the same arguments and seed, and "
                    "print the speed-up.",
        epilog=_COMMANDS_HELP.format(prog=prog) + "\n\n" + textwrap.fill(EXIT_STATUS_HELP, 79),
        formatter_class=_EpilogAsIs,
    )
    parser.add_argument("--epochs", type=_positive_int, default=30,
                        help="training epochs (default: %(default)s)")
    parser.add_argument("--hidden", type=_positive_int, default=64,
                        help="units in the relu hidden layer (default: %(default)s)")
    parser.add_argument("--lr", type=_positive_float, default=0.2,
                        help="learning rate (default: %(default)s)")
    parser.add_argument("--batch-size", type=_positive_int, default=32,
                        help="mini-batch size (default: %(default)s)")
    parser.add_argument("--momentum", type=_unit_interval, default=0.9,
                        help="momentum in v = m*v + (1-m)*g (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the split, the initial weights and the shuffles "
                             "(default: %(default)s)")
    parser.add_argument("--repeats", type=_positive_int, default=3,
                        help="timed trainings per implementation; the best time counts "
                             "(default: %(default)s)")
    return parser


def _accuracy(net, X, y):
    return float(np.mean(net.predict(X) == y))


def _new_net(cls, args):
    return cls([64, args.hidden, 10], activation="relu", loss="cross_entropy",
               seed=args.seed)


def _fit_kwargs(args, epochs):
    return dict(epochs=epochs, batch_size=args.batch_size, lr=args.lr,
                momentum=args.momentum)


def _train_by_epoch(cls, args, data, report):
    """Train one epoch per fit call; ``report(epoch, net, seconds)`` after each."""
    X_train, y_train = data
    net = _new_net(cls, args)
    total = 0.0
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        net.fit(X_train, y_train, **_fit_kwargs(args, 1))
        seconds = time.perf_counter() - start
        total += seconds
        report(epoch, net, seconds)
    return net, total


def _best_time(cls, args, data):
    """Best wall time of ``args.repeats`` fresh trainings with one fit call each."""
    X_train, y_train = data
    best = float("inf")
    for _ in range(args.repeats):
        net = _new_net(cls, args)
        start = time.perf_counter()
        net.fit(X_train, y_train, **_fit_kwargs(args, args.epochs))
        best = min(best, time.perf_counter() - start)
    return best


def run(args, out=None):
    """The main job with parsed ``args``; returns the fastmlp test accuracy."""
    import fastmlp
    from fastmlp import reference
    from fastmlp.datasets import load_digits, train_test_split_indices

    out = out if out is not None else sys.stdout

    def say(*parts):
        print(*parts, file=out, flush=True)

    X, y = load_digits()
    train_idx, test_idx = train_test_split_indices(len(X), TEST_FRACTION, args.seed)
    X_train, y_train = X[train_idx], y[train_idx]
    X_test, y_test = X[test_idx], y[test_idx]
    data = (X_train, y_train)

    say(f"fastmlp {fastmlp.__version__}: handwritten digits, {len(train_idx)} training "
        f"and {len(test_idx)} test rows (seed {args.seed})")
    say(f"MLP([64, {args.hidden}, 10], activation='relu', loss='cross_entropy', "
        f"seed={args.seed}); fit: batch_size={args.batch_size}, lr={args.lr}, "
        f"momentum={args.momentum}")
    say(f"{'epoch':>5}  {'objective':>9}  {'train_acc':>9}  {'test_acc':>8}  {'seconds':>8}")

    def report(epoch, net, seconds):
        say(f"{epoch:5d}  {net.history[-1]:9.4f}  {_accuracy(net, X_train, y_train):9.4f}  "
            f"{_accuracy(net, X_test, y_test):8.4f}  {seconds:8.4f}")

    net, fast_total = _train_by_epoch(fastmlp.MLP, args, data, report)
    test_acc = _accuracy(net, X_test, y_test)
    n_right = int(round(test_acc * len(test_idx)))
    say(f"fastmlp test accuracy: {test_acc:.4f} ({n_right}/{len(test_idx)}), "
        f"training time {fast_total:.4f} s")

    ref, ref_total = _train_by_epoch(reference.MLP, args, data, lambda *a: None)
    ref_acc = _accuracy(ref, X_test, y_test)
    drift = float(np.max(np.abs(np.subtract(net.history, ref.history))))
    say(f"reference test accuracy: {ref_acc:.4f}, training time {ref_total:.4f} s, "
        f"max |objective difference| per epoch vs fastmlp: {drift:.2e}")

    fast_best = _best_time(fastmlp.MLP, args, data)
    ref_best = _best_time(reference.MLP, args, data)
    say(f"training time, best of {args.repeats} runs of {args.epochs} epochs: "
        f"fastmlp {fast_best:.4f} s, reference {ref_best:.4f} s")
    say(f"speed-up (reference time / fastmlp time): {ref_best / fast_best:.1f}x")
    return test_acc


def _main_job(argv, prog):
    """Parse ``argv`` and run the digits job; its errors, like the commands',
    are left to ``status.run_job``."""
    run(build_parser(prog).parse_args(argv))
    return 0

