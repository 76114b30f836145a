"""A write-ahead journal: records are on disk (fsynced) before `append` returns.

Records are lines of bytes (the collector writes one JSON message per line) in
segment files ``seg-<number>.jsonl`` under one folder. One writer thread takes
every request waiting in its queue, writes them with one `write` and one
`fdatasync` (group commit: concurrent requests share the sync), then wakes them.
`rotate()` closes the open segment, so that what was written so far can be moved
elsewhere (the event store) and the segment deleted; a new segment opens on the
next write. After a crash, the segments on disk are the ones still to move; a
segment's last line without its newline is a record never acknowledged, and
`complete_lines` leaves it out.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from pathlib import Path

from journeymap.store._durable import fsync

__all__ = ["Journal", "complete_lines", "segments"]

_NAME = re.compile(r"^seg-(\d{20})\.jsonl$")


def segments(folder: Path) -> list[Path]:
    """The journal's segments in the order they were written."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name))


def _number(path: Path) -> int:
    return int(_NAME.match(path.name).group(1))


def complete_lines(path: Path) -> bytes:
    """The segment's bytes up to its last newline (a torn last record is dropped)."""
    data = path.read_bytes()
    return data[:data.rfind(b"\n") + 1]


class _Request:
    __slots__ = ("data", "done", "error", "rotate", "closed_below")

    def __init__(self, data: bytes = b"", rotate: bool = False):
        self.data, self.rotate = data, rotate
        self.closed_below = 0  # a rotate's answer: segments numbered below this are closed
        self.done = threading.Event()
        self.error: BaseException | None = None


class Journal:
    """Append durably from many threads; one writer thread, group commit."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        existing = segments(self.folder)
        self._next = _number(existing[-1]) + 1 if existing else 1
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self._thread.start()
        self.bytes_written = self.syncs = 0

    def append(self, data: bytes) -> None:
        """Write `data` (whole lines, each ending in a newline) and return once it is on disk."""
        if not data:
            return
        self._wait(_Request(data))

    def rotate(self) -> list[Path]:
        """Close the open segment; returns every closed segment, oldest first (never one
        a write opened after the rotate)."""
        req = _Request(rotate=True)
        self._wait(req)
        return [p for p in segments(self.folder) if _number(p) < req.closed_below]

    def close(self) -> None:
        """Stop the writer (the open segment is closed; nothing written is lost)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _wait(self, req: _Request) -> None:
        if not self._thread.is_alive():
            raise RuntimeError("the journal is closed")
        self._queue.put(req)
        req.done.wait()
        if req.error is not None:
            raise req.error

    def _run(self) -> None:
        stop = False
        while not stop:
            batch = [self._queue.get()]
            while True:  # everything already waiting joins this write and sync
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = None in batch
            try:
                self._write([r for r in batch if r is not None])
            except BaseException as exc:  # noqa: BLE001 - handed to every waiting caller
                self._close_segment()  # a torn write stays the last bytes of its segment
                for r in batch:
                    if r is not None:
                        r.error = exc
            for r in batch:
                if r is not None:
                    r.done.set()
        self._close_segment()

    def _write(self, batch: list[_Request]) -> None:
        """Write the data requests in order; a rotate closes the segment after what precedes it."""
        pending: list[bytes] = []
        for r in batch:
            if r.rotate:
                self._flush(pending)
                pending = []
                self._close_segment()
                r.closed_below = self._next
            else:
                pending.append(r.data)
        self._flush(pending)

    def _flush(self, parts: list[bytes]) -> None:
        if not parts:
            return
        data = b"".join(parts)
        if self._fd is None:
            self._path = self.folder / f"seg-{self._next:020d}.jsonl"
            self._next += 1
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
            fsync(self.folder)  # the new name survives a crash
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        os.fdatasync(self._fd)
        self.bytes_written += len(data)
        self.syncs += 1

    def _close_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = self._path = None
