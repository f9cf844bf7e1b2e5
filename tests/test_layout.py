"""fastmlp.network.layout.Layout: the canonical layout (every W_l row-major in its
(n_{l+1}, n_l) shape, then every b_l) and the conversions to and from it,
for the plain and the first-transposed memory layouts."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastmlp.network.layout import Layout

# Deterministic, so that a failure in CI is the same failure locally.
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None)

sizes_st = st.lists(st.integers(1, 7), min_size=2, max_size=5)


def _canonical_by_hand(sizes, weights, biases):
    return np.concatenate([np.asarray(w).ravel() for w in weights] + list(biases))


def _random(n, dtype, seed):
    # Distinct values everywhere, so a misplaced entry cannot go unnoticed.
    return np.random.default_rng(seed).permutation(n).astype(dtype) + dtype(0.5)


@SETTINGS
@given(sizes=sizes_st, transposed=st.booleans(), seed=st.integers(0, 2**32 - 1),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_from_canonical_undoes_to_canonical(sizes, transposed, seed, dtype):
    layout = Layout(sizes, first_transposed=transposed)
    flat = _random(layout.n_params, dtype, seed)
    canonical = layout.to_canonical(flat)
    assert canonical.dtype == dtype and canonical.shape == flat.shape
    assert not np.shares_memory(canonical, flat)
    back = np.zeros_like(flat)
    layout.from_canonical(canonical, back)
    np.testing.assert_array_equal(back, flat)


@SETTINGS
@given(sizes=sizes_st, transposed=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_to_canonical_is_the_views_in_order(sizes, transposed, seed):
    layout = Layout(sizes, first_transposed=transposed)
    flat = _random(layout.n_params, np.float64, seed)
    expected = _canonical_by_hand(sizes, layout.weight_views(flat), layout.bias_views(flat))
    np.testing.assert_array_equal(layout.to_canonical(flat), expected)


@SETTINGS
@given(sizes=sizes_st, transposed=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_views_after_from_canonical_are_the_canonical_blocks(sizes, transposed, seed):
    layout = Layout(sizes, first_transposed=transposed)
    canonical = _random(layout.n_params, np.float64, seed)
    flat = np.full(layout.n_params, np.nan)
    weights, biases = layout.weight_views(flat), layout.bias_views(flat)  # taken before
    layout.from_canonical(canonical, flat)
    pos = 0
    for l in range(len(sizes) - 1):
        n = sizes[l] * sizes[l + 1]
        np.testing.assert_array_equal(
            weights[l], canonical[pos:pos + n].reshape(sizes[l + 1], sizes[l]))
        pos += n
    for l in range(len(sizes) - 1):
        np.testing.assert_array_equal(biases[l], canonical[pos:pos + sizes[l + 1]])
        pos += sizes[l + 1]
    assert pos == layout.n_params
    np.testing.assert_array_equal(layout.to_canonical(flat), canonical)


@SETTINGS
@given(sizes=sizes_st, seed=st.integers(0, 2**32 - 1))
def test_both_layouts_agree_on_the_canonical_form(sizes, seed):
    plain, transposed = Layout(sizes), Layout(sizes, first_transposed=True)
    canonical = _random(plain.n_params, np.float64, seed)
    a, b = np.empty(plain.n_params), np.empty(plain.n_params)
    plain.from_canonical(canonical, a)
    transposed.from_canonical(canonical, b)
    for wa, wb in zip(plain.weight_views(a), transposed.weight_views(b)):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(transposed.to_canonical(b), plain.to_canonical(a))


def test_plain_layout_is_canonical_and_transposed_is_not():
    sizes = [3, 4, 2]
    flat = np.arange(Layout(sizes).n_params, dtype=np.float64)
    np.testing.assert_array_equal(Layout(sizes).to_canonical(flat), flat)
    transposed = Layout(sizes, first_transposed=True)
    canonical = transposed.to_canonical(flat)
    # W_0 is held as W_0^T: memory order 0..11 is the (3, 4) array W_0^T,
    # so canonical (row-major W_0, shape (4, 3)) reads it column by column.
    np.testing.assert_array_equal(canonical[:12], np.arange(12).reshape(3, 4).T.ravel())
    np.testing.assert_array_equal(canonical[12:], flat[12:])


def test_wrong_sizes_are_rejected():
    layout = Layout([3, 4, 2])
    with pytest.raises(ValueError, match="flat must be a 1-D array of 26 values"):
        layout.to_canonical(np.zeros(25))
    with pytest.raises(ValueError, match="canonical must be a 1-D array of 26 values"):
        layout.from_canonical(np.zeros((2, 13)), np.zeros(26))
    with pytest.raises(ValueError, match="flat must be a 1-D array of 26 values"):
        layout.from_canonical(np.zeros(26), [0.0] * 26)
