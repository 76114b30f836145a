"""Stage kernels: when each user entered each stage, and the per-stage tallies of the map.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from journeymap.measure.kernels.matching import _augment, _group_end

DAY_US = 86_400_000_000


@njit(cache=True, nogil=True)
def _enter_group(cur, cur_t, tg, bits, g, within, optional, ok_first, ok_later, owner, row_of,
                 prev, queue):
    """Stages entered at one instant from stage `cur`: each on a distinct row,
    as many as possible (maximum matching), skipping optional stages only when
    a later stage is entered. A stage may be entered only where its bit is set in
    `ok_first` (nothing entered yet at this instant) or `ok_later` (after a stage
    was entered at this instant): this gates activity stages. Returns the last
    stage entered (cur if none)."""
    n = within.shape[0]
    owner[:g] = -1
    row_of[:] = -1
    last = cur
    t_ref = cur_t
    s = cur + 1
    while s < n:
        ok = (ok_first if last == cur else ok_later) >> s & 1
        time_ok = last < 0 or within[s] < 0 or tg - t_ref <= within[s]
        if ok and time_ok and _augment(s, bits, g, owner, row_of, prev, queue):
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
def _push_activity(i, j, t, mask, cur, skip_row, act_mask, window, head, count, days, last_t):
    """Add the activity rows i..j-1 (all at one instant), except `skip_row`, to the day
    lists of the activity stages after `cur`: per stage, the distinct UTC days seen
    since the previous stage was entered, each with its latest time, oldest first
    (days older than the stage's window are dropped first)."""
    later = act_mask & ~((np.int64(1) << (cur + 1)) - 1) if cur >= 0 else act_mask
    cap = days.shape[1]
    for r in range(i, j):
        m = mask[r] & later
        if m == 0 or r == skip_row:
            continue
        d = t[r] // DAY_US
        s = 0
        while m:
            if m & 1:
                _expire(s, t[r], window, head, count, last_t)
                k = count[s]
                tail = (head[s] + k - 1) % cap
                if k and days[s, tail] == d:
                    last_t[s, tail] = t[r]
                else:
                    if k == cap:  # cannot happen when cap spans the window; kept safe
                        head[s] = (head[s] + 1) % cap
                        k -= 1
                    at = (head[s] + k) % cap
                    days[s, at] = d
                    last_t[s, at] = t[r]
                    count[s] = k + 1
            m >>= 1
            s += 1


@njit(cache=True, nogil=True, inline="always")
def _expire(s, now, window, head, count, last_t):
    """Drop the days of stage s whose latest time is before `now - window[s]`."""
    cap = last_t.shape[1]
    while count[s] and last_t[s, head[s]] < now - window[s]:
        head[s] = (head[s] + 1) % cap
        count[s] -= 1


@njit(cache=True, nogil=True)
def _activity_ok(cur, tg, act_mask, act_days, window, head, count, last_t):
    """Bits of the activity stages after `cur` that are met at instant tg: active on at
    least act_days[s] distinct UTC days within window[s] up to tg (since `cur`)."""
    ok = np.int64(0)
    for s in range(cur + 1, act_days.shape[0]):
        if (act_mask >> s) & 1:
            _expire(s, tg, window, head, count, last_t)
            if count[s] >= act_days[s]:
                ok |= np.int64(1) << s
    return ok


@njit(cache=True, nogil=True)
def stage_entries(offsets, t, mask, within, optional, act_days, act_window, out_t, out_skipped,
                  out_first):
    """Entry time of every stage per user, following the journey's stage rules.

    Stage 1 is entered at the first qualifying row; stage k at the first
    qualifying row (a distinct one) at or after the entry into stage k-1, and
    within `within[k]` of it when set (-1 = no limit). Rows at one instant are
    seated on stages by maximum matching. An optional stage may be skipped: its
    entry is then that of the stage after it, flagged skipped. An activity stage
    (act_days[k] > 0; its bit marks the activity rows) is entered at the first
    instant at which the activity rows since entering stage k-1 (that stage's
    entry row left out) cover act_days[k] distinct UTC days within act_window[k]
    (µs, inclusive) up to that instant. Writes out_t[u, k] (µs; left as it is where
    never entered), out_skipped[u, k] and out_first[u], the row that entered stage 1.
    """
    n = within.shape[0]
    n_users = offsets.shape[0] - 1
    row_of = np.empty(n, np.int64)
    queue = np.empty(n + 1, np.int64)
    owner = np.empty(1, np.int64)
    prev = np.empty(1, np.int64)
    act_mask = np.int64(0)
    ok_later_act = np.int64(0)  # activity stages that one row at an instant can meet
    cap = 1
    for s in range(n):
        if act_days[s] > 0:
            act_mask |= np.int64(1) << s
            if act_days[s] <= 1:
                ok_later_act |= np.int64(1) << s
            cap = max(cap, act_window[s] // DAY_US + 2)
    plain = ~act_mask
    head = np.zeros(n, np.int64)
    count = np.zeros(n, np.int64)
    days = np.empty((n, cap if act_mask else 1), np.int64)
    last_t = np.empty((n, cap if act_mask else 1), np.int64)
    for u in range(n_users):
        a, b = offsets[u], offsets[u + 1]
        cur = -1
        cur_t = 0
        count[:] = 0
        i = a
        while i < b and cur < n - 1:
            if mask[i] == 0:
                i += 1
                continue
            ti = t[i]
            alone = i + 1 == b or t[i + 1] != ti
            j = i + 1 if alone else _group_end(t, i, b)
            ok_first = np.int64(-1)
            if act_mask:
                _push_activity(i, j, t, mask, cur, -1, act_mask, act_window, head, count, days,
                               last_t)
                ok_first = plain | _activity_ok(cur, ti, act_mask, act_days, act_window, head,
                                                count, last_t)
            if alone:  # a row alone at its instant: one stage at most
                last = _enter_one(cur, cur_t, ti, mask[i] & ok_first, within, optional)
                if last > cur:
                    out_t[u, last] = ti
                    for s in range(last - 1, cur, -1):  # optional stages passed over
                        out_t[u, s] = ti
                        out_skipped[u, s] = True
                    if cur < 0:
                        out_first[u] = i
                    cur = last
                    cur_t = ti
                    count[:] = 0  # activity counts again from this entry (its row left out)
                i += 1
                continue
            if owner.shape[0] < j - i:
                owner = np.empty(j - i, np.int64)
                prev = np.empty(j - i, np.int64)
            last = _enter_group(cur, cur_t, ti, mask[i:j], j - i, within, optional, ok_first,
                                plain | ok_later_act, owner, row_of, prev, queue)
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
                if act_mask:  # activity counts again from this entry, its row left out
                    count[:] = 0
                    _push_activity(i, j, t, mask, last, i + row_of[last], act_mask, act_window,
                                   head, count, days, last_t)
                cur = last
                cur_t = ti
            i = j


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
