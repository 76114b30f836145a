"""The funnel run inside the engine's executors (Spark): the same kernels over the same
batches of whole users, and one compact row per kept user back to the driver (id,
level, step times, the optional steps done, the breakdown value): what `persons()`
and the exact medians of `conversion_time()` need, and no event row."""

from __future__ import annotations

from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from journeymap.measure._feed.batches import Batch, FlagQuery
from journeymap.measure._feed.executors import map_users, side_by_side
from journeymap.measure.funnel.batch import Plan, gather, objects, run


def row_schema(plan: Plan, value_type: pa.DataType | None) -> pa.Schema:
    """A kept user's row: `user_id`, `level`, `t0`.. (µs, -1 where not reached), with
    optional steps `d0`.. (done), with a breakdown `value`."""
    fields = [("user_id", pa.string()), ("level", pa.int64())]
    fields += [(f"t{k}", pa.int64()) for k in range(plan.n)]
    if plan.marked:
        fields += [(f"d{k}", pa.bool_()) for k in range(plan.n)]
    if plan.breakdown:
        fields.append(("value", value_type))
    return pa.schema(fields)


def user_rows(plan: Plan, schema: pa.Schema, batch: Batch) -> pa.RecordBatch:
    """In an executor: the funnel over one batch, a row per user who did step 1."""
    out = gather(plan, batch.n_users)
    value = run(plan, batch, out)
    users, cols = out.result()
    arrays = [users.cast(pa.string()), pa.array(cols["levels"])]
    arrays += [pa.array(cols["times"][:, k]) for k in range(plan.n)]
    if plan.marked:
        arrays += [pa.array(cols["done"][:, k]) for k in range(plan.n)]
    if plan.breakdown:
        arrays.append(value.cast(schema.field("value").type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def on_executors(plan: Plan, query: FlagQuery
                 ) -> tuple[pa.Array, dict[str, np.ndarray], np.ndarray | None]:
    """The funnel's kept users, their columns (see `batch.gather`) and breakdown values,
    computed in the executors; the users sorted by id as the driver path has them."""
    value_type = query.source.table.schema()[plan.breakdown].to_pyarrow() \
        if plan.breakdown else None
    schema = row_schema(plan, value_type)
    table = map_users(query, partial(user_rows, plan, schema), schema)
    table = table.take(pc.array_sort_indices(table["user_id"], null_placement="at_end"))
    n = plan.n
    cols = {"levels": table["level"].to_numpy().astype(np.int64, copy=False),
            "times": side_by_side(table, [f"t{k}" for k in range(n)], np.int64)}
    if plan.marked:
        cols["done"] = side_by_side(table, [f"d{k}" for k in range(n)], np.bool_)
    values = objects([table["value"].combine_chunks()]) if plan.breakdown else None
    return table["user_id"].combine_chunks(), cols, values
