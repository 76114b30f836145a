"""Per-user work where the engine keeps the rows: inside Spark's executors.

On an engine with executors of its own (Spark), the flagged rows of a `FlagQuery`
are repartitioned by user, sorted within each partition in USER_ORDER (as the
driver path sorts them), cut into the same user-aligned batches, and a measure's
function runs over each batch in the executors; only what it returns (a row per
user, or a tally) reaches the driver, so the driver's memory grows with the
result, not with the events. Everywhere else the measure keeps its driver path
(`iter_batches`): `in_executors` is the one place that chooses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial

import numpy as np
import pyarrow as pa

from journeymap.measure._feed.batches import BATCH_ROWS, Batch, FlagQuery, flag_rows, user_batches, user_order

#: what runs in an executor: a batch of whole users in, a small Arrow batch out
UserFunction = Callable[[Batch], pa.RecordBatch]


def in_executors(query: FlagQuery) -> bool:
    """Whether the query's per-user work runs in the engine's executors: the events are
    an engine table (not the clustered copy) on an engine that has them (Spark)."""
    if query.source.clustered:
        return False
    try:
        backend = query.source.table._find_backend()
    except Exception:  # noqa: BLE001 - an unbound table (a memtable): the driver path
        return False
    return getattr(backend, "name", "") == "pyspark"


def map_users(query: FlagQuery, fn: UserFunction, schema: pa.Schema, *,
              batch_rows: int | None = None, sum_by: Sequence[str] = (),
              top: tuple[str, str, Mapping[str, int]] | None = None) -> pa.Table:
    """fn over every batch of whole users, run in the engine's executors, its outputs
    (each of `schema`) gathered in one table, in no particular order of users (with
    `sum_by`: tallies, summed per value of those columns before they are gathered; with
    `top`: only each group's largest, see `map_partitions`).

    `fn` must be importable in the executors (a module-level function, or a
    `functools.partial` of one with picklable arguments).
    """
    from journeymap.store.spark_executors import map_partitions
    work = partial(_partition, fn, tuple(query.extra), batch_rows or BATCH_ROWS)
    return map_partitions(flag_rows(query), "user_id", user_order(query), work, schema, sum_by=sum_by,
                          top=top)


def _partition(fn: UserFunction, extra: tuple[str, ...], batch_rows: int,
               batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """In an executor: one partition's rows (whole users, in user order) as the batches
    the driver path would make, and fn's answer for each."""
    tables = (pa.Table.from_batches([b]) for b in batches)
    for batch in user_batches(tables, extra, batch_rows):
        yield fn(batch)


def side_by_side(table: pa.Table, names: list[str], dtype) -> np.ndarray:
    """Columns of the rows that came back, side by side: one row per user."""
    out = np.empty((table.num_rows, len(names)), dtype)
    for k, name in enumerate(names):
        out[:, k] = table[name].to_numpy().astype(dtype, copy=False)
    return out
