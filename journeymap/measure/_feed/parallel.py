"""Per-user kernels spread over the machine's cores.

Users are independent, so a batch splits into contiguous user ranges of
about equal rows; each range runs in a thread (the compiled kernels release
the GIL) and the results come back in range order, so the answer never
depends on the number of threads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

MIN_ROWS = 100_000  # below this a batch runs on one thread: not worth the hand-off


def threads() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=threads(), thread_name_prefix="journeymap")
    return _POOL


def user_ranges(offsets: np.ndarray, parts: int | None = None) -> list[tuple[int, int]]:
    """Contiguous user ranges [u0, u1) holding about equal numbers of rows."""
    n_users = len(offsets) - 1
    rows = int(offsets[-1] - offsets[0]) if n_users > 0 else 0
    parts = parts or (threads() if rows >= MIN_ROWS else 1)
    if parts <= 1 or n_users < 2:
        return [(0, max(n_users, 0))]
    targets = offsets[0] + rows * np.arange(1, parts) / parts
    cuts = np.clip(np.searchsorted(offsets, targets), 1, n_users - 1)
    bounds = np.unique(np.concatenate(([0], cuts, [n_users])))
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def over_ranges(ranges: list[tuple[int, int]], call: Callable[[int, int], object]) -> list:
    """call(u0, u1) for every range, in parallel; the results in range order."""
    if len(ranges) == 1:
        return [call(*ranges[0])]
    return list(_pool().map(lambda r: call(*r), ranges))


def over_users(offsets: np.ndarray, call: Callable[[int, int], object]) -> list:
    """call(u0, u1) on user ranges of `offsets`, in parallel; the results in order."""
    return over_ranges(user_ranges(offsets), call)


def joined(arrays: list[np.ndarray]) -> np.ndarray:
    """np.concatenate of 1-d arrays, the copies spread over the cores (numpy copies
    without the GIL): the same array."""
    at = np.concatenate(([0], np.cumsum([len(a) for a in arrays]))).astype(np.int64)
    ranges = user_ranges(at)
    if len(ranges) == 1:
        return np.concatenate(arrays)
    out = np.empty(int(at[-1]), np.result_type(*arrays))

    def copy(i0: int, i1: int) -> None:
        for i in range(i0, i1):
            out[at[i]:at[i + 1]] = arrays[i]

    over_ranges(ranges, copy)
    return out


def over_items(items, call: Callable[[object], object]) -> list:
    """call(item) for every item, in parallel threads (for numpy work that releases
    the GIL); the results in order. Items go to the threads in one contiguous share
    each: a task per item would cost more than the item itself when there are many
    small ones (the median of each of 90k event pairs)."""
    items = list(items)
    parts = min(threads(), len(items))
    if parts <= 1:
        return [call(item) for item in items]
    cuts = np.linspace(0, len(items), parts + 1).astype(int)
    shares = _pool().map(lambda ab: [call(item) for item in items[ab[0]:ab[1]]], zip(cuts[:-1], cuts[1:]))
    return [result for share in shares for result in share]


_SIDE: ThreadPoolExecutor | None = None


def in_background(call: Callable, *args) -> Future:
    """Run call(*args) on a side thread (not the kernels' pool), e.g. an engine query
    that can overlap a kernel pass; `.result()` gives its value or raises its error."""
    global _SIDE
    if _SIDE is None:
        _SIDE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journeymap-side")
    return _SIDE.submit(call, *args)


class _Later:
    """call(*args) run when its result is first asked for."""

    def __init__(self, call: Callable, args: tuple):
        self._call, self._args = call, args

    def result(self):
        return self._call(*self._args)


def beside_pass(source, call: Callable, *args):
    """call(*args) (an engine query), run beside the next pass over `source` where that
    pass leaves the engine free (`source.passes_use_engine` false), else once its
    `.result()` is asked for, after the pass."""
    return _Later(call, args) if source.passes_use_engine else in_background(call, *args)
