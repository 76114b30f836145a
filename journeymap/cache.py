"""A small on-disk cache of results, keyed by everything that could change them.

The key covers the journeymap version, the engine, the store's fingerprint
(any committed change to events, users or identities changes it), the journey
file's text and the options; so a hit is always the answer the computation
would give now.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from pathlib import Path

KEEP = 32


def cache_key(*parts) -> str:
    """A stable hash of JSON-able parts."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


class ResultCache:
    """Pickled results in a folder; written atomically, oldest pruned."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.pickle"

    def get(self, key: str):
        try:
            with open(self._path(key), "rb") as fh:
                return pickle.load(fh)
        except (FileNotFoundError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
            return None

    def put(self, key: str, value) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, self._path(key))
        entries = sorted(self.folder.glob("*.pickle"), key=lambda p: p.stat().st_mtime)
        for old in entries[:-KEEP]:
            old.unlink(missing_ok=True)
