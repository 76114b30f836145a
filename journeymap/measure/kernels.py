"""Compiled per-user passes over events sorted by (user, ts, event, event_id).

Every kernel takes `offsets` (row where each user starts, plus the end), `t`
(int64 microseconds) and `mask` (int64 bit k set = the row matches step or
stage k) and walks each user's rows once; rows with mask 0 are passed over.
Rows that share a timestamp are treated as simultaneous: a user may pass
several steps in one instant, each with a distinct row, whatever order the
tie-breaker put those rows in.
"""

from __future__ import annotations

import numpy as np
from numba import njit

NO_ROW = -1


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
def _group_end(t, i, b):
    """End (exclusive) of the run of rows from i with the same timestamp."""
    j = i + 1
    while j < b and t[j] == t[i]:
        j += 1
    return j


@njit(cache=True, nogil=True)
def _augment(level, bits, g, owner, row_of, prev, queue):
    """Seat `level` on a distinct row of a group, re-seating earlier levels if needed.

    Kuhn's augmenting path (breadth first) on the bipartite graph levels x rows,
    where row r can hold level l when bit l of bits[r] is set. owner[r] is the
    level a row holds (-1: free), row_of[l] the row a level holds.
    """
    prev[:g] = -2
    head, tail = 0, 1
    queue[0] = level
    while head < tail:
        lv = queue[head]
        head += 1
        for r in range(g):
            if prev[r] != -2 or not (bits[r] >> lv) & 1:
                continue
            prev[r] = lv
            if owner[r] >= 0:
                queue[tail] = owner[r]
                tail += 1
                continue
            cur = r
            while True:
                lv2 = prev[cur]
                old = row_of[lv2]
                owner[cur] = lv2
                row_of[lv2] = cur
                if lv2 == level:
                    return True
                cur = old
    return False


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
def _enter_group(cur, cur_t, tg, bits, g, within, optional, owner, row_of, prev, queue):
    """Stages entered at one instant from stage `cur`: each on a distinct row,
    as many as possible (maximum matching), skipping optional stages only when
    a later stage is entered. Returns the last stage entered (cur if none)."""
    n = within.shape[0]
    owner[:g] = -1
    row_of[:] = -1
    last = cur
    t_ref = cur_t
    s = cur + 1
    while s < n:
        time_ok = last < 0 or within[s] < 0 or tg - t_ref <= within[s]
        if time_ok and _augment(s, bits, g, owner, row_of, prev, queue):
            last = s
            t_ref = tg
        elif not optional[s]:
            break
        s += 1
    return last


@njit(cache=True, nogil=True, inline="always")
def _enter_one(cur, cur_t, tg, bits, within, optional):
    """_enter_group for a row alone at its instant: it enters at most one stage, the
    first it qualifies for after `cur`, past skippable (optional) stages only."""
    s = cur + 1
    while s < within.shape[0]:
        if (bits >> s) & 1 and (cur < 0 or within[s] < 0 or tg - cur_t <= within[s]):
            return s
        if not optional[s]:
            break
        s += 1
    return cur


@njit(cache=True, nogil=True)
def stage_entries(offsets, t, mask, within, optional, out_t, out_skipped, out_first):
    """Entry time of every stage per user, following the journey's stage rules.

    Stage 1 is entered at the first qualifying row; stage k at the first
    qualifying row (a distinct one) at or after the entry into stage k-1, and
    within `within[k]` of it when set (-1 = no limit). Rows at one instant are
    seated on stages by maximum matching. An optional stage may be skipped: its
    entry is then that of the stage after it, flagged skipped. Writes out_t[u, k]
    (µs; left as it is where never entered), out_skipped[u, k] and out_first[u],
    the row that entered stage 1.
    """
    n = within.shape[0]
    n_users = offsets.shape[0] - 1
    row_of = np.empty(n, np.int64)
    queue = np.empty(n + 1, np.int64)
    owner = np.empty(1, np.int64)
    prev = np.empty(1, np.int64)
    for u in range(n_users):
        a, b = offsets[u], offsets[u + 1]
        cur = -1
        cur_t = 0
        i = a
        while i < b and cur < n - 1:
            if mask[i] == 0:
                i += 1
                continue
            ti = t[i]
            if i + 1 == b or t[i + 1] != ti:  # a row alone at its instant: one stage at most
                last = _enter_one(cur, cur_t, ti, mask[i], within, optional)
                if last > cur:
                    out_t[u, last] = ti
                    for s in range(last - 1, cur, -1):  # optional stages passed over
                        out_t[u, s] = ti
                        out_skipped[u, s] = True
                    if cur < 0:
                        out_first[u] = i
                    cur = last
                    cur_t = ti
                i += 1
                continue
            j = _group_end(t, i, b)
            if owner.shape[0] < j - i:
                owner = np.empty(j - i, np.int64)
                prev = np.empty(j - i, np.int64)
            last = _enter_group(cur, cur_t, ti, mask[i:j], j - i, within, optional,
                                owner, row_of, prev, queue)
            if last > cur:  # every row of the group is at ti
                nxt_row = i + row_of[last]
                for s in range(last, cur, -1):
                    if row_of[s] >= 0:
                        nxt_row = i + row_of[s]
                    else:
                        out_skipped[u, s] = True
                    out_t[u, s] = ti
                    if s == 0:
                        out_first[u] = nxt_row
                cur = last
                cur_t = ti
            i = j


@njit(cache=True, nogil=True)
def transition_counts(offsets, codes, n_codes):
    """Every user's directly-follows pairs, $start = n_codes, $end = n_codes + 1.

    Returns per pair id (from * width + to) the occurrences and distinct users.
    """
    width = n_codes + 2
    n_pairs = width * width
    counts = np.zeros(n_pairs, np.int64)
    users = np.zeros(n_pairs, np.int64)
    last = np.full(n_pairs, -1, np.int64)
    n_users = offsets.shape[0] - 1
    for u in range(n_users):
        a, b = offsets[u], offsets[u + 1]
        prev = n_codes
        for i in range(a, b + 1):
            cur = codes[i] if i < b else n_codes + 1
            p = prev * width + cur
            counts[p] += 1
            if last[p] != u:
                users[p] += 1
                last[p] = u
            prev = cur
    return counts, users


@njit(cache=True, nogil=True)
def transition_secs(offsets, codes, t, n_codes, fill, secs):
    """Seconds on each occurrence of each pair, written at secs[fill[p]], fill[p] + 1, ...
    (NaN for pairs touching $start/$end); `fill` advances as it goes."""
    width = n_codes + 2
    n_users = offsets.shape[0] - 1
    for u in range(n_users):
        a, b = offsets[u], offsets[u + 1]
        prev = n_codes
        prev_t = 0
        for i in range(a, b + 1):
            cur = codes[i] if i < b else n_codes + 1
            p = prev * width + cur
            secs[fill[p]] = (t[i] - prev_t) / 1e6 if prev != n_codes and i < b else np.nan
            fill[p] += 1
            prev = cur
            if i < b:
                prev_t = t[i]


@njit(cache=True, nogil=True)
def stage_tally(entry_t, skipped, member, u0, u1, include, use_include, within, data_end):
    """Per group g (users u with member[u, g]) and stage k, over users u0..u1-1 (and where
    use_include, only those with include[u, k]): entered, skipped, advanced to k+1,
    pending (not advanced, time limit to k+1 not yet over at data_end), and the seconds
    from k to k+1 of users who advanced without skipping either stage
    (`secs[starts[g * n_stages + k]:starts[g * n_stages + k + 1]]`, in user order).
    One pass over the users serves every group."""
    n_stages = entry_t.shape[1]
    n_groups = member.shape[1]
    entered = np.zeros((n_groups, n_stages), np.int64)
    skips = np.zeros((n_groups, n_stages), np.int64)
    advanced = np.zeros((n_groups, n_stages), np.int64)
    pending = np.zeros((n_groups, n_stages), np.int64)
    starts = np.zeros(n_groups * n_stages + 1, np.int64)
    for step in range(2):  # count, then fill the seconds
        fill = starts[:n_groups * n_stages].copy()
        secs = np.empty(starts[n_groups * n_stages], np.float64)
        for r in range(u0, u1):
            for k in range(n_stages):
                if use_include and not include[r, k]:
                    continue
                tk = entry_t[r, k]
                skip = skipped[r, k]
                if tk < 0 and not skip:
                    continue
                adv = pend = timed = False
                if tk >= 0 and k + 1 < n_stages:
                    tn = entry_t[r, k + 1]
                    if tn >= 0:
                        adv = True
                        timed = not skip and not skipped[r, k + 1]
                    else:
                        pend = within[k + 1] >= 0 and data_end - tk < within[k + 1]
                for g in range(n_groups):
                    if not member[r, g]:
                        continue
                    if step == 1:
                        if timed:
                            slot = g * n_stages + k
                            secs[fill[slot]] = (entry_t[r, k + 1] - tk) / 1e6
                            fill[slot] += 1
                        continue
                    skips[g, k] += skip
                    if tk < 0:
                        continue
                    entered[g, k] += 1
                    advanced[g, k] += adv
                    pending[g, k] += pend
                    starts[g * n_stages + k + 1] += timed
        if step == 0:
            for x in range(n_groups * n_stages):
                starts[x + 1] += starts[x]
    return entered, skips, advanced, pending, starts, secs


@njit(cache=True, nogil=True)
def _cmp(a_off, a_data, i, b_off, b_data, j):
    """Byte-wise comparison of string i of a with string j of b: -1, 0 or 1."""
    la, lb = a_off[i + 1] - a_off[i], b_off[j + 1] - b_off[j]
    for x in range(min(la, lb)):
        ca, cb = a_data[a_off[i] + x], b_data[b_off[j] + x]
        if ca != cb:
            return -1 if ca < cb else 1
    return 0 if la == lb else (-1 if la < lb else 1)


@njit(cache=True, nogil=True)
def strictly_increasing(off, data):
    """Whether the strings (offsets, bytes) are strictly increasing byte-wise."""
    for i in range(1, off.shape[0] - 1):
        if _cmp(off, data, i - 1, off, data, i) >= 0:
            return False
    return True


@njit(cache=True, nogil=True)
def sorted_positions(k_off, k_data, u_off, u_data):
    """Where each string of u sits in k (-1: absent), both strictly increasing byte-wise:
    one merge, which checks the order as it goes. Returns None when either is not
    strictly increasing."""
    n_k, n_u = k_off.shape[0] - 1, u_off.shape[0] - 1
    out = np.full(n_u, -1, np.int64)
    i = 0
    for j in range(n_u):
        if j > 0 and _cmp(u_off, u_data, j - 1, u_off, u_data, j) >= 0:
            return None
        while i < n_k:
            c = _cmp(k_off, k_data, i, u_off, u_data, j)
            if c == 0:
                out[j] = i
            if c >= 0:
                break
            i += 1
            if i < n_k and _cmp(k_off, k_data, i - 1, k_off, k_data, i) >= 0:
                return None
    for x in range(i + 1, n_k):  # the rest of k, never reached by the merge
        if _cmp(k_off, k_data, x - 1, k_off, k_data, x) >= 0:
            return None
    return out
