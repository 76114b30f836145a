"""Per-user results gathered batch by batch straight into their final arrays.

Each batch hands over the users it keeps and their rows of every column. The
arrays are sized once when the number of users is known ahead (the ordered
copy knows it) and otherwise grow by doubling; the result is the filled part,
so there are no per-batch pieces to keep and no final concatenation.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from journeymap.store.frames import from_numbers


class Gather:
    """Columns of per-user values (name -> (shape of one user's value, dtype)), filled in
    user order, and the ids of the users kept."""

    def __init__(self, capacity: int, **columns: tuple[tuple[int, ...], type]):
        self._arrays = {name: np.empty((max(capacity, 1), *shape), dtype)  # pages touched on use
                        for name, (shape, dtype) in columns.items()}
        self._users: list[pa.Array] = []
        self.n = 0

    def add(self, users: pa.Array, keep: np.ndarray, **values: np.ndarray) -> dict[str, np.ndarray]:
        """Append the users where `keep` and their rows of `values` (one per column, or
        some of them); returns the new rows of every column, for the caller to fill the
        others."""
        rows = np.flatnonzero(keep)
        views = self._next(len(rows))
        for name, v in values.items():  # clip: numpy takes straight into `out` (raise buffers)
            out = views[name]
            np.take(v.astype(out.dtype, copy=False), rows, axis=0, out=out, mode="clip")
        self._users.append(users.filter(from_numbers(keep)) if len(rows) < len(keep) else users)
        return views

    def _next(self, m: int) -> dict[str, np.ndarray]:
        end = self.n + m
        capacity = len(next(iter(self._arrays.values())))
        if end > capacity:
            for name, a in self._arrays.items():
                grown = np.empty((max(end, 2 * capacity), *a.shape[1:]), a.dtype)
                grown[:self.n] = a[:self.n]
                self._arrays[name] = grown
        views = {name: a[self.n:end] for name, a in self._arrays.items()}
        self.n = end
        return views

    def result(self) -> tuple[pa.Array, dict[str, np.ndarray]]:
        """The users kept and every column's filled rows (copied out when far fewer than
        the space set aside, so the rest is given back)."""
        users = pa.concat_arrays(self._users) if self._users else pa.array([], pa.string())
        cols = {}
        for name, a in self._arrays.items():
            filled = a[:self.n]
            cols[name] = filled.copy() if 2 * self.n < len(a) else filled
        return users, cols
