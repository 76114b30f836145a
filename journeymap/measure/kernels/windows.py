"""How often each user did each event inside a window of their own (drivers).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def window_tally(offsets, t, codes, pos, start, stop, cell, skip, counts, tally, seen):
    """How many customers did each event at least m times inside a window of their own:
    for every user u of the rows (offsets, t, codes) who is customer q = pos[u] >= 0 with
    a window (start[q] >= 0), the events of each code not in `skip` at start[q] <= t <=
    stop[q] are counted, and tally[code, j, cell[q]] += 1 for every threshold counts[j]
    the count reaches; seen[code] is set for every code counted at all."""
    n_codes = tally.shape[0]
    scratch = np.zeros(n_codes, np.int64)
    touched = np.empty(n_codes, np.int64)
    for u in range(offsets.shape[0] - 1):
        q = pos[u]
        if q < 0:
            continue
        lo = start[q]
        if lo < 0:
            continue
        hi = stop[q]
        n_seen = 0
        for i in range(offsets[u], offsets[u + 1]):
            ti = t[i]
            if ti < lo:
                continue
            if ti > hi:
                break
            c = codes[i]
            if skip[c]:
                continue
            if scratch[c] == 0:
                touched[n_seen] = c
                n_seen += 1
            scratch[c] += 1
        at = cell[q]
        for x in range(n_seen):
            c = touched[x]
            seen[c] = True
            for j in range(counts.shape[0]):
                if scratch[c] >= counts[j]:
                    tally[c, j, at] += 1
            scratch[c] = 0


@njit(cache=True, nogil=True)
def windows(start, adv, eligible, strata, h_us, lo, hi, cell, total):
    """Per customer of a population (entered at `start`, -1: never; advanced at `adv`,
    -1: never; `eligible`; persona code `strata`): the window (lo, hi), from entering (lo
    -1 when not eligible) to `h_us` later and strictly before advancing, and the cell,
    persona * 2 + (eligible and advanced); total[cell] counts the eligible. Returns how
    many entered, were eligible, and were eligible and advanced."""
    entered = n = n_adv = 0
    for i in range(start.shape[0]):
        s, a, e = start[i], adv[i], eligible[i]
        lo[i] = s if e else -1
        hi[i] = min(s + h_us, a - 1 if a >= 0 else np.iinfo(np.int64).max)
        advanced = e and a >= 0
        cell[i] = strata[i] * 2 + (1 if advanced else 0)
        entered += s >= 0
        if e:
            n += 1
            n_adv += advanced
            total[cell[i]] += 1
    return entered, n, n_adv
