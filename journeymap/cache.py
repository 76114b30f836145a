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
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)  # as it is now
        if not self.background:
            with _lock:
                earlier = _writing.get(path)
            return self._write(path, data, earlier)
        with _lock:
            earlier = _writing.get(path)
            writer = threading.Thread(target=self._write, args=(path, data, earlier),
                                      name=f"journeymap cache {key[:8]}", daemon=False)
            _writing[path] = writer
        writer.start()

    @staticmethod
    def wait() -> None:
        """Wait for the entries being written."""
        with _lock:
            writing = list(_writing.values())
        for writer in writing:
            writer.join()

    def _write(self, path: Path, data: bytes, earlier: threading.Thread | None) -> None:
        if earlier is not None:  # the same entry written twice: in the order asked
            earlier.join()
        tmp = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
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
        """Keep the KEEP newest entries (others may be pruning at the same time)."""
        entries = []
        for entry in self.folder.glob("*.pickle"):
            try:
                entries.append((entry.stat().st_mtime, entry))
            except FileNotFoundError:
                continue
        for _, old in sorted(entries)[:-KEEP]:
            old.unlink(missing_ok=True)
