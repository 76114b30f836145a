"""Path kernels: each user's first events from an anchor, as a row of a path matrix.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def fill_paths(codes, begin, stop, depth, out):
    """Row u of `out`: the codes of rows begin[u]..stop[u]-1 (at most `depth` of them),
    -1 after them; in a last column beyond `depth` (when `out` has one), -2 where the
    user's path went on past `depth` and -1 where not."""
    width = out.shape[1]
    for u in range(begin.shape[0]):
        n = min(stop[u] - begin[u], depth)
        for j in range(width):
            out[u, j] = codes[begin[u] + j] if j < n else -1
        if width > depth and stop[u] - begin[u] > depth:
            out[u, depth] = -2
