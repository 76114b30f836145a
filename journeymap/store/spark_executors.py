"""Python over each key's rows inside Spark's executors (`mapInArrow`).

The rows of an Ibis query on the Spark backend are repartitioned by a key (every
row of one key lands in one partition), sorted within each partition, and a Python
function turns each partition's Arrow batches into a few rows of its own; only those
come back to the driver. The function must be importable in the executors' Python
(a module-level function of journeymap, or a `functools.partial` of one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import pyarrow as pa

from journeymap.store.spark import _quiet_sockets

__all__ = ["map_partitions"]

PartitionFunction = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]


def map_partitions(expr, key: str, order: Sequence[str], fn: PartitionFunction,
                   schema: pa.Schema, *, sum_by: Sequence[str] = (),
                   top: tuple[str, str, Mapping[str, int]] | None = None) -> pa.Table:
    """fn over each partition of `expr`'s rows, partitioned by `key` and sorted by
    `order` within partitions (ascending, missing values last, as Ibis' `order_by`
    compiles for Spark); fn's rows (of `schema`) collected as one Arrow table. With
    `sum_by`, fn's rows are tallies: summed per value of those columns in the engine,
    so one row per value is collected. With `top` (a column, a value column, and k per
    value of the column), only the k rows of each such value with the largest values
    are collected, ties broken by the other `sum_by` columns (ascending, binary)."""
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
    if top is not None:
        out = _top(out, *top, [c for c in sum_by if c not in top[:2]])
    with _quiet_sockets():
        table = out.toArrow() if hasattr(out, "toArrow") else \
            pa.Table.from_batches(out._collect_as_arrow(), schema)  # PySpark 3.5
    return table if table.schema.equals(schema) else table.cast(schema)


def _top(frame, column: str, value: str, k: Mapping[str, int], ties: Sequence[str]):
    """The rows of `frame` whose `value` is among the k[g] largest of their `column` g,
    ties broken by the `ties` columns in ascending (binary) order; rows of other groups
    all kept."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    order = [F.col(f"`{value}`").desc(), *[F.col(f"`{c}`").asc() for c in ties]]
    rank = F.row_number().over(Window.partitionBy(F.col(f"`{column}`")).orderBy(*order))
    keep = F.lit(True)
    for group, n in k.items():
        keep = keep & ((F.col(f"`{column}`") != F.lit(group)) | (F.col("_rank") <= F.lit(n)))
    return frame.withColumn("_rank", rank).filter(keep).drop("_rank")
