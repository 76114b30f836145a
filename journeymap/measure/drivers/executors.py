"""The drivers' counting inside the engine's executors (Spark).

The driver knows each customer's window for a stage transition (from entering `from`,
within the horizon, before advancing) and their cell (persona, advanced or not): per
customer figures, from the map's stage pass. They travel to the executors with the
function; each executor counts, per window, how often each of its customers did each
event inside it (the same compiled pass as the driver path), and returns only
tallies: per window, event, at-least-m and cell, how many customers. No event row
reaches the driver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from journeymap.measure._feed.batches import Batch
from journeymap.measure._feed.traces import event_names
from journeymap.measure._feed.users import positions
from journeymap.measure.kernels.windows import window_tally

TALLY = pa.schema([("window", pa.int64()), ("event", pa.string()), ("m", pa.int64()),
                   ("cell", pa.int64()), ("n", pa.int64())])


@dataclass(frozen=True)
class Windows:
    """Windows of the population's customers (picklable: it travels to the executors)."""

    users: pa.Array  # the population's ids, sorted
    lo: np.ndarray  # (windows, customers): window start in µs, -1 for none
    hi: np.ndarray  # (windows, customers): window end in µs (inclusive)
    cell: np.ndarray  # (windows, customers): persona * 2 + advanced
    own: tuple[frozenset[str], ...]  # per window: events that are never candidates
    counts: tuple[int, ...]  # the at-least thresholds
    n_cells: int


def tallied(offsets, t, codes, pos, lo, hi, cell, skip, counts, n_cells) -> tuple[np.ndarray, np.ndarray]:
    """`window_tally` of some users' rows (codes into names, one `skip` flag per name):
    (tally[code, threshold, cell] over `counts` and `n_cells`, seen[code])."""
    tally = np.zeros((max(len(skip), 1), len(counts), n_cells), np.int64)
    seen = np.zeros(len(tally), np.bool_)
    window_tally(offsets, t, codes, pos, lo, hi, cell, skip, np.array(counts, np.int64), tally, seen)
    return tally, seen


def tally(windows: Windows, batch: Batch) -> pa.RecordBatch:
    """In an executor: per window, event, threshold m and cell, the customers of this
    batch who did the event at least m times inside their window."""
    pos = positions(windows.users, batch.users, keys_sorted=True) if len(windows.users) else \
        np.full(batch.n_users, -1, np.int64)
    enc = event_names(batch)
    names = np.array(enc.dictionary.to_pylist(), object)
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    parts = []
    for j, own in enumerate(windows.own):
        skip = np.array([name in own for name in names], np.bool_)
        counted, _ = tallied(batch.offsets, batch.t, codes, pos, windows.lo[j], windows.hi[j], windows.cell[j],
                             skip, windows.counts, windows.n_cells)
        for i, m in enumerate(windows.counts):
            n = counted[:, i, :].ravel()  # (event, cell), dense
            key_m = np.flatnonzero(n)
            parts.append((np.full(len(key_m), j), names[key_m // windows.n_cells], np.full(len(key_m), m),
                          key_m % windows.n_cells, n[key_m]))
    if not parts:
        return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in TALLY], schema=TALLY)
    cols = [np.concatenate([part[i] for part in parts]) for i in range(5)]
    return pa.RecordBatch.from_arrays([pa.array(cols[0], pa.int64()), pa.array(cols[1], pa.string()),
                                       pa.array(cols[2], pa.int64()), pa.array(cols[3], pa.int64()),
                                       pa.array(cols[4], pa.int64())], schema=TALLY)
