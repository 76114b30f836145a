"""An Ibis table's columns read straight into Arrow, without its engine, where they lie.

Two kinds of table hold their rows where Arrow reads them as they are:

- a table held in memory (what a pandas or polars DataFrame or an Arrow table
  becomes): its Arrow columns, zero-copy (a DataFrame's text properties, turned
  into Arrow when read);
- a DuckDB view straight over Parquet files (`con.read_parquet(path)`, no
  options, no globs, no `key=value` folders, the files agreeing on the columns'
  types): the files read with pyarrow, text columns kept dictionary-coded as
  Parquet stores them, row groups in file order.

Any other table (a filter or a join over one of these, a database table, a
Spark table) is the engine's to read: `pieces` returns None for it. Whoever
reads pieces gets every row exactly once, in the files' or the table's order.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from journeymap._deferred import ir
from journeymap.store._read_ahead import read_ahead

#: rows read at once from Parquet files (whole row groups, read in parallel)
PIECE_ROWS = 1 << 21
#: the view `ibis.duckdb` makes for `read_parquet(paths)` with no options
_PARQUET_VIEW = re.compile(
    r"CREATE (?:TEMP )?VIEW \S+ AS SELECT \* FROM read_parquet\(main\.list_value\("
    r"((?:'(?:[^']|'')*'(?:, )?)+)\)\);?\s*", re.S)
_QUOTED = re.compile(r"'((?:[^']|'')*)'")


def pieces(table: ir.Table, columns: Sequence[str], *, coded: Sequence[str] = (),
           ordered_by: str | None = None, max_rows: int | None = None
           ) -> Iterator[pa.Table] | None:
    """The table's `columns` as Arrow tables, every row once, or None when the table is
    not one that can be read without its engine. `coded` text columns are read
    dictionary-coded from Parquet (each piece its own dictionary); from memory, as held.
    `ordered_by`: also None when Parquet row-group statistics already show the rows are
    not in that column's order (a row group starting below the end of the one before),
    before a row is read. `max_rows`: also None when the table holds more rows."""
    op, as_text = _columns_of(table.op())
    if op is None or not set(columns) <= set(as_text):
        return None
    if type(op).__name__ == "InMemoryTable":
        read = _held(op, columns, max_rows)
    else:
        files = parquet_files(op)
        read = None if files is None else _from_parquet(files, columns, coded, ordered_by,
                                                        max_rows)
    cast = [c for c in columns if as_text[c]]
    return read if read is None or not cast else _cast(read, cast)


def _columns_of(op):
    """The table under `op`, and per column whether it is cast to text on the way: `op`
    itself, or a projection of its columns, some integer or text columns cast to text
    (as `frames.typed_in_place` does); (None, {}) for anything else."""
    if type(op).__name__ != "Project":
        return op, dict.fromkeys(op.schema.names, False)
    parent, as_text = op.parent, {}
    for name, value in op.values.items():
        cast = type(value).__name__ == "Cast"
        field = value.arg if cast else value
        if type(field).__name__ != "Field" or field.rel is not parent or field.name != name:
            return None, {}
        if cast and not (value.to.is_string() and (field.dtype.is_integer() or
                                                   field.dtype.is_string())):
            return None, {}
        as_text[name] = cast
    return parent, as_text


def _cast(read: Iterator[pa.Table], columns: list[str]) -> Iterator[pa.Table]:
    """Integer columns as text, as the engine's cast writes them (digits, a leading minus)."""
    for piece in read:
        for c in columns:
            piece = piece.set_column(piece.schema.get_field_index(c), c,
                                     piece.column(c).cast(pa.string()))
        yield piece


def parquet_files(op) -> list[str] | None:
    """The Parquet files of a DuckDB view (a table's op) made by `read_parquet(paths)` with
    no options (None for any other table, a glob among the paths, or a missing file)."""
    if type(op).__name__ != "DatabaseTable" or getattr(op.source, "name", None) != "duckdb":
        return None
    try:
        rows = op.source.con.execute("SELECT sql FROM duckdb_views() WHERE view_name = ?",
                                     [op.name]).fetchall()
    except Exception:  # noqa: BLE001 - a connection that cannot say: the engine reads it
        return None
    match = _PARQUET_VIEW.fullmatch(rows[0][0]) if len(rows) == 1 and rows[0][0] else None
    if match is None:
        return None
    files = [m.replace("''", "'") for m in _QUOTED.findall(match.group(1))]
    if not files or any(set(f) & set("*?[{") or not os.path.isfile(f) or _hive_style(f)
                        for f in files):
        return None
    return files


def _hive_style(path: str) -> bool:
    """Whether a folder on the path is named like `key=value`: DuckDB then reads hive
    partition columns from the path, which the file itself does not hold."""
    return any("=" in part for part in Path(path).parent.parts)


def _held(op, columns: Sequence[str], max_rows: int | None) -> Iterator[pa.Table] | None:
    """The `columns` of a table held in memory (None if one is missing, or it holds more
    than `max_rows`): of Arrow, as held; of a pandas DataFrame (where `frames` leaves a
    DataFrame's text properties as given), only these columns turned into Arrow."""
    if not set(columns) <= set(op.schema.names):
        return None
    pandas = type(op.data).__name__ == "PandasDataFrameProxy"
    data = op.data.to_frame() if pandas else op.data.to_pyarrow(op.schema)
    if max_rows is not None and len(data) > max_rows:
        return None
    if not pandas:
        return iter([data.select(list(columns))])
    table = pa.Table.from_pandas(data[list(columns)], preserve_index=False)
    for i, field in enumerate(table.schema):  # polars' string views: Arrow computes on text
        if str(field.type) == "string_view":
            table = table.set_column(i, field.name, table.column(i).cast(pa.large_string()))
    return iter([table])


def _from_parquet(files: list[str], columns: Sequence[str], coded: Sequence[str],
                  ordered_by: str | None, max_rows: int | None = None
                  ) -> Iterator[pa.Table] | None:
    try:
        readers = [pq.ParquetFile(f, read_dictionary=[c for c in coded if c in columns])
                   for f in files]
    except (OSError, pa.ArrowException):
        return None
    if max_rows is not None and sum(r.metadata.num_rows for r in readers) > max_rows:
        return None
    if any(not set(columns) <= set(r.schema_arrow.names) for r in readers):
        return None
    types = {tuple(r.schema_arrow.field(c).type for c in columns) for r in readers}
    if len(types) > 1:  # DuckDB reads every file as the first one's types: the engine's to do
        return None
    if ordered_by is not None and not _may_be_in_order(readers, ordered_by):
        return None

    plan = []  # (reader, row groups) of each piece
    for reader in readers:
        groups, rows = [], 0
        for g in range(reader.num_row_groups):
            groups.append(g)
            rows += reader.metadata.row_group(g).num_rows
            if rows >= PIECE_ROWS:
                plan.append((reader, groups))
                groups, rows = [], 0
        if groups:
            plan.append((reader, groups))
    return read_ahead([lambda r=r, g=g: r.read_row_groups(g, columns=list(columns))
                       for r, g in plan])


def _may_be_in_order(readers: list[pq.ParquetFile], column: str) -> bool:
    """False when the row groups' min/max statistics of `column` show it out of order;
    True when they agree with an order or cannot tell (none written, a nested column)."""
    last = None
    for reader in readers:
        meta = reader.metadata
        at = [i for i in range(meta.num_columns)
              if meta.row_group(0).column(i).path_in_schema == column] if meta.num_row_groups else []
        if len(at) != 1:
            return True
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(at[0]).statistics
            if stats is None or not stats.has_min_max:
                return True
            try:
                if last is not None and stats.min < last:
                    return False
            except TypeError:  # values of different kinds: cannot tell
                return True
            last = stats.max
    return True
