"""Summaries of durations: bucket counts (the time-to-next distribution), medians and
p90s of many groups at once.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def bucket_counts(values, upper):
    """counts[i] = values v with upper[i - 1] <= v < upper[i] (upper ascending; NaN last),
    i.e. np.bincount(np.searchsorted(upper, values, side="right"), minlength=len(upper) + 1)."""
    n = upper.shape[0]
    counts = np.zeros(n + 1, np.int64)
    for v in values:
        i = 0
        if v != v:
            i = n
        while i < n and upper[i] <= v:
            i += 1
        counts[i] += 1
    return counts


@njit(cache=True, nogil=True)
def order_ranks(n):
    """The four order statistics (0-based ranks) the median and the linear 0.9 quantile of
    n values read: the lower and upper middle, the two around 0.9."""
    lo = int(np.floor((n - 1) * 0.9))
    return max(n // 2 - 1, 0), n // 2, lo, min(lo + 1, n - 1)


@njit(cache=True, nogil=True)
def from_order_stats(n, mid_low, mid_high, p_low, p_high):
    """The median and the linear 0.9 quantile of n values from the values at
    `order_ranks(n)`, with numpy's arithmetic (bit for bit)."""
    median = (mid_low + mid_high) / 2 if n % 2 == 0 else mid_high
    at = (n - 1) * 0.9
    w = at - np.floor(at)
    p90 = p_high - (p_high - p_low) * (1 - w) if w >= 0.5 else p_low + (p_high - p_low) * w
    return median, p90


@njit(cache=True, nogil=True)
def median_p90_of_groups(values, starts, counts, out_median, out_p90):
    """For each group g (values[starts[g]:starts[g] + counts[g]], counts > 0): the median
    and the linear 0.9 quantile, bit for bit as numpy's median and quantile give them."""
    for g in range(starts.shape[0]):
        n = counts[g]
        r0, r1, r2, r3 = order_ranks(n)
        group = values[starts[g]:starts[g] + n]
        if n <= 64:  # small: a sort is cheapest
            part = np.sort(group)
        else:  # the four order statistics only (a partition, as median_p90 takes them)
            part = np.partition(group, np.unique(np.array([r0, r1, r2, r3])))
        out_median[g], out_p90[g] = from_order_stats(n, part[r0], part[r1], part[r2], part[r3])
