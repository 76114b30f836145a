"""Summaries of durations: bucket counts (the time-to-next distribution), medians and
p90s of many groups at once.
"""

from __future__ import annotations

import numpy as np
from numba import njit

SELECT_ROUNDS = 64  # partitions of one quickselect before its range is sorted instead


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
def median_p90_of_groups(values, starts, counts, out_median, out_p90, in_place=False):
    """For each group g (values[starts[g]:starts[g] + counts[g]], counts > 0): the median
    and the linear 0.9 quantile, bit for bit as numpy's median and quantile give them
    (for a group holding NaN: read off its values in numpy's sort order, NaN last).
    `in_place`: large groups may be reordered where they lie (values the caller no
    longer needs in order), rather than copied first."""
    scratch = np.empty(64, values.dtype)
    for g in range(starts.shape[0]):
        n = counts[g]
        r0, r1, r2, r3 = order_ranks(n)
        group = values[starts[g]:starts[g] + n]
        if n <= 64:  # small: a sort is cheapest (insertion, in the scratch space; NaN last)
            part = scratch[:n]
            for i in range(n):
                v = group[i]
                j = i
                while j > 0 and (part[j - 1] > v or (v == v and part[j - 1] != part[j - 1])):
                    part[j] = part[j - 1]
                    j -= 1
                part[j] = v
            out_median[g], out_p90[g] = from_order_stats(n, part[r0], part[r1], part[r2], part[r3])
            continue
        finite = True
        if in_place:
            buf = group
            for i in range(n):
                if group[i] != group[i]:
                    finite = False
        else:
            if scratch.shape[0] < n:
                scratch = np.empty(max(n, 2 * scratch.shape[0]), values.dtype)
            buf = scratch[:n]
            for i in range(n):
                buf[i] = group[i]
                if group[i] != group[i]:
                    finite = False
        if not finite:  # NaN present: numpy's partition (NaN last)
            part = np.partition(group, np.unique(np.array([r0, r1, r2, r3])))
            out_median[g], out_p90[g] = from_order_stats(n, part[r0], part[r1], part[r2], part[r3])
            continue
        # r0 = r1 - 1 and r3 = r2 + 1 here (n > 64): select r1, the largest below it is r0;
        # select r2 among the values above r1, the smallest above it is r3
        _select(buf, r1, 0, n - 1, SELECT_ROUNDS)
        v0 = buf[0]
        for i in range(1, r1):
            if buf[i] > v0:
                v0 = buf[i]
        _select(buf, r2, r1 + 1, n - 1, SELECT_ROUNDS)
        v3 = buf[r2 + 1]
        for i in range(r2 + 2, n):
            if buf[i] < v3:
                v3 = buf[i]
        out_median[g], out_p90[g] = from_order_stats(n, v0, buf[r1], buf[r2], v3)


@njit(cache=True, nogil=True)
def _select(a, k, lo, hi, max_rounds):
    """Reorder a[lo:hi + 1] so that a[k] holds the value of rank k - lo there, smaller or
    equal values before it and larger or equal after (quickselect, median-of-three; a
    range still unsettled after `max_rounds` partitions, e.g. values arranged against the
    pivots, is sorted instead, so the work stays O(n log n) at worst)."""
    rounds = 0
    while hi > lo:
        rounds += 1
        if rounds > max_rounds:
            a[lo:hi + 1] = np.sort(a[lo:hi + 1])
            return
        mid = (lo + hi) // 2
        if a[mid] < a[lo]:
            a[mid], a[lo] = a[lo], a[mid]
        if a[hi] < a[lo]:
            a[hi], a[lo] = a[lo], a[hi]
        if a[hi] < a[mid]:
            a[hi], a[mid] = a[mid], a[hi]
        pivot = a[mid]
        i, j = lo, hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return
