"""funnel(): properties that hold for any event table (hypothesis).

Small tables (a few users, a handful of event names, whole-second times in a
narrow range) so that ties, window boundaries and repeated attempts are common.
"""

from __future__ import annotations

import datetime as dt
import functools
from unittest import mock

import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from journeymap.measure._feed.batches import iter_batches
from journeymap.measure.funnel import funnel as funnel_module
from journeymap.measure.funnel.funnel import FunnelResult, funnel

# ibis 12 streams DuckDB results through fetch_record_batch(), which DuckDB 1.5
# deprecates; pyproject turns every warning into an error. Not a funnel concern.
pytestmark = pytest.mark.filterwarnings("ignore:fetch_record_batch.. is deprecated:DeprecationWarning")

ORDERS = ("ordered", "strict", "unordered")
T0_US = int(dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc).timestamp()) * 1_000_000
# one funnel() call costs ~50 ms (mostly Ibis compiling the query), so each
# example packs many users and each test stays at a few seconds
SETTINGS = settings(max_examples=20, deadline=None)

USERS = [f"u{i:02d}" for i in range(16)]
NAMES = "abcx"


@st.composite
def event_rows(draw, max_per_user: int = 8):
    """(user, event, second) rows: up to 16 users with up to 8 events each."""
    per_user = draw(st.dictionaries(
        st.sampled_from(USERS),
        st.lists(st.tuples(st.sampled_from(NAMES), st.integers(0, 20)), min_size=1,
                 max_size=max_per_user),
        max_size=len(USERS)))
    rows = [(u, e, t) for u, evs in per_user.items() for e, t in evs]
    return draw(st.permutations(rows))


event_rows = event_rows()
# distinct step events, 1..3 of them, in any order
distinct_steps = st.lists(st.sampled_from("abc"), min_size=1, max_size=3, unique=True)
# steps that may repeat an event ("a", "b", "a")
any_steps = st.lists(st.sampled_from("abc"), min_size=1, max_size=4)
windows = st.integers(1, 25)


def table(rows) -> pa.Table:
    """(user, event, second) tuples -> an events table with naive (UTC) µs timestamps."""
    return pa.table({
        "user_id": pa.array([r[0] for r in rows], pa.string()),
        "event": pa.array([r[1] for r in rows], pa.string()),
        "ts": pa.array([T0_US + r[2] * 1_000_000 for r in rows], pa.timestamp("us")),
    })


def run(rows, steps, window, order, **kw) -> FunnelResult:
    return funnel(table(rows), steps, window=window, order=order, **kw)


def levels(result: FunnelResult) -> dict[str, int]:
    """Furthest step per person, read back through persons(k)."""
    out: dict[str, int] = {}
    for k in range(1, len(result.steps) + 1):
        for person in result.persons(k):
            out[person] = k
    return out


def answer(result: FunnelResult) -> tuple:
    return result.counts, [result.persons(k) for k in range(1, len(result.steps) + 1)]


# ----------------------------------------------------------------- invariants


@pytest.mark.parametrize("order", ORDERS)
@SETTINGS
@given(rows=event_rows, steps=any_steps, window=windows)
def test_counts_never_increase_along_the_steps(order, rows, steps, window):
    r = run(rows, steps, window, order)
    counts = r.counts
    assert len(counts) == len(steps)
    assert all(x >= y for x, y in zip(counts, counts[1:])), counts
    starters = steps[:1] if order != "unordered" else steps
    assert counts[0] == len({u for u, e, _ in rows if e in starters})
    # persons(k): sorted, nested, as many as counted
    prev = None
    for k in range(1, len(steps) + 1):
        people = r.persons(k)
        assert people == sorted(people)
        assert len(people) == counts[k - 1]
        assert prev is None or set(people) <= set(prev)
        prev = people
    # the counted attempt: reached steps have times, in order, within the window
    for lvl, times in zip(r.levels.tolist(), r.times.tolist()):
        reached = times[:lvl]
        assert all(t >= 0 for t in reached) and all(t == -1 for t in times[lvl:])
        assert reached == sorted(reached)
        assert reached[-1] - reached[0] <= window * 1_000_000
    for k in range(2, len(steps) + 1):
        t = r.conversion_time(k)
        assert t["n"] == counts[k - 1]
        if t["n"]:
            assert 0 <= t["median_s"] <= window


@pytest.mark.parametrize("order", ORDERS)
@SETTINGS
@given(rows=event_rows, steps=any_steps, window=windows, rnd=st.randoms(use_true_random=False))
def test_shuffling_rows_changes_nothing(order, rows, steps, window, rnd):
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    a, b = run(rows, steps, window, order), run(shuffled, steps, window, order)
    assert answer(a) == answer(b)
    assert a.times.tolist() == b.times.tolist()


@pytest.mark.parametrize("order", ["ordered", "strict"])
@SETTINGS
@given(rows=event_rows, window=windows, rnd=st.randoms(use_true_random=False),
       steps=st.lists(st.sampled_from("abc"), min_size=2, max_size=3, unique=True))
def test_shuffling_rows_changes_nothing_with_exclusions(order, rows, steps, window, rnd):
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    kw = {"exclusions": [("x", 0, len(steps) - 1)]}
    assert answer(run(rows, steps, window, order, **kw)) == \
        answer(run(shuffled, steps, window, order, **kw))


@pytest.mark.parametrize("order", ORDERS)
@settings(max_examples=15, deadline=None)
@given(rows=event_rows, steps=any_steps, window=windows, group=st.sets(st.sampled_from(USERS)))
def test_disjoint_user_groups_add_up(order, rows, steps, window, group):
    whole = run(rows, steps, window, order)
    parts = [run([r for r in rows if (r[0] in group) == inside], steps, window, order)
             for inside in (True, False)]
    assert [p + q for p, q in zip(parts[0].counts, parts[1].counts)] == whole.counts
    for k in range(1, len(steps) + 1):
        assert sorted(parts[0].persons(k) + parts[1].persons(k)) == whole.persons(k)


@SETTINGS
@given(rows=event_rows, steps=any_steps, window=windows)
def test_ordered_counts_at_least_strict_counts(rows, steps, window):
    ordered = run(rows, steps, window, "ordered")
    strict = run(rows, steps, window, "strict")
    assert all(o >= s for o, s in zip(ordered.counts, strict.counts))
    lo, ls = levels(ordered), levels(strict)
    assert all(lo.get(u, 0) >= lvl for u, lvl in ls.items())


@SETTINGS
@given(rows=event_rows, steps=any_steps, window=windows)
def test_unordered_counts_at_least_ordered_counts(rows, steps, window):
    unordered = run(rows, steps, window, "unordered")
    ordered = run(rows, steps, window, "ordered")
    assert all(u >= o for u, o in zip(unordered.counts, ordered.counts))
    lu, lo = levels(unordered), levels(ordered)
    assert all(lu.get(u, 0) >= lvl for u, lvl in lo.items())


@pytest.mark.parametrize("order", ORDERS)
@SETTINGS
@given(rows=event_rows, steps=any_steps, w1=windows, w2=windows)
def test_a_wider_window_never_lowers_counts(order, rows, steps, w1, w2):
    narrow, wide = min(w1, w2), max(w1, w2)
    a, b = run(rows, steps, narrow, order), run(rows, steps, wide, order)
    assert all(x <= y for x, y in zip(a.counts, b.counts))
    la, lb = levels(a), levels(b)
    assert all(lb.get(u, 0) >= lvl for u, lvl in la.items())


@pytest.mark.parametrize("order", ORDERS)
@settings(max_examples=15, deadline=None)
@given(rows=event_rows, steps=any_steps, window=windows, batch=st.integers(1, 8))
def test_batch_size_changes_nothing(order, rows, steps, window, batch):
    small = functools.partial(iter_batches, batch_rows=batch)
    want = run(rows, steps, window, order)
    with mock.patch.object(funnel_module, "iter_batches", small):
        got = run(rows, steps, window, order)
    assert answer(got) == answer(want)
    assert got.times.tolist() == want.times.tolist()


# ---------------------------------------------------- brute-force reference


def ref_ordered(rows, steps, w) -> int:
    """Longest prefix of steps on distinct rows at non-decreasing times within w of the first."""
    best = 0

    def dfs(k, t1, prev, used):
        nonlocal best
        best = max(best, k)
        if k == len(steps):
            return
        for i, (t, e) in enumerate(rows):
            if i not in used and e == steps[k] and prev <= t <= t1 + w:
                dfs(k + 1, t1, t, used | {i})

    for i, (t, e) in enumerate(rows):
        if e == steps[0]:
            dfs(1, t, t, {i})
    return best


def ref_strict(rows, steps, w) -> int:
    """Each step the very next row in (ts, event) order."""
    rows = sorted(rows)
    best = 0
    for i, (t1, e) in enumerate(rows):
        if e != steps[0]:
            continue
        k = 1
        while k < len(steps) and i + k < len(rows) and rows[i + k][1] == steps[k] \
                and rows[i + k][0] - t1 <= w:
            k += 1
        best = max(best, k)
    return best


def _matching(rows, steps) -> int:
    """Most steps matched to distinct rows (bipartite matching)."""
    owner: dict[int, int] = {}

    def augment(s, seen):
        for i, (_, e) in enumerate(rows):
            if e == steps[s] and i not in seen:
                seen.add(i)
                if i not in owner or augment(owner[i], seen):
                    owner[i] = s
                    return True
        return False

    return sum(augment(s, set()) for s in range(len(steps)))


def ref_unordered(rows, steps, w) -> int:
    """Distinct steps done on distinct rows within w of an attempt's first step."""
    return max((_matching([r for r in rows if s <= r[0] <= s + w], steps)
                for s, e in rows if e in steps), default=0)


REFERENCE = {"ordered": ref_ordered, "strict": ref_strict, "unordered": ref_unordered}


def reference_levels(rows, steps, window, order) -> dict[str, int]:
    out = {}
    for user in {r[0] for r in rows}:
        mine = [(t, e) for u, e, t in rows if u == user]
        lvl = REFERENCE[order](mine, steps, window)
        if lvl:
            out[user] = lvl
    return out


@pytest.mark.parametrize("order", ORDERS)
@SETTINGS
@given(rows=event_rows, steps=distinct_steps, window=windows)
def test_matches_brute_force_with_distinct_steps(order, rows, steps, window):
    assert levels(run(rows, steps, window, order)) == reference_levels(rows, steps, window, order)


@pytest.mark.parametrize("order", ORDERS)
@SETTINGS
@given(rows=event_rows, steps=any_steps, window=windows)
# unordered: one "a" row counted as both steps of ["a", "a"]
@example(rows=[("u0", "a", 0)], steps=["a", "a"], window=1)
# ordered: a@1 -> b@2 -> a@2 is valid (b and the second a are simultaneous)
@example(rows=[("u0", "a", 1), ("u0", "b", 2), ("u0", "a", 2)], steps=["a", "b", "a"], window=5)
def test_matches_brute_force_with_repeated_steps(order, rows, steps, window):
    assert levels(run(rows, steps, window, order)) == reference_levels(rows, steps, window, order)
