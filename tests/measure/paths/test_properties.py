"""journeymap.paths(): properties that hold for any event table (hypothesis).

Small tables (up to 10 users, 5 event names of which 3 enter stages, times in hours
over a few days so that both ties and silences longer than the 1-day inactivity occur).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import journeymap

pytestmark = pytest.mark.filterwarnings("ignore:fetch_record_batch.. is deprecated:DeprecationWarning")

T0_US = int(dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc).timestamp()) * 1_000_000
HOUR_US = 3600 * 1_000_000
SETTINGS = settings(max_examples=20, deadline=None)
USERS = [f"u{i:02d}" for i in range(10)]
NAMES = ["a", "b", "c", "x", "y"]

JOURNEY = journeymap.load_journey("""\
name: abc
inactivity: 1d
stages:
  - {id: sa, owner: t, enter: {event: a}}
  - {id: sb, owner: t, enter: {event: b}, optional: true}
  - {id: sc, owner: t, enter: {event: c}}
""")


@st.composite
def event_rows(draw):
    per_user = draw(st.dictionaries(
        st.sampled_from(USERS),
        st.lists(st.tuples(st.sampled_from(NAMES), st.integers(0, 72)), min_size=1, max_size=8),
        min_size=1, max_size=len(USERS)))
    rows = [(u, e, t) for u, evs in per_user.items() for e, t in evs]
    # someone always enters the journey (nobody entering it is a case of its own, in
    # test_paths_cases.py::test_nobody_entering_the_journey_is_no_error)
    rows.append(("u99", "a", draw(st.integers(0, 72))))
    return draw(st.permutations(rows))


rows_st = event_rows()


def table(rows) -> pa.Table:
    return pa.table({
        "user_id": pa.array([r[0] for r in rows], pa.string()),
        "event": pa.array([r[1] for r in rows], pa.string()),
        "ts": pa.array([T0_US + r[2] * HOUR_US for r in rows], pa.timestamp("us", "UTC")),
    })


@SETTINGS
@given(rows=rows_st, seed=st.randoms(use_true_random=False),
       stage=st.sampled_from([None, "sa", "sb"]), start=st.sampled_from([None, "a", "x"]))
def test_row_order_never_matters(rows, seed, stage, start):
    shuffled = list(rows)
    seed.shuffle(shuffled)
    if start is not None and start not in {e for _, e, _ in rows}:
        start = None
    one = journeymap.paths(JOURNEY, table(rows), stage=stage, start=start)
    two = journeymap.paths(JOURNEY, table(shuffled), stage=stage, start=start)
    assert one.to_json() == two.to_json()


@SETTINGS
@given(rows=rows_st)
def test_counts_are_consistent(rows):
    r = journeymap.paths(JOURNEY, table(rows), top=1000, depth=50)
    n_users = len({u for u, _, _ in rows})
    assert r.users == n_users
    # without an anchor and with room for everything: every user once, whole sequences
    assert sum(p["users"] for p in r.paths.paths) == n_users
    assert sum(p["share"] for p in r.paths.paths) == pytest.approx(1.0)
    assert Counter(e for p in r.paths.paths for e in p["path"] for _ in range(p["users"])) == \
        Counter(e for _, e, _ in rows)
    # repeats agree with the raw counts
    per_user = Counter((u, e) for u, e, _ in rows)
    for rep in r.repeats:
        counts = [n for (u, e), n in per_user.items() if e == rep["name"]]
        assert rep["users"] == len(counts)
        assert rep["repeat_users"] == sum(n >= 2 for n in counts)
        assert rep["max_times"] == max(counts)
    # conformance: conforming + deviating = users of the stage trace
    c = r.conformance
    stage_users = len({u for u, e, _ in rows if e in "abc"})
    assert c.users == stage_users
    assert all(0 <= k <= c.users - c.conforming for k in c.kinds.values())
    assert (c.conforming == c.users) == (sum(c.kinds.values()) == 0)
    # stage moves agree with stage transitions: loops are self-edges
    edges = {(e["from"], e["to"]): e["users"] for e in r.stage_transitions.edges}
    for m in r.stage_moves:
        assert m["loop_users"] == edges.get((m["stage"], m["stage"]), 0)
    # every user exits at most once per (event, stage) and exits are ranked
    assert all(1 <= e["users"] <= n_users for e in r.exits)
    assert [e["users"] for e in r.exits] == sorted((e["users"] for e in r.exits), reverse=True)


@SETTINGS
@given(rows=rows_st, depth=st.integers(1, 4))
def test_anchored_paths_cover_the_users_with_the_anchor(rows, depth):
    names = {e for _, e, _ in rows}
    start = sorted(names)[0]
    r = journeymap.paths(JOURNEY, table(rows), start=start, depth=depth, top=1000).paths
    having = {u for u, e, _ in rows if e == start}
    assert r.users == len(having)
    assert sum(p["users"] for p in r.paths) == len(having)
    for p in r.paths:
        assert p["path"][0] == start
        real = [e for e in p["path"] if e != "…"]
        assert len(real) <= depth
        assert p["path"].count("…") <= 1 and ("…" not in p["path"] or p["path"][-1] == "…")
    end = sorted(names)[-1]
    e = journeymap.paths(JOURNEY, table(rows), end=end, depth=depth, top=1000).paths
    assert e.users == len({u for u, n, _ in rows if n == end})
    assert all(p["path"][-1] == end for p in e.paths)


def _reference_paths(rows, start, end, depth):
    """Top paths counted in plain Python: each user's events in time order (one instant's
    by name), from the first `start` to the first `end` after it, cut at `depth` ("…")."""
    paths = Counter()
    for u in {u for u, _, _ in rows}:
        seq = [e for _, e in sorted((t, e) for v, e, t in rows if v == u)]
        if start is not None:
            if start not in seq:
                continue
            seq = seq[seq.index(start):]
            if end is not None:
                if end not in seq[1:]:
                    continue
                seq = seq[:seq.index(end, 1) + 1]
        elif end is not None:
            if end not in seq:
                continue
            j = seq.index(end) + 1
            paths[tuple((["…"] if j > depth else []) + seq[max(0, j - depth):j])] += 1
            continue
        paths[tuple(seq[:depth] + (["…"] if len(seq) > depth else []))] += 1
    return sorted(([list(p), n] for p, n in paths.items()), key=lambda x: (-x[1], x[0]))


@settings(max_examples=150, deadline=None)
@given(rows=rows_st, depth=st.integers(1, 5), start=st.sampled_from([None, "a", "c"]),
       end=st.sampled_from([None, "b", "c"]), top=st.integers(1, 6))
def test_top_paths_equal_a_plain_count(rows, depth, start, end, top):
    names = {e for _, e, _ in rows}
    if (start is not None and start not in names) or (end is not None and end not in names):
        return
    got = journeymap.paths(JOURNEY, table(rows), start=start, end=end, depth=depth, top=top).paths
    want = _reference_paths(rows, start, end, depth)
    assert got.users == sum(n for _, n in want)
    assert [[p["path"], p["users"]] for p in got.paths] == want[:top]
