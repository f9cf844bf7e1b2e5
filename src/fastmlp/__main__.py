"""``python -m fastmlp``: the ``fastmlp`` command (see ``fastmlp.cli``).

With no command it runs the main job: load the 1797 handwritten digits
(pixels scaled to [0, 1]), hold out a random 20% as a test set, train
``fastmlp.MLP([64, hidden, 10], activation="relu", loss="cross_entropy")``
with momentum SGD, printing the training objective and the train and test
accuracy after every epoch, then train ``fastmlp.reference.MLP`` with the
same arguments and seed (the same initial weights and shuffles), and report
how much faster fastmlp is. Everything runs offline and takes a few seconds.

The commands ``train``, ``predict`` and ``bench`` train on a data file, predict
with a saved model and time a training step. Run with ``--help`` for the
options.
"""
import sys

from fastmlp.cli import build_parser, main, run  # noqa: F401  (run, build_parser: the main job)

if __name__ == "__main__":
    sys.exit(main(prog="python -m fastmlp"))
