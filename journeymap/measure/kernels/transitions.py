"""Directly-follows kernels: pair counts, distinct users and seconds on each edge.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def transition_counts(offsets, codes, n_codes):
    """Every user's directly-follows pairs, $start = n_codes, $end = n_codes + 1.

    Returns per pair id (from * width + to) the occurrences and distinct users.
    """
    width = n_codes + 2
    counts = np.zeros(width * width, np.int64)
    users = np.zeros(width * width, np.int64)
    add_transition_counts(offsets, codes, n_codes, 0, counts, users, np.full(width * width, -1, np.int64))
    return counts, users


@njit(cache=True, nogil=True)
def add_transition_counts(offsets, codes, n_codes, base, counts, users, last):
    """`transition_counts` added into `counts` and `users`; `last` (-1 at first) holds per
    pair the last user counted, users numbered from `base` (so that consecutive calls
    over further users, each from the base after the last, count each user once)."""
    width = n_codes + 2
    n_users = offsets.shape[0] - 1
    for u in range(n_users):
        a, b = offsets[u], offsets[u + 1]
        prev = n_codes
        for i in range(a, b + 1):
            cur = codes[i] if i < b else n_codes + 1
            p = prev * width + cur
            counts[p] += 1
            if last[p] != base + u:
                users[p] += 1
                last[p] = base + u
            prev = cur


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
