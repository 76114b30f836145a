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
def median_p90_of_groups(values, starts, counts, out_median, out_p90):
    """For each group g (values[starts[g]:starts[g] + counts[g]], counts > 0): the median
    and the linear 0.9 quantile, bit for bit as numpy's median and quantile give them."""
    for g in range(starts.shape[0]):
        n = counts[g]
        half = n // 2
        at = (n - 1) * 0.9
        lo = int(np.floor(at))
        hi = min(lo + 1, n - 1)
        group = values[starts[g]:starts[g] + n]
        if n <= 64:  # small: a sort is cheapest
            part = np.sort(group)
        else:  # the four order statistics only (a partition, as median_p90 takes them)
            part = np.partition(group, np.unique(np.array([max(half - 1, 0), half, lo, hi])))
        out_median[g] = (part[half - 1] + part[half]) / 2 if n % 2 == 0 else part[half]
        a, b, w = part[lo], part[hi], at - lo
        out_p90[g] = b - (b - a) * (1 - w) if w >= 0.5 else a + (b - a) * w
