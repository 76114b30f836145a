"""A rich progress bar on stderr for the core's progress reports (TTY only).

The bar is drawn only while work reports progress and is erased (it is transient)
before anything else is written to the terminal: a command's output never lands on
the bar's line, and the bar never redraws over (and so erases) lines of output. The
next report draws a fresh bar below the output. Output is never rerouted: what a
command writes to stdout stays on stdout (a pipe or a file with `> out.json`), even
with the bar on the terminal.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

from journeymap.progress import reporting


def _new_progress(console):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    # Rich's own stdout/stderr redirection is off: it would send stdout to the stderr
    # console (so `> out.json` got nothing), and rich's consoles and click.echo write past
    # it anyway. _PauseOnWrite keeps output and bar apart instead.
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True,
                    redirect_stdout=False, redirect_stderr=False)


class _Bar:
    """The bar's display: started by a report, stopped (erased) before other output."""

    def __init__(self, file):
        from rich.console import Console
        # The real stderr, held: Console(stderr=True) would look up sys.stderr, the wrapper below.
        self._console = Console(file=file)
        self._progress = None
        self._tasks: dict[str, int] = {}
        self._lock = threading.RLock()

    def update(self, task: str, done: int, total: int | None) -> None:
        with self._lock:
            if self._progress is None:
                # A fresh Progress for each showing: a restarted one would first move the
                # cursor up over the lines written since, erasing them.
                self._progress = _new_progress(self._console)
                self._tasks = {}
                self._progress.start()
            if task not in self._tasks:
                self._tasks[task] = self._progress.add_task(task, total=total)
            self._progress.update(self._tasks[task], completed=done, total=total)

    def pause(self) -> None:
        """Erase the bar if it is showing; the next report draws it again."""
        with self._lock:
            if self._progress is not None:
                progress, self._progress = self._progress, None
                progress.stop()


class _PauseOnWrite:
    """A terminal stream that erases the bar before each write, then writes through."""

    def __init__(self, stream, bar: _Bar):
        self._stream = stream
        self._bar = bar

    def write(self, text):
        if text:
            self._bar.pause()
        return self._stream.write(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __getattr__(self, name):  # encoding, errors, isatty, fileno, flush, buffer...
        return getattr(self._stream, name)


@contextmanager
def progress_bar(enabled: bool | None = None):
    """Render progress reports as bars while the block runs; silent off a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield
        return
    out, err = sys.stdout, sys.stderr
    bar = _Bar(err)
    # Only streams that reach the terminal can collide with the bar; a redirected stdout
    # is left alone (the bar keeps running while it is written).
    if out is not None and out.isatty():
        sys.stdout = _PauseOnWrite(out, bar)
    sys.stderr = _PauseOnWrite(err, bar)
    try:
        with reporting(bar.update):
            yield
    finally:
        sys.stdout, sys.stderr = out, err
        bar.pause()
