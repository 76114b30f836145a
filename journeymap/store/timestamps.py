"""Vectorized timestamp parsing into timestamp[us, UTC], done inside DuckDB.

Accepted forms:

* ISO 8601 / SQL text: ``2024-05-01T10:00:00Z``, ``2024-05-01 10:00:00.123+02:00``,
  ``2024-05-01T10:00:00`` (no offset means UTC), ``2024-05-01`` (midnight UTC).
* Epoch numbers, as numbers or numeric strings. The unit is told by magnitude:
  ``abs(value) >= 1e11`` is epoch **milliseconds**, anything smaller is epoch
  **seconds** (1e11 s is the year 5138; 1e11 ms is 1973-03-03). Values with
  ``abs(value) >= 1e15`` (e.g. epoch microseconds) are not accepted. A bare
  number such as ``20240101`` is read as epoch seconds, not as a date.
* Native date/timestamp columns: naive timestamps are taken as UTC.

Values that cannot be parsed become NULL and are reported per row; nothing is
raised for the whole column. The SQL works on epoch microseconds (BIGINT), which
avoids time-zone conversions inside DuckDB; Arrow then labels them UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from journeymap._deferred import duckdb
from journeymap.store.schema import TS_TYPE

__all__ = ["ParsedTimestamps", "connect", "parse_timestamps", "epoch_us_sql", "ts_sql", "MS_THRESHOLD"]

#: epoch values at or above this magnitude are milliseconds, below are seconds
MS_THRESHOLD = 1e11
_MAX_EPOCH_MS = 1e15
_INT_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")


@dataclass(frozen=True)
class ParsedTimestamps:
    """Parsed values (NULL where unparseable) and a per-row `invalid` mask."""

    values: pa.Array
    invalid: pa.Array

    def invalid_rows(self) -> list[int]:
        """Indices of rows whose non-blank input could not be parsed."""
        return pc.indices_nonzero(self.invalid).to_pylist()


def connect() -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB connection whose session time zone is UTC."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


def _epoch_number_sql(x: str, integer: bool) -> str:
    """SQL: epoch seconds or milliseconds `x` (told by magnitude) -> epoch microseconds."""
    if integer:
        return (f"CASE WHEN abs({x}) >= {_MAX_EPOCH_MS} THEN NULL WHEN abs({x}) >= {MS_THRESHOLD} "
                f"THEN ({x}) * 1000 ELSE ({x}) * 1000000 END")
    return (f"CASE WHEN NOT isfinite({x}) OR abs({x}) >= {_MAX_EPOCH_MS} THEN NULL "
            f"WHEN abs({x}) >= {MS_THRESHOLD} THEN CAST(round(({x}) * 1000) AS BIGINT) "
            f"ELSE CAST(round(({x}) * 1000000) AS BIGINT) END")


def epoch_us_sql(expr: str, duck_type: str = "VARCHAR") -> str:
    """SQL: column `expr` of DuckDB type `duck_type` -> UTC epoch microseconds (BIGINT), NULL if unparseable.

    Text needs a connection from `connect()` (TimeZone = UTC: text without offset is UTC).
    """
    t = duck_type.upper()
    if t.startswith("TIMESTAMP"):
        return f"epoch_us({expr})"
    if t == "DATE":
        return f"epoch_us(CAST({expr} AS TIMESTAMP))"
    if t in _INT_TYPES:
        return _epoch_number_sql(f"CAST({expr} AS BIGINT)", True)
    if t in ("FLOAT", "DOUBLE", "HUGEINT", "UBIGINT") or t.startswith("DECIMAL"):
        return _epoch_number_sql(f"CAST({expr} AS DOUBLE)", False)
    v = f"CAST({expr} AS VARCHAR)"
    return (f"coalesce(epoch_us(TRY_CAST({v} AS TIMESTAMPTZ)), "
            f"{_epoch_number_sql(f'TRY_CAST({v} AS DOUBLE)', False)})")


def ts_sql(expr: str, duck_type: str = "VARCHAR") -> str:
    """SQL: like `epoch_us_sql` but as a DuckDB TIMESTAMPTZ value."""
    return f"make_timestamp({epoch_us_sql(expr, duck_type)})::TIMESTAMPTZ"


def parse_timestamps(values: pa.Array | pa.ChunkedArray) -> ParsedTimestamps:
    """Parse a pyarrow column into timestamp[us, UTC], flagging unparseable rows."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_null(values.type):
        values = values.cast(pa.string())
    con = connect()
    try:
        con.register("src", pa.table({"v": values}))
        duck_type = str(con.sql("SELECT v FROM src").types[0])
        out = con.sql(f"SELECT {epoch_us_sql('v', duck_type)} AS us FROM src").to_arrow_table()
    finally:
        con.close()
    parsed = out.column("us").combine_chunks().cast(TS_TYPE)
    text = values.cast(pa.string())
    blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(text), ""), True)
    invalid = pc.and_(pc.invert(blank), parsed.is_null())
    return ParsedTimestamps(parsed, invalid)
