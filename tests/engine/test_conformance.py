"""Cross-engine conformance: every measure gives identical results on DuckDB and Spark.

The demo data (3,000 users) is written to a workspace's Parquet store once; both
engines read that store directly. Spark runs in local mode.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pytest

from journeymap.errors import EngineError
from journeymap.measure._feed.users import persona_flags
from journeymap.measure.funnel.funnel import funnel
from journeymap.measure.map.measured_map import measure_map
from journeymap.measure.paths.actual import actual_journey
from journeymap.store.engine import engine_name, store_tables
from journeymap.store.eventstore import EventStore
from journeymap.workspace import open_workspace

pytestmark = pytest.mark.slow

FUNNEL = ["landing_view", "pricing_view", "signup", "onboarding_completed", "first_booking"]
EXCLUSIONS = [("help_article_view", 1, 2), ("session_start", 0, 1)]


def both(demo_tables, fn):
    """fn(events, users) on DuckDB and on Spark."""
    return fn(*demo_tables["duckdb"]), fn(*demo_tables["spark"])


def test_tables_have_the_same_schema(demo_tables):
    (d_ev, d_us), (s_ev, s_us) = demo_tables["duckdb"], demo_tables["spark"]
    assert d_ev.schema() == s_ev.schema()
    assert d_us.schema() == s_us.schema()
    assert str(s_ev.schema()["ts"]) == "timestamp('UTC', 6)"


@pytest.mark.parametrize("options", [
    {},
    {"persona": "team"},
    {"by": "persona"},
    {"by": "channel", "period": "week"},   # event property, first touch; weekly cohorts
    {"by": "plan"},                        # user trait
    {"period": "month"},
], ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "plain")
def test_measured_map(demo_tables, demo_journey, options):
    duck, spark = both(demo_tables, lambda ev, us: measure_map(demo_journey, ev, us, **options))
    d, s = duck.to_dict(), spark.to_dict()
    assert d["computed_on"]["users"] > 500
    assert json.dumps(d, sort_keys=True, default=str) == json.dumps(s, sort_keys=True, default=str)
    assert d == s
    # revenue per user is a floating sum: equal up to summation order
    assert duck.value_per_user.keys() == spark.value_per_user.keys()
    for k, v in duck.value_per_user.items():
        assert spark.value_per_user[k] == pytest.approx(v, rel=1e-12)


def test_personas_per_user(demo_tables, demo_journey):
    duck, spark = both(demo_tables, lambda ev, us: persona_flags(demo_journey, ev, us))
    assert duck.sort_by("user_id").equals(spark.sort_by("user_id"))


FUNNEL_CASES = [
    {"order": order, **extra}
    for order in ("ordered", "strict", "unordered")
    for extra in ({}, {"breakdown": "channel"}, {"exclusions": EXCLUSIONS}, {"window": "2d"})
    if not (order == "unordered" and "exclusions" in extra)
]


@pytest.mark.parametrize("options", FUNNEL_CASES,
                         ids=lambda o: "-".join(f"{k}" if k == "exclusions" else f"{v}" for k, v in o.items()))
def test_funnel(demo_tables, options):
    duck, spark = both(demo_tables, lambda ev, _: funnel(ev, FUNNEL, **options))
    assert duck.counts == spark.counts
    assert duck.counts[0] > 1000
    assert duck.users.to_pylist() == spark.users.to_pylist()
    np.testing.assert_array_equal(duck.levels, spark.levels)
    np.testing.assert_array_equal(duck.times, spark.times)
    for k in range(1, len(FUNNEL) + 1):
        assert duck.persons(k) == spark.persons(k)
        if k > 1:
            assert duck.conversion_time(k) == spark.conversion_time(k)
    assert duck.to_dict() == spark.to_dict()
    if "breakdown" in options:
        assert {k: v.counts for k, v in duck.by_breakdown.items()} == \
            {k: v.counts for k, v in spark.by_breakdown.items()}


# ---- the store's edge cases, on a small store -------------------------------------------

def _ts(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def edge_store(tmp_path_factory) -> EventStore:
    """Two appends (a property widened int -> double, one added), identities, ties,
    non-ASCII ids and times outside pandas' nanosecond range."""
    store = EventStore(tmp_path_factory.mktemp("edge") / "store")
    store.append(pa.table({
        "event_id": ["e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9"],
        "user_id": ["a", "B", "é", "Z", "ä", "a", "B", "anon1", "a"],
        "event": ["s", "s", "s", "s", "s", "p", "p", "s", "p"],
        "ts": pa.array([_ts(2026, 1, 1)] * 6 + [_ts(2026, 1, 2), _ts(2026, 1, 1, 5), _ts(2026, 1, 1)],
                       pa.timestamp("us", tz="UTC")),
        "num": pa.array([1, 2, 3, 4, 5, 6, 7, 8, 9], pa.int64())}),
        users=pa.table({"user_id": ["a", "B", "z1"], "tier": ["x", "y", "x"]}),
        identities=pa.table({"anonymous_id": ["anon1", "anon1"], "user_id": ["z2", "z1"]}))
    store.append(pa.table({
        "event_id": ["f1", "f2", "f3", "f4"], "user_id": ["far", "far", "old", "old"],
        "event": ["s", "p", "s", "p"],
        "ts": pa.array([_ts(2300, 1, 1), _ts(2300, 1, 3), _ts(1600, 1, 1), _ts(1600, 1, 1, 0, 0, 0, 1)],
                       pa.timestamp("us", tz="UTC")),
        "num": [1.5, 1e20, 0.1, None], "extra": ["x", "y", None, "w"]}))
    return store


def test_store_edge_cases(edge_store, cons):
    out = {}
    for name, con in cons.items():
        events, users = store_tables(edge_store, con)
        rows = (events.order_by(["user_id", "ts", "event", "event_id"])
                .select("event_id", "user_id", "ts", "num", "extra").to_pyarrow())
        f = funnel(events, ["s", "p"], window="1000d")
        out[name] = (events.schema(), rows, f.users.to_pylist(), f.levels.tolist(), f.times.tolist(),
                     users.order_by("user_id").to_pyarrow())
    duck, spark = out["duckdb"], out["spark"]
    assert duck[0] == spark[0]
    assert duck[1].equals(spark[1])
    assert duck[2:5] == spark[2:5]
    assert duck[5].equals(spark[5])
    rows = duck[1].to_pylist()
    # byte order of ids; the alias resolves to the smallest linked id; ties by event, then id
    assert [r["user_id"] for r in rows] == ["B", "B", "Z", "a", "a", "a", "far", "far", "old", "old",
                                            "z1", "ä", "é"]
    assert [r["event_id"] for r in rows if r["user_id"] == "a"] == ["e6", "e9", "e1"]
    # microseconds survive outside 1677..2262
    assert rows[9]["ts"] == _ts(1600, 1, 1, 0, 0, 0, 1)
    assert rows[6]["ts"] == _ts(2300, 1, 1)
    # int64 widened to double across files; a column missing from older files is null
    assert [r["num"] for r in rows[:2]] == [2.0, 7.0]
    assert rows[0]["extra"] is None and rows[7]["extra"] == "y"
    assert duck[2] == ["B", "Z", "a", "far", "old", "z1", "ä", "é"]
    assert duck[3] == [2, 1, 2, 2, 2, 1, 1, 1]


def test_workspace_setting_runs_on_spark(demo_workspace):
    """settings.json {"engine": "spark", "spark_master": "local[2]"} measures on Spark, and
    gives what the DuckDB workspace (which reads its clustered copy and users file, and
    opens an Ibis connection only to build the copy) gives."""
    path = demo_workspace.path / "settings.json"
    before = path.read_text()
    results = {}
    try:
        for settings in ({"engine": "duckdb"}, {"engine": "spark", "spark_master": "local[2]"}):
            path.write_text(json.dumps(settings))
            project = open_workspace(demo_workspace.path)
            results[settings["engine"]] = project.measure(by="persona", cache=False)
            if settings["engine"] == "spark":
                assert engine_name(project._con) == "spark"
            else:  # the clustered copy and the users file: a connection only to build the copy
                assert project._con is None or engine_name(project._con) == "duckdb"
    finally:
        path.write_text(before)
    assert results["duckdb"].to_dict() == results["spark"].to_dict()


def test_one_spark_session_per_process(cons):
    from journeymap.store.spark import spark_session
    assert spark_session() is spark_session("local[2]")
    with pytest.raises(EngineError, match=r"already running .* 'spark://elsewhere:7077'"):
        spark_session("spark://elsewhere:7077")


@pytest.mark.parametrize("options", [{}, {"persona": "solo", "stage": "signup", "exclude": ["$pageview"]}],
                         ids=["plain", "persona-stage-exclude"])
def test_actual_journey(demo_tables, demo_journey, options):
    duck, spark = both(demo_tables, lambda ev, us: actual_journey(demo_journey, ev, us, **options))
    assert duck.to_dict() == spark.to_dict()


def test_spark_cache_follows_the_store(tmp_path, cons):
    """Spark keeps the store's events cached while its files are unchanged, and sees appends."""
    store = EventStore(tmp_path / "store")
    first = pa.table({"event_id": ["e1"], "user_id": ["u1"], "event": ["s"],
                      "ts": pa.array([_ts(2026, 1, 1)], pa.timestamp("us", tz="UTC"))})
    store.append(first, users=pa.table({"user_id": ["u1"], "tier": ["x"]}))
    session = cons["spark"]._session
    a, _ = store_tables(store, cons["spark"])
    views = {t.name for t in session.catalog.listTables()}
    b, _ = store_tables(store, cons["spark"])
    assert {t.name for t in session.catalog.listTables()} == views  # nothing read again
    assert a.count().to_pyarrow().as_py() == b.count().to_pyarrow().as_py() == 1
    store.append(first.set_column(0, "event_id", pa.array(["e2"])).set_column(
        3, "ts", pa.array([_ts(2026, 1, 2)], pa.timestamp("us", tz="UTC"))))
    c, _ = store_tables(store, cons["spark"])
    assert c.count().to_pyarrow().as_py() == 2
    assert c.order_by("ts").event_id.to_pyarrow().to_pylist() == ["e1", "e2"]


@pytest.mark.slow
def test_cli_engine_flag_runs_on_spark(demo_workspace, capsys):
    """`journeymap --engine spark measure -w DIR` prints what the DuckDB run prints."""
    from journeymap.cli.main import main
    outputs = {}
    for engine in ("duckdb", "spark"):
        assert main(["--engine", engine, "measure", "-w", str(demo_workspace.path),
                     "--by", "persona", "--format", "json"]) == 0
        outputs[engine] = json.loads(capsys.readouterr().out)
    assert outputs["duckdb"] == outputs["spark"]
