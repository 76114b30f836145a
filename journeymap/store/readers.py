"""Read CSV, Parquet, JSONL and Segment files into canonical event tables.

CSV, Parquet and JSONL are parsed, typed, validated and hashed inside DuckDB;
only Segment messages are handled one by one in Python. Each format becomes a
`_Source`: the canonical query (streamed in chunks, so a file of any size is
read in bounded memory) and how to describe the bad rows it finds.
"""

from __future__ import annotations

import csv
import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from journeymap._deferred import duckdb
from journeymap.errors import IngestError, did_you_mean
from journeymap.store import segment_json as segment
from journeymap.store._lines import locate_csv, locate_lines
from journeymap.store._tabular import canonical_sql, lit, q, resolve_columns, split
from journeymap.store.schema import EVENT_CORE
from journeymap.store.timestamps import connect

__all__ = ["Rejected", "ReadResult", "EventFile", "read_events", "read_users", "load_events",
           "checked_chunks", "settle_rejects", "detect_format", "FORMATS"]

FORMATS = ("csv", "parquet", "jsonl", "segment")
_EXT = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
        ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}
_ALIASES = {"ndjson": "jsonl", "json": "json", "tsv": "csv"}
_SAMPLE = 20_000
#: good rows are handed on in tables of about this size: it bounds the memory of an ingest
CHUNK_BYTES = 384 << 20
BATCH_ROWS = 1 << 20  # rows per DuckDB result batch
_STREAM_BUFFER = "256MB"
_DOUBLE_CHECK = ("isfinite(TRY_CAST({x} AS DOUBLE)) AND (NOT starts_with({x}, '0') OR {x} = '0' "
                 "OR starts_with({x}, '0.'))")
_NUM_RE = "-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?"


@dataclass(frozen=True)
class Rejected:
    """One input row that was not loaded: where it is, why, and its raw text."""

    location: str
    reason: str
    raw: str


@dataclass
class ReadResult:
    """Canonical events plus Segment users/identities and the rejected rows."""

    events: pa.Table
    users: pa.Table | None = None
    identities: pa.Table | None = None
    rejected: list[Rejected] = field(default_factory=list)


@dataclass(frozen=True)
class _Source:
    """A format's canonical query, its property names, and how to place its bad rows."""

    sql: str
    props: list[str]
    rejected: Callable[[list[tuple[int, str]]], list[Rejected]]  # (ordinal, reason) -> Rejected
    users: pa.Table | None = None
    identities: pa.Table | None = None


def detect_format(path: Path, format: str | None = None, mapping: dict | None = None) -> str:
    """The reader to use for `path`: one of FORMATS."""
    fmt = (format or _EXT.get(path.suffix.lower(), "")).lower()
    fmt = _ALIASES.get(fmt, fmt)
    if fmt == "json" or (fmt == "jsonl" and format is None and mapping is None):
        return segment.sniff(path, default="jsonl" if fmt == "jsonl" else "segment")
    if fmt not in FORMATS:
        raise IngestError(f"unknown format {format or path.suffix!r}; use one of "
                          f"{', '.join(FORMATS)} (by extension or format=...)", file=str(path))
    return fmt


class EventFile:
    """An open event file: Segment users/identities up front, good events chunk by chunk.

    Use as a context manager. `chunks()` streams the canonical events in bounded
    memory; once it is exhausted, `rejected` holds every bad row with its place.
    """

    def __init__(self, path: str | Path, *, mapping: dict[str, str] | None = None,
                 format: str | None = None):
        self.path = Path(path)
        self.file = str(self.path)
        if not self.path.is_file():
            raise IngestError("no such file", file=self.file)
        self.format = detect_format(self.path, format, mapping)
        self.rejected: list[Rejected] = []
        self.n_bad = 0
        self._con = connect()
        try:
            self._source = (_READERS[self.format](self._con, self.path, mapping, self.file)
                            if self.path.stat().st_size else None)
        except duckdb.Error as exc:
            self.close()
            raise self._error(exc) from None
        except BaseException:
            self.close()
            raise
        self.users = self._source.users if self._source else None
        self.identities = self._source.identities if self._source else None

    def __enter__(self) -> EventFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._con.close()

    def chunks(self) -> Iterator[pa.Table]:
        """Good events, about CHUNK_BYTES at a time, in file order; then sets `rejected`."""
        if self._source is None:
            return
        src, offset, bad = self._source, 0, []
        try:
            for table in _stream(self._con, src.sql, CHUNK_BYTES):
                good, more = split(table, src.props, offset)
                offset += table.num_rows
                bad += more
                self.n_bad = len(bad)
                if good.num_rows:
                    yield good
            self.rejected = sorted(src.rejected(bad), key=_line_key)
        except duckdb.Error as exc:
            raise self._error(exc) from None

    def _error(self, exc: duckdb.Error) -> IngestError:
        return IngestError(f"could not read {self.format} file: {exc}", file=self.file)


def read_events(path: str | Path, *, mapping: dict[str, str] | None = None,
                format: str | None = None) -> ReadResult:
    """Read one file into canonical events; bad rows are returned in `rejected`."""
    with EventFile(path, mapping=mapping, format=format) as f:
        chunks = list(f.chunks())
    events = pa.concat_tables(chunks, promote_options="default") if chunks else _empty_events()
    return ReadResult(events, f.users, f.identities, f.rejected)


def load_events(path: str | Path, *, mapping: dict[str, str] | None = None, format: str | None = None,
                skip_bad_rows: str | Path | None = None) -> ReadResult:
    """Read a file all-or-nothing, or write bad rows to `skip_bad_rows` and keep the good ones."""
    res = read_events(path, mapping=mapping, format=format)
    settle_rejects(res.rejected, str(path), skip_bad_rows)
    return res


def checked_chunks(f: EventFile, skip_bad_rows: str | Path | None = None) -> Iterator[pa.Table]:
    """`f.chunks()` all-or-nothing: after the last chunk, raise on bad rows or write them out.

    Without `skip_bad_rows`, chunks stop once a bad row is seen (they would be thrown away).
    """
    for chunk in f.chunks():
        if skip_bad_rows is not None or not f.n_bad:
            yield chunk
    settle_rejects(f.rejected, f.file, skip_bad_rows)


def settle_rejects(rejected: list[Rejected], file: str, skip_bad_rows: str | Path | None) -> None:
    """Write the bad rows to `skip_bad_rows`, or raise IngestError if there are any."""
    if skip_bad_rows is not None:
        _write_rejects(Path(skip_bad_rows), rejected)
    elif rejected:
        n, first = len(rejected), rejected[:10]
        listing = "\n".join(f"  {r.location}: {r.reason}" for r in first)
        more = f"\n  ... and {n - len(first)} more" if n > len(first) else ""
        raise IngestError(f"{n} bad row(s); nothing was loaded:\n{listing}{more}\n"
                          "Fix them, or use --skip-bad-rows FILE to load the good rows and "
                          "write every bad row to FILE.", file=file,
                          rejected=[(r.location, r.reason) for r in first])


def _stream(con, sql: str, chunk_bytes: int) -> Iterator[pa.Table]:
    """Run `sql` and hand its rows over in tables of about `chunk_bytes`, in order.

    DuckDB streams with all its threads only while its result buffer has room, hence the large one.
    """
    con.execute(f"SET streaming_buffer_size = '{_STREAM_BUFFER}'")
    batches, size = [], 0
    for batch in con.execute(sql).to_arrow_reader(BATCH_ROWS):
        batches.append(batch)
        size += batch.nbytes
        if size >= chunk_bytes:
            yield pa.Table.from_batches(batches)
            batches, size = [], 0
    if batches:
        yield pa.Table.from_batches(batches)


def _write_rejects(path: Path, rejected: list[Rejected]) -> None:
    """Write every rejected row as CSV (location, reason, raw)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["location", "reason", "raw"])
        out.writerows((r.location, r.reason, r.raw) for r in rejected)


def _read_csv(con, path: Path, mapping, file: str) -> _Source:
    """CSV via DuckDB read_csv as text, then typed per column (sample guess, full check)."""
    cols = con.sql(f"SELECT * FROM {_csv(file)} LIMIT 0").columns
    canon = resolve_columns(cols, mapping, file)
    # property names as written: DuckDB trims the spaces around header cells
    written = _header_as_written(con, path, file, cols)
    names = [c if c in canon.values() else w for c, w in zip(cols, written)] if written else cols
    csv_of = functools.partial(_csv, names=names if names != cols else None)
    props = [c for c in names if c not in canon.values()]
    sel = [*(q(c) for c in canon.values()), *_csv_casts(con, csv_of(file), props)]
    con.execute(f"CREATE TEMP VIEW stage AS SELECT {', '.join(sel)} FROM {csv_of(file, rejects=True)}")
    sql, names = canonical_sql(con, "stage", mapping, file)

    def rejected(bad: list[tuple[int, str]]) -> list[Rejected]:
        shape = con.sql("SELECT line, any_value(error_message) FROM reject_errors GROUP BY line").fetchall()
        if not bad and not shape:
            return []
        good_at, rec_at = locate_csv(path, [r for r, _ in bad], [line for line, _ in shape])
        return ([_rejected(file, *good_at[r], why) for r, why in bad]
                + [_rejected(file, *rec_at[line], _shape_reason(msg)) for line, msg in shape])
    return _Source(sql, names, rejected)


def _csv(file: str, rejects: bool = False, names: list[str] | None = None) -> str:
    """read_csv of `file` as text; with `rejects`, malformed lines go to reject_errors, else
    are skipped; `names`: the columns' names instead of the header's (which it skips)."""
    bad = "store_rejects=true" if rejects else "ignore_errors=true"
    named = f", names=[{', '.join(lit(n) for n in names)}]" if names else ""
    return f"read_csv({lit(file)}, all_varchar=true, header=true, {bad}, quote='\"', escape='\"'{named})"


def _header_as_written(con, path: Path, file: str, cols: list[str]) -> list[str] | None:
    """The header's cells as the file writes them, spaces around them kept, when they are
    DuckDB's column names `cols` but for those spaces (None otherwise, or when the header
    cannot be read here: a delimiter of several characters, say)."""
    try:
        with open(path, "rb") as fh:
            first = fh.readline(1 << 20).rstrip(b"\r\n").decode("utf-8", "replace")
        if '"' not in first and not any(ch.isspace() for ch in first):  # nothing was trimmed
            return None
        delimiter = con.sql(f"SELECT Delimiter FROM sniff_csv({lit(file)}, quote='\"', escape='\"', "
                            "header=true)").fetchone()[0]
        with open(path, newline="", encoding="utf-8-sig") as fh:
            cells = next(csv.reader(fh, delimiter=delimiter, quotechar='"', doublequote=True))
    except (duckdb.Error, OSError, UnicodeError, StopIteration, csv.Error, TypeError):
        return None
    if len(cells) != len(cols) or not all(_trimmed_to(c, n) for c, n in zip(cells, cols)):
        return None
    return cells if cells != list(cols) else None


def _trimmed_to(cell: str, name: str) -> bool:
    """Whether `name` is `cell` with only whitespace taken from around it."""
    at = cell.find(name)
    while at >= 0:
        before, after = cell[:at], cell[at + len(name):]
        if (not before or before.isspace()) and (not after or after.isspace()):
            return True
        at = cell.find(name, at + 1)
    return False


def _csv_casts(con, scan: str, props: list[str]) -> list[str]:
    """Natural-type casts for CSV property columns (read by `scan`, a `_csv` of the file):
    guessed on a sample, verified on all rows."""
    if not props:
        return []
    checks = [_check(c, k, strict=True) for c in props for k in ("BIGINT", "DOUBLE", "BOOLEAN")]
    guess = con.sql(f"SELECT {', '.join(checks)} FROM (SELECT * FROM {scan} LIMIT {_SAMPLE})").fetchone()
    kinds = {c: [k for k, ok in zip(("BIGINT", "DOUBLE", "BOOLEAN"), guess[3 * i:3 * i + 3]) if ok]
             for i, c in enumerate(props)}
    todo = [(c, k) for c in props for k in kinds[c]]
    checks = ", ".join(_check(c, k) for c, k in todo)
    verified = con.sql(f"SELECT {checks} FROM {scan}").fetchone() if todo else []
    ok = {}
    for (c, k), good in zip(todo, verified):
        if good and c not in ok:
            ok[c] = k
    return [f"CAST(nullif({q(c)}, '') AS {ok[c]}) AS {q(c)}" if c in ok else q(c) for c in props]


def _check(col: str, kind: str, strict: bool = False) -> str:
    """Aggregate: do all non-empty values of `col` read as `kind` without loss? (strict: by regex)"""
    x = f"nullif({q(col)}, '')"
    double = f"regexp_full_match({x}, '{_NUM_RE}')" if strict else _DOUBLE_CHECK.format(x=x)
    test = {"BIGINT": f"CAST(TRY_CAST({x} AS BIGINT) AS VARCHAR) = {x}",
            "DOUBLE": double,
            "BOOLEAN": f"lower({x}) IN ('true', 'false')"}[kind]
    return f"bool_and({x} IS NULL OR coalesce({test}, false))"


def _shape_reason(message: str) -> str:
    """Readable reason for a DuckDB CSV reject."""
    m = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", message or "")
    if m:
        return f"wrong number of fields: expected {m[1]}, found {m[2]}"
    return f"malformed CSV line: {message}"


def _rejected(file: str, line: int, raw: str, reason: str) -> Rejected:
    """A Rejected at `file:line`."""
    return Rejected(f"{file}:{line}", reason, raw)


def _line_key(r: Rejected) -> int:
    """Sort key: the line or row number at the end of a location."""
    return int(re.search(r"(\d+)$", r.location)[1])


#: JSON nested deeper than this is refused before DuckDB reads it (its JSON reader
#: crashes the process on some documents nested about 10^5 deep)
MAX_JSON_DEPTH = 10_000


def _check_depth(path: Path, file: str) -> None:
    """IngestError if brackets nest deeper than MAX_JSON_DEPTH anywhere in the file (brackets
    inside strings count too: only an absurd value could trip it)."""
    depth = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 24):
            b = np.frombuffer(chunk, np.uint8)
            step = ((b == 0x5B) | (b == 0x7B)).astype(np.int64) - ((b == 0x5D) | (b == 0x7D))
            run = np.cumsum(step) + depth
            if len(run) and run.max() > MAX_JSON_DEPTH:
                raise IngestError(f"JSON nested more than {MAX_JSON_DEPTH:,} levels deep; nothing was loaded",
                                  file=file)
            depth = int(run[-1]) if len(run) else depth


def _read_jsonl(con, path: Path, mapping, file: str) -> _Source:
    """JSONL via DuckDB read_json: keys from every line, types from every value."""
    _check_depth(path, file)
    src = f"{lit(file)}, format='newline_delimited', ignore_errors=true"
    lists = con.sql(f"SELECT DISTINCT json_keys(json) FROM read_json_objects({src})").fetchall()
    keys = list(dict.fromkeys(k for (ks,) in lists for k in ks or []))
    if not keys:  # nothing but blank, malformed or non-object lines: every line is a bad row
        con.execute("CREATE TEMP VIEW stage AS SELECT NULL AS user_id, NULL AS event, NULL AS ts "
                    f"FROM read_json_objects({src})")
        return _Source(*canonical_sql(con, "stage", None, file),
                       lambda bad: _jsonl_rejected(path, file, [(r, "") for r, _ in bad]))
    columns = "{" + ", ".join(f"{lit(k)}: 'JSON'" for k in keys) + "}"
    con.execute(f"CREATE TEMP TABLE raw AS SELECT * FROM read_json({src}, columns={columns})")
    kinds = con.sql("SELECT " + ", ".join(f"array_agg(DISTINCT json_type({q(k)}))" for k in keys)
                    + " FROM raw").fetchone()
    canon = set(resolve_columns(keys, mapping, file).values())
    cols = [_json_col(k, kind or [], k in canon) for k, kind in zip(keys, kinds)]
    con.execute(f"CREATE TEMP VIEW stage AS SELECT {', '.join(cols)} FROM raw")
    return _Source(*canonical_sql(con, "stage", mapping, file),
                   lambda bad: _jsonl_rejected(path, file, bad) if bad else [])


def _json_col(key: str, kinds: list[str], core: bool) -> str:
    """Natural-type expression for one JSON-typed column."""
    kinds = {k for k in kinds if k not in (None, "NULL")}
    cast = None
    if not core and kinds and kinds <= {"BIGINT", "UBIGINT", "DOUBLE"}:
        cast = "DOUBLE" if "DOUBLE" in kinds else "BIGINT"
    elif not core and kinds == {"BOOLEAN"}:
        cast = "BOOLEAN"
    expr = f"TRY_CAST({q(key)} AS {cast})" if cast else f"{q(key)} ->> '$'"
    return f"{expr} AS {q(key)}"


def _jsonl_rejected(path: Path, file: str, bad: list[tuple[int, str]]) -> list[Rejected]:
    """Locate rejected JSONL rows by line; lines DuckDB could not read get a JSON reason."""
    where = locate_lines(path, [r for r, _ in bad])
    out = []
    for row, why in bad:
        line, raw = where[row]
        try:
            value = json.loads(raw)
            why = why if isinstance(value, dict) else "not a JSON object"
        except ValueError as exc:
            why = f"malformed JSON line: {exc.msg}"
        out.append(_rejected(file, line, raw, why))
    return sorted(out, key=_line_key)


def _read_parquet(con, path: Path, mapping, file: str) -> _Source:
    """Parquet via DuckDB read_parquet, keeping the file's column types."""
    src = f"read_parquet({lit(file)}, file_row_number=true, hive_partitioning=false)"
    con.execute(f"CREATE TEMP VIEW stage AS SELECT * EXCLUDE (file_row_number) FROM {src}")

    def rejected(bad: list[tuple[int, str]]) -> list[Rejected]:
        if not bad:
            return []
        cols = con.sql("SELECT * FROM stage LIMIT 0").columns
        packed = ", ".join(f"{q(c)} := {q(c)}" for c in cols)
        raw = dict(con.sql(f"SELECT file_row_number, CAST(to_json(struct_pack({packed})) AS VARCHAR) "
                           f"FROM {src} WHERE file_row_number IN (SELECT unnest(?::BIGINT[]))",
                           params=[[r for r, _ in bad]]).fetchall())
        return [Rejected(f"{file}:row {r + 1}", why, raw[r]) for r, why in bad]
    return _Source(*canonical_sql(con, "stage", mapping, file), rejected)


def _read_segment(con, path: Path, mapping, file: str) -> _Source:
    """Segment messages: parsed in Python, then typed and validated like any table."""
    parsed = segment.parse(path, file)
    con.register("stage", parsed.table)

    def rejected(bad: list[tuple[int, str]]) -> list[Rejected]:
        return ([Rejected(*r) for r in parsed.rejected]
                + [Rejected(parsed.locations[r], why, parsed.raws[r]) for r, why in bad])
    return _Source(*canonical_sql(con, "stage", None, file), rejected, parsed.users, parsed.identities)


def _empty_events() -> pa.Table:
    """An events table with the core columns and no rows."""
    return pa.schema(list(EVENT_CORE.items())).empty_table()


_READERS = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet, "segment": _read_segment}


def read_users(path: str | Path, *, mapping: dict[str, str] | None = None,
               format: str | None = None) -> pa.Table:
    """A users file (CSV, Parquet or JSON Lines): `user_id` (or the column `mapping`
    names for it) and trait columns in their natural types. Every row needs a user id."""
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise IngestError("no such file", file=file)
    fmt = (format or _EXT.get(path.suffix.lower(), "")).lower()
    fmt = {"json": "jsonl", **_ALIASES}.get(fmt, fmt)
    scans = {"csv": f"read_csv({lit(file)}, header=true)", "parquet": f"read_parquet({lit(file)})",
             "jsonl": f"read_json({lit(file)}, format='newline_delimited')"}
    if fmt not in scans:
        raise IngestError(f"unknown users file format {format or path.suffix!r}; use csv, parquet "
                          "or jsonl (by extension or --input-format)", file=file)
    con = connect()
    try:
        table = con.sql(f"SELECT * FROM {scans[fmt]}").to_arrow_table()
    except duckdb.Error as exc:
        raise IngestError(f"could not read {fmt} users file: {exc}", file=file) from None
    finally:
        con.close()
    source = (mapping or {}).get("user_id", "user_id")
    if source not in table.column_names:
        raise IngestError(f"users file has no {source!r} column" + did_you_mean(source, table.column_names)
                          + f" (columns: {', '.join(table.column_names)}; map one with --map "
                          "user_id=<column>)", file=file)
    if source != "user_id":
        table = table.rename_columns(["user_id" if c == source else c for c in table.column_names])
    missing = table.column("user_id").null_count
    if missing:
        row = table.column("user_id").is_null().to_pylist().index(True)
        raise IngestError(f"{missing} row(s) have no user id, e.g. data row {row + 1}; "
                          "nothing was loaded", file=file)
    return table
