"""Process memory settings that keep big arrays fast on machines that stall on them.

numpy asks the kernel for transparent huge pages on arrays of 4 MB and more.
Where the kernel compacts memory synchronously to honour that request
(`/sys/kernel/mm/transparent_hugepage/defrag` is `always` or `madvise`), the
first touch of a fresh array can stall for seconds once the page cache has
fragmented memory: measured on a 2-core VM, concatenating 400 MB of funnel
results took 1.6 s with the request and 0.34 s without. There journeymap
turns the request off, as numpy's own NUMPY_MADVISE_HUGEPAGE=0 would; an
explicit NUMPY_MADVISE_HUGEPAGE setting is left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

DEFRAG = Path("/sys/kernel/mm/transparent_hugepage/defrag")


def stalls_on_huge_pages(defrag: Path = DEFRAG) -> bool:
    """Whether the kernel compacts memory in the faulting thread for madvised regions."""
    try:
        chosen = defrag.read_text().split("[", 1)[1].split("]", 1)[0]
    except (OSError, IndexError):
        return False
    return chosen in ("always", "madvise")


def tune() -> bool:
    """Turn numpy's huge page request off where it stalls; True if it was turned off."""
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ or not stalls_on_huge_pages():
        return False
    setter = getattr(getattr(np, "_core", getattr(np, "core", None)).multiarray,
                     "_set_madvise_hugepage", None)
    if setter is None:
        return False
    setter(False)
    return True
