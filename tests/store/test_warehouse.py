"""Events in database tables: real DuckDB and SQLite files and a Polars backend give the
numbers the same rows give as a pandas DataFrame, through `journeymap.api` and through a
(scratch) workspace; `read_table` says exactly what is wrong with a `URL::TABLE`."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import duckdb
import ibis
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from journeymap import api
from journeymap.errors import EngineError, IngestError, JourneyError
from journeymap.spec.load import parse_journey
from journeymap.store.sources import as_source
from journeymap.store.warehouse import read_table
from journeymap.workspace import scratch_workspace

JOURNEY_TEXT = """\
name: shop
stages:
  - {id: visit, owner: web, enter: {event: visit}}
  - {id: signup, owner: growth, enter: {event: signup}, within: 7d}
  - {id: purchase, owner: sales, enter: {event: purchase, where: {amount: {gt: 10}}}, within: 14d}
personas:
  - {id: pro, where: {plan: pro}}
"""
JOURNEY = parse_journey(JOURNEY_TEXT)
#: the same stages for events without properties
BARE = parse_journey(JOURNEY_TEXT.replace(", where: {amount: {gt: 10}}", "").split("personas:")[0])
STEPS = ["visit", "signup", "purchase"]
BACKENDS = ("duckdb", "sqlite", "polars")
_SQLITE_TYPES = {pa.string(): "TEXT", pa.int64(): "INTEGER", pa.float64(): "REAL"}


def make_events(n_users: int = 150, seed: int = 11) -> pa.Table:
    """Users who visit, sign up and buy, with help events, simultaneous events (ties in
    ts, some with the same name), times to the microsecond (floating sums then depend on
    the order of users) and properties with gaps; ts naive (read as UTC)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        t = dt.datetime(2024, 1, 1) + dt.timedelta(minutes=int(rng.integers(0, 60 * 24 * 20)))
        plan = ["free", "pro", None][int(rng.integers(0, 3))]
        for name in STEPS:
            if rng.random() > 0.75:
                break
            for _ in range(int(rng.integers(1, 3))):  # repeats, at times at the same instant
                t += dt.timedelta(hours=int(rng.integers(0, 3)) * int(rng.integers(0, 40)),
                                  microseconds=int(rng.integers(0, 2)) * int(rng.integers(0, 10**9)))
                rows.append({"user_id": f"{u:04d}", "event": name, "ts": t, "plan": plan,
                             "amount": float(rng.integers(0, 30)) if name == "purchase" else None,
                             "clicks": int(rng.integers(0, 5))})
                if rng.random() < 0.3:
                    rows.append({"user_id": f"{u:04d}", "event": "help", "ts": t, "plan": plan,
                                 "amount": None, "clicks": None})
    return pa.Table.from_pylist(rows, schema=pa.schema([
        ("user_id", pa.string()), ("event", pa.string()), ("ts", pa.timestamp("us")),
        ("plan", pa.string()), ("amount", pa.float64()), ("clicks", pa.int64())]))


def variant(events: pa.Table, props: bool, int_ids: bool) -> pa.Table:
    """The events without property columns, and/or with integer user ids."""
    if not props:
        events = events.select(["user_id", "event", "ts"])
    if int_ids:
        events = events.set_column(0, "user_id", events.column("user_id").cast(pa.int64()))
    return events


def write_duckdb(path: Path, tables: dict[str, pa.Table]) -> Path:
    with duckdb.connect(str(path)) as con:
        for name, table in tables.items():
            con.register("src", table)
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM src')
            con.unregister("src")
    return path


def write_sqlite(path: Path, tables: dict[str, pa.Table]) -> Path:
    """Tables with declared types (TIMESTAMP columns hold ISO text, as SQLite keeps them)."""
    with sqlite3.connect(path) as con:
        for name, table in tables.items():
            cols = [f'"{f.name}" ' + ("TIMESTAMP" if pa.types.is_timestamp(f.type) else _SQLITE_TYPES[f.type])
                    for f in table.schema]
            con.execute(f'CREATE TABLE "{name}" ({", ".join(cols)})')
            rows = [[v.isoformat(" ") if isinstance(v, dt.datetime) else v for v in r.values()]
                    for r in table.to_pylist()]
            con.executemany(f'INSERT INTO "{name}" VALUES ({", ".join("?" * len(cols))})', rows)
    con.close()
    return path


def on_backend(backend: str, tmp_path: Path, tables: dict[str, pa.Table]) -> dict[str, ibis.Table]:
    """The tables on a real backend: DuckDB and SQLite files (read through `read_table`),
    or a Polars connection."""
    if backend == "polars":
        con = ibis.polars.connect()
        return {name: con.create_table(name, table) for name, table in tables.items()}
    write = write_duckdb if backend == "duckdb" else write_sqlite
    path = write(tmp_path / f"events.{backend}", tables)
    return {name: read_table(f"{backend}://{path}::{name}") for name in tables}


def users_of(events: pa.Table) -> pa.Table:
    ids = events.column("user_id").unique()
    return pa.table({"user_id": ids, "tier": pa.array(["gold" if i % 3 else "silver" for i in
                                                       range(len(ids))])})


def answers(events, users=None) -> dict:
    """Every measure's answer over `events`, as JSON text."""
    journey = JOURNEY if "amount" in events.columns else BARE
    out = {"funnel": api.funnel(events, STEPS, window="30d"),
           "transitions": api.transitions(events),
           "measure": api.measure(journey, events, users=users),
           "paths": api.paths(journey, events, users=users)}
    if users is not None:
        out["by tier"] = api.measure(journey, events, users=users, by="tier")
    return {k: json.dumps(v.to_dict(), sort_keys=True, default=str) for k, v in out.items()}


@pytest.fixture(scope="module")
def events() -> pa.Table:
    return make_events()


# ---- (A) the measures on other Ibis backends ----------------------------------------------
@pytest.mark.parametrize("int_ids", [False, True], ids=["text ids", "integer ids"])
@pytest.mark.parametrize("props", [False, True], ids=["no properties", "properties"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_table_on_any_backend_gives_the_dataframes_numbers(backend, props, int_ids, events,
                                                             tmp_path):
    data = variant(events, props, int_ids)
    table = on_backend(backend, tmp_path, {"events": data})["events"]
    expected = answers(data.to_pandas())
    counts = json.loads(expected["funnel"])["counts"]
    assert counts[0] > 50 and counts[-1] > 5
    assert answers(table) == expected


@pytest.mark.parametrize("backend", BACKENDS)
def test_traits_on_the_same_backend_or_as_a_dataframe(backend, events, tmp_path):
    data = variant(events, props=True, int_ids=True)
    users = users_of(data)
    tables = on_backend(backend, tmp_path, {"events": data, "users": users})
    expected = answers(data.to_pandas(), users.to_pandas())
    assert answers(tables["events"], users.to_pandas()) == expected
    assert answers(tables["events"], tables["users"]) == expected


def test_duckdb_tables_stay_on_their_engine_others_are_read_into_arrow(events, tmp_path):
    duck = on_backend("duckdb", tmp_path, {"events": events})["events"]
    assert as_source(duck).table._find_backend() is duck._find_backend()
    lite = on_backend("sqlite", tmp_path, {"events": events})["events"]
    assert as_source(lite).table._find_backend(use_default=True).name == "duckdb"


def test_a_duckdb_table_with_text_times_is_parsed_like_a_dataframes(events, tmp_path):
    data = events.set_column(2, "ts", events.column("ts").cast(pa.string()))
    table = on_backend("duckdb", tmp_path, {"events": data})["events"]
    assert table.ts.type().is_string()
    assert answers(table) == answers(data.to_pandas())


def test_utc_times_in_duckdb_read_as_naive_ones(events, tmp_path):
    aware = events.set_column(2, "ts", events.column("ts").cast(pa.timestamp("us", tz="UTC")))
    table = on_backend("duckdb", tmp_path, {"events": aware})["events"]
    assert answers(table) == answers(events.to_pandas())


def test_an_operation_the_backend_lacks_is_an_engine_error_naming_both(events, tmp_path):
    table = on_backend("sqlite", tmp_path, {"events": events})["events"]
    hashed = table.mutate(h=table.event.hexdigest("md5"))
    with pytest.raises(EngineError, match=r"from sqlite failed: sqlite cannot run .*HexDigest"):
        api.funnel(hashed, STEPS)


def test_an_expression_over_two_backends_is_an_engine_error(events, tmp_path):
    lite = on_backend("sqlite", tmp_path, {"events": events})["events"]
    other = ibis.polars.connect().create_table("u", pa.table({"user_id": ["0001"]}))
    with pytest.raises(EngineError, match="several engines"):
        api.funnel(lite.semi_join(other, "user_id"), STEPS)


def test_a_value_the_backend_cannot_read_is_an_engine_error(tmp_path):
    path = tmp_path / "bad.sqlite"
    with sqlite3.connect(path) as con:
        con.execute('CREATE TABLE events (user_id TEXT, event TEXT, ts TIMESTAMP)')
        con.execute("INSERT INTO events VALUES ('a', 'visit', 'not a time')")
    con.close()
    with pytest.raises(EngineError, match=r"reading the events from sqlite failed: \w+"):
        api.funnel(read_table(f"sqlite://{path}::events"), STEPS)


def test_a_table_the_backend_cannot_read_fails_its_ingest_naming_both(tmp_path):
    path = tmp_path / "bad.sqlite"
    with sqlite3.connect(path) as con:
        con.execute('CREATE TABLE events (user_id TEXT, event TEXT, ts TIMESTAMP)')
        con.execute("INSERT INTO events VALUES ('a', 'visit', 'not a time')")
    con.close()
    with pytest.raises(EngineError, match=r"reading table 'events' from sqlite failed: \w+"):
        with scratch_workspace(None, [read_table(f"sqlite://{path}::events")]):
            pass


def test_a_missing_column_is_the_usual_ingest_error(events, tmp_path):
    table = on_backend("sqlite", tmp_path, {"events": events.drop_columns(["user_id"])})["events"]
    with pytest.raises(IngestError, match="events have no 'user_id' column"):
        api.funnel(table, STEPS)


# ---- a workspace ingests tables as it ingests files ----------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_scratch_workspace_over_tables_matches_one_over_files(backend, events, tmp_path):
    users = users_of(events)
    pq.write_table(events, tmp_path / "events.parquet")
    pq.write_table(users, tmp_path / "users.parquet")
    tables = on_backend(backend, tmp_path, {"events": events, "users": users})

    def measured(ev, us):
        with scratch_workspace(JOURNEY_TEXT, ev, users=us) as ws:
            return ws.funnel(STEPS).counts, ws.transitions().to_dict(), ws.measure().to_dict()

    expected = measured([tmp_path / "events.parquet"], [tmp_path / "users.parquet"])
    assert expected[0][0] > 50
    assert measured([tables["events"]], [tables["users"]]) == expected


def test_ingesting_a_table_maps_columns_and_names_the_table_in_errors(events, tmp_path):
    renamed = events.rename_columns(["uid", "event", "ts", "plan", "amount", "clicks"])
    table = on_backend("duckdb", tmp_path, {"events": renamed})["events"]
    with scratch_workspace(None, [table], mapping={"user_id": "uid"}) as ws:
        assert ws.funnel(STEPS).counts == api.funnel(events.to_pandas(), STEPS).counts
    with pytest.raises(IngestError, match="no 'user_id' column") as info:
        with scratch_workspace(None, [table]):
            pass
    assert info.value.file == "table 'events'"


def test_ingesting_a_table_twice_adds_nothing(events, tmp_path):
    table = on_backend("sqlite", tmp_path, {"events": events})["events"]
    with scratch_workspace(None, [table]) as ws:
        again = ws.ingest(table)
    assert (again.added, again.duplicates) == (0, events.num_rows)


# ---- (B) read_table: URL::TABLE ---------------------------------------------------------
@pytest.fixture
def files(events, tmp_path) -> dict[str, Path]:
    duck = write_duckdb(tmp_path / "shop.db", {"events": events, "users": users_of(events)})
    with duckdb.connect(str(duck)) as con:
        con.execute("CREATE SCHEMA raw; CREATE TABLE raw.clicks AS SELECT * FROM events LIMIT 5; "
                    "CREATE VIEW buyers AS SELECT * FROM events WHERE event = 'purchase'")
    lite = write_sqlite(tmp_path / "shop.sqlite", {"events": events})
    (tmp_path / "events.csv").write_text("user_id,event,ts\n", encoding="utf-8")
    return {"duckdb": duck, "sqlite": lite, "csv": tmp_path / "events.csv"}


def test_reads_tables_views_and_schema_tables(files, events):
    duck, lite = files["duckdb"], files["sqlite"]
    assert read_table(f"duckdb://{duck}::events").count().execute() == events.num_rows
    assert read_table(f"sqlite://{lite}::events").count().execute() == events.num_rows
    assert read_table(f"duckdb://{duck}::raw.clicks").count().execute() == 5
    assert read_table(f"duckdb://{duck}::main.events").count().execute() == events.num_rows
    assert read_table(f"sqlite://{lite}::main.events").count().execute() == events.num_rows
    buyers = read_table(f" duckdb://{duck} :: buyers ").count().execute()
    assert buyers == sum(e == "purchase" for e in events.column("event").to_pylist())


def test_a_bare_path_is_told_apart_by_its_header(files, events):
    assert read_table(f"{files['duckdb']}::events")._find_backend().name == "duckdb"
    assert read_table(f"{files['sqlite']}::events")._find_backend().name == "sqlite"
    with pytest.raises(IngestError, match="not a DuckDB or SQLite database file") as info:
        read_table(f"{files['csv']}::events")
    assert info.value.file == str(files["csv"])


def test_a_relative_duckdb_url(files, monkeypatch):
    monkeypatch.chdir(files["duckdb"].parent)
    assert read_table("duckdb://shop.db::users").count().execute() > 0


def test_duckdb_files_are_opened_read_only(files):
    table = read_table(f"duckdb://{files['duckdb']}::events")
    with pytest.raises(duckdb.Error, match="read-only"):
        table._find_backend().raw_sql("CREATE TABLE scribble (a INTEGER)")


@pytest.mark.parametrize("spec, message", [
    ("{duckdb}", "expected a database table as URL::TABLE (e.g. duckdb:///abs/path/events.db::events)"),
    ("duckdb://{duckdb}::", "expected a database table as URL::TABLE"),
    ("::events", "expected a database table as URL::TABLE"),
    ("duckbd://{duckdb}::events", "unknown kind of database 'duckbd' in duckbd://{duckdb} — did you "
                                  "mean 'duckdb'? (Ibis backends: "),
    ("duckdb://::events", "duckdb:// names no database file"),
    ("duckdb://{duckdb}::evnts", "{duckdb}: no table 'evnts' — did you mean 'events'? (tables: "
                                 "buyers, events, users)"),
    ("duckdb://{duckdb}::raw.click", "{duckdb}: no table 'click' in schema 'raw' — did you mean "
                                     "'clicks'? (tables: clicks)"),
    ("sqlite://{sqlite}::users", "{sqlite}: no table 'users' (tables: events)"),
    ("duckdb://{sqlite}::events", "{sqlite}: this is a sqlite database, not duckdb: use "
                                  "sqlite://{sqlite}::TABLE"),
    ("sqlite://{duckdb}::events", "this is a duckdb database, not sqlite"),
    ("polars://::events", "no table 'events' of polars:// (tables: none)"),
])
def test_what_is_wrong_with_a_spec(files, spec, message):
    names = {k: str(v) for k, v in files.items()}
    with pytest.raises(IngestError) as info:
        read_table(spec.format(**names))
    assert message.format(**names) in str(info.value)


@pytest.mark.parametrize("backend", ["duckdb", "sqlite"])
def test_a_missing_file_is_not_created(backend, files):
    typo = files["duckdb"].parent / "shop.dbb"
    with pytest.raises(IngestError, match="no such database file — did you mean 'shop.db'") as info:
        read_table(f"{backend}://{typo}::events")
    assert info.value.file == str(typo)
    assert not typo.exists()
    with pytest.raises(IngestError, match="no such database file"):
        read_table(f"{typo}::events")
    assert not typo.exists()


def test_a_backend_that_is_not_installed_says_how_to_install_it():
    pytest.importorskip("ibis")
    try:
        ibis.postgres  # noqa: B018 - the backend loads on first use
    except ImportError:
        pass
    else:
        pytest.skip("the postgres backend is installed here")
    with pytest.raises(EngineError, match=r'pip install "ibis-framework\[postgres\]"') as info:
        read_table("postgresql://me:secret@localhost/shop::events")
    assert "secret" not in str(info.value)


def test_a_locked_duckdb_file_is_an_ingest_error(files):
    with duckdb.connect(str(files["duckdb"])):  # a writer in this process
        with pytest.raises(IngestError, match=r"cannot open the duckdb database .*shop\.db: \w+"):
            read_table(f"duckdb://{files['duckdb']}::events")


def test_every_error_is_a_journey_error(files):
    for spec in ["nothing", "nope://x::t", f"duckdb://{files['duckdb']}x::t", f"sqlite://{files['sqlite']}::t"]:
        with pytest.raises(JourneyError):
            read_table(spec)
