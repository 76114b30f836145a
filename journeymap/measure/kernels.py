"""Compiled per-user passes over events sorted by (user, ts, event, event_id).

Every kernel takes `offsets` (row where each user starts, plus the end), `t`
(int64 microseconds) and `mask` (int64 bit k set = the row matches step or
stage k) and walks each user's rows once. Rows that share a timestamp are
treated as simultaneous: a user may pass several steps in one instant, each
with a distinct row, whatever order the tie-breaker put those rows in.
"""

from __future__ import annotations

import numpy as np
from numba import njit

NO_ROW = -1


@njit(cache=True)
def _group_end(t, i, b):
    """End (exclusive) of the run of rows from i with the same timestamp."""
    j = i + 1
    while j < b and t[j] == t[i]:
        j += 1
    return j


@njit(cache=True)
def _in_chain(chain, level, r):
    for x in range(level + 1):
        if chain[level, x] == r:
            return True
    return False


@njit(cache=True)
def _extend_ordered(chain, t, mask, n, window, r):
    """Try row r on every step, highest first; True if any chain got a later start."""
    changed = False
    for lvl in range(n - 1, -1, -1):
        if not (mask[r] >> lvl) & 1:
            continue
        if lvl == 0:
            if chain[0, 0] == NO_ROW or t[chain[0, 0]] < t[r]:
                chain[0, 0] = r
                changed = True
            continue
        prev = chain[lvl - 1, 0]
        if prev == NO_ROW or t[r] - t[prev] > window or _in_chain(chain, lvl - 1, r):
            continue
        cur = chain[lvl, 0]
        if cur != NO_ROW and t[cur] >= t[prev]:
            continue  # an attempt with a start at least as late already got here
        for x in range(lvl):
            chain[lvl, x] = chain[lvl - 1, x]
        chain[lvl, lvl] = r
        changed = True
    return changed


@njit(cache=True)
def funnel_ordered(offsets, t, mask, n, window, out_rows):
    """Best attempt per user, steps in order, other events allowed in between.

    Keeps, per step, the attempt with the latest start that reached it (the one
    with the most window left), as ClickHouse's windowFunnel does. The counted
    attempt is the first to reach the furthest step. Fills out_rows[u, k] with
    the row of step k of the counted attempt; returns the level per user.
    """
    n_users = offsets.shape[0] - 1
    levels = np.zeros(n_users, np.int64)
    chain = np.empty((n, n), np.int64)
    for u in range(n_users):
        a, b = offsets[u], offsets[u + 1]
        chain[:, :] = NO_ROW
        best = 0
        i = a
        while i < b and best < n:
            j = _group_end(t, i, b)
            changed = True
            while changed:  # ties: repeat until no row of the instant moves a chain
                changed = False
                for r in range(i, j):
                    if _extend_ordered(chain, t, mask, n, window, r):
                        changed = True
            for lvl in range(n - 1, best - 1, -1):
                if chain[lvl, 0] != NO_ROW:
                    for x in range(lvl + 1):
                        out_rows[u, x] = chain[lvl, x]
                    best = lvl + 1
                    break
            i = j
        levels[u] = best
    return levels


@njit(cache=True)
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


@njit(cache=True)
def _popcount(x):
    c = 0
    while x:
        x &= x - 1
        c += 1
    return c


@njit(cache=True)
def funnel_unordered(offsets, t, mask, n, window, out_rows):
    """Best attempt per user, steps in any order, window from the first of them.

    An attempt starts at any instant holding a step event; its level is the
    number of distinct steps done within the window. out_rows[u, k] holds the
    row completing the (k+1)-th distinct step, in time order.
    """
    n_users = offsets.shape[0] - 1
    levels = np.zeros(n_users, np.int64)
    full = (1 << n) - 1
    for u in range(n_users):
        a, b = offsets[u], offsets[u + 1]
        best = 0
        i = a
        while i < b and best < n:
            g = _group_end(t, i, b)
            if (mask[i:g] & full).any():
                seen = 0
                cnt = 0
                rows = np.full(n, NO_ROW, np.int64)
                j = i
                while j < b and t[j] - t[i] <= window and seen != full:
                    new = mask[j] & full & ~seen
                    if new:
                        seen |= new
                        for _ in range(_popcount(new)):
                            rows[cnt] = j
                            cnt += 1
                    j += 1
                if cnt > best:
                    best = cnt
                    out_rows[u, :cnt] = rows[:cnt]
            i = g
        levels[u] = best
    return levels


@njit(cache=True)
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


@njit(cache=True)
def _try_enter(cur, cur_t, t_r, bits, within, optional, n):
    """Stage a row enters from stage `cur` (skipping optional ones), or -1."""
    nxt = cur + 1
    while nxt < n:
        if (bits >> nxt) & 1 and (cur < 0 or within[nxt] < 0 or t_r - cur_t <= within[nxt]):
            return nxt
        if not optional[nxt]:
            return -1
        nxt += 1
    return -1


@njit(cache=True)
def stage_entries(offsets, t, mask, within, optional, out_rows, out_skipped):
    """Entry row of every stage per user, following the journey's stage rules.

    Stage 1 is entered at the first qualifying row; stage k at the first
    qualifying row (a distinct one) at or after the entry into stage k-1, and
    within `within[k]` of it when set (-1 = no limit). An optional stage may be
    skipped: its entry row is then that of the stage after it, flagged skipped.
    """
    n = within.shape[0]
    n_users = offsets.shape[0] - 1
    for u in range(n_users):
        a, b = offsets[u], offsets[u + 1]
        cur = -1
        cur_t = 0
        i = a
        while i < b and cur < n - 1:
            j = _group_end(t, i, b)
            used = np.zeros(j - i, np.bool_)
            changed = True
            while changed and cur < n - 1:
                changed = False
                for r in range(i, j):
                    if used[r - i]:
                        continue
                    nxt = _try_enter(cur, cur_t, t[r], mask[r], within, optional, n)
                    if nxt < 0:
                        continue
                    for s in range(cur + 1, nxt):
                        out_rows[u, s] = r
                        out_skipped[u, s] = True
                    out_rows[u, nxt] = r
                    used[r - i] = True
                    cur = nxt
                    cur_t = t[r]
                    changed = True
            i = j
    return out_rows
