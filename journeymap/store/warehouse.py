"""Events from a database table: `URL::TABLE`, for `--table` and `Workspace.ingest`.

The URL is anything `ibis.connect` accepts (`duckdb:///abs/events.db`,
`sqlite:///abs/events.sqlite`, `postgres://user@host/db`, ...) or a bare path
to a DuckDB or SQLite file (told apart by the file's header); after `::` comes
the table or view, optionally `schema.table`. A database file is checked to
exist first (DuckDB and SQLite would create an empty one on a typo) and a DuckDB
file is opened read-only, so a reader never takes the writer's lock.

The table comes back as an Ibis table on its own engine; `frames.as_events`
decides whether journeymap queries it there or reads it into Arrow first.
"""

from __future__ import annotations

import contextlib
import tempfile
import urllib.parse
import warnings
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from journeymap._deferred import ibis, ir
from journeymap.errors import EngineError, IngestError, JourneyError, did_you_mean
from journeymap.store.frames import engine_of

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

__all__ = ["read_table", "parquet_copy", "SEPARATOR"]

SEPARATOR = "::"
#: backends whose URL names a local database file
FILE_BACKENDS = ("duckdb", "sqlite")
_HEADERS = {"sqlite": (0, b"SQLite format 3\x00"), "duckdb": (8, b"DUCK")}
_EXAMPLE = "duckdb:///abs/path/events.db::events"
_SHOWN = 20  # tables named in a "no such table" message


def read_table(spec: str) -> ir.Table:
    """The table (or view) named by `URL::TABLE` as an Ibis table; IngestError naming
    what is wrong (no `::`, an unknown kind of database, a missing file or table: the
    tables that exist), EngineError when the Ibis backend for it is not installed.

    >>> import duckdb, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "shop.db"
    >>> with duckdb.connect(str(path)) as con:
    ...     _ = con.execute("CREATE TABLE events AS SELECT 'u1' AS user_id, "
    ...                     "'signup' AS event, TIMESTAMP '2024-01-01' AS ts")
    >>> read_table(f"duckdb://{path}::events").count().execute()
    1
    >>> read_table(f"duckdb://{path}::evnts")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    journeymap.errors.IngestError: ...: no table 'evnts' — did you mean 'events'? (tables: events)
    """
    url, name = split_spec(spec)
    con, shown, file = connect_url(url)
    return open_table(con, name, shown, file)


def split_spec(spec: str) -> tuple[str, str]:
    """(URL, table) of `URL::TABLE`."""
    url, sep, name = str(spec).strip().rpartition(SEPARATOR)
    if not sep or not url.strip() or not name.strip():
        raise IngestError(f"expected a database table as URL{SEPARATOR}TABLE (e.g. {_EXAMPLE}), "
                          f"got {_redact(str(spec))!r}")
    return url.strip(), name.strip()


def connect_url(url: str) -> tuple[BaseBackend, str, str | None]:
    """(an Ibis connection, the URL as shown in messages, the database file or None)."""
    parsed = urllib.parse.urlparse(url)
    if not parsed.scheme or len(parsed.scheme) == 1:  # a bare path (or a Windows drive)
        path = _existing(Path(url).expanduser())
        kind = _sniff(path)
        if kind is None:
            raise IngestError("not a DuckDB or SQLite database file; name its kind in the URL "
                              f"(e.g. {_EXAMPLE})", file=str(path))
        options = {"read_only": True} if kind == "duckdb" else {}
        return _open(kind, f"{kind}://{path.absolute()}", options, str(path)), str(path), str(path)
    kind = parsed.scheme.lower().replace("postgresql", "postgres")
    shown = _redact(url)
    _backend(kind, shown)
    options, file = {}, None
    if kind in FILE_BACKENDS:
        path = _existing(_file_path(parsed, shown))
        found = _sniff(path)
        if found is not None and found != kind:
            raise IngestError(f"this is a {found} database, not {kind}: use "
                              f"{found}://{path.absolute()}{SEPARATOR}TABLE", file=str(path))
        file = str(path)
        if kind == "duckdb" and "read_only" not in urllib.parse.parse_qs(parsed.query):
            options["read_only"] = True
    return _open(kind, url, options, file or shown), shown, file


def open_table(con, name: str, shown: str, file: str | None = None) -> ir.Table:
    """Table `name` (`schema.table` allowed) of a connection; IngestError listing the
    tables there when it has none of that name."""
    where = {"file": file} if file else {}
    schema, _, short = name.rpartition(".")
    database = (tuple(schema.split(".")) if "." in schema else schema) if schema else None
    tries = [(name, None)] + ([(short, database)] if schema else [])
    failed = None
    for table, db in tries:
        try:
            return con.table(table, database=db) if db else con.table(table)
        except Exception as exc:  # noqa: BLE001 - not found, or unreadable: told apart below
            failed = exc  # the last try is the most specific
    tables = _tables(con, database, shown, where)
    if (short if schema else name) in tables:
        raise IngestError(f"cannot read table {name!r}{'' if file else ' of ' + shown}: "
                          f"{_first_line(failed)}", **where) from failed
    place = (f" in schema {schema!r}" if schema else "") + ("" if file else f" of {shown}")
    listed = ", ".join(sorted(tables)[:_SHOWN]) or "none"
    more = f", … {len(tables) - _SHOWN} more" if len(tables) > _SHOWN else ""
    raise IngestError(f"no table {(short if schema else name)!r}{place}"
                      f"{did_you_mean(short or name, tables)} (tables: {listed}{more})", **where)


@contextlib.contextmanager
def parquet_copy(table: ir.Table) -> Iterator[Path]:
    """The rows of an Ibis table as a temporary Parquet file, read from its backend batch
    by batch (bounded memory), so the store's file readers load a table as they load a
    file; errors about that file name the table instead."""
    label = f"table {_name(table)}"
    with tempfile.TemporaryDirectory(prefix="journeymap-table-") as tmp:
        path = Path(tmp) / "table.parquet"
        try:
            batches = table.to_pyarrow_batches()
            with pq.ParquetWriter(path, batches.schema) as out:
                for batch in batches:
                    out.write_batch(batch)
        except JourneyError:
            raise
        except Exception as exc:  # noqa: BLE001 - any driver's error, said with its table
            raise EngineError(f"reading {label} from {engine_of(table)} failed: "
                              f"{_first_line(exc)}") from exc
        try:
            yield path
        except JourneyError as exc:
            if exc.file == str(path):
                exc.file = label
            raise


# ---- helpers ----------------------------------------------------------------------------
def _backend(kind: str, shown: str):
    """The Ibis backend module for `kind`; IngestError if Ibis has none of that name,
    EngineError with the install command if its dependencies are missing."""
    known = sorted(e.name for e in entry_points(group="ibis.backends"))
    if kind not in known:
        raise IngestError(f"unknown kind of database {kind!r} in {shown}{did_you_mean(kind, known)} "
                          f"(Ibis backends: {', '.join(known)}; or a DuckDB or SQLite file's path)")
    try:
        return getattr(ibis, kind)
    except ImportError:
        raise EngineError(f"reading {kind} tables needs the Ibis {kind} backend: "
                          f'pip install "ibis-framework[{kind}]"') from None


def _file_path(parsed: urllib.parse.ParseResult, shown: str) -> Path:
    """The database file of a duckdb:// or sqlite:// URL, read as Ibis reads it
    (`duckdb:///abs/x.db` absolute, `duckdb://x.db` relative)."""
    parts = [p for p in (parsed.netloc, parsed.path[bool(parsed.netloc):]) if p]
    if not parts or parts == [":memory:"] or parts[0].startswith(("md:", "motherduck:")):
        raise IngestError(f"{shown} names no database file (an in-memory database has no tables); "
                          f"e.g. {_EXAMPLE}")
    return Path(*parts)


def _existing(path: Path) -> Path:
    if not path.is_file():
        near = [p.name for p in path.parent.iterdir()] if path.parent.is_dir() else []
        raise IngestError(f"no such database file{did_you_mean(path.name, near)}", file=str(path))
    return path


def _sniff(path: Path) -> str | None:
    """'duckdb' or 'sqlite' by the file's header, else None."""
    with open(path, "rb") as f:
        head = f.read(16)
    return next((k for k, (at, magic) in _HEADERS.items() if head[at:at + len(magic)] == magic), None)


def _open(kind: str, url: str, options: dict, shown: str):
    try:
        return ibis.connect(url, **options)
    except Exception as exc:  # noqa: BLE001 - any driver's error, said with its database
        raise IngestError(f"cannot open the {kind} database {shown}: {_first_line(exc)}") from exc


def _tables(con, database, shown: str, where: dict) -> list[str]:
    """The tables (and views) of the connection, or of one schema of it."""
    try:
        with warnings.catch_warnings():  # ibis 12 on DuckDB 1.5 calls a deprecated fetch
            warnings.filterwarnings("ignore", "fetch_arrow_table", DeprecationWarning)
            return list(con.list_tables(database=database) if database else con.list_tables())
    except Exception as exc:  # noqa: BLE001
        raise IngestError(f"cannot list the tables{'' if where else ' of ' + shown}"
                          f"{f' in schema {database!r}' if database else ''}: {_first_line(exc)}",
                          **where) from exc


def _name(table: ir.Table) -> str:
    try:
        return repr(table.get_name())
    except Exception:  # noqa: BLE001 - an expression, not a named table
        return "(an expression)"


def _redact(url: str) -> str:
    """The URL with any password replaced by ***."""
    try:
        parsed = urllib.parse.urlparse(url)
        if parsed.password:
            netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
            return parsed._replace(netloc=netloc).geturl()
    except ValueError:
        pass
    return url


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:500]
