"""The funnel's kernels run inside Spark's executors: rows repartitioned by user and
sorted within partitions, the same kernels over each partition's users, and only a
row per kept user collected. Same answers as DuckDB, in local mode and on a real
standalone cluster (a master and two workers, reading the store from the shared file
system); the event rows never reach the driver."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest

import journeymap
from journeymap.measure._feed import batches
from journeymap.measure._feed.batches import flagged_rows
from journeymap.measure._feed.executors import in_executors
from journeymap.measure.funnel.funnel import funnel
from journeymap.measure.map.measured_map import measure_map
from journeymap.measure.paths.transitions import transitions
from journeymap.spec.model import Signals
from journeymap.store import spark_executors
from journeymap.store.engine import store_tables
from journeymap.store.eventstore import EventStore
from journeymap.store.sources import as_source

pytestmark = pytest.mark.slow

FUNNEL = ["landing_view", "pricing_view", "signup", "onboarding_completed", "first_booking"]
OPTIONAL = ["landing_view", {"event": "pricing_view", "optional": True}, "signup",
            {"event": "onboarding_completed", "optional": True}, "first_booking"]
CASES = [
    {"order": "ordered"},
    {"order": "strict", "breakdown": "channel"},
    {"order": "unordered", "window": "2d"},
    {"order": "ordered", "exclusions": [("help_article_view", 1, 2)]},
    {"order": "ordered", "steps": OPTIONAL, "breakdown": "channel"},
    {"order": "strict", "steps": OPTIONAL},
    {"order": "unordered", "steps": OPTIONAL},
]


def _ids(case: dict) -> str:
    return "-".join(k if k in ("exclusions", "steps") else str(v) for k, v in case.items())


def _run(events, case: dict):
    case = dict(case)
    return funnel(events, case.pop("steps", FUNNEL), **case)


def assert_same(duck, spark) -> None:
    """Every per-user figure, not only the counts."""
    assert duck.users.to_pylist() == spark.users.to_pylist()
    np.testing.assert_array_equal(duck.levels, spark.levels)
    np.testing.assert_array_equal(duck.times, spark.times)
    assert (duck.done is None) == (spark.done is None)
    if duck.done is not None:
        np.testing.assert_array_equal(duck.done, spark.done)
    if duck.breakdown_values is not None:
        assert duck.breakdown_values.tolist() == spark.breakdown_values.tolist()
    assert duck.to_dict() == spark.to_dict()


@pytest.fixture
def collected(monkeypatch) -> list[pa.Table]:
    """What the driver collects from the executors; the driver path (rows streamed to
    this process) fails if taken."""
    seen: list[pa.Table] = []
    real, stream = spark_executors.map_partitions, batches._ibis_tables

    def spy(*args, **kwargs):
        seen.append(real(*args, **kwargs))
        return seen[-1]

    def streamed(query, *args, **kwargs):
        if query.source.table._find_backend().name == "pyspark":
            raise AssertionError("Spark's flagged rows were streamed to the driver")
        return stream(query, *args, **kwargs)

    monkeypatch.setattr(spark_executors, "map_partitions", spy)
    monkeypatch.setattr(batches, "_ibis_tables", streamed)
    return seen


def _walks(seed: int, n_users: int, lengths: tuple[int, int], gap, event) -> list[tuple]:
    """(event_id, user_id, event, ts) rows of random users: each a number of events in
    `lengths` (low, high exclusive), each event `gap(rng)` after the one before it (the
    first after 2026-01-01), named `event(rng)`."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_users):
        t = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        for j in range(int(rng.integers(*lengths))):
            t = t + gap(rng)
            rows.append((f"e{i}-{j}", f"u{i:03d}", event(rng), t))
    return rows


def _store(tmp_path, rows: list[tuple]) -> EventStore:
    """A store of (event_id, user_id, event, ts) rows."""
    store = EventStore(tmp_path / "store")
    store.append(pa.table({"event_id": [r[0] for r in rows], "user_id": [r[1] for r in rows],
                           "event": [r[2] for r in rows],
                           "ts": pa.array([r[3] for r in rows], pa.timestamp("us", tz="UTC"))}))
    return store


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_funnel_in_executors_equals_duckdb(demo_tables, case, collected):
    duck = _run(demo_tables["duckdb"][0], case)
    spark = _run(demo_tables["spark"][0], case)
    assert duck.counts[0] > 1000
    assert_same(duck, spark)
    assert len(collected) == 1


def test_only_a_row_per_kept_user_reaches_the_driver(demo_tables, collected):
    events = demo_tables["spark"][0]
    query = flagged_rows(events, [])
    assert in_executors(query)
    result = _run(events, {"order": "strict"})  # strict: the kernels read every event
    [table] = collected
    n = len(FUNNEL)
    assert table.column_names == ["user_id", "level", *[f"t{k}" for k in range(n)]]
    assert table.num_rows == len(result.users) == result.counts[0]  # one row per kept user
    rows = events.count().to_pyarrow().as_py()
    assert table.num_rows * 5 < rows  # far fewer than the rows the kernels read (~10 a user)


def test_duckdb_and_memory_tables_stay_on_the_driver(demo_tables):
    assert not in_executors(flagged_rows(demo_tables["duckdb"][0], []))
    assert not in_executors(flagged_rows(pa.table({
        "user_id": ["a"], "event": ["s"],
        "ts": pa.array([dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)])}), []))


def test_ties_and_ids_break_as_on_the_driver(tmp_path, cons, collected):
    """Same-instant rows reach the kernels in (ts, event, event_id) order in each
    partition, as DuckDB sorts them: a strict funnel reads that order."""
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    users = [f"u{i:03d}" for i in range(60)] + ["é", "Z", "ä"]
    rows = []
    for i, u in enumerate(users):
        for j, ev in enumerate(["c", "a", "b", "a", "c", "b"]):
            rows.append((f"{u}-{(7 * j + i) % 6}", u, ev, t0 + dt.timedelta(seconds=(i % 3) * (j // 3))))
    store = _store(tmp_path, rows)
    for case in ({"order": "strict"}, {"order": "ordered"}, {"order": "unordered"}):
        got = [funnel(store_tables(store, cons[e])[0], ["a", "b", "c"], **case) for e in ("duckdb", "spark")]
        assert_same(*got)
    assert len(collected) == 3


def _without_signals(journey):
    return dataclasses.replace(journey, signals=Signals())


@pytest.mark.parametrize("options", [{}, {"by": "channel", "period": "week"}, {"persona": "team"}],
                         ids=lambda o: ",".join(o) or "plain")
def test_stage_pass_in_executors_equals_duckdb(demo_tables, demo_journey, collected, options):
    """The map's stage pass (a journey without signals) runs in the executors: the same
    map, and one row per user who entered the first stage reaches the driver."""
    journey = _without_signals(demo_journey)
    assert not journey.signals
    duck = measure_map(journey, *demo_tables["duckdb"], **options)
    spark = measure_map(journey, *demo_tables["spark"], **options)
    assert duck.computed_on["users"] > 500
    assert json.dumps(duck.to_dict(), sort_keys=True, default=str) == \
        json.dumps(spark.to_dict(), sort_keys=True, default=str)
    [table] = collected
    n = len(journey.stages)
    assert table.column_names[:1 + 2 * n] == ["user_id", *[f"e{k}" for k in range(n)],
                                              *[f"s{k}" for k in range(n)]]
    assert table.num_rows == spark.computed_on["users"] if "persona" not in options else True
    assert table.num_rows * 5 < demo_tables["spark"][0].count().to_pyarrow().as_py()


def test_measure_with_its_leak_drivers_in_executors_equals_duckdb(demo_tables, demo_journey, collected):
    """`measure` of a journey without signals never streams an event row to the driver:
    the stage pass, then the leak drivers named in the findings (each top leak's windows
    counted in the executors, tallies back) give DuckDB's map, findings included."""
    journey = _without_signals(demo_journey)
    duck = journeymap.measure(journey, demo_tables["duckdb"][0], users=demo_tables["duckdb"][1])
    spark = journeymap.measure(journey, demo_tables["spark"][0], users=demo_tables["spark"][1])
    assert json.dumps(duck.to_dict(), sort_keys=True, default=str) == \
        json.dumps(spark.to_dict(), sort_keys=True, default=str)
    raising = [lk for lk in duck.diagnosis.leaks if lk.direction == "raise"]
    assert len(collected) == 1 + bool(raising)  # the stage pass, then the drivers' tallies
    if raising:
        assert collected[1].column_names == ["window", "event", "m", "cell", "n"]


def test_measure_with_signals_streams_only_signal_rows(demo_tables, demo_journey, monkeypatch):
    """A journey with signals (survey answers, tickets): the stage pass runs in the
    executors and only the rows the signal rules flag reach the driver (a second read of
    those rows alone): the same map and experience per stage as DuckDB."""
    assert demo_journey.signals
    seen: list[pa.Table] = []
    real_map, real_stream = spark_executors.map_partitions, batches._ibis_tables

    def collected(*args, **kwargs):
        seen.append(real_map(*args, **kwargs))
        return seen[-1]

    streamed: list[tuple] = []

    def stream(query, *args, **kwargs):
        for table in real_stream(query, *args, **kwargs):
            if query.source.table._find_backend().name == "pyspark":
                streamed.append((query.rules, table.num_rows))
            yield table

    monkeypatch.setattr(spark_executors, "map_partitions", collected)
    monkeypatch.setattr(batches, "_ibis_tables", stream)
    duck = journeymap.measure(demo_journey, demo_tables["duckdb"][0], users=demo_tables["duckdb"][1])
    spark = journeymap.measure(demo_journey, demo_tables["spark"][0], users=demo_tables["spark"][1])
    assert duck.experience is not None and sum(
        s.surveys.get("nps", {}).get("n") or 0 for s in duck.experience.stages) > 50
    assert json.dumps(duck.to_dict(), sort_keys=True, default=str) == \
        json.dumps(spark.to_dict(), sort_keys=True, default=str)
    signal_rules = tuple(r for _, r in demo_journey.signals.rules)
    assert streamed and {rules for rules, _ in streamed} == {signal_rules}
    rows = demo_tables["spark"][0].count().to_pyarrow().as_py()
    assert 0 < sum(n for _, n in streamed) * 20 < rows  # the answers and tickets alone
    assert seen[0].column_names[0] == "user_id"  # the stage pass: a row per user


def test_drivers_counted_in_executors_equal_the_driver_path(demo_tables, demo_journey, collected):
    """Every candidate of every stage transition at two horizons (a low support floor,
    so there are many): the executors' tallies give the driver path's numbers."""
    from journeymap.measure._feed.traces import event_pieces
    from journeymap.measure.drivers import drivers as D
    from journeymap.measure.map.measured_map import measure_map_pass
    journey = _without_signals(demo_journey)
    results = {}
    for engine in ("duckdb", "spark"):
        events, users = demo_tables[engine]
        source = as_source(events)
        _, done = measure_map_pass(journey, source, users)
        strata = D._strata(journey, source, users, done.entries.users, done.personas)
        if engine == "duckdb":  # the events as read, in pieces, as the measure's leak drivers count them
            ctx = D._Pass.of(event_pieces(source), done.entries.users, strata, done.entries)
        else:
            ctx = D._Tallied(flagged_rows(source, [], keep_all=True, extra=("event",)), done.entries, *strata)
        results[engine] = [D._drivers(journey, ctx, k, k + 1, None, ("1d", "7d"), 5, 50).to_dict()
                           for k in range(len(journey.stages) - 1)]
    assert sum(len(r["drivers"]) + len(r["blockers"]) for r in results["duckdb"]) > 20
    assert json.dumps(results["duckdb"], sort_keys=True, default=str) == \
        json.dumps(results["spark"], sort_keys=True, default=str)
    assert len(collected) == 1 + 2 * (len(journey.stages) - 1)  # the stage pass, then one tally a window


def test_customer_positions_in_executors_equal_duckdb(demo_tables, demo_journey, collected):
    """Where each customer stands now (the stuck list's input) from the executors' stage pass."""
    from journeymap.measure.customers.positions import positions
    duck = positions(demo_journey, *demo_tables["duckdb"])
    spark = positions(demo_journey, *demo_tables["spark"])
    assert duck.entries.n_users > 500
    assert duck.entries.users.to_pylist() == spark.entries.users.to_pylist()
    np.testing.assert_array_equal(duck.entries.entry_t, spark.entries.entry_t)
    np.testing.assert_array_equal(duck.entries.skipped, spark.entries.skipped)
    assert len(collected) == 1


TRANSITIONS = [{}, {"exclude": ["page_view"]}, {"include": ["landing_view", "pricing_view", "signup"]},
               {"fold_below": 0.05}, {"users": 7}]  # users: every 7th id


@pytest.mark.parametrize("options", TRANSITIONS, ids=lambda o: ",".join(o) or "plain")
def test_event_transitions_in_executors_equal_duckdb(demo_tables, collected, options):
    """Event transitions are tallied in the executors (occurrences, users and 16
    buckets an octave of durations per pair), then the durations of the few buckets
    that hold each pair's median and p90 ranks come back: the same edges as DuckDB's,
    medians and p90s bit for bit, and no event row on the driver."""
    if "users" in options:
        ids = demo_tables["duckdb"][0].select("user_id").distinct().to_pyarrow()["user_id"].to_pylist()
        options = {"users": sorted(ids)[::options["users"]]}
    duck = transitions(demo_tables["duckdb"][0], **options)
    spark = transitions(demo_tables["spark"][0], **options)
    assert len(duck.edges) > 5 and duck.users > 100 // (7 if "users" in options else 1)
    assert duck.to_dict() == spark.to_dict()
    assert len(collected) == 2  # the tallies, then the durations of the wanted buckets
    tallies, durations = collected
    rows = demo_tables["spark"][0].count().to_pyarrow().as_py()
    assert tallies.column_names == ["from", "to", "bucket", "n", "users"]
    assert durations.num_rows * 3 < rows


@pytest.mark.parametrize("options", [{}, {"exclude": ["signup"]}], ids=["plain", "exclude"])
def test_stage_transitions_in_executors_equal_duckdb(demo_tables, demo_journey, collected, options):
    """Stage transitions (the demo journey, no activity stage): each row the earliest stage
    its rule bits name, same-instant rows in stage order, then paired as events are."""
    duck = transitions(demo_tables["duckdb"][0], level="stage", journey=demo_journey, **options)
    spark = transitions(demo_tables["spark"][0], level="stage", journey=demo_journey, **options)
    assert len(duck.edges) > 5 and duck.users > 100
    assert duck.to_dict() == spark.to_dict()
    assert len(collected) == 2


ACTIVITY_JOURNEY = """\
name: activity
stages:
  - {id: visit, owner: web, enter: {event: visit}}
  - {id: signup, owner: growth, enter: {event: signup}, within: 7d}
  - {id: regular, owner: product, enter: {active: {days: 2, within: 5d, events: [use, signup]}}}
  - {id: pay, owner: sales, enter: {event: pay}, optional: true}
  - {id: renew, owner: sales, enter: {event: renew}}
"""


@pytest.mark.parametrize("options", [{}, {"exclude": ["pay"]}, {"include": ["visit", "use", "renew"]}],
                         ids=["plain", "exclude", "include"])
def test_stage_transitions_with_activity_stages_in_executors(tmp_path, cons, collected, options):
    """An activity stage appears once, at the row that entered it (not skipped): the
    executors find each user's entries with the stage kernel over their own batch, and
    same-instant rows (an activity event that also enters a stage, several at one
    second) are put in stage order first, as the driver path does: DuckDB's edges."""
    from journeymap.spec.load import load_journey
    journey = load_journey(ACTIVITY_JOURNEY)
    names = ["visit", "signup", "use", "use", "pay", "renew", "other"]
    rows = _walks(11, 300, (2, 14), lambda rng: dt.timedelta(hours=int(rng.choice([0, 0, 1, 20, 30, 60]))),
                  lambda rng: names[int(rng.integers(0, 7))])
    store = _store(tmp_path, rows)
    got = [transitions(store_tables(store, cons[e])[0], level="stage", journey=journey, **options)
           for e in ("duckdb", "spark")]
    assert got[0].to_dict() == got[1].to_dict()
    assert any("regular" in (e["from"], e["to"]) for e in got[0].edges)
    assert got[0].users > 100
    assert len(collected) == 2


ACTUAL = [{}, {"stage": "onboarding", "start": "signup", "end": "first_booking", "depth": 4},
          {"exclude": ["$pageview", "session_start"], "end": "first_booking", "top": 5},
          {"include": ["landing_view", "pricing_view", "signup", "first_booking"], "stage": "signup"},
          {"persona": "team", "stage": "advocacy"}]


@pytest.mark.parametrize("options", ACTUAL, ids=lambda o: ",".join(o) or "plain")
def test_actual_journey_in_executors_equals_duckdb(demo_tables, demo_journey, collected, options):
    """Paths, the paths of those who advanced and dropped, repeats, stage moves, exits
    and conformance (overall and per persona) from tallies summed in the engine, the
    transition tables as transitions counts them: DuckDB's actual journey, and no event
    row on the driver."""
    from journeymap.measure.paths.actual import actual_journey
    duck = actual_journey(demo_journey, *demo_tables["duckdb"], **options)
    spark = actual_journey(demo_journey, *demo_tables["spark"], **options)
    assert duck.users > 100 and duck.paths.paths and duck.conformance.users > 100
    assert duck.exits and any(r["repeat_users"] for r in duck.repeats)
    assert duck.to_dict() == spark.to_dict()
    assert len(collected) == 2  # the tallies (both transition tables too), then the durations
    tallies = collected[0]
    assert tallies.column_names == ["part", "key", "n"]  # 3,000 users: most rows are the pairs' buckets
    assert tallies.num_rows * 3 < demo_tables["spark"][0].count().to_pyarrow().as_py()


def test_top_paths_in_executors_break_ties_by_path_text(tmp_path, cons, collected):
    """Most users' paths are their own (a long tail of paths seen once): the engine keeps
    only the top of each list, ties broken by the path's text as the driver breaks them,
    so the same few paths come back."""
    from journeymap.measure.paths.actual import actual_journey
    from journeymap.spec.load import load_journey
    journey = load_journey(ACTIVITY_JOURNEY)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    rng = np.random.default_rng(5)
    names = ["visit", "signup", "use", "pay", "renew", "b", "a\x00", "a", "é", ""]
    rows = [(f"e{i}-{j}", f"u{i:03d}", names[int(rng.integers(0, len(names)))],
             t0 + dt.timedelta(minutes=j * int(rng.integers(0, 3))))
            for i in range(400) for j in range(int(rng.integers(4, 9)))]
    store = _store(tmp_path, rows)
    got = [actual_journey(journey, store_tables(store, cons[e])[0], top=4, stage="signup")
           for e in ("duckdb", "spark")]
    assert got[0].to_dict() == got[1].to_dict()
    every = actual_journey(journey, store_tables(store, cons["duckdb"])[0], top=10_000).paths.paths
    floor = got[0].paths.paths[-1]["users"]
    assert sum(p["users"] >= floor for p in every) > 10  # many tied at the cut
    tallies = collected[0]
    parts = tallies["part"].to_pylist()
    assert parts.count("path") == 4 and parts.count("trace") <= 10


TIES_JOURNEY = """\
name: ties
stages:
  - {id: s0, owner: a, enter: {event: [a, c]}}
  - {id: s1, owner: a, enter: {event: [b, c]}}
  - {id: act, owner: a, enter: {active: {days: 2, within: 5d, events: [b, e]}}}
  - {id: s3, owner: a, enter: {event: d}}
"""


def test_actual_journey_in_executors_on_edge_cases(tmp_path, cons, collected):
    """Two rows at one instant that could each enter a stage (which one did decides
    whether that day counts as activity: the stage kernel reads them in stage order, in
    the executors too), and customers who fall silent before entering the journey (an
    exit with no stage, not the text "None")."""
    from journeymap.measure.paths.actual import actual_journey
    from journeymap.spec.load import load_journey
    journey = load_journey(TIES_JOURNEY)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    day = dt.timedelta(days=1)
    rows = [("1", "u1", "a", t0), ("2", "u1", "b", t0 + day), ("3", "u1", "c", t0 + day),
            ("4", "u1", "e", t0 + 2 * day), ("5", "u2", "z", t0), ("6", "u3", "z", t0),
            ("7", "u3", "a", t0 + 60 * day), ("8", "u4", "a", t0 + 100 * day)]
    store = _store(tmp_path, rows)
    got = {e: actual_journey(journey, store_tables(store, cons[e])[0]) for e in ("duckdb", "spark")}
    assert got["duckdb"].to_dict() == got["spark"].to_dict()
    edges = {(e["from"], e["to"]) for e in got["duckdb"].stage_transitions.edges}
    assert ("s1", "act") in edges and ("act", "$end") in edges  # u1 entered act on day 2
    assert {"event": "z", "stage": None, "users": 2} in got["duckdb"].exits
    stage_level = [transitions(store_tables(store, cons[e])[0], level="stage", journey=journey).to_dict()
                   for e in ("duckdb", "spark")]
    assert stage_level[0] == stage_level[1]


def test_actual_journey_in_executors_names_an_unknown_anchor(demo_tables, demo_journey, collected):
    from journeymap.errors import QueryError
    from journeymap.measure.paths.actual import actual_journey
    for engine in ("duckdb", "spark"):
        with pytest.raises(QueryError, match="no event 'sign_up' in these events.*signup"):
            actual_journey(demo_journey, *demo_tables[engine], start="sign_up")


def test_transitions_medians_in_executors_on_awkward_durations(tmp_path, cons, collected):
    """Ties (zero seconds), one duration filling most of a pair, even and odd counts,
    pairs seen once: the order statistics read off the wanted buckets are exact."""
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

    def gap(rng) -> dt.timedelta:
        ms = [0, 1, 1, 1, 2, 3600, int(rng.integers(0, 10**7))][int(rng.integers(0, 7))]
        return dt.timedelta(microseconds=ms * 1000 + int(rng.integers(0, 2)))

    rows = _walks(7, 400, (1, 9), gap, lambda rng: "abcd"[int(rng.integers(0, 4))])
    rows.append(("lone-1", "lone", "x", t0))
    rows.append(("lone-2", "lone", "y", t0 + dt.timedelta(seconds=5)))
    store = _store(tmp_path, rows)
    duck, spark = (transitions(store_tables(store, cons[e])[0]) for e in ("duckdb", "spark"))
    assert duck.to_dict() == spark.to_dict()
    assert any(e["from"] == "x" and e["to"] == "y" and e["median_s"] == 5.0 for e in spark.edges)
    assert len(collected) == 2


def test_help_sessions_tally_in_executors(demo_tables, demo_journey, collected):
    """Help sessions (bounce rate, pages per session) are counted per batch in the
    executors: only a tally a batch reaches the driver, and the figures equal DuckDB's."""
    from journeymap.measure.kpis.sessions import help_sessions
    assert demo_journey.help is not None
    duck = help_sessions(as_source(demo_tables["duckdb"][0]), demo_journey.help, 1800)
    spark = help_sessions(as_source(demo_tables["spark"][0]), demo_journey.help, 1800)
    assert duck["help_sessions"] > 100
    assert duck == spark
    [table] = collected
    assert table.column_names == ["sessions", "help", "bounces", "pages"]
    assert table.num_rows < 50  # a row per batch, not per user or event


# ---- a real standalone cluster ----------------------------------------------------------

_DRIVER = textwrap.dedent("""
    import json, sys
    from journeymap.store.spark import spark_session
    master, conf, path, cases = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
    session = spark_session(master, conf)  # the cluster's driver settings, before journeymap opens it
    import journeymap
    from journeymap.measure._feed import batches
    from journeymap.store import spark_executors
    def streamed(*args, **kwargs):
        raise AssertionError("the flagged rows were streamed to the driver")
    batches._ibis_tables = streamed
    real, collected = spark_executors.map_partitions, []
    def spy(*args, **kwargs):
        table = real(*args, **kwargs)
        collected.append(table.num_rows)
        return table
    spark_executors.map_partitions = spy
    ws = journeymap.open(path, engine="spark", master=master)
    out = []
    for case in cases:
        steps = case.pop("steps")
        r = ws.funnel(steps, cache=False, **case)
        out.append({"users": r.users.to_pylist(), "levels": r.levels.tolist(),
                    "times": r.times.tolist(), "dict": json.loads(json.dumps(r.to_dict(), default=str))})
    import dataclasses
    from journeymap.measure.map.measured_map import measure_map
    from journeymap.spec.model import Signals
    journey = dataclasses.replace(ws.journey, signals=Signals())  # the stage pass alone
    measured = measure_map(journey, *ws.tables())
    edges = journeymap.transitions(ws.tables()[0])
    before = len(collected)
    from journeymap.measure.paths.actual import actual_journey
    actual = actual_journey(ws.journey, *ws.tables(), stage="signup")
    executors = session.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
    print(json.dumps({"results": out, "collected": collected[:before], "executors": executors,
                      "master": session.sparkContext.master,
                      "map": json.loads(json.dumps(measured.to_dict(), default=str)),
                      "transitions": edges.to_dict(), "actual": actual.to_dict(),
                      "actual_collected": collected[before:]}))
""")


def test_funnel_on_a_standalone_cluster(demo_workspace, tmp_path):
    from tests.spark_cluster import standalone_cluster
    path = tmp_path / "workspace"
    shutil.copytree(demo_workspace.path, path)
    cases = [{"steps": FUNNEL, "order": "ordered"},
             {"steps": FUNNEL, "order": "strict", "breakdown": "channel"},
             {"steps": OPTIONAL, "order": "ordered", "exclusions": [["help_article_view", 0, 2]]}]
    with standalone_cluster() as cluster:
        env = {**os.environ, **cluster.driver_env}
        env.pop("JOURNEYMAP_SPARK_MASTER", None)
        proc = subprocess.run(
            [sys.executable, "-c", _DRIVER, cluster, json.dumps(cluster.driver_conf), str(path),
             json.dumps(cases)],
            capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, f"{proc.stderr[-4000:]}\n{cluster.tails()}"
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["master"] == cluster and got["executors"] == 2
    duck = journeymap.open(path, engine="duckdb")
    for case, spark in zip(cases, got["results"]):
        case = dict(case)
        d = duck.funnel(case.pop("steps"), cache=False, **case)
        assert spark["users"] == d.users.to_pylist()
        assert spark["levels"] == d.levels.tolist()
        assert spark["times"] == d.times.tolist()
        assert spark["dict"] == json.loads(json.dumps(d.to_dict(), default=str))
    # the driver collected one row per kept user, per funnel, then one per user of the map's
    # stage pass: no event rows
    journey = dataclasses.replace(duck.journey, signals=Signals())
    d_map = measure_map(journey, *duck.tables())
    assert got["map"] == json.loads(json.dumps(d_map.to_dict(), default=str))
    # then the transitions' tallies (a row per pair and per bucket of its durations) and the
    # durations of the wanted buckets: each far fewer than the events
    d_edges = journeymap.transitions(duck.tables()[0])
    assert got["transitions"] == json.loads(json.dumps(d_edges.to_dict()))
    assert got["collected"][:-2] == [len(r["users"]) for r in got["results"]] + \
        [d_map.computed_on["users"]]
    n_events = duck.tables()[0].count().to_pyarrow().as_py()
    assert len(got["collected"]) == len(cases) + 3 and max(got["collected"][-2:]) * 3 < n_events
    # and the actual journey: its tallies (both transition tables too), then the durations
    from journeymap.measure.paths.actual import actual_journey
    d_actual = actual_journey(duck.journey, *duck.tables(), stage="signup")
    assert got["actual"] == json.loads(json.dumps(d_actual.to_dict()))
    assert len(got["actual_collected"]) == 2 and max(got["actual_collected"]) * 3 < n_events
