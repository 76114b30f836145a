"""journeymap.transitions(): properties that hold for any event table (hypothesis).

Small tables (up to 12 users, 4 event names, whole seconds in a narrow range) so
that ties at one instant, repeated events and single-event users are common.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import journeymap

pytestmark = pytest.mark.filterwarnings("ignore:fetch_record_batch.. is deprecated:DeprecationWarning")

T0_US = int(dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc).timestamp()) * 1_000_000
SETTINGS = settings(max_examples=25, deadline=None)
USERS = [f"u{i:02d}" for i in range(12)]
NAMES = "abcd"


@st.composite
def event_rows(draw):
    """(user, event, second) rows in any order."""
    per_user = draw(st.dictionaries(
        st.sampled_from(USERS),
        st.lists(st.tuples(st.sampled_from(NAMES), st.integers(0, 15)), min_size=1, max_size=8),
        max_size=len(USERS)))
    rows = [(u, e, t) for u, evs in per_user.items() for e, t in evs]
    return draw(st.permutations(rows))


rows_st = event_rows()


def table(rows) -> pa.Table:
    return pa.table({
        "user_id": pa.array([r[0] for r in rows], pa.string()),
        "event": pa.array([r[1] for r in rows], pa.string()),
        "ts": pa.array([T0_US + r[2] * 1_000_000 for r in rows], pa.timestamp("us", "UTC")),
    })


def sequences(rows) -> dict[str, list[tuple[str, int]]]:
    """Reference order: per user by (ts, event); ties of equal (ts, event) are interchangeable."""
    out = defaultdict(list)
    for u, e, t in rows:
        out[u].append((e, t))
    return {u: sorted(v, key=lambda x: (x[1], x[0])) for u, v in out.items()}


def reference(rows, rename=None) -> dict[tuple[str, str], dict]:
    """Counts, users and median seconds per pair, computed straight from the definition;
    `rename` maps event names after ordering (names it lacks drop out)."""
    count, users, secs = Counter(), defaultdict(set), defaultdict(list)
    for u, seq in sequences(rows).items():
        if rename is not None:
            seq = [(rename[e], t) for e, t in seq if e in rename]
            if not seq:
                continue
        names = ["$start"] + [e for e, _ in seq] + ["$end"]
        times = [None] + [t for _, t in seq] + [None]
        for i in range(len(names) - 1):
            key = (names[i], names[i + 1])
            count[key] += 1
            users[key].add(u)
            if times[i] is not None and times[i + 1] is not None:
                secs[key].append(times[i + 1] - times[i])
    return {k: {"count": count[k], "users": len(users[k]),
                "median_s": float(np.median(secs[k])) if secs[k] else None} for k in count}


def by_pair(result) -> dict[tuple[str, str], dict]:
    return {(e["from"], e["to"]): e for e in result.edges}


@SETTINGS
@given(rows=rows_st, seed=st.randoms(use_true_random=False))
def test_row_order_never_matters(rows, seed):
    shuffled = list(rows)
    seed.shuffle(shuffled)
    assert journeymap.transitions(table(rows)).to_dict() == \
        journeymap.transitions(table(shuffled)).to_dict()


@SETTINGS
@given(rows=rows_st)
def test_matches_the_definition(rows):
    r = journeymap.transitions(table(rows))
    got = {k: {"count": e["count"], "users": e["users"], "median_s": e["median_s"]}
           for k, e in by_pair(r).items()}
    assert got == reference(rows)
    assert r.users == len({u for u, _, _ in rows})


@SETTINGS
@given(rows=rows_st)
def test_flow_conservation(rows):
    r = journeymap.transitions(table(rows))
    occurrences = Counter(e for _, e, _ in rows)
    last = Counter(seq[-1][0] for seq in sequences(rows).values())
    out_real, into = Counter(), Counter()
    for e in r.edges:
        into[e["to"]] += e["count"]
        if e["to"] != "$end":
            out_real[e["from"]] += e["count"]
        assert 1 <= e["users"] <= e["count"]
        assert 0 < e["share"] <= 1
    for name, n in occurrences.items():
        # every occurrence that has a successor leaves by exactly one real transition
        assert out_real[name] == n - last[name]
        # every occurrence is entered once (from $start or from its predecessor)
        assert into[name] == n
    assert sum(r.starts.values()) == r.users == sum(r.ends.values())
    assert r.ends == dict(last)
    # shares of each source sum to 1
    share = defaultdict(float)
    for e in r.edges:
        share[e["from"]] += e["share"]
    assert all(v == pytest.approx(1.0) for v in share.values())


@SETTINGS
@given(rows=rows_st, names=st.sets(st.sampled_from(NAMES), min_size=1, max_size=3))
def test_exclude_equals_filtering_first(rows, names):
    kept = [r for r in rows if r[1] not in names]
    assert journeymap.transitions(table(rows), exclude=sorted(names)).to_dict() == \
        journeymap.transitions(table(kept)).to_dict()
    inc = [r for r in rows if r[1] in names]
    assert journeymap.transitions(table(rows), include=sorted(names)).to_dict() == \
        journeymap.transitions(table(inc)).to_dict()


@SETTINGS
@given(rows=rows_st, chosen=st.sets(st.sampled_from(USERS), max_size=6))
def test_users_equals_filtering_first(rows, chosen):
    kept = [r for r in rows if r[0] in chosen]
    assert journeymap.transitions(table(rows), users=sorted(chosen)).to_dict() == \
        journeymap.transitions(table(kept)).to_dict()


@SETTINGS
@given(rows=rows_st, threshold=st.sampled_from([0.05, 0.2, 0.3, 0.6]))
def test_fold_below_equals_renaming_first(rows, threshold):
    occurrences = Counter(e for _, e, _ in rows)
    total = sum(occurrences.values())
    rare = {e for e, n in occurrences.items() if n / total < threshold}
    # renamed after ordering: the tie order is that of the original names
    rename = {e: "other" if e in rare else e for e in occurrences}
    got = journeymap.transitions(table(rows), fold_below=threshold)
    assert {k: (e["count"], e["users"], e["median_s"]) for k, e in by_pair(got).items()} == \
        {k: (e["count"], e["users"], e["median_s"]) for k, e in reference(rows, rename).items()}


JOURNEY = journeymap.load_journey("""\
name: letters
stages:
  - {id: s_a, owner: x, enter: {event: a}}
  - {id: s_ab, owner: x, enter: {event: [a, b]}}
  - {id: s_c, owner: x, enter: {event: c}}
""")


@SETTINGS
@given(rows=rows_st)
def test_stage_level_equals_event_level_on_renamed_events(rows):
    # a -> s_a (earliest of s_a, s_ab), b -> s_ab, c -> s_c, d qualifies for nothing
    rename = {"a": "s_a", "b": "s_ab", "c": "s_c"}
    got = journeymap.transitions(table(rows), level="stage", journey=JOURNEY)
    assert {k: (e["count"], e["users"], e["median_s"]) for k, e in by_pair(got).items()} == \
        {k: (e["count"], e["users"], e["median_s"]) for k, e in reference(rows, rename).items()}
    assert got.users == len({u for u, e, _ in rows if e in rename})
