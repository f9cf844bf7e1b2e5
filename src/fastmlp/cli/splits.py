"""The validation split of ``fastmlp train``, as one function that other
code (benchmarks/cli_defaults.py) can call to hold out the same rows.

A classifier's rows are held out class by class (fastmlp.datasets.
stratified_split_indices), so that a small class is neither missing from
the validation rows nor from the training rows; a regression target has
no classes, and its rows are held out at random
(``train_test_split_indices``). Either way the split is fixed by the seed.
"""
import numpy as np

from fastmlp.datasets import stratified_split_indices, train_test_split_indices


def classes_to_split(loss, y):
    """The classes to split ``y`` (train's targets for ``loss``) by: the
    targets themselves for one column of class codes or 0/1 targets, else
    None (regression, several binary outputs)."""
    if loss in ("cross_entropy", "binary_cross_entropy") and y.ndim == 1:
        return y
    return None


def validation_split(n, fraction, seed, classes=None):
    """(training rows, validation rows) of n rows, holding out ``fraction``
    of them (none for 0); ``classes``: each row's class (any labels, (n,)),
    to hold out each class's share, or None for a plain random split.
    Raises ValueError when the rows cannot be split."""
    if fraction == 0:
        return np.arange(n), np.arange(0)
    if classes is not None:
        return stratified_split_indices(classes, fraction, seed)
    return train_test_split_indices(n, fraction, seed)
