"""funnel(): small hand-made event tables with hand-computed answers.

Every table here is small enough to check by eye; the expected values in the
assertions were worked out by hand from the documented semantics:

* the window runs from the attempt's first step, inclusive (t_k - t_1 <= window);
* ordered: other events may come in between, steps at non-decreasing times,
  rows at one timestamp are simultaneous (several steps in one instant, each
  with its own row);
* strict: each step is the user's very next event in the order (ts, event, event_id);
* unordered: distinct steps in any order within the window from the first;
* each person counts once, by the first attempt to reach their furthest step;
* exclusions remove a person whose counted attempt holds the excluded event in
  [t_from, t_to] (inclusive; up to start + window when to_step was not reached);
* breakdown = the property on the counted attempt's first-step event.
"""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from journeymap.errors import IngestError, JourneyError, QueryError
from journeymap.measure.funnel.funnel import FunnelResult, funnel

# ibis 12 streams DuckDB results through fetch_record_batch(), which DuckDB 1.5
# deprecates; pyproject turns every warning into an error. Not a funnel concern.
pytestmark = pytest.mark.filterwarnings("ignore:fetch_record_batch.. is deprecated:DeprecationWarning")

T0 = dt.datetime(2024, 3, 1)
MIN = 60
HOUR = 3600
DAY = 86400
US = dt.timedelta(microseconds=1)


def at(seconds: float = 0, us: int = 0) -> dt.datetime:
    """T0 plus a whole number of seconds and microseconds (naive = UTC)."""
    return T0 + dt.timedelta(seconds=seconds, microseconds=us)


def rows_of(spec) -> list[dict]:
    """[(user, event, time, {props})...] -> list of event dicts."""
    out = []
    for item in spec:
        user, event, when = item[:3]
        props = item[3] if len(item) > 3 else {}
        if not isinstance(when, dt.datetime):
            when = at(when)
        out.append({"user_id": user, "event": event, "ts": when, **props})
    return out


def frame(spec) -> pd.DataFrame:
    return pd.DataFrame(rows_of(spec))


def levels(result: FunnelResult) -> dict[str, int]:
    """Furthest step per person, read back through the public persons(k)."""
    out: dict[str, int] = {}
    for k in range(1, len(result.steps) + 1):
        for person in result.persons(k):
            out[person] = k
    return out


# --------------------------------------------------------------------------- ordered


def test_ordered_basic_counts_and_persons():
    ev = frame([
        ("u1", "a", 0), ("u1", "b", 10), ("u1", "c", 20),
        ("u2", "a", 0), ("u2", "b", 10),
        ("u3", "a", 0),
        ("u4", "b", 0), ("u4", "c", 10),           # never did step 1
        ("u5", "x", 0),                            # only noise
    ])
    r = funnel(ev, ["a", "b", "c"], window="1d")
    assert r.counts == [3, 2, 1]
    assert r.persons(1) == ["u1", "u2", "u3"]
    assert r.persons(2) == ["u1", "u2"]
    assert r.persons(3) == ["u1"]
    assert r.steps == ("a", "b", "c")


def test_ordered_allows_other_events_between_steps_but_not_reversed_steps():
    ev = frame([
        ("u1", "a", 0), ("u1", "x", 10), ("u1", "y", 20), ("u1", "b", 30),
        ("u2", "b", 0), ("u2", "a", 10),           # b before a: only step 1
    ])
    r = funnel(ev, ["a", "b"], window="1h")
    assert levels(r) == {"u1": 2, "u2": 1}


@pytest.mark.parametrize("order", ["ordered", "strict", "unordered"])
def test_window_boundary_is_inclusive_to_the_microsecond(order):
    ev = frame([
        ("on", "a", at(0)), ("on", "b", at(HOUR)),                   # exactly the window
        ("over", "a", at(0)), ("over", "b", at(HOUR, us=1)),         # 1 µs over
        ("under", "a", at(0)), ("under", "b", at(HOUR, us=-1)),      # 1 µs under
    ])
    r = funnel(ev, ["a", "b"], window="1h", order=order)
    assert r.counts == [3, 2]
    assert r.persons(2) == ["on", "under"]


@pytest.mark.parametrize("order", ["ordered", "strict", "unordered"])
def test_window_in_plain_seconds_equals_window_text(order):
    ev = frame([("u1", "a", 0), ("u1", "b", 90), ("u2", "a", 0), ("u2", "b", 91)])
    assert funnel(ev, ["a", "b"], window=90, order=order).counts == [2, 1]
    assert funnel(ev, ["a", "b"], window="90s", order=order).counts == [2, 1]
    assert funnel(ev, ["a", "b"], window=90.5, order=order).counts == [2, 1]
    assert funnel(ev, ["a", "b"], window=91, order=order).counts == [2, 2]


def test_unordered_window_boundary_reversed_steps():
    ev = frame([
        ("on", "b", at(0)), ("on", "a", at(HOUR)),
        ("over", "b", at(0)), ("over", "a", at(HOUR, us=1)),
    ])
    r = funnel(ev, ["a", "b"], window="1h", order="unordered")
    assert r.counts == [2, 1]
    assert r.persons(2) == ["on"]


@pytest.mark.parametrize("order", ["ordered", "unordered"])
def test_window_is_measured_from_the_first_step_not_the_previous_one(order):
    ev = frame([
        ("on", "a", 0), ("on", "b", 30 * MIN), ("on", "c", at(HOUR)),
        ("over", "a", 0), ("over", "b", 30 * MIN), ("over", "c", at(HOUR, us=1)),
    ])
    r = funnel(ev, ["a", "b", "c"], window="1h", order=order)
    assert levels(r) == {"on": 3, "over": 2}


def test_strict_window_is_measured_from_the_first_step():
    ev = frame([
        ("on", "a", 0), ("on", "b", 30 * MIN), ("on", "c", at(HOUR)),
        ("over", "a", 0), ("over", "b", 30 * MIN), ("over", "c", at(HOUR, us=1)),
    ])
    r = funnel(ev, ["a", "b", "c"], window="1h", order="strict")
    assert levels(r) == {"on": 3, "over": 2}


def test_best_attempt_is_the_furthest_one_not_the_first():
    ev = frame([
        # attempt 1 reaches b only; attempt 2 (after the window) reaches c
        ("u1", "a", 0), ("u1", "b", DAY),
        ("u1", "a", 10 * DAY), ("u1", "b", 10 * DAY + HOUR), ("u1", "c", 10 * DAY + 3 * HOUR),
        # attempt 1 misses b by going past the window; attempt 2 succeeds
        ("u2", "a", 0), ("u2", "b", 8 * DAY),
        ("u2", "a", 9 * DAY), ("u2", "b", 10 * DAY),
    ])
    r = funnel(ev, ["a", "b", "c"], window="7d")
    assert levels(r) == {"u1": 3, "u2": 2}
    # u1's times come from the counted (second) attempt: 1h then 2h
    assert r.conversion_time(3)["mean_s"] == 2 * HOUR
    # step 2 took 1h for u1 (second attempt) and 1d for u2 (second attempt)
    assert r.conversion_time(2)["mean_s"] == (HOUR + DAY) / 2


def test_best_attempt_is_the_first_to_reach_the_furthest_step():
    ev = frame([
        ("u1", "a", 0), ("u1", "b", 2 * HOUR),                    # full, first: 2h
        ("u1", "a", 20 * DAY), ("u1", "b", 20 * DAY + 10 * MIN),  # full, later: 10 min
    ])
    for order in ("ordered", "strict", "unordered"):
        r = funnel(ev, ["a", "b"], window="7d", order=order)
        assert r.counts == [1, 1], order
        assert r.conversion_time(2)["median_s"] == 2 * HOUR, order


def test_strict_best_attempt_counts_a_later_uninterrupted_attempt():
    ev = frame([
        ("u1", "a", 0), ("u1", "x", 1), ("u1", "b", 2),           # interrupted
        ("u1", "a", 10), ("u1", "b", 11),                         # clean
    ])
    r = funnel(ev, ["a", "b"], window="1h", order="strict")
    assert r.counts == [1, 1]
    assert r.conversion_time(2)["mean_s"] == 1.0


# ----------------------------------------------------------------- repeated steps


@pytest.mark.parametrize("order", ["ordered", "strict", "unordered"])
def test_repeated_event_as_two_steps_needs_two_occurrences(order):
    ev = frame([
        ("once", "a", 0),
        ("twice", "a", 0), ("twice", "a", 60),
        ("same_instant", "a", 0), ("same_instant", "a", 0),      # two rows, one instant
        ("too_late", "a", 0), ("too_late", "a", 2 * HOUR),
    ])
    r = funnel(ev, ["a", "a"], window="1h", order=order)
    assert levels(r) == {"once": 1, "twice": 2, "same_instant": 2, "too_late": 1}
    assert r.counts == [4, 2]


@pytest.mark.parametrize("order", ["ordered", "strict"])
def test_step_repeated_after_another_step(order):
    ev = frame([
        ("u1", "a", 0), ("u1", "b", 10), ("u1", "a", 20),
        ("u2", "a", 0), ("u2", "b", 10),
        ("u3", "a", 0), ("u3", "a", 5), ("u3", "b", 10),
    ])
    r = funnel(ev, ["a", "b", "a"], window="1h", order=order)
    assert levels(r) == {"u1": 3, "u2": 2, "u3": 2}


def test_unordered_repeated_step_needs_distinct_rows():
    ev = frame([
        ("u1", "a", 0), ("u1", "b", 10),             # one a: a + b, the second a missing
        ("u2", "b", 0), ("u2", "a", 10), ("u2", "a", 20),
    ])
    r = funnel(ev, ["a", "b", "a"], window="1h", order="unordered")
    assert levels(r) == {"u1": 2, "u2": 3}


# ------------------------------------------------------------------------- ties


def test_ordered_same_timestamp_is_simultaneous_whatever_the_name_order():
    # rows at one instant sort by event name (a before b), yet step b may come first
    ev = frame([
        ("u1", "a", 5), ("u1", "b", 5),
        ("u2", "a", 5), ("u2", "b", 5), ("u2", "c", 5),
    ])
    assert levels(funnel(ev, ["b", "a"], window="1h")) == {"u1": 2, "u2": 2}
    assert levels(funnel(ev, ["c", "b", "a"], window="1h")) == {"u2": 3}
    assert levels(funnel(ev, ["a", "b", "c"], window="1h")) == {"u1": 2, "u2": 3}


def test_ordered_tie_with_a_repeated_step_in_the_same_instant():
    # a@1, then b and a together at t=2: a(1) -> b(2) -> a(2) is a valid ordered path
    ev = frame([("u1", "a", 1), ("u1", "b", 2), ("u1", "a", 2)])
    r = funnel(ev, ["a", "b", "a"], window="1h")
    assert r.counts == [1, 1, 1]


def test_ordered_tie_with_a_repeated_step_and_a_tight_window():
    # a@2 -> c@6 -> a@6 is within a 4 s window (6 - 2 = 4)
    ev = frame([("u1", "c", 1), ("u1", "a", 2), ("u1", "a", 6), ("u1", "c", 6)])
    r = funnel(ev, ["a", "c", "a", "a"], window=4)
    assert r.counts == [1, 1, 1, 0]


def test_strict_ties_follow_event_name_order():
    ev = frame([("u1", "a", 5), ("u1", "b", 5), ("u1", "c", 5)])   # order: a, b, c
    assert funnel(ev, ["a", "b"], window="1h", order="strict").counts == [1, 1]
    assert funnel(ev, ["b", "c"], window="1h", order="strict").counts == [1, 1]
    assert funnel(ev, ["b", "a"], window="1h", order="strict").counts == [1, 0]
    assert funnel(ev, ["a", "c"], window="1h", order="strict").counts == [1, 0]  # b between


def test_strict_ties_follow_event_id_after_name():
    steps = [{"event": "a", "where": {"p": 1}}, {"event": "a", "where": {"p": 2}}]
    first_p1 = frame([("u1", "a", 5, {"p": 1, "event_id": "e1"}),
                      ("u1", "a", 5, {"p": 2, "event_id": "e2"})])
    first_p2 = frame([("u1", "a", 5, {"p": 1, "event_id": "e2"}),
                      ("u1", "a", 5, {"p": 2, "event_id": "e1"})])
    assert funnel(first_p1, steps, window="1h", order="strict").counts == [1, 1]
    assert funnel(first_p2, steps, window="1h", order="strict").counts == [1, 0]
    # ordered treats the instant as simultaneous either way
    assert funnel(first_p2, steps, window="1h").counts == [1, 1]


def test_strict_is_interrupted_by_any_other_event():
    ev = frame([
        ("clean", "a", 0), ("clean", "b", 10), ("clean", "c", 20),
        ("noise", "a", 0), ("noise", "x", 5), ("noise", "b", 10), ("noise", "c", 20),
        ("late", "a", 0), ("late", "b", 10), ("late", "x", 15), ("late", "c", 20),
        ("twice", "a", 0), ("twice", "a", 5), ("twice", "b", 10),    # a, a, b: from 2nd a
    ])
    strict = funnel(ev, ["a", "b", "c"], window="1h", order="strict")
    assert levels(strict) == {"clean": 3, "noise": 1, "late": 2, "twice": 2}
    ordered = funnel(ev, ["a", "b", "c"], window="1h", order="ordered")
    assert levels(ordered) == {"clean": 3, "noise": 3, "late": 3, "twice": 2}
    # another user's events never interrupt
    other = frame([("u1", "a", 0), ("u2", "x", 5), ("u1", "b", 10)])
    assert funnel(other, ["a", "b"], window="1h", order="strict").counts == [1, 1]


# -------------------------------------------------------------------- unordered


def test_unordered_any_order_within_window_from_first():
    ev = frame([
        ("u1", "c", 0), ("u1", "a", HOUR), ("u1", "b", 2 * HOUR),
        ("u2", "b", 0), ("u2", "a", DAY),                           # 2 of 3
        ("u3", "c", 0), ("u3", "a", DAY), ("u3", "b", at(7 * DAY, us=1)),  # c..b too far
        ("u4", "c", 0), ("u4", "a", DAY), ("u4", "b", 7 * DAY),     # exactly the window
        ("u5", "x", 0),
    ])
    r = funnel(ev, ["a", "b", "c"], window="7d", order="unordered")
    assert levels(r) == {"u1": 3, "u2": 2, "u3": 2, "u4": 3}
    assert r.counts == [4, 4, 2]
    # ordered sees fewer: u1 c,a,b -> a,b ; u2 b,a -> a ; u3/u4 c,a,b -> a,b
    assert levels(funnel(ev, ["a", "b", "c"], window="7d")) == {"u1": 2, "u2": 1, "u3": 2,
                                                                 "u4": 2}


def test_unordered_conversion_time_is_between_successive_distinct_steps():
    ev = frame([("u1", "c", 0), ("u1", "a", 100), ("u1", "b", 400)])
    r = funnel(ev, ["a", "b", "c"], window="1h", order="unordered")
    assert r.counts == [1, 1, 1]
    assert r.conversion_time(2)["mean_s"] == 100.0
    assert r.conversion_time(3)["mean_s"] == 300.0


# ------------------------------------------------------------------- exclusions


EXCL_EVENTS = [
    ("in_between", "a", 0), ("in_between", "x", HOUR), ("in_between", "b", 2 * HOUR),
    ("in_between", "c", 3 * HOUR),
    ("after_to", "a", 0), ("after_to", "b", HOUR), ("after_to", "x", 2 * HOUR),
    ("after_to", "c", 3 * HOUR),
    ("at_from", "a", 0), ("at_from", "x", 0), ("at_from", "b", HOUR),
    ("at_to", "a", 0), ("at_to", "b", HOUR), ("at_to", "x", HOUR),
    ("before", "x", -HOUR), ("before", "a", 0), ("before", "b", HOUR), ("before", "c", 2 * HOUR),
    ("drop_inside", "a", 0), ("drop_inside", "x", DAY),                 # no b: up to a + 7d
    ("drop_at_end", "a", 0), ("drop_at_end", "x", 7 * DAY),
    ("drop_past", "a", 0), ("drop_past", "x", at(7 * DAY, us=1)),
    ("no_x", "a", 0), ("no_x", "b", HOUR),
]


def test_exclusion_between_first_and_second_step():
    r = funnel(frame(EXCL_EVENTS), ["a", "b", "c"], window="7d", exclusions=[("x", 0, 1)])
    assert levels(r) == {"after_to": 3, "before": 3, "drop_past": 1, "no_x": 2}
    assert r.counts == [4, 3, 2]
    # without the exclusion every one of them is counted
    assert funnel(frame(EXCL_EVENTS), ["a", "b", "c"], window="7d").counts == [9, 6, 3]


def test_exclusion_between_later_steps():
    r = funnel(frame(EXCL_EVENTS), ["a", "b", "c"], window="7d", exclusions=[("x", 1, 2)])
    # [t_b, t_c] or [t_b, t_a + 7d]; persons who never reached b are untouched
    # at_from: x before t_b; at_to: x exactly at t_b; after_to: x in [t_b, t_c]
    assert levels(r) == {"in_between": 3, "at_from": 2, "before": 3, "drop_inside": 1,
                         "drop_at_end": 1, "drop_past": 1, "no_x": 2}
    assert r.counts == [7, 4, 2]


def test_exclusion_removes_the_person_from_every_step():
    ev = frame([("u1", "a", 0), ("u1", "x", 10), ("u1", "b", 20), ("u2", "a", 0)])
    r = funnel(ev, ["a", "b"], window="1h", exclusions=[("x", 0, 1)])
    assert r.counts == [1, 0]
    assert r.persons(1) == ["u2"]


def test_exclusion_only_looks_at_the_counted_attempt():
    ev = frame([
        # counted attempt (first to reach b) is clean; a later attempt holds x
        ("clean_counted", "a", 0), ("clean_counted", "b", HOUR),
        ("clean_counted", "a", 10 * DAY), ("clean_counted", "x", 10 * DAY + 1),
        ("clean_counted", "b", 10 * DAY + 2),
        # counted attempt holds x; a later attempt is clean but not the counted one
        ("dirty_counted", "a", 0), ("dirty_counted", "x", 1), ("dirty_counted", "b", 2),
        ("dirty_counted", "a", 10 * DAY), ("dirty_counted", "b", 10 * DAY + HOUR),
    ])
    r = funnel(ev, ["a", "b"], window="7d", exclusions=[("x", 0, 1)])
    assert levels(r) == {"clean_counted": 2}


def test_several_exclusions_and_strict_order():
    ev = frame([
        ("u1", "a", 0), ("u1", "b", 10), ("u1", "y", 15), ("u1", "c", 20),
        ("u2", "a", 0), ("u2", "b", 10), ("u2", "c", 20),
        ("u3", "a", 0), ("u3", "x", 5),                       # drop-off with x
    ])
    r = funnel(ev, ["a", "b", "c"], window="1h", exclusions=[("x", 0, 1), ("y", 1, 2)])
    assert levels(r) == {"u2": 3}
    s = funnel(ev, ["a", "b", "c"], window="1h", order="strict", exclusions=[("x", 0, 1)])
    assert levels(s) == {"u1": 2, "u2": 3}


# -------------------------------------------------------------------- breakdown


def test_breakdown_uses_the_counted_attempts_first_step():
    ev = frame([
        # first attempt (free) drops; the counted second attempt starts on pro
        ("u1", "a", 0, {"plan": "free"}),
        ("u1", "a", 10 * DAY, {"plan": "pro"}), ("u1", "b", 10 * DAY + 1, {"plan": "free"}),
        # value of step 1, not of later steps
        ("u2", "a", 0, {"plan": "free"}), ("u2", "b", 10, {"plan": "pro"}),
        ("u3", "a", 0, {"plan": "pro"}),
        ("u4", "a", 0, {"plan": "free"}),
        ("u5", "a", 0, {"plan": None}), ("u5", "b", 5, {"plan": "pro"}),
        ("u6", "b", 0, {"plan": "pro"}),                        # never did step 1
    ])
    r = funnel(ev, ["a", "b"], window="7d", breakdown="plan")
    assert r.counts == [5, 3]
    by = r.by_breakdown
    assert set(by) == {"free", "pro", None}
    assert by["free"].counts == [2, 1]
    assert by["free"].persons(1) == ["u2", "u4"]
    assert by["pro"].counts == [2, 1]
    assert by["pro"].persons(2) == ["u1"]
    assert by[None].counts == [1, 1]
    d = r.to_dict()
    assert d["breakdown"] == "plan"
    assert d["by_breakdown"] == {"free": [2, 1], "pro": [2, 1], "None": [1, 1]}


def test_breakdown_groups_add_up_to_the_whole_with_numeric_missing_values():
    ev = frame([
        ("u1", "a", 0, {"tier": 1}), ("u1", "b", 10, {"tier": 1}),
        ("u2", "a", 0, {"tier": None}), ("u2", "b", 10, {"tier": 2}),
        ("u3", "a", 0, {"tier": None}),
        ("u4", "a", 0, {"tier": 2}),
    ])
    r = funnel(ev, ["a", "b"], window="1h", breakdown="tier")
    assert r.counts == [4, 2]
    by = r.by_breakdown
    assert [sum(g.counts[k] for g in by.values()) for k in range(2)] == r.counts
    assert by[1].counts == [1, 1]
    assert by[2].counts == [1, 0]
    missing = [g for key, g in by.items() if key is None or key != key]
    assert len(missing) == 1 and missing[0].counts == [2, 1]


def test_breakdown_absent_is_empty():
    r = funnel(frame([("u1", "a", 0)]), ["a"], window="1h")
    assert r.by_breakdown == {}
    assert "by_breakdown" not in r.to_dict()


def test_breakdown_with_strict_and_unordered():
    ev = frame([
        ("u1", "b", 0, {"src": "ads"}), ("u1", "a", 5, {"src": "seo"}),
        ("u2", "a", 0, {"src": "seo"}), ("u2", "b", 5, {"src": "ads"}),
    ])
    s = funnel(ev, ["a", "b"], window="1h", order="strict", breakdown="src")
    assert {k: v.counts for k, v in s.by_breakdown.items()} == {"seo": [2, 1]}
    u = funnel(ev, ["a", "b"], window="1h", order="unordered", breakdown="src")
    assert u.counts == [2, 2]
    groups = u.by_breakdown.values()
    assert [sum(g.counts[k] for g in groups) for k in range(2)] == u.counts


# ------------------------------------------------------------- conversion times


def test_conversion_time_mean_median_p90():
    ev = frame([
        ("u1", "a", 0), ("u1", "b", 60), ("u1", "c", 1060),
        ("u2", "a", 0), ("u2", "b", 120), ("u2", "c", 3120),
        ("u3", "a", 0), ("u3", "b", 300),
        ("u4", "a", 0),
    ])
    r = funnel(ev, ["a", "b", "c"], window="1d")
    t2 = r.conversion_time(2)
    assert t2["n"] == 3
    assert t2["mean_s"] == pytest.approx(160.0)
    assert t2["median_s"] == pytest.approx(120.0)
    assert t2["p90_s"] == pytest.approx(264.0)       # 120 + 0.8 * (300 - 120)
    t3 = r.conversion_time(3)
    assert t3["n"] == 2
    assert t3["mean_s"] == pytest.approx(2000.0)
    assert t3["median_s"] == pytest.approx(2000.0)
    assert t3["p90_s"] == pytest.approx(2800.0)      # 1000 + 0.9 * 2000


def test_conversion_time_with_microseconds_and_no_converters():
    ev = frame([("u1", "a", at(0)), ("u1", "b", at(1, us=500_000)), ("u2", "a", 0)])
    r = funnel(ev, ["a", "b", "c"], window="1h")
    assert r.conversion_time(2)["mean_s"] == pytest.approx(1.5)
    empty = r.conversion_time(3)
    assert empty["n"] == 0 and empty["mean_s"] is None


def test_simultaneous_steps_take_zero_time():
    r = funnel(frame([("u1", "a", 7), ("u1", "b", 7)]), ["b", "a"], window="1h")
    assert r.conversion_time(2)["median_s"] == 0.0


# --------------------------------------------------------------- result forms


def test_to_dict_and_to_pandas():
    ev = frame([("u1", "a", 0), ("u1", "b", 60), ("u2", "a", 0), ("u3", "a", 0),
                ("u4", "a", 0), ("u4", "b", 180)])
    r = funnel(ev, ["a", "b"], window="1h")
    d = r.to_dict()
    assert d["steps"] == ["a", "b"]
    assert d["order"] == "ordered"
    assert d["window_s"] == 3600.0
    assert d["counts"] == [4, 2]
    rows = d["rows"]
    assert [row["count"] for row in rows] == [4, 2]
    assert rows[1]["conversion"] == 0.5 and rows[1]["from_previous"] == 0.5
    assert rows[1]["dropped"] == 2 and rows[0]["dropped"] == 0
    assert rows[1]["median_time_s"] == 120.0
    lo, hi = rows[1]["conversion_ci"]
    assert lo < 0.5 < hi
    df = r.to_pandas()
    assert list(df["count"]) == [4, 2]
    assert list(df["event"]) == ["a", "b"]
    assert list(df["step"]) == [1, 2]


def test_steps_as_mappings_with_conditions():
    ev = frame([("u1", "a", 0, {"plan": "pro"}), ("u1", "b", 5, {"plan": "pro"}),
                ("u2", "a", 0, {"plan": "free"}), ("u2", "b", 5, {"plan": "free"})])
    r = funnel(ev, [{"event": "a", "where": {"plan": "pro"}}, "b"], window="1h")
    assert r.counts == [1, 1]
    assert r.persons(1) == ["u1"]
    multi = funnel(ev, [{"event": ["a", "z"]}, "b"], window="1h")
    assert multi.counts == [2, 2]


def test_no_person_did_step_one():
    r = funnel(frame([("u1", "x", 0)]), ["a", "b"], window="1h")
    assert r.counts == [0, 0]
    assert r.persons(1) == []
    assert r.conversion_time(2)["n"] == 0


# ------------------------------------------------------------------ input forms


FORMS_EVENTS = [
    ("u1", "a", 0, {"plan": "pro"}), ("u1", "b", HOUR, {"plan": "pro"}),
    ("u1", "c", 2 * HOUR, {"plan": "pro"}),
    ("u2", "a", 0, {"plan": "free"}), ("u2", "x", 1, {"plan": "free"}),
    ("u2", "b", at(DAY, us=1), {"plan": "free"}),
    ("u3", "b", 0, {"plan": "free"}), ("u3", "a", 5, {"plan": "pro"}),
    ("u3", "b", 5, {"plan": "pro"}),
]


def _as_form(form: str, rows: list[dict]):
    df = pd.DataFrame(rows)
    if form == "pandas":
        return df
    if form == "pyarrow":
        return pa.Table.from_pylist(rows)
    if form == "polars":
        return pl.DataFrame(rows)
    if form == "ibis":
        # from Arrow: ibis.memtable(pandas) trips a pandas-4 deprecation warning in ibis
        return ibis.memtable(pa.Table.from_pylist(rows))
    if form == "records":
        return rows
    raise AssertionError(form)


def _summary(r: FunnelResult) -> tuple:
    return (r.counts, [r.persons(k) for k in range(1, len(r.steps) + 1)],
            r.times.tolist(), {k: v.counts for k, v in r.by_breakdown.items()})


@pytest.mark.parametrize("order", ["ordered", "strict", "unordered"])
@pytest.mark.parametrize("form", ["pandas", "pyarrow", "polars", "ibis", "records"])
def test_every_input_form_gives_the_same_answer(form, order):
    rows = rows_of(FORMS_EVENTS)
    expected = funnel(pd.DataFrame(rows), ["a", "b", "c"], window="1d", order=order,
                      breakdown="plan")
    got = funnel(_as_form(form, rows), ["a", "b", "c"], window="1d", order=order,
                 breakdown="plan")
    assert _summary(got) == _summary(expected)


def test_input_form_hand_computed_answer():
    r = funnel(rows_of(FORMS_EVENTS), ["a", "b", "c"], window="1d", breakdown="plan")
    # u1: a,b,c ; u2: b is 1 µs past the day ; u3: a and b together at t=5
    assert levels(r) == {"u1": 3, "u2": 1, "u3": 2}
    assert {k: v.counts for k, v in r.by_breakdown.items()} == {"free": [1, 0, 0],
                                                                 "pro": [2, 2, 1]}


def test_integer_user_ids_are_read_as_text():
    ev = pd.DataFrame({"user_id": [10, 10, 2], "event": ["a", "b", "a"],
                       "ts": [at(0), at(5), at(0)]})
    r = funnel(ev, ["a", "b"], window="1h")
    assert r.counts == [2, 1]
    assert r.persons(2) == ["10"]


# ------------------------------------------------------------------- timestamps


def test_naive_timestamps_are_utc():
    naive = pd.DataFrame(rows_of(FORMS_EVENTS))
    utc = naive.assign(ts=naive["ts"].dt.tz_localize("UTC"))
    tokyo = utc.assign(ts=utc["ts"].dt.tz_convert("Asia/Tokyo"))
    new_york = utc.assign(ts=utc["ts"].dt.tz_convert("America/New_York"))
    want = funnel(naive, ["a", "b", "c"], window="1d")
    for other in (utc, tokyo, new_york):
        got = funnel(other, ["a", "b", "c"], window="1d")
        assert _summary(got) == _summary(want)
    # the recorded times are UTC epoch microseconds of the naive wall time
    epoch_us = int((T0 - dt.datetime(1970, 1, 1)).total_seconds()) * 1_000_000
    assert want.times[want.users.to_pylist().index("u1")].tolist() == [
        epoch_us, epoch_us + HOUR * 1_000_000, epoch_us + 2 * HOUR * 1_000_000]


def test_aware_timestamps_in_an_offset_zone_are_converted():
    plus5 = dt.timezone(dt.timedelta(hours=5))
    # 05:00+05:00 is 00:00 UTC: the same instants as the naive table
    aware = [dict(r, ts=(r["ts"] + dt.timedelta(hours=5)).replace(tzinfo=plus5))
             for r in rows_of(FORMS_EVENTS)]
    naive = rows_of(FORMS_EVENTS)
    for order in ("ordered", "strict", "unordered"):
        assert _summary(funnel(aware, ["a", "b", "c"], window="1d", order=order)) == \
            _summary(funnel(naive, ["a", "b", "c"], window="1d", order=order))


def test_window_boundary_across_a_dst_change_uses_elapsed_time():
    # Europe/Berlin, 2024-03-31: clocks jump from 02:00 CET to 03:00 CEST, so
    # 00:30 -> 03:30 on the wall clock is 2 hours of elapsed time, not 3
    start = pd.Timestamp("2024-03-31 00:30", tz="Europe/Berlin")
    end = pd.Timestamp("2024-03-31 03:30", tz="Europe/Berlin")
    assert end - start == pd.Timedelta(hours=2)
    ev = pd.DataFrame({
        "user_id": ["on", "on", "over", "over"],
        "event": ["a", "b", "a", "b"],
        "ts": [start, end, start, end + pd.Timedelta(microseconds=1)],
    })
    assert levels(funnel(ev, ["a", "b"], window="2h")) == {"on": 2, "over": 1}
    assert funnel(ev, ["a", "b"], window="2h").conversion_time(2)["mean_s"] == 2 * HOUR


# ----------------------------------------------------------------------- errors


def _ev():
    return frame([("u1", "a", 0), ("u1", "b", 5)])


@pytest.mark.parametrize(("rename", "missing", "hint"), [
    ({"user_id": "userid"}, "user_id", "userid"),
    ({"event": "events"}, "event", "events"),
    ({"ts": "tss"}, "ts", "tss"),
])
def test_missing_column_names_it_and_suggests(rename, missing, hint):
    ev = _ev().rename(columns=rename)
    with pytest.raises(IngestError) as info:
        funnel(ev, ["a", "b"])
    msg = str(info.value)
    assert f"'{missing}'" in msg
    assert f"did you mean '{hint}'" in msg


def test_missing_column_in_ibis_table_is_reported_too():
    with pytest.raises(IngestError, match=r"'user_id'.*did you mean 'userid'"):
        funnel(ibis.memtable(pa.Table.from_pandas(_ev().rename(columns={"user_id": "userid"}))),
               ["a", "b"])


def test_unknown_breakdown_property_suggests():
    ev = frame([("u1", "a", 0, {"plan": "pro"})])
    with pytest.raises(QueryError, match=r"'plna'.*did you mean 'plan'"):
        funnel(ev, ["a"], breakdown="plna")


def test_unknown_step_property_suggests():
    ev = frame([("u1", "a", 0, {"plan": "pro"})])
    with pytest.raises(QueryError, match=r"did you mean 'plan'"):
        funnel(ev, [{"event": "a", "where": {"plann": "pro"}}])


@pytest.mark.parametrize("order", ["sorted", "Ordered", "", None])
def test_bad_order(order):
    with pytest.raises(QueryError, match="unknown order"):
        funnel(_ev(), ["a", "b"], order=order)


@pytest.mark.parametrize("window", ["fortnight", "14", "1x", "-1d", 0, -5, "0s", None, True,
                                    float("inf"), float("nan")])
def test_bad_window(window):
    with pytest.raises(QueryError, match="bad window"):
        funnel(_ev(), ["a", "b"], window=window)


@pytest.mark.parametrize("exclusion", [
    ("x", 1, 1), ("x", 2, 1), ("x", 0, 3), ("x", -1, 1), ("x", 0), ("x", 0, 1, 2),
])
def test_bad_exclusion_indexes(exclusion):
    with pytest.raises(QueryError, match="exclusion"):
        funnel(_ev(), ["a", "b", "c"], exclusions=[exclusion])


def test_exclusions_need_an_order():
    with pytest.raises(QueryError, match="ordered or strict"):
        funnel(_ev(), ["a", "b"], order="unordered", exclusions=[("x", 0, 1)])


@pytest.mark.parametrize("steps", [[], ()])
def test_empty_steps(steps):
    with pytest.raises(QueryError, match="at least one step"):
        funnel(_ev(), steps)


@pytest.mark.parametrize("step", ["", 3, None, {"where": {"plan": "pro"}}])
def test_unreadable_step(step):
    with pytest.raises(QueryError, match="cannot read funnel step"):
        funnel(_ev(), ["a", step])


def test_too_many_steps():
    with pytest.raises(QueryError, match="at most 62"):
        funnel(_ev(), ["a"] * 63)


@pytest.mark.parametrize("k", [0, -1, 3, 4])
def test_step_out_of_range(k):
    r = funnel(_ev(), ["a", "b"], window="1h")
    with pytest.raises(QueryError, match="out of range"):
        r.persons(k)
    with pytest.raises(QueryError, match="out of range"):
        r.conversion_time(k)


def test_conversion_time_of_step_one_is_an_error():
    r = funnel(_ev(), ["a", "b"], window="1h")
    with pytest.raises(QueryError, match="k >= 2"):
        r.conversion_time(1)


def test_errors_share_the_journeymap_root():
    assert issubclass(QueryError, JourneyError)
    with pytest.raises(JourneyError):
        funnel(_ev(), [])


def test_unreadable_input_object():
    with pytest.raises(IngestError, match="cannot read events"):
        funnel(object(), ["a"])


def test_times_are_minus_one_for_unreached_steps():
    r = funnel(frame([("u1", "a", 0)]), ["a", "b"], window="1h")
    assert r.times.shape == (1, 2)
    assert r.times[0, 1] == -1
    assert np.issubdtype(r.levels.dtype, np.integer)


def test_too_many_stages_in_a_journey():
    from journeymap.errors import SpecError
    from journeymap.spec import load_journey
    text = "name: J\nstages:\n" + "".join(f"  - {{id: s{i}, owner: t, enter: {{event: a}}}}\n"
                                           for i in range(63))
    with pytest.raises(SpecError, match=r"<journey>:65:5: 63 stages: a journey has at most 62"):
        load_journey(text)


def test_a_row_without_a_user_is_never_counted_for_the_user_before_it():
    """Sorted by user, rows with no user id come last: they once joined the last named
    user's rows (user b, who only signed up, was counted as paying)."""
    import journeymap
    ev = pd.DataFrame({"user_id": ["a", "a", "b", None],
                       "event": ["s", "p", "s", "p"],
                       "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-01", "2024-01-02"], utc=True)})
    result = journeymap.funnel(ev, ["s", "p"])
    assert result.persons(2) == ["a"]
