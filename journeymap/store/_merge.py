"""The merge of sorted runs of rows into one (user, time) order: a compiled k-way merge."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _before(uid, t, code, i, j):
    """Whether row i sorts before row j by (user, time, event)."""
    if uid[i] != uid[j]:
        return uid[i] < uid[j]
    if t[i] != t[j]:
        return t[i] < t[j]
    return code[i] < code[j]


@njit(cache=True, nogil=True)
def merge_order(uid, t, code, bounds):
    """The order of rows given as k segments (rows bounds[s]..bounds[s+1]-1), each
    sorted by (user, time, event): a permutation that sorts them all, equal rows kept
    in segment order, and whether two rows of different segments are equal (such ties
    need the event ids to order them as one sort would)."""
    k = bounds.shape[0] - 1
    head = bounds[:-1].copy()
    n = bounds[-1] - bounds[0]
    perm = np.empty(n, np.int64)
    tie = False
    last_seg = -1
    for out in range(n):
        best = -1
        for s in range(k):
            if head[s] < bounds[s + 1] and (best < 0 or _before(uid, t, code, head[s], head[best])):
                best = s
        row = head[best]
        if out > 0 and best != last_seg and not _before(uid, t, code, perm[out - 1], row):
            tie = True
        perm[out] = row
        last_seg = best
        head[best] += 1
    return perm, tie
