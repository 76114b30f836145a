"""How often each user did each event inside a window of their own (drivers).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def window_counts(offsets, t, codes, start, stop, skip, n_codes, out_user, out_code, out_count):
    """For every user u with start[u] >= 0: the events of codes not in `skip` at times
    start[u] <= t <= stop[u], counted per code; written as (user, code, count) triples
    into the out arrays (sized for every row); returns how many were written."""
    scratch = np.zeros(n_codes, np.int64)
    touched = np.empty(n_codes, np.int64)
    k = 0
    for u in range(offsets.shape[0] - 1):
        lo = start[u]
        if lo < 0:
            continue
        hi = stop[u]
        seen = 0
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
                touched[seen] = c
                seen += 1
            scratch[c] += 1
        for j in range(seen):
            c = touched[j]
            out_user[k] = u
            out_code[k] = c
            out_count[k] = scratch[c]
            k += 1
            scratch[c] = 0
    return k
