"""Byte-wise string kernels on Arrow buffers: order checks and sorted merges of user ids
(strings given as (offsets, bytes), see `store.frames.string_buffers`).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir as llvm
from numba import njit, types
from numba.extending import intrinsic


@intrinsic
def _word(typingctx, data, at):
    """The 8 bytes of a uint8 array from index `at` as one (unaligned) load; only for
    equality, so the byte order does not matter. The caller keeps at + 8 in bounds."""
    def codegen(context, builder, sig, args):
        array = context.make_array(sig.args[0])(context, builder, args[0])
        at = builder.gep(array.data, [args[1]])
        return builder.load(builder.bitcast(at, llvm.IntType(64).as_pointer()), align=1)
    return types.uint64(data, at), codegen


@njit(cache=True, nogil=True, inline="always")
def _cmp(a_off, a_data, i, b_off, b_data, j):
    """Byte-wise comparison of string i of a with string j of b: -1, 0 or 1. Equal
    stretches are skipped 8 bytes at a time (user ids of a sorted list share long
    prefixes with their neighbours, and a merge compares equal ids whole)."""
    a0, b0 = a_off[i], b_off[j]
    la, lb = a_off[i + 1] - a0, b_off[j + 1] - b0
    m, x = min(la, lb), 0
    while x + 8 <= m and _word(a_data, a0 + x) == _word(b_data, b0 + x):
        x += 8
    while x < m:
        ca, cb = a_data[a0 + x], b_data[b0 + x]
        if ca != cb:
            return -1 if ca < cb else 1
        x += 1
    return 0 if la == lb else (-1 if la < lb else 1)


@njit(cache=True, nogil=True)
def strictly_increasing(off, data):
    """Whether the strings (offsets, bytes) are strictly increasing byte-wise."""
    for i in range(1, off.shape[0] - 1):
        if _cmp(off, data, i - 1, off, data, i) >= 0:
            return False
    return True


@njit(cache=True, nogil=True)
def changes(off, data):
    """Per string: whether it differs from the one before (the first: True)."""
    n = off.shape[0] - 1
    out = np.ones(n, np.bool_)
    for i in range(1, n):
        out[i] = _cmp(off, data, i - 1, off, data, i) != 0
    return out


@njit(cache=True, nogil=True)
def kept_changes(off, data, rows):
    """Per kept row (`rows`: increasing row numbers into the strings): whether its string
    differs from the kept row's before it (the first: True); None when one is below the
    one before (the rows are not in order)."""
    n = rows.shape[0]
    out = np.ones(n, np.bool_)
    for j in range(1, n):
        c = _cmp(off, data, rows[j - 1], off, data, rows[j])
        if c > 0:
            return None
        out[j] = c != 0
    return out


@njit(cache=True, nogil=True)
def odd_last_byte(off, data):
    """Per string: whether its last byte is odd (False when empty)."""
    n = off.shape[0] - 1
    out = np.zeros(n, np.bool_)
    for i in range(n):
        if off[i + 1] > off[i]:
            out[i] = data[off[i + 1] - 1] & 1
    return out


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



@njit(cache=True, nogil=True)
def sorted_bounds(k_off, k_data, u_off, u_data):
    """(a, b): the strings of the sorted k from the first at or after u's first string to
    the last at or before u's last (binary searches; u non-empty)."""
    n_k, last = k_off.shape[0] - 1, u_off.shape[0] - 2
    lo, hi = 0, n_k
    while lo < hi:  # the first k >= u[0]
        mid = (lo + hi) // 2
        if _cmp(k_off, k_data, mid, u_off, u_data, 0) < 0:
            lo = mid + 1
        else:
            hi = mid
    a, hi = lo, n_k
    while lo < hi:  # the first k > u[last]
        mid = (lo + hi) // 2
        if _cmp(k_off, k_data, mid, u_off, u_data, last) <= 0:
            lo = mid + 1
        else:
            hi = mid
    return a, lo


@njit(cache=True, nogil=True)
def sorted_union(a_off, a_data, b_off, b_data):
    """The union of two strictly increasing string lists, as one merge: (where each union
    entry comes from, as an index into a then b; where each string of a lands; where each
    string of b lands)."""
    n_a, n_b = a_off.shape[0] - 1, b_off.shape[0] - 1
    source = np.empty(n_a + n_b, np.int64)
    at_a, at_b = np.empty(n_a, np.int64), np.empty(n_b, np.int64)
    i = j = k = 0
    while i < n_a or j < n_b:
        c = -1 if j == n_b else 1 if i == n_a else _cmp(a_off, a_data, i, b_off, b_data, j)
        if c <= 0:
            source[k] = i
            at_a[i] = k
            i += 1
        else:
            source[k] = n_a + j
        if c >= 0:
            at_b[j] = k
            j += 1
        k += 1
    return source[:k], at_a, at_b
