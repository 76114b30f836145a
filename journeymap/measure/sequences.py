"""Users' events in a deterministic order, delivered in user-aligned batches.

The engine filters, flags and sorts rows by (user_id, ts, event, event_id);
this module streams the result as numpy arrays that the compiled kernels walk.
A batch never splits one user's rows, so memory stays bounded by the batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from journeymap.measure.predicates import bitmask
from journeymap.progress import report

BATCH_ROWS = 1 << 21
ORDER = ("user_id", "ts", "event", "event_id")


@dataclass
class Batch:
    """Rows of whole users: ids, user starts (`offsets`), time in µs, flag bits."""

    users: pa.Array
    offsets: np.ndarray
    t: np.ndarray
    mask: np.ndarray
    columns: dict[str, pa.Array] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return len(self.offsets) - 1


def flagged_rows(events: ir.Table, flags: Sequence[ir.BooleanValue], *, keep_all: bool = False,
                 extra: Sequence[str] = ()) -> ir.Table:
    """The query: bit k of `mask` = flags[k]; rows with no flag dropped unless keep_all."""
    rows = events.mutate(_mask=bitmask(list(flags)))
    if not keep_all:
        rows = rows.filter(rows._mask != 0)
    order = [c for c in ORDER if c in events.columns]
    return rows.order_by(order).select("user_id", "ts", "_mask", *extra)


def _to_batch(table: pa.Table, extra: Sequence[str]) -> Batch:
    users = table["user_id"].combine_chunks()
    n = len(users)
    if n:
        change = pc.not_equal(users.slice(1), users.slice(0, n - 1)).to_numpy(zero_copy_only=False)
        starts = np.concatenate(([0], np.flatnonzero(change) + 1)).astype(np.int64)
    else:
        starts = np.zeros(0, np.int64)
    offsets = np.append(starts, n).astype(np.int64)
    t = table["ts"].combine_chunks().cast(pa.int64()).to_numpy(zero_copy_only=False)
    mask = table["_mask"].combine_chunks().cast(pa.int64()).to_numpy(zero_copy_only=False)
    return Batch(users=users.take(pa.array(starts)), offsets=offsets, t=np.ascontiguousarray(t),
                 mask=np.ascontiguousarray(mask),
                 columns={c: table[c].combine_chunks() for c in extra})


def iter_batches(query: ir.Table, *, batch_rows: int = BATCH_ROWS, task: str = "events"
                 ) -> Iterator[Batch]:
    """Stream a `flagged_rows` query as user-aligned batches (progress: rows read)."""
    extra = [c for c in query.columns if c not in ("user_id", "ts", "_mask")]
    pending: list[pa.RecordBatch] = []
    pending_rows = done = 0
    for rb in query.to_pyarrow_batches(chunk_size=batch_rows):
        if rb.num_rows == 0:
            continue
        pending.append(rb)
        pending_rows += rb.num_rows
        done += rb.num_rows
        report(task, done)
        if pending_rows < batch_rows:
            continue
        table = pa.Table.from_batches(pending)
        last_user = table["user_id"][-1]
        keep = pc.equal(table["user_id"], last_user)
        head = table.filter(pc.invert(keep))
        tail = table.filter(keep)
        pending, pending_rows = tail.to_batches(), tail.num_rows
        if head.num_rows:
            yield _to_batch(head, extra)
    if pending_rows:
        yield _to_batch(pa.Table.from_batches(pending), extra)
