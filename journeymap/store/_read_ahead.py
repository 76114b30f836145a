"""Reads one ahead: the next read runs on a thread of its own while the caller works on
this one (pyarrow decodes without the GIL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def read_ahead(reads: Sequence[Callable[[], T]]) -> Iterator[T]:
    """Each read's result in order, the next one already under way; a caller that stops
    early waits for at most the read in flight."""
    if not reads:
        return
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journeymap-read")
    try:
        coming = pool.submit(reads[0])
        for read in reads[1:]:
            got = coming.result()
            coming = pool.submit(read)
            yield got
        yield coming.result()
    finally:  # also when the caller stops early
        pool.shutdown(wait=True, cancel_futures=True)
