"""median_p90 equals numpy's median and 0.9 quantile exactly (it replaces two partitions)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journeymap.measure.kernels.buckets import bucket_counts
from journeymap.measure.stats import _UPPER, median_p90

VALUES = st.lists(st.one_of(st.integers(0, 10**7).map(float),
                            st.floats(0, 1e9, allow_nan=False, allow_infinity=False)),
                  min_size=1, max_size=60)


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_same_as_numpy(values):
    a = np.array(values, np.float64)
    median, p90 = median_p90(a.copy())
    assert median == float(np.median(a))
    assert p90 == float(np.quantile(a, 0.9))


def test_large_random_arrays():
    rng = np.random.default_rng(7)
    for n in (1, 2, 9, 10, 11, 1000, 100_001):
        a = rng.exponential(3600, n).round(6)
        assert median_p90(a) == (float(np.median(a)), float(np.quantile(a, 0.9)))


EDGES = st.sampled_from([float(x) for x in _UPPER] + [-1.0, 1e12, float("nan"), float("inf")])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(EDGES, st.floats(-10, 4e6)), max_size=80))
def test_bucket_counts_equal_searchsorted(values):
    a = np.array(values, np.float64)
    expected = np.bincount(np.searchsorted(_UPPER, a, side="right"), minlength=len(_UPPER) + 1)
    assert bucket_counts(a, _UPPER).tolist() == expected.tolist()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(1, 400), min_size=1, max_size=8), st.integers(0, 3), st.integers(0, 2**32 - 1),
       st.booleans())
def test_many_groups_same_as_numpy(sizes, shape, seed, in_place):
    """The compiled median/p90 of many groups (a sort for small ones, two selections for
    large ones, copied or where they lie): numpy's numbers for each group, bit for bit,
    on random, few-valued (many ties), sorted and reversed groups."""
    from journeymap.measure.kernels.buckets import median_p90_of_groups
    rng = np.random.default_rng(seed)
    total = sum(sizes)
    values = [rng.random(total) * 1e4, rng.integers(0, 4, total).astype(float),
              np.sort(rng.random(total)), np.sort(rng.random(total))[::-1].copy()][shape]
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    counts = np.array(sizes, np.int64)
    groups = [values[a:a + n].copy() for a, n in zip(starts, counts)]
    median, p90 = np.empty(len(sizes)), np.empty(len(sizes))
    median_p90_of_groups(values, starts, counts, median, p90, in_place)
    assert median.tolist() == [np.median(g) for g in groups]
    assert p90.tolist() == [np.quantile(g, 0.9) for g in groups]


@pytest.mark.parametrize("rounds", [0, 1, 3, 64])
def test_selection_sorts_a_range_that_does_not_settle(rounds):
    """Quickselect gives up after `rounds` partitions and sorts what is left: the same
    order statistic, whichever way it got there."""
    from journeymap.measure.kernels.buckets import _select
    rng = np.random.default_rng(rounds)
    for values in (rng.random(5000), np.tile(np.arange(50.0), 100), np.arange(3000.0)[::-1].copy()):
        for k in (0, 1, len(values) // 2, len(values) - 1):
            a = values.copy()
            _select(a, k, 0, len(a) - 1, rounds)
            assert a[k] == np.sort(values)[k]
            assert (a[:k] <= a[k]).all() and (a[k + 1:] >= a[k]).all()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(128, 5000), min_size=1, max_size=4), st.integers(0, 6), st.integers(0, 2**32 - 1),
       st.booleans())
def test_large_groups_counted_in_bins_same_as_numpy(sizes, shape, seed, in_place):
    """Groups from RADIX_MIN values on are counted into bins rather than reordered: numpy's
    median and 0.9 quantile still, on values spread over many magnitudes, negative and
    positive zeros, two values only, whole seconds with many ties, one outlier, and with
    an infinity or NaN (those groups are left to the selection)."""
    from journeymap.measure.kernels.buckets import (
        RADIX_MIN,
        from_order_stats,
        median_p90_of_groups,
        order_ranks,
    )
    assert min(sizes) >= RADIX_MIN
    rng = np.random.default_rng(seed)
    total = sum(sizes)
    values = [np.exp(rng.uniform(-690, 690, total)) * rng.choice([-1.0, 1.0], total),
              rng.choice([-0.0, 0.0, 1.0, -2.5], total),
              rng.choice([3.0, 1e300], total),
              rng.exponential(3600, total).round(),
              np.append(np.full(total - 1, 7.0), 1e9),
              np.where(rng.random(total) < 0.01, np.inf, rng.random(total)),
              np.where(rng.random(total) < 0.01, np.nan, rng.random(total))][shape]
    rng.shuffle(values)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    counts = np.array(sizes, np.int64)
    groups = [values[a:a + n].copy() for a, n in zip(starts, counts)]
    median, p90 = np.empty(len(sizes)), np.empty(len(sizes))
    median_p90_of_groups(values, starts, counts, median, p90, in_place)
    for g, m, p in zip(groups, median, p90):
        if np.isnan(g).any():  # read off numpy's sort order, NaN last (see the kernel)
            s = np.sort(g)
            assert [m, p] == list(from_order_stats(len(g), *s[list(order_ranks(len(g)))]))
        else:
            assert np.array_equal([m, p], [np.median(g), np.quantile(g, 0.9)])


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 3000), st.integers(0, 2**32 - 1), st.integers(0, 3))
def test_radix_order_statistics_are_the_sorted_values(n, seed, shape):
    """Any two neighbouring ranks, read off the bins, are the values a sort puts there."""
    from journeymap.measure.kernels.buckets import RADIX_BINS, _radix_order_stats
    rng = np.random.default_rng(seed)
    a = [rng.normal(0, 1, n), rng.integers(-3, 3, n).astype(float), rng.random(n) * 1e-300,
         np.sort(rng.random(n))][shape]
    r0 = int(rng.integers(0, n - 1))
    r2 = int(rng.integers(0, n - 1))
    got = _radix_order_stats(a, r0, r0 + 1, r2, r2 + 1, np.empty(RADIX_BINS, np.int64),
                             np.empty(2 * n, np.uint64), np.empty(4, np.uint64))
    ordered = np.sort(a)
    assert list(got) == [ordered[r0], ordered[r0 + 1], ordered[r2], ordered[r2 + 1]]


def test_large_float32_groups_are_selected_not_binned():
    """The bins read float64 bits: a float32 group of any size goes to the selection."""
    from journeymap.measure.kernels.buckets import median_p90_of_groups
    values = np.random.default_rng(5).random(5000).astype(np.float32)
    median, p90 = np.empty(1, np.float32), np.empty(1, np.float32)
    median_p90_of_groups(values.copy(), np.zeros(1, np.int64), np.array([5000], np.int64), median, p90)
    assert (median[0], p90[0]) == (np.median(values), np.quantile(values, 0.9))
