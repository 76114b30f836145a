"""A small on-disk cache of results, keyed by everything that could change them.

The key covers the journeymap version, the engine, the store's fingerprint
(any committed change to events, users or identities changes it), the journey
file's text and the options; so a hit is always the answer the computation
would give now.

A write that fails (a full or read-only disk) leaves no entry and no temporary file
and raises nothing: the cache only saves time. The `journeymap` command writes its
entries on a thread of their own (`ResultCache.background`) while the answer is shown
(a funnel's per-person arrays take about 0.1 s to write at ten million events); a
read of an entry being written waits for it, and the process waits for every write
before it ends.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

KEEP = 32

_writing: dict[Path, threading.Thread] = {}  # entries being written, by path
_lock = threading.Lock()


def cache_key(*parts) -> str:
    """A stable hash of JSON-able parts."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


class ResultCache:
    """Pickled results in a folder; written atomically, oldest pruned."""

    #: write entries on a thread of their own (the command line turns it on)
    background = False

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.pickle"

    def get(self, key: str):
        path = self._path(key)
        with _lock:
            writing = _writing.get(path)
        if writing is not None:
            writing.join()
        try:
            with open(path, "rb") as fh:
                return pickle.load(fh)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):  # a miss
            return None

    def put(self, key: str, value) -> None:
        """Write `value` as the entry `key` (or start writing it: see the module's docstring)."""
        path = self._path(key)
        if not self.background:  # streamed to the file: no copy of the value in memory
            with _lock:
                earlier = _writing.get(path)
            return self._write(path, partial(pickle.dump, value, protocol=pickle.HIGHEST_PROTOCOL), earlier)
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)  # the value as it is now
        with _lock:  # registered once started: whoever finds it can wait for it
            earlier = _writing.get(path)
            writer = threading.Thread(target=self._write, args=(path, lambda fh: fh.write(data), earlier),
                                      name=f"journeymap cache {key[:8]}", daemon=False)
            try:
                writer.start()
            except RuntimeError:  # no thread to be had: written here
                writer = None
            else:
                _writing[path] = writer
        if writer is None:
            self._write(path, lambda fh: fh.write(data), earlier)

    @staticmethod
    def wait() -> None:
        """Wait for the entries being written."""
        with _lock:
            writing = list(_writing.values())
        for writer in writing:
            writer.join()

    def _write(self, path: Path, write, earlier: threading.Thread | None) -> None:
        """write(file) into a temporary file, renamed to `path` when whole."""
        tmp = None
        try:
            if earlier is not None:  # the same entry written twice: in the order asked
                earlier.join()
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                write(fh)
            os.replace(tmp, path)
            tmp = None
            self._prune()
        except OSError:
            pass  # no entry: the answer is computed again next time
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            with _lock:
                if _writing.get(path) is threading.current_thread():
                    del _writing[path]

    def _prune(self) -> None:
        """Keep the KEEP newest entries (others may be pruning at the same time), and
        remove temporary files a killed process left (a day old)."""
        entries = []
        for entry in self.folder.iterdir():
            try:
                mtime = entry.stat().st_mtime
            except FileNotFoundError:
                continue
            if entry.suffix == ".pickle":
                entries.append((mtime, entry))
            elif entry.suffix == ".tmp" and mtime < time.time() - 86400:
                entry.unlink(missing_ok=True)
        for _, old in sorted(entries)[:-KEEP]:
            old.unlink(missing_ok=True)
