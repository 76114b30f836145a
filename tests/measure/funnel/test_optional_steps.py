"""funnel() with optional steps: hand-computed cases and properties.

The semantics under test (see the funnel module):

* a step `{"event": name, "optional": True}` may be skipped; the first step cannot be
  optional;
* the level and the counted attempt come from the required steps: for ordered and
  unordered funnels exactly those of the funnel without the optional steps; for strict
  funnels the run of consecutive events may also hold optional steps (the next
  required step must directly follow the previous step done, required or optional);
* an optional step counts the persons whose counted attempt did it:
  - ordered: in step order between the required steps around it: at the first
    instant at or after the previous step done and no later than the next required
    step (the end of the window, t_1 + window, when the attempt stopped before it);
  - strict: as a row of the run (a row that could be several steps is the earliest
    step that still reaches the attempt's level);
  - unordered: anywhere in the attempt's window (from its first step), by persons
    whose level reached the required step before it;
  rows at one instant are simultaneous: each step of the attempt sits on its own row;
* counts: required steps as before, optional steps the persons who did them;
  conversion_time(k) is from the step the person did last before step k (unordered:
  a required step from the required step before it, an optional step from the first
  step); rows() "from_previous" and "dropped" are against the previous required step;
* exclusions between required steps work as before; breakdown reads the counted
  attempt's first step.
"""

from __future__ import annotations

import datetime as dt
import functools
from unittest import mock

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from journeymap.errors import QueryError
from journeymap.measure._feed.batches import iter_batches
from journeymap.measure.funnel import funnel as funnel_module
from journeymap.measure.funnel.funnel import FunnelResult, funnel

pytestmark = pytest.mark.filterwarnings("ignore:fetch_record_batch.. is deprecated:DeprecationWarning")

T0 = dt.datetime(2024, 3, 1)
MIN, HOUR, DAY = 60, 3600, 86400
ORDERS = ("ordered", "strict", "unordered")


def opt(event, **where):
    step = {"event": event, "optional": True}
    if where:
        step["where"] = where
    return step


def frame(spec) -> pd.DataFrame:
    """[(user, event, seconds, {props})...] -> events."""
    return pd.DataFrame([{"user_id": u, "event": e, "ts": T0 + dt.timedelta(seconds=s),
                          **(rest[0] if rest else {})} for u, e, s, *rest in spec])


def did(result: FunnelResult) -> dict[str, list[int]]:
    """Per person, the 1-based steps they are counted at (read through persons(k))."""
    out: dict[str, list[int]] = {}
    for k in range(1, len(result.steps) + 1):
        for p in result.persons(k):
            out.setdefault(p, []).append(k)
    return out


# ---------------------------------------------------------------------------- ordered

ABC = [
    ("skips", "a", 0), ("skips", "c", 20 * MIN),
    ("does", "a", 0), ("does", "b", 10 * MIN), ("does", "c", 20 * MIN),
    ("after_c", "a", 0), ("after_c", "c", 20 * MIN), ("after_c", "b", 30 * MIN),
    ("out_of_window", "a", 0), ("out_of_window", "b", HOUR + 1),
    ("stops_after_b", "a", 0), ("stops_after_b", "b", 10 * MIN),
    ("b_only", "b", 0), ("b_only", "c", 10),
]


def test_ordered_skip_do_late_and_out_of_window():
    r = funnel(frame(ABC), ["a", opt("b"), "c"], window="1h")
    assert did(r) == {"skips": [1, 3], "does": [1, 2, 3], "after_c": [1, 3],
                      "out_of_window": [1], "stops_after_b": [1, 2]}
    assert r.counts == [5, 2, 3]
    # levels: the furthest required step (1-based position)
    assert dict(zip(r.users.to_pylist(), r.levels.tolist())) == {
        "after_c": 3, "does": 3, "out_of_window": 1, "skips": 3, "stops_after_b": 1}
    rows = r.rows()
    assert [x["optional"] for x in rows] == [False, True, False]
    # from the previous required step: b 2/5, c 3/5 (from a, not from b)
    assert [x["from_previous"] for x in rows] == [1.0, 0.4, 0.6]
    assert [x["dropped"] for x in rows] == [0, 3, 2]
    assert r.to_dict()["optional"] == [False, True, False]
    # b from a: 10 min each; c from the step done before it: b (10 min) or a (20 min)
    assert r.conversion_time(2)["mean_s"] == 10 * MIN
    assert r.conversion_time(3)["median_s"] == 20 * MIN
    assert r.conversion_time(3)["mean_s"] == pytest.approx((10 + 20 + 20) * MIN / 3)


def test_ordered_equals_the_funnel_without_the_optional_step_on_required_steps():
    with_b = funnel(frame(ABC), ["a", opt("b"), "c"], window="1h")
    without = funnel(frame(ABC), ["a", "c"], window="1h")
    assert [with_b.counts[0], with_b.counts[2]] == without.counts
    assert with_b.persons(3) == without.persons(2)
    assert with_b.times[:, [0, 2]].tolist() == without.times.tolist()
    # with b required: fewer reach c; after_c counts at b (b is its furthest step),
    # where as an optional step its b, after c, is not between a and c
    assert funnel(frame(ABC), ["a", "b", "c"], window="1h").counts == [5, 3, 1]


def test_ordered_optional_step_at_the_boundaries_is_inclusive():
    ev = frame([
        ("with_a", "a", 0), ("with_a", "b", 0), ("with_a", "c", 10),    # b at a's instant
        ("with_c", "a", 0), ("with_c", "c", 10), ("with_c", "b", 10),   # b at c's instant
        ("window_end", "a", 0), ("window_end", "b", HOUR),               # no c: up to t_a + 1h
    ])
    r = funnel(ev, ["a", opt("b"), "c"], window="1h")
    assert did(r) == {"with_a": [1, 2, 3], "with_c": [1, 2, 3], "window_end": [1, 2]}
    # b from a: 0 s, 10 s and 1 h
    assert r.conversion_time(2)["median_s"] == 10.0
    assert r.conversion_time(2)["mean_s"] == pytest.approx((0 + 10 + HOUR) / 3)


def test_ordered_consecutive_optional_steps_keep_their_order():
    ev = frame([
        ("both", "a", 0), ("both", "b", 1), ("both", "c", 2), ("both", "d", 3),
        ("swapped", "a", 0), ("swapped", "c", 1), ("swapped", "b", 2), ("swapped", "d", 3),
        ("only_c", "a", 0), ("only_c", "c", 1), ("only_c", "d", 3),
    ])
    r = funnel(ev, ["a", opt("b"), opt("c"), "d"], window="1h")
    # swapped: b is taken first (at 2), c must then come at or after it and before d
    assert did(r) == {"both": [1, 2, 3, 4], "swapped": [1, 2, 4], "only_c": [1, 3, 4]}
    # d from the step done last before it: c (1 s), b (1 s), c (2 s)
    assert r.conversion_time(4)["mean_s"] == pytest.approx(4 / 3)
    assert r.conversion_time(3)["mean_s"] == pytest.approx(1.0)   # both: from b; only_c: from a


def test_ordered_optional_step_later_in_the_funnel():
    ev = frame([
        ("u1", "a", 0), ("u1", "b", 10), ("u1", "x", 20), ("u1", "c", 30),
        ("u2", "a", 0), ("u2", "b", 10), ("u2", "c", 30),
        ("u3", "a", 0), ("u3", "x", 5), ("u3", "b", 10),     # x before b: not between b and c
        ("u4", "a", 0), ("u4", "b", 10), ("u4", "x", 20),    # stopped at b, x within window
    ])
    r = funnel(ev, ["a", "b", opt("x"), "c", opt("y")], window="1h")
    assert did(r) == {"u1": [1, 2, 3, 4], "u2": [1, 2, 4], "u3": [1, 2], "u4": [1, 2, 3]}
    assert r.counts == [4, 4, 2, 2, 0]


def test_ordered_ties_are_simultaneous_in_both_row_orders():
    # at t=5 two rows: the required step takes x or y, the optional one needs x or z
    steps = ["a", opt(["x", "z"]), {"event": ["x", "y"]}]
    for ids in (("e1", "e2"), ("e2", "e1")):
        ev = frame([
            ("xy", "a", 0, {"event_id": "e0"}), ("xy", "x", 5, {"event_id": ids[0]}),
            ("xy", "y", 5, {"event_id": ids[1]}),
            ("xx", "a", 0, {"event_id": "e0"}), ("xx", "x", 5, {"event_id": ids[0]}),
            ("xx", "x", 5, {"event_id": ids[1]}),
            ("x", "a", 0, {"event_id": "e0"}), ("x", "x", 5, {"event_id": ids[0]}),
        ])
        r = funnel(ev, steps, window="1h")
        assert did(r) == {"xy": [1, 2, 3], "xx": [1, 2, 3], "x": [1, 3]}, ids
    # the same rule with conditions, and the two rows' order swapped by their ids
    steps = ["a", opt("x", p=1), {"event": "x", "where": {"p": {"in": [1, 2]}}}]
    for ids in (("e1", "e2"), ("e2", "e1")):
        ev = frame([("u1", "a", 0, {"p": 0, "event_id": "e0"}),
                    ("u1", "x", 5, {"p": 1, "event_id": ids[0]}),
                    ("u1", "x", 5, {"p": 2, "event_id": ids[1]}),
                    ("u2", "a", 0, {"p": 0, "event_id": "e0"}),
                    ("u2", "x", 5, {"p": 1, "event_id": ids[0]})])
        r = funnel(ev, steps, window="1h")
        assert did(r) == {"u1": [1, 2, 3], "u2": [1, 3]}, ids


def test_ordered_optional_step_needs_its_own_event():
    # the optional step repeats the required step before it: it needs a second b
    ev = frame([("once", "a", 0), ("once", "b", 1), ("once", "c", 10),
                ("twice", "a", 0), ("twice", "b", 1), ("twice", "b", 5), ("twice", "c", 10),
                ("same_instant", "a", 0), ("same_instant", "b", 1), ("same_instant", "b", 1),
                ("same_instant", "c", 10)])
    r = funnel(ev, ["a", "b", opt("b"), "c"], window="1h")
    assert did(r) == {"once": [1, 2, 4], "twice": [1, 2, 3, 4], "same_instant": [1, 2, 3, 4]}
    # repeating the first step: the attempt starts at the last a before c, so a second
    # a between them cannot exist (refused, see below); without a later required step
    # it is a second a within the window
    ev = frame([("once", "a", 0), ("twice", "a", 0), ("twice", "a", 5),
                ("late", "a", 0), ("late", "a", HOUR + 1)])
    assert did(funnel(ev, ["a", opt("a")], window="1h")) == {
        "once": [1], "twice": [1, 2], "late": [1]}
    # two optional steps of one event need two of them
    ev = frame([("one_b", "a", 0), ("one_b", "b", 5), ("one_b", "c", 10),
                ("two_b", "a", 0), ("two_b", "b", 5), ("two_b", "b", 5), ("two_b", "c", 10)])
    r = funnel(ev, ["a", opt("b"), opt("b"), "c"], window="1h")
    assert did(r) == {"one_b": [1, 2, 4], "two_b": [1, 2, 3, 4]}


def test_ordered_exclusions_and_breakdown_with_an_optional_step():
    ev = frame([
        ("u1", "a", 0, {"plan": "pro"}), ("u1", "b", 10, {"plan": "free"}),
        ("u1", "c", 20, {"plan": "free"}),
        ("u2", "a", 0, {"plan": "free"}), ("u2", "c", 20, {"plan": "pro"}),
        ("u3", "a", 0, {"plan": "free"}), ("u3", "x", 5, {"plan": "free"}),   # excluded
        ("u3", "b", 10, {"plan": "free"}), ("u3", "c", 20, {"plan": "free"}),
        ("u4", "a", 0, {"plan": "pro"}), ("u4", "b", 10, {"plan": "pro"}),    # no c
        # counted attempt is the first: b of the later attempt is out of its window
        ("u5", "a", 0, {"plan": "free"}), ("u5", "c", 10, {"plan": "free"}),
        ("u5", "a", 2 * DAY, {"plan": "pro"}), ("u5", "b", 2 * DAY + 1, {"plan": "pro"}),
    ])
    steps = ["a", opt("b"), "c"]
    r = funnel(ev, steps, window="1h", exclusions=[("x", 0, 2)], breakdown="plan")
    assert did(r) == {"u1": [1, 2, 3], "u2": [1, 3], "u4": [1, 2], "u5": [1, 3]}
    assert r.counts == [4, 2, 3]
    by = r.by_breakdown
    assert {k: v.counts for k, v in by.items()} == {"free": [2, 0, 2], "pro": [2, 2, 1]}
    assert by["pro"].persons(2) == ["u1", "u4"]
    assert r.to_dict()["by_breakdown"] == {"free": [2, 0, 2], "pro": [2, 2, 1]}
    # the same as the funnel without b, on a and c
    without = funnel(ev, ["a", "c"], window="1h", exclusions=[("x", 0, 1)], breakdown="plan")
    assert {k: [v.counts[0], v.counts[2]] for k, v in by.items()} == \
        {k: v.counts for k, v in without.by_breakdown.items()}
    # an exclusion between required steps around the optional one, strict order
    # (u3: a then x breaks the run at a; x lies within its window, so it is excluded too)
    s = funnel(ev, steps, window="1h", order="strict", exclusions=[("x", 0, 2)])
    assert did(s) == {"u1": [1, 2, 3], "u2": [1, 3], "u4": [1, 2], "u5": [1, 3]}


# ----------------------------------------------------------------------------- strict


def test_strict_the_next_required_step_follows_the_previous_step_done():
    ev = frame([
        ("skips", "a", 0), ("skips", "c", 20),
        ("does", "a", 0), ("does", "b", 10), ("does", "c", 20),
        ("noise", "a", 0), ("noise", "x", 5), ("noise", "c", 20),           # interrupted
        ("noise_after_b", "a", 0), ("noise_after_b", "b", 5), ("noise_after_b", "x", 6),
        ("noise_after_b", "c", 20),
        ("after_c", "a", 0), ("after_c", "c", 20), ("after_c", "b", 30),
        ("out_of_window", "a", 0), ("out_of_window", "b", HOUR + 1), ("out_of_window", "c", HOUR + 2),
        ("b_twice", "a", 0), ("b_twice", "b", 5), ("b_twice", "b", 6), ("b_twice", "c", 20),
    ])
    r = funnel(ev, ["a", opt("b"), "c"], window="1h", order="strict")
    assert did(r) == {"skips": [1, 3], "does": [1, 2, 3], "noise": [1], "noise_after_b": [1, 2],
                      "after_c": [1, 3], "out_of_window": [1], "b_twice": [1, 2]}
    # unlike ordered, strict is not the funnel without b: b would interrupt a -> c there
    assert did(funnel(ev, ["a", "c"], window="1h", order="strict"))["does"] == [1]
    # c from the step done last before it: skips 20 s (a), does 10 s (b), after_c 20 s (a)
    assert r.conversion_time(3)["mean_s"] == pytest.approx(50 / 3)


def test_strict_a_row_that_could_be_two_steps():
    # x is both the optional step and the required one after it (strict allows this)
    steps = ["a", opt("x"), "x"]
    ev = frame([("one_x", "a", 0), ("one_x", "x", 1),
                ("two_x", "a", 0), ("two_x", "x", 1), ("two_x", "x", 2),
                ("three_x", "a", 0), ("three_x", "x", 1), ("three_x", "x", 2), ("three_x", "x", 3)])
    r = funnel(ev, steps, window="1h", order="strict")
    # one x: it must be the required step to reach it; two: the first is the optional one
    assert did(r) == {"one_x": [1, 3], "two_x": [1, 2, 3], "three_x": [1, 2, 3]}
    # an optional step at the end of the funnel, after the last required one
    r = funnel(frame([("u1", "a", 0), ("u1", "b", 1), ("u2", "a", 0), ("u2", "x", 1),
                      ("u2", "b", 2)]), ["a", opt("b")], window="1h", order="strict")
    assert did(r) == {"u1": [1, 2], "u2": [1]}


def test_strict_ties_follow_the_row_order():
    # rows at one instant follow (ts, event, event_id) in strict order, as without optional steps
    steps = ["a", opt("x", p=1), {"event": "x", "where": {"p": 2}}]
    for ids, want in ((("e1", "e2"), [1, 2, 3]), (("e2", "e1"), [1, 3])):
        ev = frame([("u1", "a", 0, {"p": 0, "event_id": "e0"}),
                    ("u1", "x", 5, {"p": 1, "event_id": ids[0]}),
                    ("u1", "x", 5, {"p": 2, "event_id": ids[1]})])
        assert did(funnel(ev, steps, window="1h", order="strict")) == {"u1": want}, ids


def test_strict_best_attempt_and_breakdown():
    ev = frame([
        # first attempt: a b (no c); second attempt: a c -> reaches further
        ("u1", "a", 0, {"src": "ads"}), ("u1", "b", 1, {"src": "ads"}), ("u1", "x", 2),
        ("u1", "a", 10, {"src": "seo"}), ("u1", "c", 11, {"src": "ads"}),
        ("u2", "a", 0, {"src": "ads"}), ("u2", "b", 1), ("u2", "c", 2),
    ])
    r = funnel(ev, ["a", opt("b"), "c"], window="1h", order="strict", breakdown="src")
    assert did(r) == {"u1": [1, 3], "u2": [1, 2, 3]}
    assert {k: v.counts for k, v in r.by_breakdown.items()} == {"ads": [1, 1, 1], "seo": [1, 0, 1]}


# -------------------------------------------------------------------------- unordered


def test_unordered_optional_step_done_or_not_within_the_window():
    ev = frame([
        ("before", "b", 0), ("before", "a", 10), ("before", "c", 20),  # b before the start
        ("inside", "c", 0), ("inside", "b", 10), ("inside", "a", 20),
        ("skips", "a", 0), ("skips", "c", 10),
        ("out", "a", 0), ("out", "b", HOUR + 1),
        ("only_b", "b", 0),
    ])
    r = funnel(ev, ["a", opt("b"), "c"], window="1h", order="unordered")
    # the attempt starts at the first required step done: b before it is not in it
    assert did(r) == {"before": [1, 3], "inside": [1, 2, 3], "skips": [1, 3], "out": [1]}
    without = funnel(ev, ["a", "c"], window="1h", order="unordered")
    assert [r.counts[0], r.counts[2]] == without.counts
    assert r.times[:, [0, 2]].tolist() == without.times.tolist()
    # b from the first step (10 s), c from the required step before it
    assert r.conversion_time(2)["mean_s"] == 10.0
    assert r.conversion_time(3)["mean_s"] == pytest.approx((10 + 20 + 10) / 3)


def test_unordered_ties_need_distinct_rows_in_both_row_orders():
    steps = ["a", opt(["b", "c"]), {"event": ["b", "c"]}]
    for ids in (("e1", "e2"), ("e2", "e1")):
        ev = frame([("one", "a", 0, {"event_id": "e0"}), ("one", "b", 0, {"event_id": ids[0]}),
                    ("two", "a", 0, {"event_id": "e0"}), ("two", "b", 0, {"event_id": ids[0]}),
                    ("two", "c", 0, {"event_id": ids[1]})])
        r = funnel(ev, steps, window="1h", order="unordered")
        assert did(r) == {"one": [1, 3], "two": [1, 2, 3]}, ids


def test_unordered_breakdown_with_an_optional_step():
    ev = frame([("u1", "a", 0, {"plan": "pro"}), ("u1", "b", 5, {"plan": "free"}),
                ("u2", "c", 0, {"plan": "free"}), ("u2", "a", 5, {"plan": "pro"})])
    r = funnel(ev, ["a", opt("b"), "c"], window="1h", order="unordered", breakdown="plan")
    assert {k: v.counts for k, v in r.by_breakdown.items()} == {"free": [1, 0, 1], "pro": [1, 1, 0]}


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("order", ORDERS)
def test_first_step_cannot_be_optional(order):
    with pytest.raises(QueryError, match="first funnel step cannot be optional"):
        funnel(frame(ABC), [opt("a"), "c"], order=order)


def test_all_steps_optional():
    with pytest.raises(QueryError, match="every funnel step is optional"):
        funnel(frame(ABC), [opt("a"), opt("c")])


@pytest.mark.parametrize("exclusion", [("x", 1, 2), ("x", 0, 1)])
def test_exclusion_at_an_optional_step_is_refused(exclusion):
    with pytest.raises(QueryError, match=r"step 2 \(b\), which is optional.*ambiguous"):
        funnel(frame(ABC), ["a", opt("b"), "c"], exclusions=[exclusion])


@pytest.mark.parametrize("steps", [
    ["a", opt("b"), "b"],
    ["a", opt("b", plan="pro"), "b"],
    ["a", opt("b"), {"event": ["b", "c"]}],
    ["a", opt("b"), opt("c"), "b"],
    ["a", opt("a"), "c"],
    ["a", opt("c"), opt("a", plan="pro"), "c"],
])
def test_ordered_optional_step_the_next_required_step_covers_is_refused(steps):
    ev = frame([(*row, {"plan": "pro"}) for row in ABC])
    with pytest.raises(QueryError, match="could never count"):
        funnel(ev, steps)
    for order in ("strict", "unordered"):  # there it is well defined
        funnel(ev, steps, order=order)


def test_optional_must_be_a_boolean():
    with pytest.raises(QueryError, match="'optional' must be true or false"):
        funnel(frame(ABC), ["a", {"event": "b", "optional": "yes"}])


def test_optional_false_is_a_required_step():
    a = funnel(frame(ABC), ["a", {"event": "b", "optional": False}, "c"], window="1h")
    b = funnel(frame(ABC), ["a", "b", "c"], window="1h")
    assert a.to_dict() == b.to_dict()
    assert "optional" not in a.to_dict() and "optional" not in a.rows()[0]


# ------------------------------------------------------------------------- properties

T0_US = int(dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc).timestamp()) * 1_000_000
USERS = [f"u{i:02d}" for i in range(16)]
SETTINGS = settings(max_examples=20, deadline=None)


@st.composite
def event_rows(draw):
    per_user = draw(st.dictionaries(
        st.sampled_from(USERS),
        st.lists(st.tuples(st.sampled_from("abcx"), st.integers(0, 20)), min_size=1, max_size=8),
        max_size=len(USERS)))
    return draw(st.permutations([(u, e, t) for u, evs in per_user.items() for e, t in evs]))


event_rows = event_rows()
windows = st.integers(1, 25)


@st.composite
def steps_with_an_optional_one(draw):
    """Steps over a, b, c (2 to 4, repeats allowed) and the position made optional (not 0)."""
    steps = draw(st.lists(st.sampled_from("abc"), min_size=2, max_size=4))
    return steps, draw(st.integers(1, len(steps) - 1))


def table(rows) -> pa.Table:
    return pa.table({"user_id": pa.array([r[0] for r in rows], pa.string()),
                     "event": pa.array([r[1] for r in rows], pa.string()),
                     "ts": pa.array([T0_US + r[2] * 1_000_000 for r in rows], pa.timestamp("us"))})


def made_optional(steps, j):
    return [opt(s) if k == j else s for k, s in enumerate(steps)]


def refused(steps, j, order) -> bool:
    """Ordered funnels refuse an optional step the next required step covers, or, before
    the second required step, the first step."""
    later = steps[j + 1:]
    return order == "ordered" and bool(later) and (
        later[0] == steps[j] or (j == 1 and steps[0] == steps[j]))


def answer(r: FunnelResult):
    return r.counts, [r.persons(k) for k in range(1, len(r.steps) + 1)], r.times.tolist()


@pytest.mark.parametrize("order", ["ordered", "unordered"])
@SETTINGS
@given(rows=event_rows, case=steps_with_an_optional_one(), window=windows)
def test_required_steps_equal_the_funnel_without_the_optional_step(order, rows, case, window):
    steps, j = case
    assume(not refused(steps, j, order))
    r = funnel(table(rows), made_optional(steps, j), window=window, order=order)
    without = funnel(table(rows), steps[:j] + steps[j + 1:], window=window, order=order)
    keep = [k for k in range(len(steps)) if k != j]
    assert [r.counts[k] for k in keep] == without.counts
    assert [r.persons(k + 1) for k in keep] == [without.persons(k) for k in
                                                 range(1, len(steps))]
    assert r.users.to_pylist() == without.users.to_pylist()
    assert r.times[:, keep].tolist() == without.times.tolist()
    # the optional step: only persons who reached the required step before it
    prev = max(k for k in keep if k < j)
    assert set(r.persons(j + 1)) <= set(r.persons(prev + 1))


@pytest.mark.parametrize("order", ORDERS)
@SETTINGS
@given(rows=event_rows, case=steps_with_an_optional_one(), window=windows)
def test_making_a_step_optional_never_lowers_the_later_required_steps(order, rows, case, window):
    steps, j = case
    assume(not refused(steps, j, order))
    r = funnel(table(rows), made_optional(steps, j), window=window, order=order)
    required = funnel(table(rows), steps, window=window, order=order)
    for k in range(j + 1, len(steps)):
        assert r.counts[k] >= required.counts[k]
        assert set(r.persons(k + 1)) >= set(required.persons(k + 1))
    # the counted attempt: steps done in order within the window, conversion times >= 0
    for done, times in zip(r.done.tolist(), r.times.tolist()):
        seen = [t for d, t in zip(done, times) if d]
        assert done[0] and max(seen) - min(seen) <= window * 1_000_000
        if order != "unordered":
            assert seen == sorted(seen)
    for k in range(2, len(steps) + 1):
        t = r.conversion_time(k)
        assert t["n"] == r.counts[k - 1]
        if t["n"]:
            assert t["mean_s"] >= 0 and t["median_s"] >= 0


@pytest.mark.parametrize("order", ORDERS)
@SETTINGS
@given(rows=event_rows, case=steps_with_an_optional_one(), window=windows,
       rnd=st.randoms(use_true_random=False), batch=st.integers(1, 8))
def test_row_order_and_batches_change_nothing(order, rows, case, window, rnd, batch):
    steps, j = case
    assume(not refused(steps, j, order))
    steps = made_optional(steps, j)
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    want = funnel(table(rows), steps, window=window, order=order)
    assert answer(funnel(table(shuffled), steps, window=window, order=order)) == answer(want)
    small = functools.partial(iter_batches, batch_rows=batch)
    with mock.patch.object(funnel_module, "iter_batches", small):
        assert answer(funnel(table(rows), steps, window=window, order=order)) == answer(want)


# ---------------------------------------------------- brute-force reference, ordered


def _matchable(steps, rows) -> bool:
    """Whether every step (an event name) sits on a distinct row of `rows` (names)."""
    owner: dict[int, int] = {}

    def augment(s, seen):
        for i, e in enumerate(rows):
            if e == steps[s] and i not in seen:
                seen.add(i)
                if i not in owner or augment(owner[i], seen):
                    owner[i] = s
                    return True
        return False

    return all(augment(s, set()) for s in range(len(steps)))


def ref_optional_ordered(mine, steps, optional, times, window):
    """The optional steps a person did, from their counted attempt's required times
    (`times[k]` for the required steps reached, else None): greedy in step order."""
    done = {k: t for k, t in enumerate(times) if t is not None and not optional[k]}
    if 0 not in done:
        return set()
    low = None
    for j, is_opt in enumerate(optional):
        if not is_opt:
            low = done.get(j)
            continue
        if low is None:  # the required step before it was not reached
            continue
        nxt = next(q for q in range(j + 1, len(steps) + 1) if q == len(steps) or not optional[q])
        hi = done.get(nxt, done[0] + window) if nxt < len(steps) else done[0] + window
        for tau in sorted({t for t, e in mine if e == steps[j] and low <= t <= hi}):
            here = [k for k, t in done.items() if t == tau]
            if _matchable([steps[k] for k in here] + [steps[j]], [e for t, e in mine if t == tau]):
                done[j] = tau
                low = tau
                break
    return {k for k in done if optional[k]}


@SETTINGS
@given(rows=event_rows, case=steps_with_an_optional_one(), window=windows,
       second=st.integers(1, 3))
def test_ordered_optional_steps_match_a_brute_force_reference(rows, case, window, second):
    steps, j = case
    optional = [k == j for k in range(len(steps))]
    if second < len(steps):  # sometimes a second optional step
        optional[second] = True
    optional[0] = False
    steps_in = [opt(s) if o else s for s, o in zip(steps, optional)]
    try:
        r = funnel(table(rows), steps_in, window=window)
    except QueryError:
        return  # an optional step the next required step covers
    for user, done, times in zip(r.users.to_pylist(), r.done.tolist(), r.times.tolist()):
        mine = [(t, e) for u, e, t in rows if u == user]
        req_times = [((t - T0_US) // 1_000_000 if d and not o else None)
                     for d, t, o in zip(done, times, optional)]
        want = ref_optional_ordered(mine, steps, optional, req_times, window)
        assert {k for k, d in enumerate(done) if d and optional[k]} == want, user
