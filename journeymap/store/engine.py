"""Engines: where the event store is queried. DuckDB is the embedded default.

The store is plain Parquet listed in a manifest, so any engine reads it
directly; this module gives the Ibis tables (events with identities stitched,
users) that every measure runs on.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from journeymap.errors import EngineError
from journeymap.store.eventstore import EventStore

ENGINES = ("duckdb",)


def connect(engine: str = "duckdb"):
    """An Ibis connection for the named engine."""
    if engine == "duckdb":
        con = ibis.duckdb.connect()
        con.raw_sql("SET TimeZone = 'UTC'")
        return con
    raise EngineError(f"unknown engine '{engine}': use one of {', '.join(ENGINES)}")


def stitch(events: ir.Table, identities: ir.Table | None) -> ir.Table:
    """Resolve user ids through aliases: known id > alias of the id > alias of the device."""
    if identities is None:
        return events
    ids = identities.select(alias=identities.anonymous_id, to=identities.user_id).distinct(on="alias",
                                                                                         keep="first")
    by_user = ids.select(a1=ids.alias, t1=ids.to)
    joined = events.left_join(by_user, events.user_id == by_user.a1)
    resolved = joined.t1.coalesce(joined.user_id)
    if "anonymous_id" in events.columns:
        by_anon = ids.select(a2=ids.alias, t2=ids.to)
        joined = joined.left_join(by_anon, joined.anonymous_id == by_anon.a2)
        resolved = joined.t1.coalesce(joined.user_id, joined.t2, joined.anonymous_id)
    out = joined.mutate(user_id=resolved)
    return out.select(*events.columns)


def store_tables(store: EventStore, con=None) -> tuple[ir.Table, ir.Table | None]:
    """(events, users) Ibis tables over a workspace's event store."""
    con = con or connect()
    files = store.event_files()
    if not files:
        raise EngineError(f"the event store at {store.root} is empty: run `journeymap ingest FILE`")
    events = con.read_parquet(files, union_by_name=True)
    ids_file = store.identities_file()
    identities = con.read_parquet(ids_file) if ids_file else None
    users_file = store.users_file()
    users = con.read_parquet(users_file) if users_file else None
    return stitch(events, identities), users
