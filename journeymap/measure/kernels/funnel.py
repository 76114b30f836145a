"""Funnel kernels: each user's best attempt in ordered, strict or unordered step order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from journeymap.measure.kernels import NO_ROW
from journeymap.measure.kernels.matching import _augment, _group_end


@njit(cache=True, nogil=True)
def _extend_group(chain, t, mask, n, window, i, j, owner, row_of, prev, queue):
    """Several rows at one instant: from each attempt alive before it (or a fresh
    start), seat as many next steps as possible on distinct rows of the group."""
    old = chain.copy()
    g = j - i
    bits = mask[i:j]
    tg = t[i]
    for base in range(n):
        if base > 0 and (old[base - 1, 0] == NO_ROW or tg - t[old[base - 1, 0]] > window):
            continue
        start_t = tg if base == 0 else t[old[base - 1, 0]]
        owner[:g] = -1
        row_of[:] = -1
        lvl = base
        while lvl < n and _augment(lvl, bits, g, owner, row_of, prev, queue):
            lvl += 1
        for top in range(base, lvl):
            if chain[top, 0] != NO_ROW and t[chain[top, 0]] >= start_t:
                continue
            for x in range(base):
                chain[top, x] = old[base - 1, x]
            for x in range(base, top + 1):
                chain[top, x] = i + row_of[x]


@njit(cache=True, nogil=True)
def funnel_ordered(offsets, t, mask, n, window, out_rows):
    """Best attempt per user, steps in order, other events allowed in between.

    Keeps, per step, the attempt with the latest start that reached it (the one
    with the most window left), as ClickHouse's windowFunnel does; rows at one
    instant are seated on steps by maximum matching, so their order never
    matters. The counted attempt is the first to reach the furthest step.
    Fills out_rows[u, k] with the row of step k of the counted attempt;
    returns the level per user.
    """
    n_users = offsets.shape[0] - 1
    levels = np.zeros(n_users, np.int64)
    chain = np.empty((n, n), np.int64)  # chain[k]: rows of the attempt that reached step k
    start = np.empty(n, np.int64)  # start[k]: time of that attempt's first step
    owner = np.empty(0, np.int64)
    row_of = np.empty(n, np.int64)
    queue = np.empty(n + 1, np.int64)
    prev = np.empty(0, np.int64)
    for u in range(n_users):
        a, b = offsets[u], offsets[u + 1]
        for k in range(n):
            chain[k, 0] = NO_ROW
        best = 0
        i = a
        while i < b and best < n:
            m = mask[i]
            if m == 0:
                i += 1
                continue
            ti = t[i]
            top = -1  # the highest step whose attempt changed at this instant
            if i + 1 == b or t[i + 1] != ti:  # a row alone at its instant: every step, highest first
                j = i + 1
                for lvl in range(n - 1, -1, -1):
                    if not (m >> lvl) & 1:
                        continue
                    if lvl == 0:
                        if chain[0, 0] == NO_ROW or start[0] < ti:
                            chain[0, 0] = i
                            start[0] = ti
                            top = max(top, 0)
                        continue
                    if chain[lvl - 1, 0] == NO_ROW or ti - start[lvl - 1] > window:
                        continue
                    if chain[lvl, 0] != NO_ROW and start[lvl] >= start[lvl - 1]:
                        continue  # an attempt with a start at least as late already got here
                    for x in range(lvl):
                        chain[lvl, x] = chain[lvl - 1, x]
                    chain[lvl, lvl] = i
                    start[lvl] = start[lvl - 1]
                    top = max(top, lvl)
            else:
                j = _group_end(t, i, b)
                if owner.shape[0] < j - i:
                    owner = np.empty(j - i, np.int64)
                    prev = np.empty(j - i, np.int64)
                _extend_group(chain, t, mask, n, window, i, j, owner, row_of, prev, queue)
                for k in range(n):
                    if chain[k, 0] != NO_ROW:
                        start[k] = t[chain[k, 0]]
                top = n - 1
            for lvl in range(top, best - 1, -1):  # only steps this instant changed
                if chain[lvl, 0] != NO_ROW:
                    for x in range(lvl + 1):
                        out_rows[u, x] = chain[lvl, x]
                    best = lvl + 1
                    break
            i = j
        levels[u] = best
    return levels


@njit(cache=True, nogil=True)
def funnel_strict(offsets, t, mask, n, window, out_rows):
    """Best attempt per user where each step must be the user's very next event."""
    n_users = offsets.shape[0] - 1
    levels = np.zeros(n_users, np.int64)
    for u in range(n_users):
        a, b = offsets[u], offsets[u + 1]
        best = 0
        for i in range(a, b):
            if not mask[i] & 1:
                continue
            lvl = 1
            while lvl < n and i + lvl < b and (mask[i + lvl] >> lvl) & 1 \
                    and t[i + lvl] - t[i] <= window:
                lvl += 1
            if lvl > best:
                best = lvl
                for x in range(lvl):
                    out_rows[u, x] = i + x
                if best == n:
                    break
        levels[u] = best
    return levels


@njit(cache=True, nogil=True)
def funnel_unordered(offsets, t, mask, n, window, out_rows):
    """Best attempt per user, steps in any order, window from the first of them.

    An attempt starts at any instant holding a step event; its level is the
    largest number of steps done on distinct rows within the window (maximum
    matching). out_rows[u, k] holds the row of the (k+1)-th step done, in time
    order.
    """
    n_users = offsets.shape[0] - 1
    levels = np.zeros(n_users, np.int64)
    full = (1 << n) - 1
    row_of = np.empty(n, np.int64)
    queue = np.empty(n + 1, np.int64)
    for u in range(n_users):
        a, b = offsets[u], offsets[u + 1]
        best = 0
        i = a
        while i < b and best < n:
            if mask[i] & full == 0:
                i += 1
                continue
            g = _group_end(t, i, b)
            if (mask[i:g] & full).any():
                j = g
                while j < b and t[j] - t[i] <= window:
                    j += 1
                owner = np.full(j - i, -1, np.int64)
                prev = np.empty(j - i, np.int64)
                row_of[:] = -1
                cnt = 0
                for lvl in range(n):
                    if _augment(lvl, mask[i:j], j - i, owner, row_of, prev, queue):
                        cnt += 1
                if cnt > best:
                    best = cnt
                    rows = np.sort(row_of[row_of >= 0])
                    for x in range(cnt):
                        out_rows[u, x] = i + rows[x]
            i = g
        levels[u] = best
    return levels


@njit(cache=True, nogil=True)
def apply_exclusions(offsets, t, mask, levels, out_rows, window, ex_bits, ex_from, ex_to):
    """Zero the level of users whose counted attempt holds an excluded event.

    Exclusion e applies between the attempt's step ex_from[e] and ex_to[e]
    (both inclusive in time); when the attempt stopped before ex_to[e], up to
    the end of its window.
    """
    n_users = offsets.shape[0] - 1
    for u in range(n_users):
        lvl = levels[u]
        for e in range(ex_bits.shape[0]):
            if lvl <= ex_from[e]:
                continue
            lo = t[out_rows[u, ex_from[e]]]
            hi = t[out_rows[u, ex_to[e]]] if lvl > ex_to[e] else t[out_rows[u, 0]] + window
            for r in range(offsets[u], offsets[u + 1]):
                if (mask[r] >> ex_bits[e]) & 1 and lo <= t[r] <= hi:
                    levels[u] = 0
                    break
            if levels[u] == 0:
                break
    return levels


@njit(cache=True, nogil=True)
def kept_row_times(rows, keep, t, out):
    """t at each row number of `rows` (-1 where there is none: NO_ROW), for the users
    where `keep`, written to `out` one kept user after another."""
    j = 0
    for u in range(rows.shape[0]):
        if not keep[u]:
            continue
        for k in range(rows.shape[1]):
            r = rows[u, k]
            out[j, k] = t[r] if r >= 0 else -1
        j += 1
