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


@njit(cache=True, nogil=True)
def step_seconds(times, levels, starts, out):
    """Seconds from step k-1 to step k of each person who reached step k (levels >= k,
    k = 2..n): person after person, into out[starts[k - 2]:] (starts: where each step's
    values begin; sized by the persons per step)."""
    at = starts.copy()
    for p in range(times.shape[0]):
        for k in range(1, min(levels[p], times.shape[1])):
            out[at[k - 1]] = (times[p, k] - times[p, k - 1]) / 1e6
            at[k - 1] += 1


# ------------------------------------------------------------------ optional steps
#
# A funnel with optional steps: `req` lists the positions of the required steps
# (the first is 0), `opt` those of the optional ones. Ordered and unordered
# funnels find each person's level and counted attempt over the required steps
# alone (the kernels above, on the required bits packed by `pack_bits`); the two
# passes below then mark the optional steps that attempt did. Strict funnels
# need their own kernel: there an optional step may sit between two required
# ones in the run of consecutive rows.


@njit(cache=True, nogil=True)
def pack_bits(mask, positions, out):
    """out[r]: bit k set where bit positions[k] of mask[r] is (the required steps' bits,
    packed for the kernels above)."""
    for r in range(mask.shape[0]):
        m = np.int64(mask[r])
        c = np.int64(0)
        for k in range(positions.shape[0]):
            c |= ((m >> positions[k]) & 1) << k
        out[r] = c


@njit(cache=True, nogil=True, inline="always")
def _first_at_or_after(t, a, b, x):
    """First row in [a, b) with t >= x (b if none): rows are in time order."""
    lo, hi = a, b
    while lo < hi:
        mid = (lo + hi) // 2
        if t[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def _seat_at(step, u, gs, ge, t, mask, out_rows, owner, row_of, prev, queue):
    """A row of the instant [gs, ge) for `step`, distinct from the rows the steps the
    attempt already did at this instant need (maximum matching; those steps may be
    re-seated among the instant's rows, their times do not change); -1 if none."""
    g = ge - gs
    bits = mask[gs:ge]
    owner[:g] = -1
    row_of[:] = -1
    tg = t[gs]
    for p in range(out_rows.shape[1]):
        r = out_rows[u, p]
        if r != NO_ROW and t[r] == tg and not _augment(p, bits, g, owner, row_of, prev, queue):
            return -1  # cannot happen: the attempt's own steps sit on distinct rows
    if _augment(step, bits, g, owner, row_of, prev, queue):
        return gs + row_of[step]
    return -1


@njit(cache=True, nogil=True)
def optional_ordered(offsets, t, mask, levels, rows, req, opt, gap, window, out_rows):
    """Optional steps of each person's counted attempt, steps in order.

    levels[u] / rows[u] are the attempt over the required steps (positions `req`);
    out_rows[u] (one column per step, NO_ROW filled) gets its required rows, and the
    row of each optional step it did. Optional step opt[x] lies after required step
    gap[x] - 1 and before required step gap[x]: it is done at the first instant at or
    after the previous step done (that required step, or an optional one between the
    two) and no later than the next required step (the end of the window when the
    attempt stopped before it), on a row no other step of the attempt needs at that
    instant.
    """
    n_users = offsets.shape[0] - 1
    n = out_rows.shape[1]
    row_of = np.empty(n, np.int64)
    queue = np.empty(n + 1, np.int64)
    owner = np.empty(16, np.int64)
    prev = np.empty(16, np.int64)
    for u in range(n_users):
        lvl = levels[u]
        if lvl == 0:
            continue
        a, b = offsets[u], offsets[u + 1]
        for k in range(lvl):
            out_rows[u, req[k]] = rows[u, k]
        end = t[rows[u, 0]] + window
        cur, low = -1, np.int64(0)
        for x in range(opt.shape[0]):
            step, g = opt[x], gap[x]
            if g > lvl:  # the required step before it was not reached
                break
            if g != cur:
                cur, low = g, t[rows[u, g - 1]]
            hi = t[rows[u, g]] if g < lvl else end
            r = _first_at_or_after(t, a, b, low)
            while r < b and t[r] <= hi:
                if not (mask[r] >> step) & 1:
                    r += 1
                    continue
                gs = _first_at_or_after(t, a, b, t[r])
                ge = _group_end(t, gs, b)
                if owner.shape[0] < ge - gs:
                    owner = np.empty(ge - gs, np.int64)
                    prev = np.empty(ge - gs, np.int64)
                seat = _seat_at(step, u, gs, ge, t, mask, out_rows, owner, row_of, prev, queue)
                if seat >= 0:
                    out_rows[u, step] = seat
                    low = t[seat]
                    break
                r = ge


@njit(cache=True, nogil=True)
def optional_unordered(offsets, t, mask, levels, rows, req, opt, gap, window, out_rows):
    """Optional steps of each person's counted attempt, steps in any order.

    levels[u] / rows[u] are the attempt over the required steps (rows in time
    order); out_rows[u] gets them in the required columns, and the row of each
    optional step done within the attempt's window (from its first step) by a person
    whose level reached the required step before it (gap[x] required steps): seated
    by maximum matching after the required steps, optional steps in step order, each
    on a row of its own.
    """
    n_users = offsets.shape[0] - 1
    n = out_rows.shape[1]
    row_of = np.empty(n, np.int64)
    queue = np.empty(n + 1, np.int64)
    for u in range(n_users):
        lvl = levels[u]
        if lvl == 0:
            continue
        a, b = offsets[u], offsets[u + 1]
        for k in range(lvl):
            out_rows[u, req[k]] = rows[u, k]
        start = t[rows[u, 0]]
        lo = _first_at_or_after(t, a, b, start)
        hi = lo
        while hi < b and t[hi] - start <= window:
            hi += 1
        g = hi - lo
        bits = mask[lo:hi]
        owner = np.full(g, -1, np.int64)
        prev = np.empty(g, np.int64)
        row_of[:] = -1
        for k in range(req.shape[0]):
            _augment(req[k], bits, g, owner, row_of, prev, queue)
        for x in range(opt.shape[0]):
            if gap[x] > lvl:  # the required step before it was not reached
                break
            if _augment(opt[x], bits, g, owner, row_of, prev, queue):
                out_rows[u, opt[x]] = lo + row_of[opt[x]]


@njit(cache=True, nogil=True)
def funnel_strict_optional(offsets, t, mask, required, window, out_rows):
    """Best attempt per user, each step the user's very next event, optional steps
    may be skipped.

    An attempt is a run of consecutive rows from a step-1 row, within the window
    from it: each row is a later step than the row before, with only optional steps
    skipped in between. Its level is the number of required steps it reached; the
    counted attempt is the first to reach the highest level. Where a row could be
    several steps, it is the earliest step that still lets the attempt reach that
    level. out_rows[u] (one column per step) gets the row of each step done
    (NO_ROW elsewhere); returns the level (required steps reached) per user.
    """
    n_users = offsets.shape[0] - 1
    n = required.shape[0]
    levels = np.zeros(n_users, np.int64)
    full = (np.int64(1) << n) - 1
    span = np.zeros(n, np.int64)  # span[s]: steps that may follow step s
    upto = np.zeros(n, np.int64)  # upto[s]: required steps among 0..s
    n_req = 0
    for s in range(n):
        n_req += required[s]
        upto[s] = n_req
    for s in range(n):
        for x in range(s + 1, n):
            span[s] |= np.int64(1) << x
            if required[x]:
                break
    reach = np.zeros(n, np.int64)  # reach[d]: steps the row i + d may be
    can = np.zeros(n, np.int64)  # can[d]: those of them from which the level is reached
    for u in range(n_users):
        a, b = offsets[u], offsets[u + 1]
        best = 0
        for i in range(a, b):
            if not mask[i] & 1:
                continue
            reach[0] = 1
            depth = 1
            while depth < n and i + depth < b and t[i + depth] - t[i] <= window:
                m = np.int64(mask[i + depth]) & full
                nxt = np.int64(0)
                for s in range(n):
                    if (reach[depth - 1] >> s) & 1:
                        nxt |= m & span[s]
                if nxt == 0:
                    break
                reach[depth] = nxt
                depth += 1
            lvl = 0
            for d in range(depth):
                for s in range(n):
                    if (reach[d] >> s) & 1 and upto[s] > lvl:
                        lvl = upto[s]
            if lvl <= best:
                continue
            for d in range(depth - 1, -1, -1):
                m = np.int64(mask[i + d + 1]) & full if d + 1 < depth else np.int64(0)
                c = np.int64(0)
                for s in range(n):
                    if not (reach[d] >> s) & 1:
                        continue
                    if upto[s] == lvl or (d + 1 < depth and m & span[s] & can[d + 1] != 0):
                        c |= np.int64(1) << s
                can[d] = c
            for x in range(n):
                out_rows[u, x] = NO_ROW
            out_rows[u, 0] = i
            s = 0
            for d in range(1, depth):
                alive = np.int64(mask[i + d]) & full & span[s] & can[d]
                if alive == 0:
                    break
                s = 0
                while not (alive >> s) & 1:
                    s += 1
                out_rows[u, s] = i + d
            best = lvl
            if best == n_req:
                break
        levels[u] = best
    return levels
