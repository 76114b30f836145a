"""Type normalization and schema unification for tables entering the event store."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from journeymap.errors import IngestError, did_you_mean
from journeymap.store.schema import EVENT_CORE, EVENT_OPTIONAL, IDENTITIES, PARTITION_COLUMN, TS_TYPE
from journeymap.store.timestamps import parse_timestamps

DAY_US = 86_400_000_000
_NUMERIC = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
            "halffloat", "float", "double"}


def missing_column(name: str, columns, what: str = "events", file: str | None = None) -> IngestError:
    """The one error for a table that lacks a column journeymap needs, on every path."""
    columns = list(columns)
    return IngestError(f"{what} have no {name!r} column{did_you_mean(name, columns)} (columns: "
                       f"{', '.join(columns) or '(none)'}); rename or map a column to it "
                       f"(journeymap ingest --map {name}=<column>)", file=file)


def require(columns, names, what: str = "events", file: str | None = None) -> None:
    """Raise `missing_column` for the first of `names` not among `columns`."""
    columns = list(columns)
    for name in names:
        if name not in columns:
            raise missing_column(name, columns, what, file)


def no_nulls(table: pa.Table, names, what: str) -> None:
    """Raise IngestError if a required column has nulls."""
    for name in names:
        n = table.column(name).null_count
        if n:
            row = table.column(name).is_null().to_pylist().index(True)
            raise IngestError(f"{n} {what} row(s) have no {name}, e.g. row {row + 1}")


def value(col: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """A property column as int64, double, bool, string, temporal or nested; None if all-null type."""
    t = col.type
    if pa.types.is_null(t):
        return None
    if pa.types.is_dictionary(t):
        return value(col.cast(t.value_type))
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return col.cast(pa.string())
    if pa.types.is_integer(t) and t != pa.int64():
        try:
            return col.cast(pa.int64())
        except pa.ArrowInvalid:
            return col.cast(pa.float64())
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return col.cast(pa.float64())
    return col


def timestamps(col: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """Event times as timestamp[us, UTC] (naive = UTC; text and epochs parsed, see
    store.timestamps); IngestError naming the first value that cannot be read."""
    col = col if isinstance(col, pa.ChunkedArray) else pa.chunked_array([col])
    if pa.types.is_timestamp(col.type):
        return pc.cast(col, TS_TYPE if col.type.tz else pa.timestamp("us"), safe=False).cast(TS_TYPE)
    parsed = parse_timestamps(col)
    bad = parsed.invalid_rows()
    if bad:
        raise IngestError(f"{len(bad)} event time(s) cannot be read as a time, e.g. row {bad[0] + 1}: "
                          f"{col[bad[0]].as_py()!r}")
    return pa.chunked_array([parsed.values])


def core(table: pa.Table, *, text: bool = True) -> pa.Table:
    """The canonical core columns typed (ids and names as text, ts as UTC µs); the
    other columns as they are. `text=False`: integer and large text ids stay as they
    are, for the caller to cast where they are read (`frames.typed_in_place`)."""
    require(table.column_names, ("user_id", "event", "ts"))
    for name in table.column_names:
        if name in EVENT_CORE or name in EVENT_OPTIONAL:
            col = table.column(name)
            if name != "ts" and not text and (pa.types.is_integer(col.type) or
                                               pa.types.is_large_string(col.type)):
                continue
            typed = timestamps(col) if name == "ts" else col.cast(pa.string())
            table = table.set_column(table.column_names.index(name), name, typed)
    return table


def events(table: pa.Table) -> pa.Table:
    """Canonical core types, normalized property types, `date` renamed to `prop_date`."""
    require(table.column_names, EVENT_CORE)
    table = core(table)
    core_cols, props = {}, {}
    for name in table.column_names:
        col = table.column(name)
        if name in EVENT_CORE or name in EVENT_OPTIONAL:
            core_cols[name] = col
        elif (col := value(col)) is not None:
            props["prop_date" if name == PARTITION_COLUMN else name] = col
    order = [c for c in (*EVENT_CORE, *EVENT_OPTIONAL) if c in core_cols]
    out = pa.table({**{c: core_cols[c] for c in order}, **props})
    no_nulls(out, EVENT_CORE, "event")
    return out


def users(table: pa.Table) -> pa.Table:
    """user_id as text plus normalized trait columns."""
    require(table.column_names, ["user_id"], "users")
    cols = {"user_id": table.column("user_id").cast(pa.string())}
    for name in table.column_names:
        if name != "user_id" and (col := value(table.column(name))) is not None:
            cols[name] = col
    out = pa.table(cols)
    no_nulls(out, ["user_id"], "user")
    return out


def identities(table: pa.Table) -> pa.Table:
    """(anonymous_id, user_id) text pairs without nulls."""
    require(table.column_names, IDENTITIES.names, "identities")
    out = pa.table([table.column(n).cast(pa.string()) for n in IDENTITIES.names], schema=IDENTITIES)
    return out.filter(pc.and_(out.column(0).is_valid(), out.column(1).is_valid()))


def type_names(schema: pa.Schema) -> dict[str, str]:
    """Column name -> Arrow type name."""
    return {f.name: str(f.type) for f in schema}


def unify(table: pa.Table, stored: dict[str, str], what: str) -> tuple[pa.Table, dict[str, str]]:
    """Fit `table` to stored column types: numbers widen to double, other conflicts raise."""
    columns = dict(stored)
    for i, field in enumerate(table.schema):
        new, old = str(field.type), stored.get(field.name)
        if old is None or old == new:
            columns[field.name] = new
        elif new in _NUMERIC and old in _NUMERIC:
            table = table.set_column(i, field.name, table.column(i).cast(pa.float64()))
            columns[field.name] = "double"
        else:
            raise IngestError(f"{what} {field.name!r} has type {new} in the new data but {old} in "
                              "the store; convert it before loading (nothing was written)")
    return table, columns
