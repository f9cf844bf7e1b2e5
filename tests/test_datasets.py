"""fastmlp.datasets.stratified_split_indices: each class's share in both
parts (against scikit-learn's stratified splits), a training row for every
class, determinism by seed, and its refusals."""
import numpy as np
import pytest

from fastmlp.datasets import stratified_split_indices

model_selection = pytest.importorskip("sklearn.model_selection")


def _counts(labels, idx, classes):
    return np.array([np.sum(labels[idx] == c) for c in classes])


def _imbalanced(rng):
    """Labels of a few classes of very different sizes, shuffled."""
    sizes = rng.integers(2, 60, size=rng.integers(2, 7))
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return rng.permutation(labels)


@pytest.mark.parametrize("case", range(40))
def test_class_shares_match_scikit_learn(case):
    rng = np.random.default_rng(case)
    labels = _imbalanced(rng)
    fraction = float(rng.choice([0.1, 0.2, 0.25, 0.3, 0.5]))
    classes = np.unique(labels)
    train, test = stratified_split_indices(labels, fraction, seed=case)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])),
                                  np.arange(len(labels)))
    assert train.dtype == np.int64 and test.dtype == np.int64
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    ours = _counts(labels, test, classes)
    # scikit-learn's two stratified splits, on the same labels.
    sss = model_selection.StratifiedShuffleSplit(n_splits=1, test_size=fraction,
                                                 random_state=case)
    _, their_test = next(sss.split(np.zeros(len(labels)), labels))
    _, tts_test = model_selection.train_test_split(np.arange(len(labels)),
                                                   test_size=fraction, stratify=labels,
                                                   random_state=case)
    for theirs in (their_test, tts_test):
        assert np.all(np.abs(ours - _counts(labels, theirs, classes)) <= 1), (
            ours, _counts(labels, theirs, classes))
    # The rule itself: round(fraction * count) of each class, one left to train.
    sizes = _counts(labels, np.arange(len(labels)), classes)
    expected = np.minimum(np.round(fraction * sizes), sizes - 1)
    np.testing.assert_array_equal(ours, expected)


def test_every_class_keeps_a_training_row():
    labels = np.array([0, 0, 1, 1, 1, 2] + [3] * 10)
    train, test = stratified_split_indices(labels, 0.9, seed=0)
    # Classes of 2 and 3 rows give one and two rows to the test part; the
    # class of one row stays whole in training.
    np.testing.assert_array_equal(_counts(labels, train, range(4)), [1, 1, 1, 1])
    np.testing.assert_array_equal(_counts(labels, test, range(4)), [1, 2, 0, 9])


def test_a_tiny_fraction_still_holds_out_a_row_of_the_largest_class():
    labels = np.array([0] * 5 + [1] * 9 + [2] * 5)
    train, test = stratified_split_indices(labels, 0.01, seed=3)
    assert len(test) == 1 and labels[test[0]] == 1


def test_deterministic_by_seed_and_random_within_class():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 200)
    a = stratified_split_indices(labels, 0.25, seed=7)
    b = stratified_split_indices(labels, 0.25, seed=7)
    c = stratified_split_indices(labels, 0.25, seed=8)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[1], c[1])
    # Not each class's first or last rows: every row is held out by some seed.
    held = np.zeros(len(labels), dtype=bool)
    for seed in range(40):
        held[stratified_split_indices(labels, 0.25, seed=seed)[1]] = True
    assert held.all()
    # A Generator is taken as a seed.
    g = stratified_split_indices(labels, 0.25, seed=np.random.default_rng(7))
    np.testing.assert_array_equal(g[1], a[1])


def test_labels_of_any_kind_give_the_same_split():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 4, 90)
    names = np.array(["virginica", "setosa", "versicolor", "other"])[codes]
    shifted = codes * 10 - 7
    by_codes = stratified_split_indices(codes, 0.3, seed=5)
    for labels in (names, shifted, list(names)):
        split = stratified_split_indices(labels, 0.3, seed=5)
        np.testing.assert_array_equal(split[1], by_codes[1])


@pytest.mark.parametrize("labels, fraction, message", [
    (np.zeros((4, 2)), 0.2, "1-D"),
    (np.array([1]), 0.2, "at least 2 rows"),
    (np.arange(10) % 2, 0.0, r"\(0, 1\)"),
    (np.arange(10) % 2, 1.0, r"\(0, 1\)"),
    (np.arange(10) % 2, float("nan"), r"\(0, 1\)"),
    (np.arange(5), 0.5, "single row"),
])
def test_refusals(labels, fraction, message):
    with pytest.raises(ValueError, match=message):
        stratified_split_indices(labels, fraction, seed=0)
