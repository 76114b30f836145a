"""Python over each key's rows inside Spark's executors (`mapInArrow`).

The rows of an Ibis query on the Spark backend are repartitioned by a key (every
row of one key lands in one partition), sorted within each partition, and a Python
function turns each partition's Arrow batches into a few rows of its own; only those
come back to the driver. The function must be importable in the executors' Python
(a module-level function of journeymap, or a `functools.partial` of one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pyarrow as pa

from journeymap.store.spark import _quiet_sockets

__all__ = ["map_partitions"]

PartitionFunction = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]


def map_partitions(expr, key: str, order: Sequence[str], fn: PartitionFunction,
                   schema: pa.Schema, *, sum_by: Sequence[str] = ()) -> pa.Table:
    """fn over each partition of `expr`'s rows, partitioned by `key` and sorted by
    `order` within partitions (ascending, missing values last, as Ibis' `order_by`
    compiles for Spark); fn's rows (of `schema`) collected as one Arrow table. With
    `sum_by`, fn's rows are tallies: summed per value of those columns in the engine,
    so one row per value is collected."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    con = expr._find_backend()
    con._run_pre_execute_hooks(expr)  # in-memory tables (e.g. the users asked for) registered
    frame = con._session.sql(con.compile(expr))
    cols = [F.col(f"`{c}`").asc_nulls_last() for c in order]
    spread = frame.repartition(F.col(f"`{key}`")).sortWithinPartitions(*cols)
    out = spread.mapInArrow(fn, from_arrow_schema(schema))
    if sum_by:
        out = out.groupBy(*[F.col(f"`{c}`") for c in sum_by]).agg(
            *[F.sum(F.col(f"`{c}`")).alias(c) for c in schema.names if c not in sum_by]
        ).select(*[F.col(f"`{c}`") for c in schema.names])
    with _quiet_sockets():
        table = out.toArrow() if hasattr(out, "toArrow") else \
            pa.Table.from_batches(out._collect_as_arrow(), schema)  # PySpark 3.5
    return table if table.schema.equals(schema) else table.cast(schema)
