"""The workspace's events kept as sorted runs: each ingest adds one for its new events,
runs merge as they pile up, and reading several runs gives exactly the answers of one
clustered copy (and of the portable path)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import journeymap
from journeymap.demo.generator import generate
from journeymap.insight.diagnose import diagnose
from journeymap.measure.funnel.funnel import funnel
from journeymap.measure.map.measured_map import measure_map
from journeymap.measure.paths.actual import actual_journey
from journeymap.store import _merge, clustered, merged
from journeymap.store.clustered import ClusteredEvents
from journeymap.store.folder import WorkspaceFolder
from journeymap.store.merged import MergedEvents

STEPS = ["signup", {"event": "onboarding_step", "where": {"step": {"gte": 2}}},
         "onboarding_completed", "first_booking", "checkout_step", "subscription_started"]
SHARES = (0.6, 0.1, 0.1, 0.15, 0.05)  # appends: runs [60], [60,10], [60,20], [60,20,15], [60,20,15,5]


def _runs(path) -> list[int]:
    return [r["rows"] for r in json.loads((path / ".clustered" / "runs.json").read_text())["runs"]]


def _split_appends(path, events: pa.Table, users, shares=SHARES, seed=3) -> list[list[int]]:
    """Append `events` in random parts (a user's events land in several), the runs
    refreshed after each append as a workspace that is read between ingests; returns
    the run sizes after each."""
    cuts = np.floor(np.cumsum((0,) + shares[:-1]) * events.num_rows).astype(int)
    part = np.searchsorted(cuts, np.arange(events.num_rows), "right") - 1  # exact shares
    part = np.random.default_rng(seed).permutation(part)
    project, seen = journeymap.open(path), []
    for k in range(len(shares)):
        project.folder.store.append(events.filter(pa.array(part == k)), users=users if k == 0 else None)
        project.sources()
        seen.append(_runs(path))
    return seen


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    demo = generate(users=3000, seed=17)
    ws = WorkspaceFolder.init(tmp_path_factory.mktemp("ws") / "runs", demo.journey_text)
    sizes = _split_appends(ws.path, demo.events, demo.users)
    return journeymap.open(ws.path), sizes


@pytest.fixture(scope="module")
def both(project):
    project, _ = project
    fast, users = project.sources()
    portable, _ = project.tables()
    return fast, portable, users


def test_each_append_adds_a_run_and_runs_merge_like_a_binary_counter(project):
    _, sizes = project
    assert [len(s) for s in sizes] == [1, 2, 2, 3, 4]
    for before, after in zip(sizes, sizes[1:]):
        assert after[0] == before[0]  # the first run, most of the events, is never rewritten
    assert all(a > b for a, b in zip(sizes[-1], sizes[-1][1:]))  # newest runs the smallest


def test_several_runs_read_as_one_source(both):
    fast, portable, _ = both
    assert isinstance(fast, MergedEvents) and len(fast.runs) == 4
    rows = portable.order_by(["user_id", "ts", "event", "event_id"]).select(
        "user_id", "event", "event_id").to_pyarrow()
    assert fast.n_rows == rows.num_rows
    chunks = list(fast.row_groups(["event_id"]))
    assert [fast.vocab[k] for k in np.concatenate([c.codes for c in chunks])] == rows["event"].to_pylist()
    assert pa.concat_tables([c.extra for c in chunks])["event_id"].to_pylist() == rows["event_id"].to_pylist()
    starts = fast.starts
    ids = rows["user_id"].to_pylist()
    assert fast.user_ids.to_pylist() == [ids[s] for s in starts[:-1]]
    uid = np.concatenate([c.uid for c in chunks])
    assert (np.repeat(np.arange(len(starts) - 1), np.diff(starts)) == uid).all()
    assert [c.row0 for c in chunks] == np.cumsum([0] + [len(c.t) for c in chunks[:-1]]).tolist()


@pytest.mark.parametrize("options", [{}, {"persona": "team"}, {"by": "channel"}, {"period": "week"}])
def test_measure_is_identical(project, both, options):
    fast, portable, users = both
    j = project[0].journey
    assert diagnose(j, measure_map(j, fast, users, **options)).to_dict() == \
        diagnose(j, measure_map(j, portable, users, **options)).to_dict()


@pytest.mark.parametrize("order", ["ordered", "strict", "unordered"])
@pytest.mark.parametrize("extra", [{}, {"breakdown": "channel"}])
def test_funnel_is_identical(both, order, extra):
    fast, portable, _ = both
    a = funnel(fast, STEPS, window="30d", order=order, **extra)
    b = funnel(portable, STEPS, window="30d", order=order, **extra)
    assert a.to_dict() == b.to_dict()
    assert a.persons(3) == b.persons(3)


def test_paths_transitions_and_a_customer_are_identical(project, both):
    fast, portable, users = both
    j = project[0].journey
    assert actual_journey(j, fast, users, stage="first_value").to_dict() == \
        actual_journey(j, portable, users, stage="first_value").to_dict()
    assert journeymap.transitions(fast).to_dict() == journeymap.transitions(portable).to_dict()
    someone = fast.user_ids[len(fast.user_ids) // 2].as_py()
    text = project[0].folder.journey_path.read_text()
    from journeymap import api
    a = api.customer(text, fast, someone, users=users).to_dict()
    b = api.customer(text, portable, someone, users=users).to_dict()
    assert a == b and a["timeline"]


def test_small_row_groups_cut_users_everywhere(tmp_path, monkeypatch):
    """Runs written in small row groups, merged chunks of ~997 rows: users span row groups
    of every run and chunk boundaries."""
    monkeypatch.setattr(clustered, "ROW_GROUP", 997)
    demo = generate(users=2000, seed=4)
    ws = WorkspaceFolder.init(tmp_path / "ws", demo.journey_text)
    _split_appends(ws.path, demo.events, demo.users, shares=(0.5, 0.3, 0.2))
    project = journeymap.open(ws.path)
    fast, users = project.sources()
    portable, _ = project.tables()
    assert isinstance(fast, MergedEvents) and len(fast.runs) == 3
    assert all(pq.ParquetFile(f).num_row_groups > 1 for f in fast.files)
    assert len(list(fast.row_groups())) > 10
    for order in ("ordered", "strict"):
        a = funnel(fast, STEPS, window="30d", order=order, breakdown="channel")
        assert a.to_dict() == funnel(portable, STEPS, window="30d", order=order, breakdown="channel").to_dict()
    j = project.journey
    assert diagnose(j, measure_map(j, fast, users, by="persona")).to_dict() == \
        diagnose(j, measure_map(j, portable, users, by="persona")).to_dict()


def _events(rows) -> pa.Table:
    user, event, ts, eid, plan = zip(*rows)
    return pa.table({"user_id": pa.array(user, pa.string()), "event": list(event),
                     "ts": pa.array(ts, pa.timestamp("us", tz="UTC")), "event_id": list(eid),
                     "plan": pa.array(plan, pa.string())})


def test_equal_rows_in_two_runs_are_ordered_by_event_id(tmp_path, monkeypatch):
    """Same user, time and event in two ingests: the later ingest's id sorts first, and
    the property read on the step (a breakdown) is that row's, as one sort would have it."""
    ws = WorkspaceFolder.init(tmp_path / "ws", "name: t\nstages:\n  - {id: a, owner: x, enter: {event: go}}\n")
    project = journeymap.open(ws.path)
    ws.store.append(_events([("u1", "go", 10, "e9", "late"), ("u1", "buy", 20, "e8", None),
                             ("u2", "go", 10, "e7", "late"), ("u4", "go", 5, "e6", "x")]))
    project.sources()
    ws.store.append(_events([("u1", "go", 10, "e1", "early"), ("u3", "go", 1, "e5", "y"),
                             ("u4", "buy", 6, "e0", "z")]))
    fast, _ = project.sources()
    assert isinstance(fast, MergedEvents)
    ties = []
    real = _merge.merge_order
    monkeypatch.setattr(merged, "merge_order", lambda *a: ties.append(real(*a)[1]) or real(*a))
    chunk, = fast.row_groups(["plan", "event_id"])
    assert ties == [True]
    assert chunk.extra["event_id"].to_pylist() == ["e1", "e9", "e8", "e7", "e5", "e6", "e0"]
    assert fast.user_ids.to_pylist() == ["u1", "u2", "u3", "u4"]
    portable, _ = project.tables()
    a = funnel(fast, ["go", "buy"], breakdown="plan")
    assert a.to_dict() == funnel(portable, ["go", "buy"], breakdown="plan").to_dict()
    assert a.by_breakdown["early"].counts == [1, 1]


def test_a_column_added_by_a_later_ingest_reads_as_null_in_earlier_runs(tmp_path):
    ws = WorkspaceFolder.init(tmp_path / "ws", "name: t\nstages:\n  - {id: a, owner: x, enter: {event: go}}\n")
    project = journeymap.open(ws.path)
    ws.store.append(_events([("u1", "go", 10, "e1", None), ("u2", "go", 11, "e2", None),
                             ("u2", "buy", 13, "e5", None)]).drop(["plan"]))
    project.sources()
    ws.store.append(_events([("u1", "buy", 12, "e3", "pro"), ("u3", "go", 1, "e4", "team")]))
    fast, _ = project.sources()
    assert isinstance(fast, MergedEvents)
    chunk, = fast.row_groups(["plan"])
    assert chunk.extra["plan"].to_pylist() == [None, "pro", None, None, "team"]
    portable, _ = project.tables()
    assert funnel(fast, ["go", "buy"], breakdown="plan").to_dict() == \
        funnel(portable, ["go", "buy"], breakdown="plan").to_dict()


def test_new_identities_start_again_from_one_run(tmp_path):
    """A new alias may move old events to another user: the runs are rebuilt as one."""
    ws = WorkspaceFolder.init(tmp_path / "ws", "name: t\nstages:\n  - {id: a, owner: x, enter: {event: go}}\n")
    project = journeymap.open(ws.path)
    ws.store.append(_events([("anon-1", "go", 10, "e1", None), ("u2", "go", 11, "e2", None)]))
    project.sources()
    ws.store.append(_events([("u1", "buy", 12, "e3", None)]))
    assert len(project.sources()[0].runs) == 2
    ws.store.append(_events([("u1", "buy", 13, "e4", None)]),
                    identities=pa.table({"anonymous_id": ["anon-1"], "user_id": ["u1"]}))
    fast, _ = project.sources()
    assert isinstance(fast, ClusteredEvents) and _runs(ws.path) == [4]
    assert funnel(fast, ["go", "buy"]).counts == [2, 1]


def _more(events: pa.Table) -> pa.Table:
    """Another demo's events as new ones: the demo numbers its event ids from e0000000,
    and the store keeps one event per id."""
    return events.set_column(events.schema.get_field_index("event_id"), "event_id",
                             pc.binary_join_element_wise("more-", events.column("event_id"), ""))


def test_a_top_up_builds_a_run_of_the_new_events_only(tmp_path):
    demo = generate(users=400, seed=8)
    ws = WorkspaceFolder.init(tmp_path / "ws", demo.journey_text)
    project = journeymap.open(ws.path)
    pq.write_table(demo.events, tmp_path / "base.parquet")
    project.ingest(tmp_path / "base.parquet")
    first = json.loads((ws.path / ".clustered" / "runs.json").read_text())["runs"]
    top = _more(generate(users=4, seed=9).events)
    pq.write_table(top, tmp_path / "top.parquet")
    added = project.ingest(tmp_path / "top.parquet").added
    runs = json.loads((ws.path / ".clustered" / "runs.json").read_text())["runs"]
    assert runs[0] == first[0] and [r["rows"] for r in runs] == [demo.events.num_rows, added]
    assert not set(runs[1]["files"]) & set(first[0]["files"])  # only the top-up's files


KILLED_REFRESH = textwrap.dedent("""
    import sys, journeymap
    from journeymap.store import clustered
    real = clustered._core_and_users
    def slow(parquet, folder):
        print("writing", flush=True)
        sys.stdin.readline()  # held here until killed
        return real(parquet, folder)
    clustered._core_and_users = slow
    journeymap.open(sys.argv[1]).sources()
    """)


def test_a_refresh_killed_midway_leaves_the_runs_as_they_were(tmp_path):
    """SIGKILL while a refresh is writing a run: the committed runs still read, the next
    refresh sweeps the half-written folder and finishes the work."""
    demo = generate(users=300, seed=12)
    ws = WorkspaceFolder.init(tmp_path / "ws", demo.journey_text)
    sizes = _split_appends(ws.path, demo.events, demo.users, shares=(0.7, 0.3))
    assert sizes[-1] == [sizes[0][0], demo.events.num_rows - sizes[0][0]]
    before = (ws.path / ".clustered" / "runs.json").read_text()
    ws.store.append(_more(generate(users=250, seed=13).events))
    with subprocess.Popen([sys.executable, "-c", KILLED_REFRESH, str(ws.path)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout.readline().strip() == "writing"
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
    assert (ws.path / ".clustered" / "runs.json").read_text() == before
    assert list((ws.path / ".clustered").glob("run-*.tmp"))  # the half-written run
    project = journeymap.open(ws.path)
    fast, _ = project.sources()
    portable, _ = project.tables()
    assert not list((ws.path / ".clustered").glob("run-*.tmp"))
    assert fast.n_rows == portable.count().to_pyarrow().as_py()
    assert funnel(fast, STEPS, window="30d").to_dict() == funnel(portable, STEPS, window="30d").to_dict()


def test_a_copy_in_the_layout_before_runs_is_replaced(tmp_path):
    demo = generate(users=100, seed=2)
    ws = WorkspaceFolder.init(tmp_path / "ws", demo.journey_text)
    ws.store.append(demo.events, users=demo.users)
    project = journeymap.open(ws.path)
    old = ws.path / ".clustered"
    clustered.build_clustered(project._connection(), project.tables()[0], old)
    assert (old / "core.arrow").exists()
    fast, _ = journeymap.open(ws.path).sources()
    assert isinstance(fast, ClusteredEvents) and fast.folder.parent == old
    assert not (old / "core.arrow").exists() and _runs(ws.path) == [demo.events.num_rows]


def test_a_reader_keeps_the_runs_it_opened_through_a_merge(tmp_path):
    """Runs a merge supersedes stay for a grace time: a reader that opened them (the
    dashboard, say) still reads them."""
    demo = generate(users=200, seed=21)
    ws = WorkspaceFolder.init(tmp_path / "ws", demo.journey_text)
    _split_appends(ws.path, demo.events, demo.users, shares=(0.8, 0.2))
    reader = journeymap.open(ws.path)
    fast, _ = reader.sources()
    expected = funnel(fast, STEPS, window="30d").to_dict()
    ws.store.append(_more(generate(users=100, seed=22).events))  # more than the last run: a merge
    journeymap.open(ws.path).sources()  # another process merges the last two runs
    assert len(_runs(ws.path)) == 2  # merged: [base, the last run + the new one]
    assert funnel(fast, STEPS, window="30d").to_dict() == expected


def test_runs_of_a_table_with_nameless_events_merge_like_one_copy(tmp_path):
    """Rows without a user id (an ad-hoc table may have them) are one nameless user,
    last, in a merge of runs as in one copy."""
    import ibis
    con = ibis.duckdb.connect()
    rows = [("b", "x", 3, "1", "p"), (None, "y", 1, "2", "q"), ("a", "x", 2, "3", "r"),
            ("b", "z", 1, "4", "s"), ("a", "y", 5, "5", "t"), ("c", "x", 4, "6", "u"),
            (None, "x", 1, "7", "v"), ("a", "x", 2, "8", "w")]
    for name, part in (("one", rows), ("r1", rows[:4]), ("r2", rows[4:])):
        pq.write_table(_events(part), tmp_path / f"{name}.parquet")
        clustered.build_clustered(con, con.read_parquet(tmp_path / f"{name}.parquet"), tmp_path / name)
    one = ClusteredEvents.open(tmp_path / "one")
    both = MergedEvents((ClusteredEvents.open(tmp_path / "r1"), ClusteredEvents.open(tmp_path / "r2")))
    assert both.user_ids.to_pylist() == one.user_ids.to_pylist() == ["a", "b", "c", None]
    assert both.starts.tolist() == one.starts.tolist()
    a, = both.row_groups(["event_id", "plan"])
    b, = one.row_groups(["event_id", "plan"])
    assert a.uid.tolist() == b.uid.tolist() and a.t.tolist() == b.t.tolist()
    assert [both.vocab[c] for c in a.codes] == [one.vocab[c] for c in b.codes]
    assert a.extra.to_pydict() == b.extra.select(["event_id", "plan"]).to_pydict()


def test_stitched_sql_is_the_stitched_table(tmp_path):
    """The runs are built from `stitched_sql` (no Ibis): the same rows and columns as the
    Ibis stitch over the store, with aliases of ids and of devices, an alias linked to two
    users (the smaller wins), files with and without `anonymous_id`, and properties named
    like the join's own columns."""
    from journeymap.store.engine import stitched_sql, store_tables
    ws = WorkspaceFolder.init(tmp_path / "ws", "name: t\nstages:\n  - {id: a, owner: x, enter: {event: go}}\n")
    ws.store.append(_events([("u1", "go", 10, "e1", "a"), ("anon-9", "go", 11, "e2", None)]))
    with_device = _events([("dev-1", "go", 12, "e3", None), ("d-2", "buy", 13, "e4", "b"),
                           ("u6", "buy", 14, "e5", None), ("u3", "go", 15, "e6", None)])
    with_device = with_device.append_column("t1", pa.array(["p1", "p2", "p3", "p4"]))  # names a join
    with_device = with_device.append_column("t2", pa.array(["q1", "q2", "q3", "q4"]))  # might use
    ws.store.append(with_device.append_column("anonymous_id", pa.array(["dev-1", None, "dev-2", "dev-1"])),
                    identities=pa.table({"anonymous_id": ["anon-9", "dev-1", "d-2", "d-2"],
                                         "user_id": ["u1", "u7", "u5", "u4"]}))
    snap = ws.store.snapshot()
    expected = store_tables(snap)[0].to_pyarrow().sort_by("event_id")
    import duckdb
    got = duckdb.connect().sql(stitched_sql(snap)).to_arrow_table().sort_by("event_id")
    assert got.column_names == expected.column_names
    assert got.cast(expected.schema).equals(expected)  # the times' zone named UTC or Etc/UTC
    assert got.column("user_id").to_pylist() == ["u1", "u1", "u7", "u4", "u6", "u3"]


def test_an_ingest_command_starts_neither_ibis_nor_pandas(tmp_path):
    """`journeymap ingest` (checks, de-duplication, the store, the run the first measure
    reads) needs neither Ibis (about half a second to import) nor pandas."""
    ws = WorkspaceFolder.init(tmp_path / "ws", "name: t\nstages:\n  - {id: a, owner: x, enter: {event: go}}\n")
    csv = tmp_path / "e.csv"
    csv.write_text("user_id,event,ts,plan\nu1,go,2024-01-01T00:00:00Z,a\nu2,go,2024-01-02T00:00:00Z,\n")
    code = textwrap.dedent(f"""
        import sys
        from journeymap.cli.main import main
        assert main(["ingest", "-w", {str(ws.path)!r}, {str(csv)!r}]) == 0
        print(sorted(m for m in ("ibis", "pandas") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
    assert _runs(ws.path) == [2]
