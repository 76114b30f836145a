"""A rich progress bar on stderr for the core's progress reports (TTY only)."""

from __future__ import annotations

import sys
from contextlib import contextmanager

from journeymap.progress import reporting


@contextmanager
def progress_bar(enabled: bool | None = None):
    """Render progress reports as bars while the block runs; silent off a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    tasks: dict[str, int] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=True, console=Console(stderr=True)) as bar:
        def update(task: str, done: int, total: int | None) -> None:
            if task not in tasks:
                tasks[task] = bar.add_task(task, total=total)
            bar.update(tasks[task], completed=done, total=total)
        with reporting(update):
            yield
