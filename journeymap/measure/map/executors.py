"""The stage pass run inside the engine's executors (Spark): the same kernel over the
same batches of whole users, and one row per user who entered stage 1 back to the
driver (id, each stage's entry time and skip, the entry properties): what every stage
statistic needs, and no event row."""

from __future__ import annotations

from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from journeymap.measure._feed.batches import Batch, FlagQuery
from journeymap.measure._feed.executors import map_users, side_by_side
from journeymap.measure.map.stage_batch import StageRules, gather, run


def row_schema(n: int, props: dict[str, pa.DataType]) -> pa.Schema:
    """A user's row: `user_id`, entry times `e0`.. (µs, -1: never), skips `s0`.., and the
    entry properties by name."""
    return pa.schema([("user_id", pa.string()), *[(f"e{k}", pa.int64()) for k in range(n)],
                      *[(f"s{k}", pa.bool_()) for k in range(n)], *props.items()])


def user_rows(rules: StageRules, entry_props: tuple[str, ...], schema: pa.Schema,
              batch: Batch) -> pa.RecordBatch:
    """In an executor: the stage kernel over one batch, a row per user who entered stage 1."""
    out = gather(rules, batch.n_users)
    values = run(batch, rules, entry_props, out)
    users, cols = out.result()
    n = rules.within.shape[0]
    arrays = [users.cast(pa.string()), *[pa.array(cols["entry_t"][:, k]) for k in range(n)],
              *[pa.array(cols["skipped"][:, k]) for k in range(n)],
              *[values[c].cast(schema.field(c).type) for c in entry_props]]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def on_executors(rules: StageRules, query: FlagQuery, entry_props: tuple[str, ...]
                 ) -> tuple[pa.Array, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The users who entered stage 1 (sorted by id, as the driver path has them), their
    entry times, skips and entry properties, computed in the executors."""
    types = query.source.table.schema()
    schema = row_schema(rules.within.shape[0], {c: types[c].to_pyarrow() for c in entry_props})
    table = map_users(query, partial(user_rows, rules, tuple(entry_props), schema), schema)
    table = table.take(pc.array_sort_indices(table["user_id"], null_placement="at_end"))
    n = rules.within.shape[0]
    entry_t = side_by_side(table, [f"e{k}" for k in range(n)], np.int64)
    skipped = side_by_side(table, [f"s{k}" for k in range(n)], np.bool_)
    props = {c: table[c].to_numpy() for c in entry_props}
    return table["user_id"].combine_chunks(), entry_t, skipped, props
