"""measure(): stage semantics on small tables whose answers are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from journeymap.api import measure
from journeymap.errors import QueryError

# Third-party deprecations the project's `filterwarnings = error` would turn into failures:
# ibis 12 calls DuckDB's deprecated fetch_record_batch(), and ibis' to_pandas() reads
# pandas' deprecated `future.infer_string` option (Pandas4Warning under pandas 3.1).
pytestmark = [
    pytest.mark.filterwarnings(r"ignore:fetch_record_batch\(\) is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings(r"ignore:The 'future.infer_string' option is deprecated"),
]

T0 = pd.Timestamp("2024-01-01T00:00:00Z")  # a Monday
SEC, MIN, HOUR, DAY = 1, 60, 3600, 86400
US = pd.Timedelta(microseconds=1)
Z95 = 1.959963984540054


def at(seconds: float = 0, base: pd.Timestamp = T0) -> pd.Timestamp:
    return base + pd.Timedelta(seconds=seconds)


def events(*rows) -> pd.DataFrame:
    """rows: (user, event, time) or (user, event, time, {properties}); time in seconds or a Timestamp."""
    out = []
    for row in rows:
        user, event, when = row[:3]
        props = row[3] if len(row) > 3 else {}
        ts = when if isinstance(when, pd.Timestamp) else at(when)
        out.append({"user_id": user, "event": event, "ts": ts, **props})
    return pd.DataFrame(out)


def wilson_ci(k: int, n: int) -> tuple[float, float]:
    p = k / n
    z2 = Z95 ** 2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n ** 2))
    return max(0.0, centre - half), min(1.0, centre + half)


def entered(result) -> list[int]:
    return [s.entered for s in result.stages]


TWO = """
name: two
stages:
  - {id: visit, owner: web, enter: {event: visit}}
  - {id: buy, owner: sales, enter: {event: buy}}
"""


def two_within(within: str) -> str:
    return f"""
name: two
stages:
  - {{id: visit, owner: web, enter: {{event: visit}}}}
  - {{id: buy, owner: sales, enter: {{event: buy}}, within: {within}}}
"""


# -- entry rules ------------------------------------------------------------------------------

def test_first_qualifying_event_and_order():
    ev = events(
        ("u1", "visit", 0), ("u1", "visit", HOUR), ("u1", "buy", 3 * HOUR),  # timed from first visit
        ("u2", "buy", 0), ("u2", "visit", HOUR),  # bought before visiting: never enters buy
        ("u3", "visit", 0), ("u3", "buy", 0),  # same instant
        ("u4", "buy", 0),  # never entered stage 1: not counted at all
    )
    r = measure(TWO, ev)
    assert entered(r) == [3, 2]
    visit = r.stage("visit")
    assert visit.advanced == 2 and visit.drop_off == 1
    assert visit.rate == pytest.approx(2 / 3)
    assert r.computed_on["users"] == 3
    # times 10800 s and 0 s: median 5400, p90 = 0 + 0.9 * 10800
    assert visit.median_time_to_next_s == pytest.approx(5400)
    assert visit.p90_time_to_next_s == pytest.approx(9720)


def test_within_boundary_is_inclusive_to_the_microsecond():
    ev = events(
        ("u1", "visit", 0), ("u1", "buy", at(HOUR)),  # exactly 1h later: counts
        ("u2", "visit", 0), ("u2", "buy", at(HOUR) + US),  # 1 µs more: does not
        ("u3", "visit", 0), ("u3", "visit", 30 * MIN), ("u3", "buy", 90 * MIN),  # window from first visit
        ("u4", "visit", 0), ("u4", "buy", 50 * MIN), ("u4", "buy", 2 * HOUR),  # first buy in window
    )
    r = measure(two_within("1h"), ev)
    assert entered(r) == [4, 2]
    assert r.stage("visit").median_time_to_next_s == pytest.approx((3600 + 3000) / 2)
    assert r.stage("visit").p90_time_to_next_s == pytest.approx(3000 + 0.9 * 600)


def test_within_in_plain_seconds_and_with_microsecond_timestamps():
    base = T0 + pd.Timedelta(microseconds=123_457)
    ev = events(
        ("u1", "visit", base), ("u1", "buy", base + pd.Timedelta(seconds=90)),
        ("u2", "visit", base), ("u2", "buy", base + pd.Timedelta(seconds=90) + US),
    )
    r = measure(two_within("90"), ev)
    assert entered(r) == [2, 1]
    assert r.stage("visit").median_time_to_next_s == pytest.approx(90.0)


@pytest.mark.parametrize("order", [[0, 1], [1, 0]])
def test_same_timestamp_is_simultaneous_whatever_the_row_order(order):
    rows = [("u1", "buy", 0), ("u1", "visit", 0)]
    ev = events(*(rows[i] for i in order))
    r = measure(TWO, ev)
    assert entered(r) == [1, 1]
    assert r.stage("visit").median_time_to_next_s == 0.0


def test_three_stages_in_one_instant():
    journey = """
name: instant
stages:
  - {id: a, owner: x, enter: {event: ev_a}}
  - {id: b, owner: x, enter: {event: ev_b}}
  - {id: c, owner: x, enter: {event: ev_c}}
"""
    ev = events(("u1", "ev_c", 0), ("u1", "ev_b", 0), ("u1", "ev_a", 0))
    r = measure(journey, ev)
    assert entered(r) == [1, 1, 1]


@pytest.mark.parametrize("order", [["A", "B"], ["B", "A"]])
def test_simultaneous_rows_are_matched_to_stages_whatever_their_names(order):
    # Stage 1 accepts A or B, stage 2 only A. A and B at the same instant: B enters
    # stage 1 and A stage 2, each a distinct row. The result must not depend on which
    # row the engine's tie-breaker (event name) puts first.
    journey = """
name: ties
stages:
  - {id: s1, owner: x, enter: {event: [A, B]}}
  - {id: s2, owner: x, enter: {event: A}}
"""
    ev = events(*(("u1", name, 0) for name in order))
    r = measure(journey, ev)
    assert entered(r) == [1, 1]


@pytest.mark.parametrize("xs", [[1, 0], [0, 1]])
def test_simultaneous_rows_with_properties_do_not_depend_on_row_order(xs):
    # Two rows of event A at one instant; only the x == 1 row qualifies for s2.
    journey = """
name: ties
stages:
  - {id: s1, owner: x, enter: {event: A}}
  - {id: s2, owner: x, enter: {event: A, where: {x: 1}}}
"""
    ev = events(*(("u1", "A", 0, {"x": x}) for x in xs))
    r = measure(journey, ev)
    assert entered(r) == [1, 1]


def test_repeated_event_name_needs_distinct_occurrences():
    journey = """
name: pages
stages:
  - {id: p1, owner: x, enter: {event: page}}
  - {id: p2, owner: x, enter: {event: page}}
  - {id: p3, owner: x, enter: {event: page}}
"""
    ev = events(
        ("u1", "page", 0),
        ("u2", "page", 0), ("u2", "page", HOUR),
        ("u3", "page", 0), ("u3", "page", 0),  # two rows in one instant: two occurrences
        ("u4", "page", 0), ("u4", "page", HOUR), ("u4", "page", 2 * HOUR),
    )
    r = measure(journey, ev)
    assert entered(r) == [4, 3, 1]
    assert r.stage("p1").median_time_to_next_s == pytest.approx(HOUR)  # 3600, 0, 3600
    assert r.stage("p2").median_time_to_next_s == pytest.approx(HOUR)


OPTIONAL = """
name: opt
stages:
  - {id: visit, owner: web, enter: {event: visit}}
  - {id: demo, owner: presales, enter: {event: demo}, optional: true}
  - {id: buy, owner: sales, enter: {event: buy}}
"""


def test_optional_stage_can_be_skipped():
    ev = events(
        ("u1", "visit", 0), ("u1", "demo", HOUR), ("u1", "buy", 3 * HOUR),
        ("u2", "visit", 0), ("u2", "buy", 2 * HOUR),  # skipped the demo
        ("u3", "visit", 0), ("u3", "demo", HOUR),
        ("u4", "visit", 0),
    )
    r = measure(OPTIONAL, ev)
    visit, demo, buy = r.stages
    assert entered(r) == [4, 3, 2]
    assert (visit.skipped, demo.skipped, buy.skipped) == (0, 1, 0)
    assert visit.advanced == 3 and visit.rate == pytest.approx(3 / 4)
    assert demo.advanced == 2 and demo.rate == pytest.approx(2 / 3)
    # the skipper is left out of time-to-next on both sides of the skipped stage
    assert visit.time_to_next["n"] == 2 and visit.median_time_to_next_s == pytest.approx(HOUR)
    assert demo.time_to_next["n"] == 1 and demo.median_time_to_next_s == pytest.approx(2 * HOUR)


def test_a_required_stage_cannot_be_skipped():
    journey = OPTIONAL.replace(", optional: true", "")
    ev = events(("u1", "visit", 0), ("u1", "demo", HOUR), ("u1", "buy", 3 * HOUR),
                ("u2", "visit", 0), ("u2", "buy", 2 * HOUR))
    r = measure(journey, ev)
    assert entered(r) == [2, 1, 1]
    assert [s.skipped for s in r.stages] == [0, 0, 0]


# -- where conditions ---------------------------------------------------------------------------

WHERE_EVENTS = events(
    ("u1", "visit", 0, {"who": "u1"}), ("u1", "buy", HOUR, {"plan": "pro", "amount": 10.0}),
    ("u2", "visit", 0, {"who": "u2"}), ("u2", "buy", HOUR, {"plan": "free", "amount": 9.99}),
    ("u3", "visit", 0, {"who": "u3"}), ("u3", "buy", HOUR, {"plan": None, "amount": 25.0}),
    ("u4", "visit", 0, {"who": "u4"}), ("u4", "buy", HOUR, {"plan": "team", "amount": None}),
)


@pytest.mark.parametrize("where, expected", [
    ("{plan: pro}", {"u1"}),
    ("{plan: {eq: pro}}", {"u1"}),
    ("{amount: {gte: 10}}", {"u1", "u3"}),
    ("{plan: {in: [pro, team]}}", {"u1", "u4"}),
    ("{plan: {ne: free}}", {"u1", "u3", "u4"}),  # a missing plan is "not free"
    ("{plan: {exists: true}}", {"u1", "u2", "u4"}),
    ("{plan: {exists: false}}", {"u3"}),
    ("{amount: {exists: false}}", {"u4"}),
    ("{plan: {in: [pro, team]}, amount: {gte: 10}}", {"u1"}),
])
def test_where_conditions(where, expected):
    journey = f"""
name: where
stages:
  - {{id: visit, owner: web, enter: {{event: visit}}}}
  - {{id: buy, owner: sales, enter: {{event: buy, where: {where}}}}}
"""
    r = measure(journey, WHERE_EVENTS, by="who")
    assert r.stage("buy").entered == len(expected)
    got = {g for g, rows in r.groups.items() if rows[1].entered}
    assert got == expected


def test_first_event_that_meets_the_conditions_counts():
    journey = """
name: where
stages:
  - {id: visit, owner: web, enter: {event: visit}}
  - {id: buy, owner: sales, enter: {event: buy, where: {plan: pro}}}
"""
    ev = events(("u1", "visit", 0), ("u1", "buy", HOUR, {"plan": "free"}),
                ("u1", "buy", 2 * HOUR, {"plan": "pro"}))
    r = measure(journey, ev)
    assert entered(r) == [1, 1]
    assert r.stage("visit").median_time_to_next_s == pytest.approx(2 * HOUR)


# -- rates, intervals, times --------------------------------------------------------------------

def test_rate_wilson_interval_and_drop_off():
    rows = []
    for i in range(10):
        rows.append((f"u{i}", "visit", 0))
        if i < 3:
            rows.append((f"u{i}", "buy", HOUR))
    r = measure(TWO, events(*rows))
    visit = r.stage("visit")
    assert (visit.entered, visit.advanced, visit.drop_off) == (10, 3, 7)
    assert visit.rate == pytest.approx(0.3)
    lo, hi = wilson_ci(3, 10)
    assert visit.rate_ci == pytest.approx([lo, hi], rel=1e-12)
    # by hand: centre 0.3449, half-width 0.2373
    assert visit.rate_ci == pytest.approx([0.1078, 0.6032], abs=1e-4)


def test_wilson_interval_at_the_extremes():
    r = measure(TWO, events(("u1", "visit", 0), ("u1", "buy", 1), ("u2", "visit", 0), ("u2", "buy", 1)))
    visit = r.stage("visit")
    assert visit.rate == 1.0
    lo, hi = wilson_ci(2, 2)
    assert visit.rate_ci == pytest.approx([lo, hi])
    assert visit.rate_ci[1] == pytest.approx(1.0)
    r = measure(TWO, events(("u1", "visit", 0), ("u2", "visit", 0)))
    visit = r.stage("visit")
    assert visit.rate == 0.0 and visit.advanced == 0 and visit.drop_off == 2
    assert visit.rate_ci[0] == pytest.approx(0.0, abs=1e-15)
    assert visit.rate_ci[1] == pytest.approx(wilson_ci(0, 2)[1])
    assert visit.median_time_to_next_s is None and visit.p90_time_to_next_s is None


@pytest.mark.parametrize("k, n", [(0, 3), (0, 7), (10, 10)])
def test_wilson_interval_contains_the_rate_exactly_at_zero_and_all(k, n):
    # by hand: with no successes the lower bound is exactly 0, with all of them the upper is 1
    rows = [(f"u{i}", "visit", 0) for i in range(n)] + [(f"u{i}", "buy", 1) for i in range(k)]
    visit = measure(TWO, events(*rows)).stage("visit")
    assert visit.rate == k / n
    assert visit.rate_ci[0] <= visit.rate <= visit.rate_ci[1]
    if k == 0:
        assert visit.rate_ci[0] == 0.0
    if k == n:
        assert visit.rate_ci[1] == 1.0


def test_stage_nobody_entered_has_no_rate():
    journey = """
name: three
stages:
  - {id: visit, owner: web, enter: {event: visit}}
  - {id: signup, owner: growth, enter: {event: signup}}
  - {id: buy, owner: sales, enter: {event: buy}}
"""
    r = measure(journey, events(("u1", "visit", 0)))
    signup = r.stage("signup")
    assert signup.entered == 0 and signup.advanced == 0
    assert signup.rate is None and signup.rate_ci is None
    assert signup.verdict is None


def test_median_and_p90_use_linear_interpolation():
    gaps = [1 * HOUR, 2 * HOUR, 3 * HOUR, 10 * HOUR]
    rows = []
    for i, g in enumerate(gaps):
        rows += [(f"u{i}", "visit", 0), (f"u{i}", "buy", g)]
    r = measure(TWO, events(*rows))
    visit = r.stage("visit")
    assert visit.median_time_to_next_s == pytest.approx(2.5 * HOUR)
    # position 0.9 * 3 = 2.7 -> 3h + 0.7 * (10h - 3h) = 7.9h
    assert visit.p90_time_to_next_s == pytest.approx(7.9 * HOUR)
    assert visit.p90_time_to_next_s == pytest.approx(float(np.quantile(gaps, 0.9)))
    assert visit.time_to_next["mean_s"] == pytest.approx(4 * HOUR)
    assert visit.time_to_next["distribution"]["1-6h"] == 3
    assert visit.time_to_next["distribution"]["6-24h"] == 1


# -- benchmarks ---------------------------------------------------------------------------------

def _consideration_events(n_buy: int, n: int = 100) -> pd.DataFrame:
    rows = []
    for i in range(n):
        rows.append((f"u{i:03d}", "pricing", 0))
        if i < n_buy:
            rows.append((f"u{i:03d}", "order", DAY))
    return events(*rows)


CONSIDER_BUY = """
name: shop
stages:
  - {id: consideration, owner: marketing, enter: {event: pricing}}
  - {id: purchase, owner: sales, enter: {event: order}}
"""


@pytest.mark.parametrize("n_buy, verdict", [(1, "below"), (2, "within"), (10, "within"),
                                            (15, "within"), (16, "above")])
def test_builtin_benchmark_applies_to_the_rate_into_purchase(n_buy, verdict):
    r = measure(CONSIDER_BUY, _consideration_events(n_buy))
    cons = r.stage("consideration")
    assert cons.rate == pytest.approx(n_buy / 100)
    assert cons.benchmark["low"] == 0.02 and cons.benchmark["high"] == 0.15
    assert cons.benchmark["source"].startswith("built-in")
    assert cons.verdict == verdict
    purchase = r.stage("purchase")
    assert purchase.benchmark is None and purchase.verdict is None


def test_journey_benchmarks_override_the_builtin():
    journey = CONSIDER_BUY + "benchmarks:\n  purchase: {low: 0.5, high: 0.9, source: our data}\n"
    r = measure(journey, _consideration_events(16))
    cons = r.stage("consideration")
    assert cons.benchmark == {"low": 0.5, "high": 0.9, "source": "our data"}
    assert cons.verdict == "below"


def test_stage_benchmark_wins_over_journey_benchmarks():
    journey = """
name: shop
stages:
  - {id: consideration, owner: marketing, enter: {event: pricing}}
  - {id: purchase, owner: sales, enter: {event: order}, benchmark: {low: 0.01, high: 0.05}}
benchmarks:
  purchase: {low: 0.5, high: 0.9}
"""
    r = measure(journey, _consideration_events(3))
    cons = r.stage("consideration")
    assert (cons.benchmark["low"], cons.benchmark["high"]) == (0.01, 0.05)
    assert cons.benchmark["source"] == "journey file"
    assert cons.verdict == "within"


def test_journey_benchmark_for_a_custom_stage_id():
    journey = """
name: shop
stages:
  - {id: consideration, owner: marketing, enter: {event: pricing}}
  - {id: trial_start, owner: growth, enter: {event: order}}
benchmarks:
  trial_start: {low: 0.2, high: 0.3}
"""
    r = measure(journey, _consideration_events(31))
    assert r.stage("consideration").verdict == "above"
    r = measure(journey.replace("benchmarks:\n  trial_start: {low: 0.2, high: 0.3}\n", ""),
                _consideration_events(31))
    assert r.stage("consideration").benchmark is None
    assert r.stage("consideration").verdict is None


# -- entry cohorts, maturity, pending ---------------------------------------------------------

WEEKLY = """
name: weekly
stages:
  - {id: s1, owner: x, enter: {event: A}}
  - {id: s2, owner: y, enter: {event: B}, within: 7d}
"""
JAN = pd.Timestamp("2024-01-01T00:00:00Z")


def _weekly_events(data_end: pd.Timestamp) -> pd.DataFrame:
    d = lambda n: JAN + pd.Timedelta(days=n)  # noqa: E731
    return events(
        # week of Mon 1 - Sun 7 January
        ("u1", "A", d(1)), ("u1", "B", d(2)),
        ("u2", "A", d(2)),
        # week of Mon 8 - Sun 14 January: both advance
        ("u3", "A", d(8)), ("u3", "B", d(9)),
        ("u4", "A", d(9)), ("u4", "B", d(10)),
        ("u9", "other", data_end),  # the last event of the data
    )


def test_week_cohorts_immature_ones_left_out_of_rates():
    # week 1 ends 8 Jan 00:00; + 7d = 15 Jan <= data end 16 Jan: mature.
    # week 2 ends 15 Jan; + 7d = 22 Jan > 16 Jan: immature, left out.
    ev = _weekly_events(JAN + pd.Timedelta(days=15))
    full = measure(WEEKLY, ev)
    assert full.stage("s1").entered == 4 and full.stage("s1").rate == pytest.approx(0.75)
    r = measure(WEEKLY, ev, period="week")
    s1 = r.stage("s1")
    assert (s1.entered, s1.advanced) == (2, 1)
    assert s1.rate == pytest.approx(0.5)
    assert s1.rate_ci == pytest.approx(list(wilson_ci(1, 2)))
    assert r.computed_on["period"] == "week"
    assert r.computed_on["immature_cohorts_excluded"] is True
    assert r.computed_on["data_end"].startswith("2024-01-16")
    cohorts = [(c.stage, c.cohort, c.entered, c.advanced, c.immature) for c in r.cohorts]
    assert cohorts == [
        ("s1", "2024-01-01/2024-01-07", 2, 1, False),
        ("s1", "2024-01-08/2024-01-14", 2, 2, True),
    ]
    assert any("immature" in f for f in r.findings)
    assert "cohorts" in r.to_dict()


def test_week_cohort_maturity_boundary():
    # data end exactly week-1 end + 7d (15 Jan 00:00): not after it, so mature
    r = measure(WEEKLY, _weekly_events(JAN + pd.Timedelta(days=14)), period="week")
    assert r.stage("s1").entered == 2
    assert [c.immature for c in r.cohorts] == [False, True]
    # one microsecond earlier: week 1 is immature too and s1 has nothing left
    r = measure(WEEKLY, _weekly_events(JAN + pd.Timedelta(days=14) - US), period="week")
    assert [c.immature for c in r.cohorts] == [True, True]
    assert r.stage("s1").entered == 0 and r.stage("s1").rate is None


def test_stage_without_time_limit_is_never_immature():
    ev = _weekly_events(JAN + pd.Timedelta(days=15))
    r = measure(WEEKLY.replace(", within: 7d", ""), ev, period="week")
    assert r.stage("s1").entered == 4
    assert not any(c.immature for c in r.cohorts)
    assert r.computed_on["immature_cohorts_excluded"] is False


def test_month_cohorts():
    feb = pd.Timestamp("2024-02-01T00:00:00Z")
    ev = events(
        ("u1", "A", JAN + pd.Timedelta(days=5)), ("u1", "B", JAN + pd.Timedelta(days=6)),
        ("u2", "A", JAN + pd.Timedelta(days=20)),
        ("u3", "A", feb + pd.Timedelta(days=1)), ("u3", "B", feb + pd.Timedelta(days=2)),
        ("u9", "other", feb + pd.Timedelta(days=9)),  # Jan ends 1 Feb; + 7d = 8 Feb: mature
    )
    r = measure(WEEKLY, ev, period="month")
    assert [(c.cohort, c.entered, c.advanced, c.immature) for c in r.cohorts] == [
        ("2024-01", 2, 1, False), ("2024-02", 1, 1, True)]
    assert (r.stage("s1").entered, r.stage("s1").advanced) == (2, 1)


def test_unknown_period():
    with pytest.raises(QueryError, match="period"):
        measure(WEEKLY, _weekly_events(JAN + pd.Timedelta(days=15)), period="day")


def test_pending_counts_users_still_inside_their_window():
    end = JAN + pd.Timedelta(days=10)
    journey = WEEKLY.replace("within: 7d", "within: 2d")
    ev = events(
        ("u1", "A", end - pd.Timedelta(days=1)),  # 1 day left: pending
        ("u2", "A", end - pd.Timedelta(days=2)),  # window closed exactly at the data end
        ("u3", "A", end - pd.Timedelta(days=3)),  # lost
        ("u4", "A", end - pd.Timedelta(days=1)), ("u4", "B", end - pd.Timedelta(hours=1)),  # advanced
        ("u5", "A", end - pd.Timedelta(days=2) + US),  # 1 µs of window left: pending
        ("u9", "other", end),
    )
    r = measure(journey, ev)
    s1 = r.stage("s1")
    assert (s1.entered, s1.advanced, s1.drop_off) == (5, 1, 4)
    assert s1.pending == 2
    assert r.stage("s2").pending is None
    assert measure(WEEKLY.replace(", within: 7d", ""), ev).stage("s1").pending is None


# -- personas -------------------------------------------------------------------------------------

PERSONAS = """
name: personas
stages:
  - {id: visit, owner: web, enter: {event: visit}}
  - {id: buy, owner: sales, enter: {event: buy}}
personas:
  - {id: pro, where: {plan: pro}}
  - {id: free, where: {plan: free}}
"""
USERS = pd.DataFrame({"user_id": ["u1", "u2", "u3", "u4"], "plan": ["pro", "pro", "free", "free"]})
PERSONA_EVENTS = events(
    ("u1", "visit", 0), ("u1", "buy", HOUR),
    ("u2", "visit", 0),
    ("u3", "visit", 0), ("u3", "buy", 2 * HOUR),
    ("u4", "visit", 0), ("u4", "buy", 3 * HOUR),
    ("u5", "visit", 0),  # not in the users table: in no persona
)


def test_persona_filter_from_users_table():
    r = measure(PERSONAS, PERSONA_EVENTS, users=USERS, persona="pro")
    assert entered(r) == [2, 1]
    assert r.stage("visit").median_time_to_next_s == pytest.approx(HOUR)
    assert r.computed_on["persona"] == "pro"
    assert r.computed_on["users"] == 2
    r = measure(PERSONAS, PERSONA_EVENTS, users=USERS, persona="free")
    assert entered(r) == [2, 2]


def test_personas_are_measured_side_by_side():
    r = measure(PERSONAS, PERSONA_EVENTS, users=USERS)
    assert entered(r) == [5, 3]
    assert set(r.personas) == {"pro", "free"}
    assert [s.entered for s in r.personas["pro"]] == [2, 1]
    assert [s.entered for s in r.personas["free"]] == [2, 2]
    assert r.personas["free"][0].rate == 1.0
    assert set(r.to_dict()["personas"]) == {"pro", "free"}


def test_unknown_persona():
    with pytest.raises(QueryError, match="persona"):
        measure(PERSONAS, PERSONA_EVENTS, users=USERS, persona="enterprise")


def test_persona_from_first_touch_event_property():
    journey = """
name: geo
stages:
  - {id: visit, owner: web, enter: {event: visit}}
  - {id: buy, owner: sales, enter: {event: buy}}
personas:
  - {id: us, where: {country: US}}
"""
    ev = events(
        # first touch is a landing page view from the US; later events say DE
        ("u1", "landing", 0, {"country": "US"}), ("u1", "visit", HOUR, {"country": "DE"}),
        ("u1", "buy", 2 * HOUR, {"country": "DE"}),
        ("u2", "visit", 0, {"country": "DE"}), ("u2", "buy", HOUR, {"country": "US"}),
        ("u3", "visit", 0, {"country": "US"}),
    )
    r = measure(journey, ev, persona="us")
    assert entered(r) == [2, 1]
    # a trait in the users table wins over the event property
    users = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "country": ["DE", "US", "DE"]})
    r = measure(journey, ev, users=users, persona="us")
    assert entered(r) == [1, 1]


# -- by -------------------------------------------------------------------------------------------

def test_by_user_trait():
    r = measure(PERSONAS, PERSONA_EVENTS, users=USERS, by="plan")
    assert r.by == "plan"
    assert set(r.groups) == {"pro", "free", "(none)"}
    assert [s.entered for s in r.groups["pro"]] == [2, 1]
    assert [s.entered for s in r.groups["free"]] == [2, 2]
    assert [s.entered for s in r.groups["(none)"]] == [1, 0]
    d = r.to_dict()
    assert d["by"] == "plan" and set(d["groups"]) == {"pro", "free", "(none)"}
    # largest group first
    assert [g[0].entered for g in r.groups.values()] == sorted(
        (g[0].entered for g in r.groups.values()), reverse=True)


def test_by_event_property_reads_the_stage_one_entry_event():
    ev = events(
        ("u1", "landing", 0, {"source": "ads"}),  # first touch, but not a stage event
        ("u1", "visit", HOUR, {"source": "seo"}),  # stage-1 entry: seo
        ("u1", "visit", 2 * HOUR, {"source": "ads"}),
        ("u1", "buy", 3 * HOUR, {"source": "ads"}),
        ("u2", "visit", 0, {"source": "ads"}), ("u2", "buy", HOUR, {"source": "seo"}),
        ("u3", "visit", 0, {"source": "ads"}),
        ("u4", "visit", 0, {"source": None}),
    )
    r = measure(TWO, ev, by="source")
    assert set(r.groups) == {"seo", "ads", "(none)"}
    assert [s.entered for s in r.groups["seo"]] == [1, 1]
    assert [s.entered for s in r.groups["ads"]] == [2, 1]
    assert [s.entered for s in r.groups["(none)"]] == [1, 0]


@pytest.mark.parametrize("order", [[0, 1], [1, 0]])
def test_first_touch_persona_does_not_depend_on_the_order_of_simultaneous_events(order):
    # the user's two first events share a timestamp; the README promises that results
    # never depend on row order, so both orders must give the same persona
    journey = """
name: geo
stages:
  - {id: visit, owner: web, enter: {event: visit}}
personas:
  - {id: us, where: {country: US}}
"""
    rows = [("u1", "landing", 0, {"country": "US"}), ("u1", "visit", 0, {"country": "DE"})]
    reference = measure(journey, events(*rows), by="persona")
    r = measure(journey, events(*(rows[i] for i in order)), by="persona")
    assert {g: s[0].entered for g, s in r.groups.items()} == \
        {g: s[0].entered for g, s in reference.groups.items()}
    assert r.personas["us"][0].entered == reference.personas["us"][0].entered


@pytest.mark.parametrize("order", [[0, 1], [1, 0]])
def test_by_event_property_does_not_depend_on_the_order_of_simultaneous_entry_rows(order):
    rows = [("u1", "visit", 0, {"source": "seo"}), ("u1", "visit", 0, {"source": "ads"})]
    reference = measure(TWO, events(*rows), by="source")
    r = measure(TWO, events(*(rows[i] for i in order)), by="source")
    assert set(r.groups) == set(reference.groups)


def test_by_keeps_the_20_largest_groups_and_folds_the_rest():
    rows = []
    for g in range(22):  # group g has g + 1 users
        rows += [(f"u{g}_{i}", "visit", 0, {"source": f"s{g:02d}"}) for i in range(g + 1)]
    r = measure(TWO, events(*rows), by="source")
    assert len(r.groups) == 21
    assert "s00" not in r.groups and "s01" not in r.groups
    assert r.groups["(other)"][0].entered == 1 + 2
    assert r.groups["s21"][0].entered == 22
    assert list(r.groups)[0] == "s21"
    assert sum(g[0].entered for g in r.groups.values()) == r.stage("visit").entered == 253


def test_by_persona_takes_the_first_matching_persona():
    journey = PERSONAS + "  - {id: paying, where: {plan: {in: [pro, team]}}}\n"
    users = pd.DataFrame({"user_id": ["u1", "u2", "u3", "u4"], "plan": ["pro", "team", "free", "free"]})
    r = measure(journey, PERSONA_EVENTS, users=users, by="persona")
    # u1 is pro and paying: pro comes first in the journey; u5 matches nothing
    assert [s.entered for s in r.groups["pro"]] == [1, 1]
    assert [s.entered for s in r.groups["paying"]] == [1, 0]
    assert [s.entered for s in r.groups["free"]] == [2, 2]
    assert [s.entered for s in r.groups["(none)"]] == [1, 0]


# -- tables ---------------------------------------------------------------------------------------

def test_to_pandas_and_html():
    r = measure(TWO, events(("u1", "visit", 0), ("u1", "buy", HOUR), ("u2", "visit", 0)))
    df = r.to_pandas()
    assert list(df.columns) == [
        "id", "owner", "entered", "advanced", "rate", "rate_low", "rate_high", "drop_off",
        "skipped", "pending", "median_time_to_next_s", "p90_time_to_next_s", "next",
        "benchmark_low", "benchmark_high", "verdict", "lower_is_better", "name", "goal",
        "actions", "touchpoints", "outcome"]
    assert df["entered"].dtype.kind == "i"  # counts stay integers in every table
    assert df["rate_low"].iloc[0] < 0.5 < df["rate_high"].iloc[0]
    assert list(df["id"]) == ["visit", "buy"]
    assert list(df["entered"]) == [2, 1]
    assert df["rate"].iloc[0] == pytest.approx(0.5)
    assert pd.isna(df["rate"].iloc[1])
    assert r.to_arrow().num_rows == 2
    html = r._repr_html_()
    assert "<table" in html and "measured journey map" in html
    assert "visit" in html and "buy" in html and "web" in html
