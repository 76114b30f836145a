"""Bucket counts of durations (the time-to-next distribution).
"""

from __future__ import annotations

import numpy as np
from numba import njit


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
