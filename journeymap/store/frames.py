"""Accept events in the forms users hold them: pandas, polars, Arrow, Ibis.

Everything becomes an Ibis table with the canonical core columns
(`user_id`, `event` as text, `ts` as UTC microseconds); other columns pass
through as properties.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa

from journeymap.errors import IngestError
from journeymap.store import _normalize as norm

REQUIRED = ("user_id", "event", "ts")


def to_arrow(obj) -> pa.Table:
    """An Arrow table from pandas, polars, Arrow or a list of dicts."""
    if isinstance(obj, pa.Table):
        return obj
    if isinstance(obj, pa.RecordBatch):
        return pa.Table.from_batches([obj])
    if hasattr(obj, "to_arrow"):  # polars
        return obj.to_arrow()
    if isinstance(obj, list):
        return pa.Table.from_pylist(obj)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        pd = None
    if pd is not None and isinstance(obj, pd.DataFrame):
        return pa.Table.from_pandas(obj, preserve_index=False)
    raise IngestError(f"cannot read events from a {type(obj).__name__}: "
                     "pass a pandas/polars DataFrame, an Arrow table or an Ibis table")


def normalize_events(table: pa.Table) -> pa.Table:
    """Canonical core column types (see `_normalize.core`), every event with a time;
    property columns untouched."""
    table = norm.core(table)
    norm.no_nulls(table, ["ts"], "event")
    return table


def with_content_ids(table: ir.Table) -> ir.Table:
    """Add `event_id` as a hash of the row's content, so ties order by content, not input order."""
    parts = [table[c].cast("string").fill_null("\\N") for c in table.columns]
    return table.mutate(event_id=ibis.literal("|").join(parts).hexdigest("md5"))


def as_events(obj) -> ir.Table:
    """An Ibis events table from any accepted form (Ibis tables keep their engine).

    Without an `event_id` column, one is derived from each row's content.
    """
    if isinstance(obj, ir.Table):
        norm.require(obj.columns, REQUIRED)
        table = obj
    else:
        table = ibis.memtable(normalize_events(to_arrow(obj)))
    return table if "event_id" in table.columns else with_content_ids(table)


def as_table(obj, key: str = "user_id", what: str = "users") -> ir.Table:
    """An Ibis table of per-user rows (traits) from any accepted form."""
    table = obj if isinstance(obj, ir.Table) else ibis.memtable(to_arrow(obj))
    norm.require(table.columns, (key,), what)
    return table


def string_buffers(ids: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of a string array as numpy views, no copy for a plain or large
    string array (offsets int32 or int64; string i is bytes[offsets[i]:offsets[i + 1]]).
    Null entries read as empty strings."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    if not pa.types.is_large_string(ids.type):
        ids = ids.cast(pa.string())
    width = np.int64 if pa.types.is_large_string(ids.type) else np.int32
    _, offsets, data = ids.buffers()[:3]
    off = np.frombuffer(offsets, width, len(ids) + 1, ids.offset * np.dtype(width).itemsize) \
        if offsets is not None else np.zeros(1, width)
    return off, np.frombuffer(data, np.uint8) if data is not None else np.zeros(1, np.uint8)
