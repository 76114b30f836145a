"""correlation(): hand-computed cases (one per rule), ports of PostHog's own correlation
tests, a differential check of the engine query against pandas, and Spark = DuckDB.

The rules follow PostHog's funnel correlation (see the module docstring of
`journeymap.measure.correlation.correlation` for each PostHog source):

* persons = everyone who did step 1; success = reached the last step;
* events count strictly after the attempt's first step and strictly before the
  conversion (successes) or first step + window (failures); the steps' event names
  never count, whatever their property filters;
* odds ratio = (s + 1)(F − f + 1) / ((S − s + 1)(f + 1)); "success" above 1, else "failure";
* kept when s + f >= min(25, 0.02 × persons); event-property triples need 3 persons;
* success rows by odds ratio descending, then failure rows ascending.

The ported scenarios come from
posthog/hogql_queries/insights/funnels/test/test_funnel_correlation.py (class
BaseTestClickhouseFunnelCorrelation and TestCorrelationFunctions), with events and
expectations of our own.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from journeymap.errors import QueryError
from journeymap.measure.correlation.correlation import (
    MIN_PERSONS,
    MIN_SHARE,
    PRIOR,
    CorrelationResult,
    correlation,
)
from journeymap.measure.funnel.funnel import funnel

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def frame(rows) -> pd.DataFrame:
    """Events from (user, event, hours after T0[, {properties}]) tuples."""
    out = []
    for r in rows:
        user, event, hours = r[:3]
        out.append({"user_id": user, "event": event, "ts": T0 + pd.Timedelta(hours=hours),
                    **(r[3] if len(r) > 3 else {})})
    return pd.DataFrame(out)


def table(result: CorrelationResult) -> list[tuple]:
    """(name, successes, failures, odds ratio rounded, type) per dimension, in order."""
    return [(d.name, d.success_count, d.failure_count, round(d.odds_ratio, 6), d.correlation_type)
            for d in result.dimensions]


def discarded(result: CorrelationResult, name: str) -> int:
    return next(f["discarded"] for f in result.computed_on["filters"] if f["filter"].startswith(name))


STEPS = ["signup", "pay"]


# --- hand-computed cases, one per rule --------------------------------------------------------
def test_success_and_failure_persons():
    # 3-step funnel: a reaches pay (success); b stops at tour, c at signup (failures);
    # d never signs up (not a person of the funnel: its "video" counts nowhere)
    ev = frame([("a", "signup", 0), ("a", "video", 1), ("a", "tour", 2), ("a", "pay", 3),
                ("b", "signup", 0), ("b", "tour", 1), ("b", "video", 2),
                ("c", "signup", 0),
                ("d", "video", 0), ("d", "tour", 1), ("d", "pay", 2)])
    r = correlation(ev, ["signup", "tour", "pay"])
    assert (r.computed_on["persons"], r.computed_on["successes"], r.computed_on["failures"]) == (3, 1, 2)
    # video: a (success) and b (failure); d left out
    assert table(r) == [("video", 1, 1, round((1 + 1) * (2 - 1 + 1) / ((1 - 1 + 1) * (1 + 1)), 6), "success")]


def test_odds_ratio_has_a_prior_of_one_on_every_cell():
    # S = 3 successes (a, b, c), F = 4 failures (d, e, f, g); "chat" by a, b and d.
    #            converted  not
    #   chat         2       1
    #   no chat      1       3
    # with +1 on every cell: (2+1)(3+1) / ((1+1)(1+1)) = 12 / 4 = 3.0
    rows = []
    for u in "abc":
        rows += [(u, "signup", 0), (u, "pay", 5)]
    for u in "defg":
        rows += [(u, "signup", 0)]
    rows += [("a", "chat", 1), ("b", "chat", 1), ("d", "chat", 1)]
    r = correlation(frame(rows), STEPS)
    (d,) = r.dimensions
    assert PRIOR == 1
    assert d.odds_ratio == pytest.approx(3.0)
    assert (d.success_count, d.failure_count, d.persons) == (2, 1, 3)
    assert d.with_conversion_rate == pytest.approx(2 / 3)  # 2 of the 3 who chatted converted
    assert d.without_conversion_rate == pytest.approx(1 / 4)  # 1 of the 4 who did not
    assert r.rows()[0]["odds_ratio"] == pytest.approx(3.0)


def test_correlation_type_is_success_only_above_one():
    # S = F = 2. "even": one success, one failure -> (1+1)(1+1)/((1+1)(1+1)) = 1 -> failure.
    # "good": both successes -> (2+1)(2+1)/((0+1)(0+1)) = 9 -> success.
    rows = [("a", "signup", 0), ("a", "pay", 5), ("b", "signup", 0), ("b", "pay", 5),
            ("c", "signup", 0), ("d", "signup", 0),
            ("a", "even", 1), ("c", "even", 1), ("a", "good", 1), ("b", "good", 1)]
    r = correlation(frame(rows), STEPS)
    assert table(r) == [("good", 2, 0, 9.0, "success"), ("even", 1, 1, 1.0, "failure")]


def test_order_success_descending_then_failure_ascending_ties_by_name():
    # S = 4 (s1..s4), F = 4 (f1..f4)
    rows = []
    for u in ("s1", "s2", "s3", "s4"):
        rows += [(u, "signup", 0), (u, "pay", 5)]
    for u in ("f1", "f2", "f3", "f4"):
        rows += [(u, "signup", 0)]
    did = {"p4": ["s1", "s2", "s3", "s4"],  # (5)(5)/((1)(1)) = 25
           "p2": ["s1", "s2"],  # (3)(5)/((3)(1)) = 5
           "q2": ["s3", "s4"],  # 5, a tie with p2: by name
           "n4": ["f1", "f2", "f3", "f4"],  # (1)(1)/((5)(5)) = 0.04
           "n1": ["f1"],  # (1)(4)/((5)(2)) = 0.4
           "m1": ["f2"]}  # 0.4, a tie with n1: by name
    for event, users in did.items():
        rows += [(u, event, 1) for u in users]
    r = correlation(frame(rows), STEPS)
    assert [d.name for d in r.dimensions] == ["p4", "p2", "q2", "n4", "m1", "n1"]
    assert [round(d.odds_ratio, 6) for d in r.dimensions] == [25.0, 5.0, 5.0, 0.04, 0.4, 0.4]
    assert [d.name for d in r.top(1)] == ["p4", "n4"]  # PostHog: the first n of each type


def test_the_steps_own_events_are_never_dimensions_even_failing_the_steps_filter():
    # the first step is signup where plan = pro; b's later signup (plan = free) is not the
    # step, yet it is the step's event: PostHog excludes step event *names*.
    steps = [{"event": "signup", "where": {"plan": "pro"}}, {"event": "tour", "optional": True}, "pay"]
    rows = [("a", "signup", 0, {"plan": "pro"}), ("a", "signup", 1, {"plan": "free"}),
            ("a", "tour", 2), ("a", "pay", 3),
            ("b", "signup", 0, {"plan": "pro"}), ("b", "signup", 1, {"plan": "free"}),
            ("b", "tour", 2), ("b", "pay", 3), ("b", "video", 2),
            ("c", "signup", 0, {"plan": "pro"}), ("c", "tour", 1), ("c", "pay", 300)]  # c: too late
    r = correlation(frame(rows), steps, window="1d")
    assert [d.name for d in r.dimensions] == ["video"]
    # signup (plan free) and tour were seen inside attempts (pay only at conversion instants)
    assert discarded(r, "funnel step events") == 2
    assert r.computed_on["filters"][0]["value"] == ["pay", "signup", "tour"]
    # the same holds for event-property triples
    r = correlation(frame(rows), steps, window="1d", kind="event_properties", properties=["plan"],
                    min_persons=0)
    assert r.dimensions == ()
    assert discarded(r, "funnel step events") == 1  # signup::plan::free, by a and b


def test_only_events_inside_the_attempt_count():
    # window 10 h. Success a: signup at 0, pay at 5. Failure b: signup at 0, tour at 1,
    # then no pay.
    rows = [("a", "before", -1), ("a", "same_instant_as_start", 0), ("a", "signup", 0),
            ("a", "inside", 2), ("a", "same_instant_as_conversion", 5), ("a", "pay", 5),
            ("a", "after_conversion", 6),
            ("b", "signup", 0), ("b", "tour", 1), ("b", "after_drop", 8),
            ("b", "at_window_end", 10), ("b", "after_window", 11), ("b", "before", -3)]
    r = correlation(frame(rows), STEPS, window="10h")
    got = {d.name: (d.success_count, d.failure_count) for d in r.dimensions}
    # a (success): only "inside". b (failure; its window runs to 10 h, exclusive):
    # "tour" (not a step here) and "after_drop"; not "at_window_end" nor "after_window"
    assert got == {"inside": (1, 0), "tour": (0, 1), "after_drop": (0, 1)}
    # with tour a step, b's drop after tour does not end its window: after_drop still counts
    rows3 = rows + [("a", "tour", 3)]
    r = correlation(frame(rows3), ["signup", "tour", "pay"], window="10h")
    assert {d.name for d in r.dimensions} == {"inside", "after_drop"}


def test_attempt_bounds_come_from_the_counted_attempt():
    # a signs up at 0 (no pay within 1 d), again at 100 h, pays at 105 h: the counted
    # attempt starts at 100 h, so "early" (at 50 h) is out and "late" (at 102 h) is in
    rows = [("a", "signup", 0), ("a", "early", 50), ("a", "signup", 100), ("a", "late", 102),
            ("a", "pay", 105), ("b", "signup", 0)]
    r = correlation(frame(rows), STEPS, window="1d")
    assert [d.name for d in r.dimensions] == ["late"]
    # unordered: the attempt runs from its first step done (pay at 0) to its last (signup at 3)
    rows = [("a", "pay", 0), ("a", "mid", 1), ("a", "signup", 3), ("a", "after", 4), ("b", "signup", 0)]
    r = correlation(frame(rows), STEPS, order="unordered", window="1d")
    assert [d.name for d in r.dimensions] == ["mid"]


def test_event_property_triples_are_their_own_dimensions():
    # S = 3 (a, b, c), F = 3 (d, e, f). "view" with source web / app and a numeric size
    rows = []
    for u in "abc":
        rows += [(u, "signup", 0), (u, "pay", 5), (u, "view", 1, {"source": "web", "size": 3})]
    for u in "def":
        rows += [(u, "signup", 0), (u, "view", 1, {"source": "app"})]  # size missing: no triple
    rows += [("a", "view", 2, {"source": "app"})]  # a also viewed from the app
    r = correlation(frame(rows), STEPS, kind="event_properties", properties=["source", "size"])
    # view::source::web: s=3, f=0 -> (4)(4)/((1)(1)) = 16; view::size::3 the same (value as text)
    # view::source::app: s=1, f=3 -> (2)(1)/((3)(4)) = 1/6
    assert table(r) == [("view::size::3", 3, 0, 16.0, "success"),
                        ("view::source::web", 3, 0, 16.0, "success"),
                        ("view::source::app", 1, 3, round(1 / 6, 6), "failure")]
    assert r.rows()[0]["event"] == "view" and r.rows()[0]["key"] == "size" and r.rows()[0]["value"] == "3"
    # the plain event kind sees one dimension "view"
    assert [d.name for d in correlation(frame(rows), STEPS).dimensions] == ["view"]


def test_person_properties_from_traits_else_the_first_step_event():
    # S = 2 (a, b), F = 2 (c, d). The users table has "tier" (not for d); "plan" is read on
    # the counted attempt's signup: b's counted attempt is its second signup (the first
    # never paid within 1 d); c's two attempts both stop at signup, so the first counts.
    rows = [("a", "signup", 0, {"plan": "pro"}), ("a", "pay", 1),
            ("b", "signup", 0, {"plan": "free"}), ("b", "signup", 100, {"plan": "pro"}), ("b", "pay", 101),
            ("c", "signup", 0, {"plan": "free"}), ("c", "signup", 100, {"plan": "pro"}),
            ("d", "signup", 0, {"plan": "free"})]
    users = pd.DataFrame({"user_id": ["a", "b", "c", "x"], "tier": ["gold", "gold", "basic", "gold"],
                          "plan": ["ignored"] * 4})
    r = correlation(frame(rows), STEPS, window="1d", kind="properties", properties=["tier"], users=users)
    # tier::gold s=2 f=0 -> (3)(3)/((1)(1)) = 9; tier::basic s=0 f=1 -> (1)(2)/((3)(2)) = 1/3;
    # d has no tier: "tier::" (PostHog reads a named key a person lacks as '') s=0 f=1 -> 1/3
    assert table(r) == [("tier::gold", 2, 0, 9.0, "success"), ("tier::", 0, 1, round(1 / 3, 6), "failure"),
                        ("tier::basic", 0, 1, round(1 / 3, 6), "failure")]
    # plan: not in a users table without it -> the first step event's property
    r = correlation(frame(rows), STEPS, window="1d", kind="properties", properties=["plan"])
    # a pro, b pro (its counted attempt), c free (its first signup starts its counted attempt), d free
    assert table(r) == [("plan::pro", 2, 0, 9.0, "success"), ("plan::free", 0, 2, round(1 / 9, 6), "failure")]
    # a users table holding the key wins
    r = correlation(frame(rows), STEPS, window="1d", kind="properties", properties=["plan"], users=users)
    assert {d.name for d in r.dimensions} == {"plan::ignored", "plan::"}
    # "$all" reads only keys a person has: no "tier::" (d)
    r = correlation(frame(rows), STEPS, window="1d", kind="properties", properties="$all", users=users)
    assert "tier::" not in {d.name for d in r.dimensions} and "tier::gold" in {d.name for d in r.dimensions}
    # two first-step rows at one instant: one value per person, whatever the row order
    tied = frame(rows + [("d", "signup", 0, {"plan": "pro"})])
    got = {tuple(table(correlation(tied.sample(frac=1, random_state=k), STEPS, window="1d",
                                   kind="properties", properties=["plan"]))) for k in range(4)}
    assert len(got) == 1 and sum(row[1] + row[2] for row in next(iter(got))) == 4


def test_significance_filter_defaults_are_posthogs_and_apply_the_smaller_bar():
    assert (MIN_PERSONS, MIN_SHARE) == (25, 0.02)  # PostHog's MIN_PERSON_COUNT, MIN_PERSON_PERCENTAGE
    # 1,500 persons: min(25, 0.02 × 1500 = 30) = 25 persons needed
    rows = []
    for i in range(1500):
        u = f"u{i}"
        rows.append((u, "signup", 0))
        if i % 2:
            rows.append((u, "pay", 5))
        if i < 25:
            rows.append((u, "kept", 1))
        if i < 24:
            rows.append((u, "dropped", 1))
    r = correlation(frame(rows), STEPS)
    assert [d.name for d in r.dimensions] == ["kept"]
    assert r.computed_on["min_persons_needed"] == 25
    assert discarded(r, "fewer persons") == 1
    # 100 persons: min(25, 2) = 2 persons needed
    small = frame([x for x in rows if int(x[0][1:]) < 100])
    r = correlation(small, STEPS)
    assert r.computed_on["min_persons_needed"] == pytest.approx(2.0)
    assert {d.name for d in r.dimensions} == {"kept", "dropped"}
    r = correlation(small, STEPS, min_persons=25, min_share=0.5)
    assert {d.name for d in r.dimensions} == {"kept"}  # min(25, 50): 24 persons are too few


def test_exclude_events_and_exclude_properties():
    rows = []
    for u in "abc":
        rows += [(u, "signup", 0), (u, "pay", 5), (u, "chat", 1, {"topic": "price", "lang": "en"})]
    for u in "def":
        rows += [(u, "signup", 0), (u, "help", 1, {"topic": "bug", "lang": "en"})]
    r = correlation(frame(rows), STEPS, exclude_events=["chat"])
    assert [d.name for d in r.dimensions] == ["help"]
    assert discarded(r, "exclude_events") == 1
    # the totals keep chat's persons: (0 + 1)(3 - 3 + 1) / ((3 + 1)(3 + 1))
    assert r.dimensions[0].odds_ratio == pytest.approx(1 / 16)
    r = correlation(frame(rows), STEPS, kind="event_properties", properties="$all",
                    exclude_properties=["lang"])
    assert {d.name for d in r.dimensions} == {"chat::topic::price", "help::topic::bug"}
    assert discarded(r, "exclude_properties") == 2  # chat::lang::en and help::lang::en
    r = correlation(frame(rows), STEPS, kind="event_properties", properties="$all", exclude_events=["help"])
    assert {d.name for d in r.dimensions} == {"chat::topic::price", "chat::lang::en"}


def test_shuffled_rows_and_ties_give_the_same_answer():
    rng = np.random.default_rng(3)
    rows = []
    for i in range(60):
        u = f"u{i}"
        rows.append((u, "signup", 0, {"plan": "pro" if i % 3 else "free"}))
        rows.append((u, "noise", 0))  # at the very instant of the first step: never counts
        for _ in range(int(rng.integers(0, 4))):
            rows.append((u, str(rng.choice(["a", "b", "c"])), int(rng.integers(0, 30)),
                         {"plan": str(rng.choice(["x", "y"]))}))
        if rng.random() < 0.5:
            t = int(rng.integers(1, 30))
            rows += [(u, "pay", t), (u, "tie", t)]  # at the instant of conversion: never counts
    df = frame(rows)
    for kind, props in (("events", None), ("event_properties", "$all"), ("properties", ["plan"])):
        base = correlation(df, STEPS, window="1d", kind=kind, properties=props).to_dict()
        assert base["dimensions"]
        for seed in range(3):
            shuffled = df.sample(frac=1, random_state=seed).reset_index(drop=True)
            assert correlation(shuffled, STEPS, window="1d", kind=kind, properties=props).to_dict() == base
    names = {d["name"] for d in correlation(df, STEPS, window="1d", min_persons=0).to_dict()["dimensions"]}
    assert "noise" not in names and "tie" not in names


def test_no_contrast_and_skew():
    # everyone converts: PostHog returns no dimensions and calls it skewed
    rows = [(u, e, h) for u in "abc" for e, h in (("signup", 0), ("chat", 1), ("pay", 2))]
    r = correlation(frame(rows), STEPS)
    assert r.dimensions == () and r.skewed and discarded(r, "no contrast") == 1
    # 1 success, 11 failures: 11 > 10 -> skewed, dimensions still computed
    rows = [("a", "signup", 0), ("a", "pay", 2), ("a", "chat", 1)]
    rows += [(f"f{i}", "signup", 0) for i in range(11)]
    r = correlation(frame(rows), STEPS)
    assert r.skewed and [d.name for d in r.dimensions] == ["chat"]
    rows = rows[:-1]  # 1 : 10 is not skewed
    assert not correlation(frame(rows), STEPS).skewed


def test_result_shape():
    rows = [("a", "signup", 0), ("a", "chat", 1), ("a", "pay", 2), ("b", "signup", 0), ("b", "help", 1)]
    r = correlation(frame(rows), STEPS, window="2h")
    d = r.to_dict()
    assert d["kind"] == "events" and d["computed_on"]["window_s"] == 7200
    assert d["computed_on"]["steps"] == ["signup", "pay"] and d["computed_on"]["dimensions_found"] == 2
    assert list(r.sections()) == ["dimensions", "filters"]
    assert r.section("filters")[0] == {"filter": "funnel step events", "value": "pay, signup", "discarded": 0}
    assert list(r.to_pandas().columns)[:2] == ["name", "event"]
    assert "funnel correlation" in r._repr_html_() and json.loads(r.to_json())["dimensions"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="event"), "did you mean 'events'"),
    (dict(kind="properties"), "needs properties"),
    (dict(kind="event_properties"), "needs properties"),
    (dict(kind="event_properties", properties=["plann"]), "did you mean 'plan'"),
    (dict(kind="properties", properties=["tire"], users=pd.DataFrame({"user_id": ["a"], "tier": [1]})),
     "did you mean 'tier'"),
    (dict(properties=["plan"]), "not 'events'"),
    (dict(exclude_properties=["plan"]), "property kinds"),
    (dict(kind="properties", properties=["plan"], exclude_events=["x"]), "exclude_events applies"),
    (dict(min_share=2), "min_share"),
    (dict(min_persons=-1), "min_persons"),
])
def test_errors(kwargs, message):
    ev = frame([("a", "signup", 0, {"plan": "pro"}), ("a", "pay", 1)])
    with pytest.raises(QueryError, match=message):
        correlation(ev, STEPS, **kwargs)


# --- the engine query against pandas on random data ------------------------------------------
def test_counts_equal_a_pandas_computation_from_the_funnels_attempts():
    rng = np.random.default_rng(11)
    n = 6000
    df = pd.DataFrame({"user_id": [f"u{i}" for i in rng.integers(0, 300, n)],
                       "event": rng.choice(["signup", "tour", "pay", "a", "b", "c", "d"], n),
                       "ts": T0 + pd.to_timedelta(rng.integers(0, 10 * 24, n), unit="h")})
    steps = ["signup", "tour", "pay"]
    r = correlation(df, steps, window="3d", min_persons=0)
    f = funnel(df, steps, window="3d")
    first = f.times[:, 0]
    won = f.times[:, -1] >= 0
    end = np.where(won, f.times[:, -1], first + 3 * 86400 * 10**6)
    bounds = pd.DataFrame({"user_id": f.users.to_pylist(), "lo": first, "hi": end, "won": won})
    t = df.assign(us=(df.ts - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(microseconds=1))
    j = t.merge(bounds, on="user_id")
    j = j[(j.us > j.lo) & (j.us < j.hi) & ~j.event.isin(steps)]
    g = j.groupby(["event", "won"]).user_id.nunique().unstack(fill_value=0)
    expected = {e: (int(g.loc[e].get(True, 0)), int(g.loc[e].get(False, 0))) for e in g.index}
    assert {d.name: (d.success_count, d.failure_count) for d in r.dimensions} == expected
    assert r.computed_on["successes"] == int(won.sum()) and r.computed_on["persons"] == len(bounds)
    assert r.computed_on["successes"] > 10 and r.computed_on["failures"] > 10


# --- ports of PostHog's tests (test_funnel_correlation.py) ------------------------------------
def _posthog_basic(rows=None):
    """10 persons convert (even ones do positively_related), 10 do not (even ones do
    negatively_related): the setup of test_basic_funnel_correlation_with_events."""
    rows = rows if rows is not None else []
    for i in range(10):
        rows += [(f"user_{i}", "user signed up", 24)]
        if i % 2 == 0:
            rows += [(f"user_{i}", "positively_related", 48)]
        rows += [(f"user_{i}", "paid", 72)]
    for i in range(10, 20):
        rows += [(f"user_{i}", "user signed up", 24)]
        if i % 2 == 0:
            rows += [(f"user_{i}", "negatively_related", 48)]
    return rows


PH_STEPS = ["user signed up", "paid"]


def test_port_basic_funnel_correlation_with_events():
    # PostHog: test_basic_funnel_correlation_with_events
    df = frame(_posthog_basic())
    r = correlation(df, PH_STEPS)
    assert table(r) == [("positively_related", 5, 0, 11.0, "success"),
                        ("negatively_related", 0, 5, round(1 / 11, 6), "failure")]
    r = correlation(df, PH_STEPS, exclude_events=["positively_related"])
    assert table(r) == [("negatively_related", 0, 5, round(1 / 11, 6), "failure")]


def test_port_action_events_are_excluded_from_correlations():
    # PostHog: test_action_events_are_excluded_from_correlations (steps with a property
    # filter; a second "user signed up" without it is still not a dimension)
    rows = []
    for i in range(3):
        u = f"user_{i}"
        rows += [(u, "user signed up", 24, {"key": "val"}), (u, "user signed up", 24 + 1 / 6)]
        if i % 2 == 0:
            rows += [(u, "positively_related", 48)]
        rows += [(u, "paid", 72, {"key": "val"})]
    rows += [("failure", "user signed up", 24, {"key": "val"})]
    steps = [{"event": "user signed up", "where": {"key": "val"}}, {"event": "paid", "where": {"key": "val"}}]
    r = correlation(frame(rows), steps)
    assert table(r) == [("positively_related", 2, 0, 3.0, "success")]


def test_port_basic_funnel_correlation_with_properties():
    # PostHog: test_basic_funnel_correlation_with_properties (person property $browser)
    rows, browsers = [], {}
    for i in range(10):
        rows += [(f"user_{i}", "user signed up", 24), (f"user_{i}", "paid", 72)]
        browsers[f"user_{i}"] = "Positive"
    for i in range(10, 20):
        rows += [(f"user_{i}", "user signed up", 24)]
        if i % 2 == 0:
            rows += [(f"user_{i}", "negatively_related", 48)]
        browsers[f"user_{i}"] = "Negative"
    rows += [("user_fail", "user signed up", 24), ("user_succ", "user signed up", 24),
             ("user_succ", "paid", 72)]
    browsers.update(user_fail="Positive", user_succ="Negative")
    users = pd.DataFrame({"user_id": list(browsers), "$browser": list(browsers.values())})
    r = correlation(frame(rows), PH_STEPS, kind="properties", properties=["$browser"], users=users)
    # S = F = 11; Positive s=10 f=1: (11/2)(11/2) = 121/4; Negative the inverse
    assert table(r) == [("$browser::Positive", 10, 1, 30.25, "success"),
                        ("$browser::Negative", 1, 10, round(4 / 121, 6), "failure")]
    # PostHog's test_funnel_correlation_with_properties_and_groups: "$all" = the named key
    # when every person has it
    assert table(correlation(frame(rows), PH_STEPS, kind="properties", properties="$all",
                             users=users)) == table(r)


def test_port_no_divide_by_zero_errors():
    # PostHog: test_no_divide_by_zero_errors
    rows = []
    for i in range(2):
        u = f"user_{i}"
        rows += [(u, "user signed up", 24), (u, "positive", 48), (u, "paid", 72)]
    for i in range(2, 4):
        rows += [(f"user_{i}", "user signed up", 24)]
        if i % 2 == 0:
            rows += [(f"user_{i}", "negatively_related", 48)]
    r = correlation(frame(rows), PH_STEPS)
    assert not r.skewed
    assert table(r) == [("positive", 2, 0, 9.0, "success"),
                        ("negatively_related", 0, 1, round(1 / 3, 6), "failure")]


def test_port_correlation_with_properties_raises_validation_error():
    # PostHog: test_correlation_with_properties_raises_validation_error
    df = frame([("user_1", "user signed up", 24), ("user_1", "rick", 48), ("user_1", "paid", 72)])
    for kind in ("properties", "event_properties"):
        with pytest.raises(QueryError):
            correlation(df, PH_STEPS, kind=kind)


def test_port_correlation_with_multiple_properties():
    # PostHog: test_correlation_with_multiple_properties (skipped in their CI; its
    # expectations worked out in its comments): S = 16, F = 6
    rows, traits = [], []
    for i in range(20):
        u = f"user_{i}"
        rows.append((u, "user signed up", 24))
        if i < 15:
            rows.append((u, "paid", 72))
        browser, nice = (("Positive", "very") if i < 5 else ("Positive", "not") if i < 15
                         else ("Negative", "smh"))
        traits.append({"user_id": u, "$browser": browser, "$nice": nice})
    rows += [("user_fail", "user signed up", 24), ("user_succ", "user signed up", 24),
             ("user_succ", "paid", 72)]
    traits += [{"user_id": "user_fail", "$browser": "Positive", "$nice": None},
               {"user_id": "user_succ", "$browser": "Negative", "$nice": None}]
    users = pd.DataFrame(traits)
    r = correlation(frame(rows), PH_STEPS, kind="properties", properties=["$browser", "$nice"], users=users)
    expected = [("$browser::Positive", 15, 1, 24.0, "success"), ("$nice::not", 10, 0, 11.0, "success"),
                ("$nice::very", 5, 0, 3.5, "success"), ("$nice::smh", 0, 5, round(2 / 102, 6), "failure"),
                ("$browser::Negative", 1, 5, round(4 / 96, 6), "failure"),
                ("$nice::", 1, 1, 0.375, "failure")]
    assert table(r) == expected
    # "$all": no "$nice::" (a key a person lacks is not read)
    r = correlation(frame(rows), PH_STEPS, kind="properties", properties="$all", users=users)
    assert table(r) == expected[:-1]
    r = correlation(frame(rows), PH_STEPS, kind="properties", properties="$all", users=users,
                    exclude_properties=["$browser"])
    assert table(r) == expected[1:4]


def test_port_discarding_insignificant_events():
    # PostHog: test_discarding_insignificant_events and TestCorrelationFunctions.
    # test_are_results_insignificant: S = F = 10; positively 5/0, negatively 0/5,
    # low_sig_positively 1/0, low_sig_negatively 0/2
    rows = _posthog_basic()
    rows += [("user_0", "low_sig_positively_related", 48 + 1 / 3)]
    rows += [(f"user_{i}", "low_sig_negatively_related", 48) for i in (10, 15)]
    df = frame(rows)
    assert len(correlation(df, PH_STEPS, min_share=0.11).dimensions) == 2
    for min_persons, min_share, kept in ((25, 0.11, 2), (25, 0.051, 3), (3, 0.5, 2), (2, 0.5, 3),
                                         (100, 0.5, 0), (6, 0.5, 0)):
        r = correlation(df, PH_STEPS, min_persons=min_persons, min_share=min_share)
        assert len(r.dimensions) == kept, (min_persons, min_share)


def test_port_events_within_conversion_window_for_correlation():
    # PostHog: test_events_within_conversion_window_for_correlation (a 10-minute window)
    m = 1 / 60
    rows = [("user_successful", "user signed up", 0), ("user_successful", "positively_related", 2 * m),
            ("user_successful", "paid", 6 * m),
            ("user_dropoff", "user signed up", 0), ("user_dropoff", "NOT_negatively_related", 15 * m)]
    r = correlation(frame(rows), PH_STEPS, window="10m")
    assert table(r) == [("positively_related", 1, 0, 4.0, "success")]


def _posthog_event_properties():
    rows = []
    for i in range(10):
        u = f"user_{i}"
        rows.append((u, "user signed up", 24))
        if i % 2 == 0:
            rows.append((u, "positively_related", 48,
                         {"signup_source": "facebook" if i % 4 == 0 else "email", "blah": "value_bleh"}))
        rows.append((u, "paid", 72))
    for i in range(10, 20):
        u = f"user_{i}"
        rows.append((u, "user signed up", 24))
        if i % 2 == 0:
            rows.append((u, "negatively_related", 48, {"signup_source": "shazam" if i % 6 == 0 else "email"}))
    return rows


def test_port_funnel_correlation_with_event_properties():
    # PostHog: test_funnel_correlation_with_event_properties (email on positively_related
    # and shazam on negatively_related are held by 2 persons: dropped)
    r = correlation(frame(_posthog_event_properties()), PH_STEPS, kind="event_properties",
                    properties=["signup_source", "blah"])
    assert table(r) == [("positively_related::blah::value_bleh", 5, 0, 11.0, "success"),
                        ("positively_related::signup_source::facebook", 3, 0, 5.5, "success"),
                        ("negatively_related::signup_source::email", 0, 3, round(2 / 11, 6), "failure")]
    assert discarded(r, "held by fewer than 3") == 2


def test_port_funnel_correlation_with_event_properties_exclusions():
    # PostHog: test_funnel_correlation_with_event_properties_exclusions
    rows = []
    for i in range(3):
        u = f"user_{i}"
        rows += [(u, "user signed up", 24), (u, "positively_related", 48,
                                             {"signup_source": "facebook", "blah": "value_bleh"}),
                 (u, "paid", 72)]
    rows += [("user_fail", "user signed up", 24)]
    r = correlation(frame(rows), PH_STEPS, kind="event_properties", properties="$all",
                    exclude_properties=["signup_source"])
    assert table(r) == [("positively_related::blah::value_bleh", 3, 0, 8.0, "success")]


# --- Spark --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_spark_gives_the_same_answers_as_duckdb(tmp_path):
    from journeymap.store.engine import connect
    rows = _posthog_event_properties()
    rows += [(f"user_{i}", "user signed up", 24 + 1 / 60, {"signup_source": "ad"}) for i in range(0, 20, 3)]
    rows += [(f"user_{i}", "tie", 72) for i in range(10)]  # at the instant of conversion
    df = frame(rows)
    table_ = pa.Table.from_pandas(df, preserve_index=False)
    table_ = table_.set_column(table_.schema.get_field_index("ts"), "ts",
                               table_.column("ts").cast(pa.timestamp("us", tz="UTC")))
    path = tmp_path / "events.parquet"
    pq.write_table(table_, path)
    duck = connect("duckdb").read_parquet(str(path))
    spark = connect("spark").read_parquet(str(path))
    users = pd.DataFrame({"user_id": [f"user_{i}" for i in range(0, 20, 2)], "tier": ["a", "b"] * 5})
    cases = [dict(kind="events"),
             dict(kind="event_properties", properties="$all", min_persons=0),
             dict(kind="properties", properties=["tier", "signup_source"], users=users)]
    for case in cases:
        d = correlation(duck, PH_STEPS, **case).to_dict()
        s = correlation(spark, PH_STEPS, **case).to_dict()
        assert d["dimensions"]
        assert json.dumps(d, sort_keys=True) == json.dumps(s, sort_keys=True)
        assert d == correlation(df, PH_STEPS, **case).to_dict()  # and the DataFrame's
