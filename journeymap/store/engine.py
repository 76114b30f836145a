"""Engines: where the event store is queried. DuckDB is the embedded default.

The store is plain Parquet listed in a manifest, so any engine reads it
directly; this module gives the Ibis tables (events with identities stitched,
users) that every measure runs on. Spark (`engine="spark"`) needs the
`journeymap[spark]` extra and runs in local mode unless given a master URL.
"""

from __future__ import annotations

import contextlib
from functools import cache

from journeymap._deferred import dt, ibis, ir
from journeymap.errors import EngineError, JourneyError, WorkspaceError
from journeymap.store._tabular import lit
from journeymap.store.eventstore import EventStore, Snapshot

ENGINES = ("duckdb", "spark")


@cache
def utc_ts():
    """The Ibis type of the store's `ts`: UTC-aware microseconds."""
    return dt.Timestamp(timezone="UTC", scale=6)


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
    # one target per alias, under names no event column has (a property called `t1`
    # would otherwise be read as the alias' target)
    a1, t1, a2, t2 = _unused(events.columns, "__jm_alias1", "__jm_target1", "__jm_alias2", "__jm_target2")
    ids = (identities.select(k=identities.anonymous_id, v=identities.user_id)
           .group_by("k").aggregate(v=lambda t: t.v.min()))
    by_user = ids.select(**{a1: ids.k, t1: ids.v})
    joined = events.left_join(by_user, events.user_id == by_user[a1])
    resolved = joined[t1].coalesce(joined.user_id)
    if "anonymous_id" in events.columns:
        by_anon = ids.select(**{a2: ids.k, t2: ids.v})
        joined = joined.left_join(by_anon, joined.anonymous_id == by_anon[a2])
        resolved = joined[t1].coalesce(joined.user_id, joined[t2], joined.anonymous_id)
    out = joined.mutate(user_id=resolved)
    return out.select(*events.columns)


def _unused(columns, *names: str) -> list[str]:
    """`names`, each lengthened with underscores until no column has it."""
    taken = set(columns)
    out = []
    for name in names:
        while name in taken:
            name += "_"
        taken.add(name)
        out.append(name)
    return out


def stitched_sql(snap: Snapshot) -> str:
    """DuckDB SQL of a snapshot's events, user ids stitched as `stitch` does: the table
    `store_tables` gives on DuckDB, as text (so no Ibis starts to write it)."""
    import pyarrow.parquet as pq
    files = require_events(snap)
    if not snap.identities_file:
        return f"SELECT * FROM {snap.scan_sql()}"
    ids = f"SELECT anonymous_id AS k, min(user_id) AS v FROM read_parquet({lit(snap.identities_file)}) GROUP BY k"
    anonymous = any("anonymous_id" in pq.read_schema(f).names for f in files)
    resolved = "coalesce(i1.v, e.user_id, i2.v, e.anonymous_id)" if anonymous else "coalesce(i1.v, e.user_id)"
    return (f"WITH ids AS ({ids}) SELECT e.* REPLACE ({resolved} AS user_id) FROM {snap.scan_sql()} AS e "
            "LEFT JOIN ids AS i1 ON e.user_id = i1.k"
            + (" LEFT JOIN ids AS i2 ON e.anonymous_id = i2.k" if anonymous else ""))


def resolve_identity(snapshot: Snapshot, any_id: str) -> str:
    """The user id an id stands for: an anonymous or device id linked by alias / identify
    resolves to its user (the smallest, as `stitch` does); any other id is itself."""
    if not snapshot.identities_file:
        return any_id
    import pyarrow.parquet as pq
    links = pq.read_table(snapshot.identities_file, filters=[("anonymous_id", "=", any_id)])
    targets = [v for v in links.column("user_id").to_pylist() if v is not None]
    return min(targets) if targets else any_id


def require_events(snap: Snapshot) -> list[str]:
    """The snapshot's event files; WorkspaceError saying how to add some when there are none."""
    if not snap.event_files:
        raise WorkspaceError(f"the event store at {snap.root} is empty: run `journeymap ingest FILE`, "
                             "or send events to the collector (`journeymap serve`, POST /v1/batch)")
    return snap.event_files


def store_tables(store: EventStore | Snapshot, con=None, *, cache: bool | None = None
                 ) -> tuple[ir.Table, ir.Table | None]:
    """(events, users) Ibis tables over one snapshot of a workspace's event store (an
    EventStore: its state now).

    On Spark the events are cached in the cluster's memory (spilling to disk) by
    default: every measure runs several queries over them, and each would otherwise
    reopen every file. The cache is kept while the store's files stay the same.
    """
    con = con or connect()
    snap = store.snapshot() if isinstance(store, EventStore) else store
    files = require_events(snap)
    if engine_name(con) == "spark":
        from journeymap.store import spark
        events = spark.store_events(con, snap, cache=cache is not False)
        read = lambda path: spark.store_file(con, path)  # noqa: E731
    else:
        # no hive `date` column from the events/date=... folders: only the stored columns
        events = con.read_parquet(files, union_by_name=True, hive_partitioning=False)
        read = con.read_parquet
    if events.ts.type() != utc_ts():
        # Spark's TIMESTAMP is an instant but Ibis types it without a zone: say UTC, so
        # values come back as UTC-aware microseconds like DuckDB's TIMESTAMPTZ.
        events = events.mutate(ts=events.ts.cast(utc_ts()))
    identities = read(snap.identities_file) if snap.identities_file else None
    users = read(snap.users_file) if snap.users_file else None
    return stitch(events, identities), users


def _engine_exceptions() -> tuple[type[BaseException], ...]:
    """The exception types an engine raises underneath: DuckDB's, Arrow's, Ibis' and,
    where PySpark is loaded, Spark's and py4j's."""
    import sys

    import duckdb
    import pyarrow as pa
    from ibis.common.exceptions import IbisError
    kinds: list[type[BaseException]] = [duckdb.Error, pa.ArrowException, IbisError]
    if "pyspark" in sys.modules:
        from pyspark.errors import PySparkException
        kinds.append(PySparkException)
    if "py4j" in sys.modules:
        from py4j.protocol import Py4JError
        kinds.append(Py4JError)
    return tuple(kinds)


def _describe(exc: BaseException) -> str:
    """One line about an engine's exception: its kind and first line, and for an Ibis
    operation the backend lacks, which operation and backend."""
    from ibis.common.exceptions import OperationNotDefinedError
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if isinstance(exc, OperationNotDefinedError):
        return f"the engine cannot run an operation journeymap needs ({first})"
    return f"{type(exc).__name__}: {first}"[:500]


@contextlib.contextmanager
def engine_errors(context: str, engine: str | None = None):
    """Errors the engine raises inside the block become EngineError naming `context`
    (what journeymap was doing) and the engine; journeymap's own errors pass as they are.
    Every public entry point runs its work inside this, so the same failure reads the
    same from Python, the CLI and any other interface."""
    try:
        yield
    except JourneyError:
        raise
    except _engine_exceptions() as exc:
        on = f" on {engine}" if engine else ""
        raise EngineError(f"{context}{on} failed: {_describe(exc)}") from exc
