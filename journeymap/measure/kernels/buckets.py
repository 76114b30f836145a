"""Summaries of durations: bucket counts (the time-to-next distribution), medians and
p90s of many groups at once.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

SELECT_ROUNDS = 64  # partitions of one quickselect before its range is sorted instead
#: groups of at least this many values are read in radix passes (`_radix_order_stats`)
#: rather than reordered by quickselect: two to three times faster (1M values: 5.5 ms, not 16)
RADIX_MIN = 128
RADIX_BINS = 4096


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
    (for a group holding NaN: read off its values in numpy's sort order, NaN last; where
    -0.0 and 0.0 meet at a rank, either may be read, as numpy's own order leaves it).
    `in_place`: large groups may be reordered where they lie (values the caller no
    longer needs in order), rather than copied first."""
    scratch = np.empty(64, values.dtype)
    hist, keys, found = np.empty(RADIX_BINS, np.int64), np.empty(0, np.uint64), np.empty(4, np.uint64)
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
        if n >= RADIX_MIN and _float64(values) and _all_finite(group):  # large: counted in bins
            if keys.shape[0] < 2 * n:
                keys = np.empty(max(2 * n, 2 * keys.shape[0]), np.uint64)
            v0, v1, v2, v3 = _radix_order_stats(group, r0, r1, r2, r3, hist, keys, found)
            out_median[g], out_p90[g] = from_order_stats(n, v0, v1, v2, v3)
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


@njit(cache=True, nogil=True, inline="always")
def _key(bits):
    """An unsigned integer in the order of the float whose bits are `bits` (finite
    floats; -0.0 just before 0.0, which numpy's order leaves free)."""
    return ~bits if bits >> np.uint64(63) else bits | np.uint64(1 << 63)


@njit(cache=True, nogil=True, inline="always")
def _unkey(key):
    return key ^ np.uint64(1 << 63) if key >> np.uint64(63) else ~key


def _float64(a):
    """Whether `a` holds float64 values (the bins read their bits), known when compiled."""
    return a.dtype == np.float64


@overload(_float64)
def _float64_compiled(a):
    holds = isinstance(a, types.Array) and a.dtype == types.float64
    return lambda a: holds


@njit(cache=True, nogil=True)
def _all_finite(a):
    for v in a:
        if v - v != 0.0:  # NaN or infinite
            return False
    return True


@njit(cache=True, nogil=True)
def _radix_order_stats(a, r0, r1, r2, r3, hist, keys, found):
    """The values of ranks r0 <= r1 and r2 <= r3 of the finite floats `a` (r1 - r0 and
    r3 - r2 at most 1), without reordering `a`: their order-keeping integers (`_key`,
    into keys[:n]) are counted into bins over their range, the keys in the bins that
    hold the ranks copied out (into keys[n:]), and so on among those until a few or
    equal ones are left. `keys` holds at least 2 * len(a); `found` 4 (uint64)."""
    n = a.shape[0]
    u = a.view(np.uint64)
    lo = hi = _key(u[0])
    for i in range(n):
        k = _key(u[i])
        keys[i] = k
        if k < lo:
            lo = k
        elif k > hi:
            hi = k
    for pair in range(2):
        k_lo, k_hi = (r0, r1) if pair == 0 else (r2, r3)
        src, m, c_lo, c_hi = 0, n, lo, hi
        while True:
            if c_lo == c_hi:  # the ranks' candidates are all one value
                found[2 * pair] = found[2 * pair + 1] = c_lo
                break
            if m <= 64:
                part = keys[src:src + m]
                part.sort()
                found[2 * pair], found[2 * pair + 1] = part[k_lo], part[k_hi]
                break
            bins = 64
            while bins < hist.shape[0] and bins < m // 2:
                bins *= 2
            shift = np.uint64(0)
            while (c_hi - c_lo) >> shift >= np.uint64(bins):
                shift += np.uint64(1)
            hist[:bins] = 0
            for i in range(src, src + m):
                hist[(keys[i] - c_lo) >> shift] += 1
            b_lo = b_hi = -1
            seen = base = 0
            for b in range(bins):
                if b_lo < 0 and k_lo < seen + hist[b]:
                    b_lo, base = b, seen
                if k_hi < seen + hist[b]:
                    b_hi = b
                    break
                seen += hist[b]
            if b_lo != b_hi:  # k_lo ends bin b_lo and k_hi begins b_hi: its largest, its smallest
                top, bottom = c_lo, c_hi
                for i in range(src, src + m):
                    k = keys[i]
                    b = np.int64((k - c_lo) >> shift)
                    if b == b_lo and k > top:
                        top = k
                    elif b == b_hi and k < bottom:
                        bottom = k
                found[2 * pair], found[2 * pair + 1] = top, bottom
                break
            # the keys of bin b_lo to keys[n:] (in place after the first round): fewer
            # than m, as c_lo and c_hi fall in different bins
            m2, new_lo, new_hi = 0, c_hi, c_lo
            for i in range(src, src + m):
                k = keys[i]
                if np.int64((k - c_lo) >> shift) == b_lo:
                    keys[n + m2] = k
                    m2 += 1
                    if k < new_lo:
                        new_lo = k
                    if k > new_hi:
                        new_hi = k
            src, m, c_lo, c_hi = n, m2, new_lo, new_hi
            k_lo -= base
            k_hi -= base
    for j in range(4):
        found[j] = _unkey(found[j])
    v = found.view(np.float64)
    return v[0], v[1], v[2], v[3]
