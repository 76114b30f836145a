"""What the `journeymap` command leaves out of its start-up that a library cannot.

When numba's CPU target starts (at the first compiled kernel a command runs), numba
imports `scipy.linalg` to learn whether it may compile `np.dot` and the rest of
numpy's linear algebra: 0.2 s of a one-command process wherever SciPy is installed.
journeymap's kernels call none of it, and the command's process runs no other
compiled code, so there numba is told, once its `numba.np.linalg` module has loaded,
that no BLAS is available. A program that imports journeymap as a library keeps
numba as it is (its own compiled code may want BLAS). Should numba's internals ever
change, nothing breaks: the command just starts as it did.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

NUMBA_LINALG = "numba.np.linalg"


def _no_blas() -> None:
    raise ImportError("the journeymap command compiles no linear algebra (see journeymap.cli.startup)")


class _NumbaWithoutBlas(importlib.abc.MetaPathFinder):
    """Loads `numba.np.linalg` as usual, then replaces its `ensure_blas` check."""

    def find_spec(self, name, path=None, target=None):
        if name != NUMBA_LINALG:
            return None
        sys.meta_path.remove(self)  # once, and out of the way of every other import
        spec = importlib.util.find_spec(name)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module):
            run(module)
            if callable(getattr(module, "ensure_blas", None)):
                module.ensure_blas = _no_blas

        loader.exec_module = exec_module
        return spec


def lean_numba() -> None:
    """In the command's own process: numba without the BLAS check (see the module doc)."""
    if NUMBA_LINALG not in sys.modules and not any(isinstance(f, _NumbaWithoutBlas) for f in sys.meta_path):
        sys.meta_path.insert(0, _NumbaWithoutBlas())
