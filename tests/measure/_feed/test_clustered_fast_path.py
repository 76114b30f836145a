"""The clustered store copy (fast path) gives exactly the portable answers."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

import journeymap
from journeymap.demo.generator import generate
from journeymap.errors import EngineError
from journeymap.insight.diagnose import diagnose
from journeymap.measure._feed import batches as sequences
from journeymap.measure._feed import parallel, predicates
from journeymap.measure.funnel.funnel import funnel
from journeymap.measure.map.measured_map import measure_map
from journeymap.measure.paths.actual import actual_journey
from journeymap.store import clustered as ordered
from journeymap.store.clustered import ClusteredEvents
from journeymap.store.folder import WorkspaceFolder

STEPS = ["signup", {"event": "onboarding_step", "where": {"step": {"gte": 2}}},
         "onboarding_completed", "first_booking", "checkout_step", "subscription_started"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    demo = generate(users=4000, seed=11)
    ws = WorkspaceFolder.init(tmp_path_factory.mktemp("ws") / "demo", demo.journey_text)
    ws.store.append(demo.events, users=demo.users)
    return journeymap.open(ws.path)


@pytest.fixture(scope="module")
def both(project):
    fast, users = project.sources()
    portable, _ = project.tables()
    assert isinstance(fast, ClusteredEvents)
    return fast, portable, users


@pytest.mark.parametrize("options", [{}, {"persona": "team"}, {"by": "persona"},
                                     {"by": "channel"}, {"by": "country", "period": "week"},
                                     {"period": "month"}])
def test_measure_is_identical(project, both, options):
    fast, portable, users = both
    j = project.journey
    assert diagnose(j, measure_map(j, fast, users, **options)).to_dict() == \
        diagnose(j, measure_map(j, portable, users, **options)).to_dict()


FUNNELS = [(order, extra) for order in ("ordered", "strict", "unordered")
           for extra in ({}, {"breakdown": "channel"}, {"exclusions": [("help_article_view", 1, 3)]})
           if not (order == "unordered" and "exclusions" in extra)]  # exclusions need an order


@pytest.mark.parametrize(("order", "extra"), FUNNELS)
def test_funnel_is_identical(both, order, extra):
    fast, portable, _ = both
    a = funnel(fast, STEPS, window="30d", order=order, **extra)
    b = funnel(portable, STEPS, window="30d", order=order, **extra)
    assert a.to_dict() == b.to_dict()
    assert a.persons(3) == b.persons(3)


@pytest.mark.parametrize("n_steps", [8, 20, 40])  # step bits no longer fit int8, int16, int32
@pytest.mark.parametrize("order", ["ordered", "strict", "unordered"])
def test_long_funnels_are_identical(both, n_steps, order):
    fast, portable, _ = both
    steps = (STEPS * 7)[:n_steps]
    a = funnel(fast, steps, window="30d", order=order)
    b = funnel(portable, steps, window="30d", order=order)
    assert a.to_dict() == b.to_dict()
    assert a.counts[0] > 0 and (a.counts[1] > 0 or order == "strict")  # strict: no repeats in a row


def test_step_bits_use_the_narrowest_integer():
    assert [predicates.mask_type(n) for n in (1, 7, 8, 15, 16, 31, 32, 62)] == \
        [np.int8, np.int8, np.int16, np.int16, np.int32, np.int32, np.int64, np.int64]


def test_paths_are_identical(project, both):
    fast, portable, users = both
    j = project.journey
    a = actual_journey(j, fast, users, stage="first_value", exclude=["$pageview"])
    b = actual_journey(j, portable, users, stage="first_value", exclude=["$pageview"])
    assert a.to_dict() == b.to_dict()


def test_copy_is_rebuilt_when_the_store_changes(project):
    first, _ = project.sources()
    again, _ = project.sources()
    assert first.files == again.files
    demo = generate(users=50, seed=99)
    project.folder.store.append(demo.events, users=demo.users)
    fresh, _ = project.sources()
    assert fresh.table.count().to_pyarrow().as_py() == \
        project.tables()[0].count().to_pyarrow().as_py()


def test_public_functions_accept_the_ordered_copy(project):
    fast, users = project.sources()  # fresh: an earlier test appended to the store
    portable, _ = project.tables()
    text = project.folder.journey_path.read_text()
    assert journeymap.measure(text, fast, users=users).to_dict() == \
        journeymap.measure(text, portable, users=users).to_dict()
    assert journeymap.paths(text, fast, users=users).conformance.to_dict() == \
        journeymap.paths(text, portable, users=users).conformance.to_dict()


@pytest.fixture(scope="module")
def small_pieces(tmp_path_factory):
    """The copy cut into row groups of 997 rows (the fast path's batches), the portable
    path read in batches of ~2,500 rows, three threads: users straddle every boundary."""
    mp = pytest.MonkeyPatch()
    mp.setattr(ordered, "ROW_GROUP", 997)
    mp.setattr(sequences, "BATCH_ROWS", 2500)
    mp.setattr(parallel, "MIN_ROWS", 0)
    mp.setattr(parallel, "threads", lambda: 3)
    demo = generate(users=1500, seed=5)
    ws = WorkspaceFolder.init(tmp_path_factory.mktemp("ws") / "small", demo.journey_text)
    ws.store.append(demo.events, users=demo.users)
    project = journeymap.open(ws.path)
    fast, users = project.sources()
    assert pq.ParquetFile(fast.files[0]).num_row_groups > 5
    yield project, fast, project.tables()[0], users
    mp.undo()


@pytest.mark.parametrize(("order", "extra"), FUNNELS)
def test_funnel_is_identical_across_row_groups_batches_and_threads(small_pieces, order, extra):
    _, fast, portable, _ = small_pieces
    a = funnel(fast, STEPS, window="30d", order=order, **extra)
    b = funnel(portable, STEPS, window="30d", order=order, **extra)
    assert a.to_dict() == b.to_dict()
    assert a.persons(2) == b.persons(2)


def test_measure_and_paths_are_identical_across_pieces(small_pieces):
    project, fast, portable, users = small_pieces
    j = project.journey
    assert diagnose(j, measure_map(j, fast, users, by="persona")).to_dict() == \
        diagnose(j, measure_map(j, portable, users, by="persona")).to_dict()
    assert actual_journey(j, fast, users).to_dict() == actual_journey(j, portable, users).to_dict()
    assert journeymap.transitions(fast).to_dict() == journeymap.transitions(portable).to_dict()


def test_the_copy_describes_itself(small_pieces):
    _, fast, portable, _ = small_pieces
    rows = portable.order_by(["user_id", "ts", "event", "event_id"]).select(
        "user_id", "event").to_pyarrow()
    assert fast.n_rows == rows.num_rows
    assert list(fast.vocab) == sorted(set(rows["event"].to_pylist()))
    chunks = list(fast.row_groups())
    codes = np.concatenate([c.codes for c in chunks])
    assert [fast.vocab[k] for k in codes] == rows["event"].to_pylist()
    starts = fast.starts
    assert starts[0] == 0 and starts[-1] == rows.num_rows and (np.diff(starts) > 0).all()
    ids = rows["user_id"].to_pylist()
    assert fast.user_ids.to_pylist() == [ids[s] for s in starts[:-1]]
    uid = np.concatenate([c.uid for c in chunks])
    assert (np.repeat(np.arange(len(starts) - 1), np.diff(starts)) == uid).all()


def test_a_folder_without_the_core_is_refused(small_pieces, tmp_path):
    _, fast, _, _ = small_pieces
    shutil.copy(fast.files[0], tmp_path / "part-0.parquet")
    with pytest.raises(EngineError, match="core.arrow is missing"):
        ClusteredEvents.open(tmp_path)


def test_user_ranges_cover_every_user_once():
    rng = np.random.default_rng(3)
    offsets = np.concatenate(([0], np.cumsum(rng.integers(1, 50, 1000))))
    for parts in (1, 2, 3, 7, 2000):
        ranges = parallel.user_ranges(offsets, parts)
        assert ranges[0][0] == 0 and ranges[-1][1] == 1000
        assert all(a < b for a, b in ranges)
        assert all(r[1] == s[0] for r, s in zip(ranges, ranges[1:]))
        assert len(ranges) <= parts


def test_a_copy_with_an_incomplete_stamp_is_refused(small_pieces, tmp_path):
    _, fast, _, _ = small_pieces
    shutil.copytree(fast.folder, tmp_path / "copy")
    stamp = tmp_path / "copy" / ordered.STAMP
    facts = json.loads(stamp.read_text())
    del facts["ts_max"]
    stamp.write_text(json.dumps(facts))
    with pytest.raises(EngineError, match="incomplete or from an older journeymap"):
        ClusteredEvents.open(tmp_path / "copy")


def test_every_row_is_kept_and_numbered_by_its_user(tmp_path):
    import ibis
    import pyarrow as pa
    con = ibis.duckdb.connect()
    pq.write_table(pa.table({
        "user_id": ["b", None, "a", "b", "a", "c"], "event": ["x", "y", "x", "z", "y", "x"],
        "ts": pa.array([3, 1, 2, 1, 5, 4], pa.timestamp("us", tz="UTC")),
        "event_id": ["1", "2", "3", "4", "5", "6"]}), tmp_path / "ev.parquet")
    events = con.read_parquet(tmp_path / "ev.parquet")
    ordered.build_clustered(con, events, tmp_path / "o")
    got = pq.read_table(tmp_path / "o" / "part-0.parquet")
    assert got.column("user_id").to_pylist() == ["a", "a", "b", "b", "c", None]
    assert got.column("event_id").to_pylist() == ["3", "5", "4", "1", "6", "2"]
    assert "_uid" not in got.column_names  # numbered in core.arrow only
    copy = ClusteredEvents.open(tmp_path / "o")
    assert copy.user_ids.to_pylist() == ["a", "b", "c", None]
    assert np.concatenate([c.uid for c in copy.row_groups()]).tolist() == [0, 0, 1, 1, 2, 3]
