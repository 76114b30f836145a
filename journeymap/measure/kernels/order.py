"""Whether rows already stand in each user's event order (ts, then event name).
"""

from __future__ import annotations

import numpy as np
from numba import njit

IN_ORDER, TIES_OUT_OF_ORDER, OUT_OF_ORDER = 0, 1, 2


@njit(cache=True, nogil=True)
def order_of_rows(starts, t, codes, rank):
    """Rows of users one after another (`starts[i]`: row i begins a user): OUT_OF_ORDER
    if some user's times go back, TIES_OUT_OF_ORDER if only rows at one instant are not
    by event name (`rank[codes[i]]`, the name's place in sorted order), else IN_ORDER; and
    how many rows repeat the row before them in user, time and name (the event id orders
    those)."""
    status = IN_ORDER
    same = 0
    for i in range(1, t.shape[0]):
        if starts[i]:
            continue
        if t[i] < t[i - 1]:
            return OUT_OF_ORDER, same
        if t[i] == t[i - 1]:
            a, b = rank[codes[i]], rank[codes[i - 1]]
            if a < b:
                status = TIES_OUT_OF_ORDER
            elif a == b:
                same += 1
    return status, same


@njit(cache=True, nogil=True)
def keep_flagged(names, bits, codes_of, keep_all, rows, mask, codes):
    """Rows whose event name has a rule's bit (every row if keep_all): their row numbers,
    bits and name codes written into `rows`, `mask`, `codes` (sized for every row), from
    each row's name index `names`, the bits per name `bits` and the codes per name
    `codes_of`; returns how many."""
    k = 0
    for i in range(names.shape[0]):
        m = bits[names[i]]
        if m != 0 or keep_all:
            rows[k] = i
            mask[k] = m
            codes[k] = codes_of[names[i]]
            k += 1
    return k


@njit(cache=True, nogil=True)
def counting_order(keys, n_keys):
    """The row order that sorts `keys` (integers in [0, n_keys)), rows of one key in the
    order they come (a stable counting sort), and where each key's rows begin in it
    (n_keys + 1 offsets)."""
    starts = np.zeros(n_keys + 1, np.int64)
    for i in range(keys.shape[0]):
        starts[keys[i] + 1] += 1
    for k in range(n_keys):
        starts[k + 1] += starts[k]
    at = starts[:-1].copy()
    order = np.empty(keys.shape[0], np.int64)
    for i in range(keys.shape[0]):
        k = keys[i]
        order[at[k]] = i
        at[k] += 1
    return order, starts


@njit(cache=True, nogil=True)
def _lowest_bit(x):
    """Index of the lowest set bit of x (a large number for none: such rows go last)."""
    if x == 0:
        return 1 << 62
    k = 0
    while not (x >> k) & 1:
        k += 1
    return k


@njit(cache=True, nogil=True)
def stage_order_at_ties(offsets, t, bits, codes):
    """Each user's rows at one instant put in order of the lowest set bit of `bits` (the
    earliest stage a row qualifies for; rows for none last), their order kept otherwise:
    `bits` and `codes` are reordered in place, within such groups only."""
    for u in range(offsets.shape[0] - 1):
        i, b = offsets[u], offsets[u + 1]
        while i < b:
            j = i + 1
            while j < b and t[j] == t[i]:
                j += 1
            if j - i > 1:
                keys = np.empty(j - i, np.int64)
                for k in range(i, j):
                    keys[k - i] = _lowest_bit(bits[k])
                if (keys[1:] < keys[:-1]).any():
                    order = np.argsort(keys, kind="mergesort")
                    bits[i:j] = bits[i:j][order]
                    codes[i:j] = codes[i:j][order]
            i = j
