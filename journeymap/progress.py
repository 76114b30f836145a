"""Progress reporting without printing: the core reports, interfaces render.

Long work calls `report(task, done, total)`; whoever runs it decides what that
means (the CLI draws a progress bar; the web app and tests ignore it) by
installing a callback with `reporting(callback)`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Callback = Callable[[str, int, int | None], None]

_current: contextvars.ContextVar[Callback | None] = contextvars.ContextVar("journeymap_progress",
                                                                           default=None)


def report(task: str, done: int, total: int | None = None) -> None:
    """Tell the installed callback (if any) that `done` of `total` units of `task` are done."""
    callback = _current.get()
    if callback is not None:
        callback(task, done, total)


@contextmanager
def reporting(callback: Callback) -> Iterator[None]:
    """Install a progress callback for the work done inside the block."""
    token = _current.set(callback)
    try:
        yield
    finally:
        _current.reset(token)
