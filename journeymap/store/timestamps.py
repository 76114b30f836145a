"""Vectorized timestamp parsing into timestamp[us, UTC], done inside DuckDB.

Accepted forms:

* ISO 8601 / SQL text: ``2024-05-01T10:00:00Z``, ``2024-05-01 10:00:00.123+02:00``,
  ``2024-05-01T10:00:00`` (no offset means UTC), ``2024-05-01`` (midnight UTC).
* Epoch numbers, as numbers or numeric strings. The unit is told by magnitude:
  ``abs(value) >= 1e11`` is epoch **milliseconds**, anything smaller is epoch
  **seconds** (1e11 s is the year 5138; 1e11 ms is 1973-03-03). Values with
  ``abs(value) >= 1e15`` (e.g. epoch microseconds) are not accepted.
* Native date/timestamp columns: naive timestamps are taken as UTC.

Values that cannot be parsed become NULL and are reported per row; nothing is
raised for the whole column.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from journeymap.store.schema import TS_TYPE

__all__ = ["ParsedTimestamps", "connect", "parse_timestamps", "ts_sql", "MS_THRESHOLD"]

#: epoch values at or above this magnitude are milliseconds, below are seconds
MS_THRESHOLD = 1e11
_MAX_EPOCH_MS = 1e15
_NUMERIC_RE = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_ISO_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ]|$)"
_INT_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
              "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT")


@dataclass(frozen=True)
class ParsedTimestamps:
    """Parsed values (NULL where unparseable) and a per-row `invalid` mask."""

    values: pa.Array
    invalid: pa.Array

    def invalid_rows(self) -> list[int]:
        """Indices of rows whose non-null input could not be parsed."""
        return pc.indices_nonzero(self.invalid).to_pylist()


def connect() -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB connection whose session time zone is UTC."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def _epoch_sql(x: str, integer: bool) -> str:
    """SQL turning epoch seconds/milliseconds `x` into TIMESTAMPTZ."""
    us_ms = f"({x}) * 1000" if integer else f"CAST(round(({x}) * 1000) AS BIGINT)"
    us_s = f"({x}) * 1000000" if integer else f"CAST(round(({x}) * 1000000) AS BIGINT)"
    return (f"CASE WHEN abs({x}) >= {_MAX_EPOCH_MS} OR isnan({x}::DOUBLE) THEN NULL "
            f"WHEN abs({x}) >= {MS_THRESHOLD} THEN make_timestamp(CAST({us_ms} AS BIGINT))::TIMESTAMPTZ "
            f"ELSE make_timestamp(CAST({us_s} AS BIGINT))::TIMESTAMPTZ END")


def _string_sql(expr: str) -> str:
    """SQL parsing a VARCHAR as an epoch number or ISO 8601 text."""
    v = f"trim(CAST({expr} AS VARCHAR))"
    return (f"CASE WHEN regexp_matches({v}, '{_NUMERIC_RE}') "
            f"THEN {_epoch_sql(f'TRY_CAST({v} AS DOUBLE)', False)} "
            f"WHEN regexp_matches({v}, '{_ISO_RE}') THEN TRY_CAST({v} AS TIMESTAMPTZ) END")


def ts_sql(expr: str, duck_type: str = "VARCHAR") -> str:
    """SQL expression turning column `expr` of DuckDB type `duck_type` into UTC TIMESTAMPTZ.

    Needs a connection from `connect()` (TimeZone = UTC). NULL where unparseable.
    """
    t = duck_type.upper()
    if t in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return f"CAST({expr} AS TIMESTAMPTZ)"
    if t.startswith("TIMESTAMP") or t == "DATE":
        return f"CAST(CAST({expr} AS TIMESTAMP) AS TIMESTAMPTZ)"
    if t in _INT_TYPES:
        return _epoch_sql(f"CAST({expr} AS BIGINT)", True)
    if t in ("FLOAT", "DOUBLE") or t.startswith("DECIMAL"):
        return _epoch_sql(f"CAST({expr} AS DOUBLE)", False)
    return _string_sql(expr)


def parse_timestamps(values: pa.Array | pa.ChunkedArray) -> ParsedTimestamps:
    """Parse a pyarrow column into timestamp[us, UTC], flagging unparseable rows."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_null(values.type):
        values = values.cast(pa.string())
    con = connect()
    try:
        src = pa.table({"v": values})
        con.register("src", src)
        duck_type = str(con.sql("SELECT v FROM src").types[0])
        sql = f"SELECT {ts_sql('v', duck_type)} AS ts FROM src"
        out = con.sql(sql).to_arrow_table().column("ts").combine_chunks()
    finally:
        con.close()
    out = out.cast(TS_TYPE)
    blank = pc.equal(pc.utf8_trim_whitespace(values.cast(pa.string())), "")
    invalid = pc.and_(pc.and_(values.is_valid(), pc.invert(pc.fill_null(blank, False))),
                      out.is_null())
    return ParsedTimestamps(out, invalid)
