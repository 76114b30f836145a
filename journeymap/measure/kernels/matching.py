"""Matching rows at one instant to steps or stages: the same answer whatever order ties came in.
"""

from __future__ import annotations

from numba import njit


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
