"""Engines: where the event store is queried. DuckDB is the embedded default.

The store is plain Parquet listed in a manifest, so any engine reads it
directly; this module gives the Ibis tables (events with identities stitched,
users) that every measure runs on. Spark (`engine="spark"`) needs the
`journeymap[spark]` extra and runs in local mode unless given a master URL.
"""

from __future__ import annotations

import threading

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from journeymap.errors import EngineError
from journeymap.store.eventstore import EventStore

ENGINES = ("duckdb", "spark")
UTC_TS = dt.Timestamp(timezone="UTC", scale=6)


def connect(engine: str = "duckdb", master: str | None = None):
    """An Ibis connection for the named engine.

    `master` applies to Spark only: `local[N]` (default `local[2]`), `spark://host:7077`,
    or anything else `SparkSession.builder.master` accepts.
    """
    name = str(engine).strip().lower()
    if name == "duckdb":
        con = ibis.duckdb.connect()
        con.raw_sql("SET TimeZone = 'UTC'")
        return con
    if name in ("spark", "pyspark"):
        from journeymap.store.spark import spark_backend
        return spark_backend(master)
    raise EngineError(f"unknown engine '{engine}': use one of {', '.join(ENGINES)}")


def engine_name(con) -> str:
    """'duckdb', 'spark' or the Ibis backend name of a connection."""
    name = getattr(con, "name", "")
    return "spark" if name == "pyspark" else name


def stitch(events: ir.Table, identities: ir.Table | None) -> ir.Table:
    """Resolve user ids through aliases: known id > alias of the id > alias of the device.

    An alias linked to several user ids resolves to the smallest one, on every engine.
    """
    if identities is None:
        return events
    # one target per alias (`alias` would shadow Table.alias, so other column names)
    ids = (identities.select(k=identities.anonymous_id, v=identities.user_id)
           .group_by("k").aggregate(v=lambda t: t.v.min()))
    by_user = ids.select(a1=ids.k, t1=ids.v)
    joined = events.left_join(by_user, events.user_id == by_user.a1)
    resolved = joined.t1.coalesce(joined.user_id)
    if "anonymous_id" in events.columns:
        by_anon = ids.select(a2=ids.k, t2=ids.v)
        joined = joined.left_join(by_anon, joined.anonymous_id == by_anon.a2)
        resolved = joined.t1.coalesce(joined.user_id, joined.t2, joined.anonymous_id)
    out = joined.mutate(user_id=resolved)
    return out.select(*events.columns)


def store_tables(store: EventStore, con=None, *, cache: bool | None = None
                 ) -> tuple[ir.Table, ir.Table | None]:
    """(events, users) Ibis tables over a workspace's event store.

    On Spark the events are cached in the cluster's memory (spilling to disk) by
    default: every measure runs several queries over them, and each would otherwise
    reopen every file. The cache is kept while the store's files stay the same.
    """
    con = con or connect()
    files = store.event_files()
    if not files:
        raise EngineError(f"the event store at {store.root} is empty: run `journeymap ingest FILE`")
    if engine_name(con) == "spark":
        events = _spark_events(con, store, files, cache=cache is not False)
        read = lambda path: _spark_file(con, path)  # noqa: E731
    else:
        # no hive `date` column from the events/date=... folders: only the stored columns
        events = con.read_parquet(files, union_by_name=True, hive_partitioning=False)
        read = con.read_parquet
    if events.ts.type() != UTC_TS:
        # Spark's TIMESTAMP is an instant but Ibis types it without a zone: say UTC, so
        # values come back as UTC-aware microseconds like DuckDB's TIMESTAMPTZ.
        events = events.mutate(ts=events.ts.cast(UTC_TS))
    ids_file = store.identities_file()
    identities = read(ids_file) if ids_file else None
    users_file = store.users_file()
    users = read(users_file) if users_file else None
    return stitch(events, identities), users


# ---- Spark ---------------------------------------------------------------------------
_SCHEMAS: dict[str, object] = {}  # file path -> Arrow schema (store files never change)
_CACHED: dict[tuple, tuple] = {}  # (session, store root) -> (files, view name, DataFrame)
_VIEWS: dict[tuple, str] = {}  # (session, file) -> view name, for users and identities files
_VIEWS_LOCK = threading.Lock()


def _spark_events(con, store: EventStore, files: list[str], cache: bool) -> ir.Table:
    """The store's events as a Spark temporary view, cached until the store changes."""
    if not cache:
        return _spark_view(con, _spark_frame(con._session, files))
    session = con._session
    key = (id(session), str(store.root.resolve()))
    with _VIEWS_LOCK:
        hit = _CACHED.get(key)
        if hit is not None and hit[0] == tuple(files) and session.catalog.tableExists(hit[1]):
            return con.table(hit[1])
        if hit is not None:  # the store changed: free the old copy (its view still reads the files)
            hit[2].unpersist()
        frame = _spark_frame(session, files).cache()
        table = _spark_view(con, frame)
        _CACHED[key] = (tuple(files), table.op().name, frame)
        return table


def _spark_file(con, path: str) -> ir.Table:
    """One immutable store file (users, identities) as a view, made once per session."""
    key = (id(con._session), path)
    with _VIEWS_LOCK:
        name = _VIEWS.get(key)
        if name is not None and con._session.catalog.tableExists(name):
            return con.table(name)
        table = _spark_parquet(con, [path])
        _VIEWS[key] = table.op().name
        return table


def _file_schema(path: str):
    import pyarrow.parquet as pq
    schema = _SCHEMAS.get(path)
    if schema is None:
        schema = _SCHEMAS[path] = pq.read_schema(path).remove_metadata()
    return schema


def _spark_parquet(con, files: list[str]) -> ir.Table:
    """Parquet files as one Ibis table (columns unioned by name) on a PySpark connection."""
    return _spark_view(con, _spark_frame(con._session, files))


def _spark_view(con, frame) -> ir.Table:
    """A Spark DataFrame as an Ibis table, through a temporary view."""
    name = ibis.util.gen_name("journeymap_store")
    frame.createOrReplaceTempView(name)
    return con.table(name)


def _spark_frame(session, files: list[str]):
    """Parquet files as one Spark DataFrame, columns unioned by name.

    Spark's `mergeSchema` cannot widen int64 to double (the store widens numbers that
    later appends bring as floats), so files are grouped by schema, each group is read
    as is, cast to the unified schema and the groups are unioned.
    """
    import pyarrow as pa
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema, from_arrow_type

    schemas = [_file_schema(f) for f in files]
    try:
        target = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise EngineError(f"the event store's files have incompatible columns: {exc}") from None
    groups: dict[pa.Schema, list[str]] = {}
    for f, s in zip(files, schemas):
        groups.setdefault(s, []).append(f)
    frames = []
    for schema, paths in groups.items():
        # an explicit schema spares Spark a job that reads footers to infer it
        df = session.read.schema(from_arrow_schema(schema, prefer_timestamp_ntz=True)).parquet(*paths)
        if schema.equals(target):
            frames.append(df)
            continue
        cols = []
        for field in target:
            spark_type = from_arrow_type(field.type, prefer_timestamp_ntz=True)
            have = schema.get_field_index(field.name) >= 0
            col = F.col(f"`{field.name}`") if have else F.lit(None)
            if not have or not schema.field(field.name).type.equals(field.type):
                col = col.cast(spark_type)
            cols.append(col.alias(field.name))
        frames.append(df.select(*cols))
    out = frames[0]
    for df in frames[1:]:
        out = out.unionByName(df)
    return out
