"""Event ids already seen in one ingest, kept as 64-bit keys (8 bytes an id, compiled).

`IdSet.add` answers "was this id's key seen before?" for a chunk of ids in
order. Equal keys are only candidates: the caller confirms them on the ids
themselves, so a hash collision never drops an event.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pyarrow as pa

from journeymap.store.frames import string_buffers

_MAX_LOAD = 0.8  # linear probing stays short below this
_EMPTY = np.uint64(0)


@numba.njit(cache=True, nogil=True)
def _hash_strings(offsets: np.ndarray, data: np.ndarray, out: np.ndarray) -> None:
    """Multiply-xor over each string's bytes, 8 at a time, then a splitmix64 finish.

    0 is reserved for empty slots.
    """
    prime = np.uint64(0x100000001B3)
    for i in range(len(out)):
        h = np.uint64(0xCBF29CE484222325) ^ np.uint64(offsets[i + 1] - offsets[i])
        j, end = offsets[i], offsets[i + 1]
        while j < end:
            word = np.uint64(0)
            for b in range(min(8, end - j)):
                word |= np.uint64(data[j + b]) << np.uint64(8 * b)
            h = (h ^ word) * prime
            h ^= h >> np.uint64(29)
            j += 8
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        h = h ^ (h >> np.uint64(31))
        out[i] = h if h != 0 else np.uint64(1)


@numba.njit(cache=True, nogil=True)
def _insert(table: np.ndarray, keys: np.ndarray, seen: np.ndarray) -> int:
    """Add keys in order; seen[i] = key i was already present. Returns how many were new."""
    mask = np.uint64(len(table) - 1)
    added = 0
    for i in range(len(keys)):
        k = keys[i]
        slot = k & mask
        while True:
            v = table[slot]
            if v == k:
                seen[i] = True
                break
            if v == 0:
                table[slot] = k
                added += 1
                break
            slot = (slot + np.uint64(1)) & mask
    return added


def hash_ids(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """64-bit keys of string ids (nulls are not expected), chunk by chunk where they lie
    (joining the chunks first would copy every id)."""
    out = np.empty(len(ids), np.uint64)
    at = 0
    for chunk in ids.chunks if isinstance(ids, pa.ChunkedArray) else [ids]:
        if len(chunk):
            _hash_strings(*string_buffers(chunk), out[at:at + len(chunk)])
        at += len(chunk)
    return out


class IdSet:
    """An open-addressing set of 64-bit keys that grows as needed."""

    def __init__(self, capacity: int = 1 << 20):
        self._table = np.zeros(1 << max(10, (capacity - 1).bit_length()), np.uint64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, keys: np.ndarray) -> np.ndarray:
        """Add `keys` in order; True where a key was present before (earlier or earlier in `keys`)."""
        self._reserve(self._n + len(keys))
        seen = np.zeros(len(keys), np.bool_)
        self._n += _insert(self._table, keys, seen)
        return seen

    def _reserve(self, n: int) -> None:
        """Grow (rehash) so that `n` keys stay under the maximum load."""
        size = len(self._table)
        while n > _MAX_LOAD * size:
            size *= 2
        if size != len(self._table):
            old = self._table[self._table != _EMPTY]
            self._table = np.zeros(size, np.uint64)
            _insert(self._table, old, np.zeros(len(old), np.bool_))


@numba.njit(cache=True, nogil=True)
def _scatter(keys: np.ndarray, shift, starts: np.ndarray, out_k: np.ndarray, out_i: np.ndarray) -> None:
    """Each key (and its row) into its bucket (the key's top bits), rows in order."""
    at = starts[:-1].copy()
    for i in range(keys.shape[0]):
        b = keys[i] >> shift
        out_k[at[b]] = keys[i]
        out_i[at[b]] = i
        at[b] += 1


@numba.njit(cache=True, nogil=True)
def _sort_buckets(out_k: np.ndarray, out_i: np.ndarray, starts: np.ndarray, b0: int, b1: int) -> None:
    """Buckets b0..b1-1 sorted by key in place, each row carried with its key."""
    for b in range(b0, b1):
        lo, hi = starts[b], starts[b + 1]
        if hi - lo > 1:
            o = np.argsort(out_k[lo:hi], kind="mergesort")  # O(n log n) whatever the keys
            out_k[lo:hi], out_i[lo:hi] = out_k[lo:hi][o], out_i[lo:hi][o]


def sorted_order(keys: np.ndarray) -> np.ndarray:
    """np.argsort(keys) for 64-bit hash keys (equal keys in no particular order): rows
    scattered into buckets by their keys' top bits (hashes spread evenly: about 32 a
    bucket), then the buckets sorted on two cores. 10M keys: about 0.4 s, against 1.4 s
    for numpy's argsort on two cores."""
    n = len(keys)
    if n < 1 << 20:
        return np.argsort(keys)
    bits = min(16, int(np.log2(n / 32)))
    shift = np.uint64(64 - bits)
    counts = np.bincount((keys >> shift).astype(np.int64), minlength=1 << bits)
    if counts.max() > 1 << 16:  # not spread like hashes: numpy's sort
        return np.argsort(keys)
    starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    out_k, out_i = np.empty(n, np.uint64), np.empty(n, np.int64)
    _scatter(keys, shift, starts, out_k, out_i)
    half = int(np.searchsorted(starts, n // 2))  # about half the rows on each core
    if (os.cpu_count() or 1) < 2:
        _sort_buckets(out_k, out_i, starts, 0, 1 << bits)
        return out_i
    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(_sort_buckets, out_k, out_i, starts, 0, half),
                     pool.submit(_sort_buckets, out_k, out_i, starts, half, 1 << bits)]:
            done.result()
    return out_i
