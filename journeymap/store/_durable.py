"""Durable writes: what reaches the disk before a rename makes it visible."""

from __future__ import annotations

import os
from pathlib import Path


def fsync(path: str | Path) -> None:
    """fsync a file or a directory (a directory where the system allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. directories on Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
