"""retention(): hand-computed cases, a differential test against plain DuckDB SQL, and
the same answers on Spark.

The hand-computed expectations follow PostHog's retention (see the module docstring
of `journeymap.measure.retention.retention` for the PostHog sources):

* the range is the N periods ending with the one holding date_to;
* interval 0 is the cohort size; interval k counts persons of the cohort who did the
  returning event (at least min_occurrences times) in the period k periods later;
* recurring: a person is in the cohort of every period with a start event;
  first_time: only in the cohort of their first start event ever (none when it falls
  outside the range);
* cumulative: a person retained at k counts at every interval 1..k, once each;
* cells past the range are None.

Several cases port a case PostHog's tests encode
(posthog/hogql_queries/insights/retention/test/test_retention_query_runner.py), with
events and expectations of our own: test_first_time_retention (a first start before
the range), test_rolling_retention and ..._doesnt_double_count_same_user,
test_rolling_retention_with_minimum_occurrences / test_all_events_with_minimum_occurrences,
test_week_interval (Sunday and Monday weeks), test_month_interval,
test_retention_with_properties_on_start_event_for_first_time.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from journeymap.errors import QueryError
from journeymap.api import RetentionResult, retention

# ibis 12 streams DuckDB results through fetch_record_batch(), which DuckDB 1.5
# deprecates; pyproject turns every warning into an error. Not a retention concern.
pytestmark = pytest.mark.filterwarnings("ignore:fetch_record_batch.. is deprecated:DeprecationWarning")


def frame(spec) -> pd.DataFrame:
    """[(user, event, 'YYYY-MM-DD[ HH:MM:SS]', {props})...] -> events (naive = UTC)."""
    rows = []
    for item in spec:
        user, event, when = item[:3]
        props = item[3] if len(item) > 3 else {}
        rows.append({"user_id": user, "event": event, "ts": pd.Timestamp(when), **props})
    return pd.DataFrame(rows)


def starts(result: RetentionResult) -> list[str]:
    return [c.start for c in result.cohorts]


# --- one table for several day-period cases -------------------------------------------
# u1: May 1, 2, 4 | u2: May 1, 3 | u3: May 2 (twice, one instant), 5 | u4: Apr 30, May 3
DAYS = frame([
    ("u1", "open", "2024-05-01 09:00"), ("u1", "open", "2024-05-02 23:59:59"),
    ("u1", "open", "2024-05-04 00:00"),
    ("u2", "open", "2024-05-01 12:00"), ("u2", "open", "2024-05-03 08:00"),
    ("u3", "open", "2024-05-02 10:00"), ("u3", "open", "2024-05-02 10:00"),
    ("u3", "open", "2024-05-05 10:00"),
    ("u4", "open", "2024-04-30 10:00"), ("u4", "open", "2024-05-03 10:00"),
])


def test_recurring_day_any_event_hand_computed():
    r = retention(DAYS, "open", period="day", intervals=5, date_to="2024-05-05")
    assert starts(r) == ["2024-05-01", "2024-05-02", "2024-05-03", "2024-05-04", "2024-05-05"]
    assert r.counts == [
        [2, 1, 1, 1, 0],           # u1, u2: u1 back May 2 and 4, u2 May 3
        [2, 0, 1, 1, None],        # u1, u3: u1 back May 4, u3 May 5
        [2, 0, 0, None, None],     # u2, u4 (u4's Apr 30 is before the range)
        [1, 0, None, None, None],  # u1
        [1, None, None, None, None],
    ]
    assert r.computed_on["persons"] == 4
    assert r.cohorts[0].rates == (1.0, 0.5, 0.5, 0.5, 0.0)
    assert r.cohorts[1].rates[4] is None and r.cohorts[1].rate_cis[4] is None
    low, high = r.cohorts[0].rate_cis[1]
    assert 0 < low < 0.5 < high < 1


def test_default_date_to_is_the_last_events_day():
    r = retention(DAYS, "open", period="day", intervals=5)
    assert r.computed_on["date_to"] == "2024-05-05"
    assert r.counts == retention(DAYS, "open", period="day", intervals=5, date_to="2024-05-05").counts


def test_date_to_in_the_middle_later_cells_none_and_later_events_unread():
    r = retention(DAYS, "open", period="day", intervals=5, date_to=dt.datetime(2024, 5, 3, 14, 0))
    assert starts(r) == ["2024-04-29", "2024-04-30", "2024-05-01", "2024-05-02", "2024-05-03"]
    assert r.counts == [
        [0, 0, 0, 0, 0],
        [1, 0, 0, 1, None],             # u4: back May 3
        [2, 1, 1, None, None],          # u1 back May 2, u2 May 3
        [2, 0, None, None, None],       # u1 comes back May 4: after the range, not read
        [2, None, None, None, None],    # u2, u4
    ]
    on = r.computed_on
    assert (on["date_from"], on["date_to"], on["end_exclusive"]) == ("2024-04-29", "2024-05-03", "2024-05-04")
    assert on["persons"] == 4


def test_date_to_forms_agree():
    forms = ["2024-05-03", "2024-05-03T23:00:00", "2024-05-03T23:00:00+00:00", dt.date(2024, 5, 3),
             dt.datetime(2024, 5, 4, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
             pd.Timestamp("2024-05-03 12:00")]
    got = {json.dumps(retention(DAYS, "open", period="day", intervals=5, date_to=f).counts) for f in forms}
    assert len(got) == 1


# --- returning: any event vs a named one; the same instant --------------------------
# Monday weeks of Jan 1, 8, 15 2024
NAMED = frame([
    ("a", "signup", "2024-01-01"), ("a", "other", "2024-01-09"), ("a", "visit", "2024-01-16"),
    ("b", "signup", "2024-01-03"), ("b", "visit", "2024-01-03"), ("b", "visit", "2024-01-10"),
    ("c", "signup", "2024-01-10"), ("c", "other", "2024-01-17"),
])


def test_returning_named_event_vs_any_event():
    named = retention(NAMED, "signup", "visit", intervals=3, date_to="2024-01-21")
    assert starts(named) == ["2024-01-01", "2024-01-08", "2024-01-15"]
    assert named.counts == [[2, 1, 1], [1, 0, None], [0, None, None]]
    anything = retention(NAMED, "signup", intervals=3, date_to="2024-01-21")
    assert anything.counts == [[2, 2, 1], [1, 1, None], [0, None, None]]
    assert anything.computed_on["returning"] == "any event"
    both = retention(NAMED, "signup", ["visit", "other"], intervals=3, date_to="2024-01-21")
    assert both.counts == anything.counts
    assert both.computed_on["returning"] == "visit or other"


def test_interval_zero_is_the_cohort_size_even_without_a_return_at_the_same_instant():
    # x signs up and visits at the very same instant; y only signs up. PostHog's
    # interval 0 is the cohort (2), not the persons who also returned in it (1).
    ev = frame([("x", "signup", "2024-01-02 10:00"), ("x", "visit", "2024-01-02 10:00"),
                ("y", "signup", "2024-01-02 11:00"), ("y", "visit", "2024-01-09 11:00")])
    r = retention(ev, "signup", "visit", intervals=3, date_to="2024-01-21")
    assert r.counts[0] == [2, 1, 0]


# --- first time vs recurring ---------------------------------------------------------
FIRSTS = frame([
    ("p1", "signup", "2024-04-28"), ("p1", "signup", "2024-05-02"), ("p1", "visit", "2024-05-03"),
    ("p2", "signup", "2024-05-01"), ("p2", "signup", "2024-05-03"), ("p2", "visit", "2024-05-02"),
    ("p2", "visit", "2024-05-04"),
    ("p3", "signup", "2024-05-02"), ("p3", "visit", "2024-05-04"),
    ("p4", "visit", "2024-05-01"), ("p4", "signup", "2024-05-03"),
    ("p5", "signup", "2024-05-06"), ("p5", "visit", "2024-05-07"),
])


def test_first_time_person_whose_first_start_is_before_the_range_is_in_no_cohort():
    r = retention(FIRSTS, "signup", "visit", period="day", intervals=4, kind="first_time",
                  date_to="2024-05-04")
    assert starts(r) == ["2024-05-01", "2024-05-02", "2024-05-03", "2024-05-04"]
    assert r.counts == [
        [1, 1, 0, 1],            # p2 (its second signup, May 3, is no cohort of its own)
        [1, 0, 1, None],         # p3 (p1 signed up first on Apr 28: out)
        [1, 0, None, None],      # p4
        [0, None, None, None],   # p5's first signup is after the range
    ]
    assert r.computed_on["persons"] == 3 and r.computed_on["kind"] == "first_time"


def test_recurring_counts_every_period_with_a_start_event():
    r = retention(FIRSTS, "signup", "visit", period="day", intervals=4, date_to="2024-05-04")
    assert r.counts == [
        [1, 1, 0, 1],            # p2
        [2, 1, 1, None],         # p1 (back May 3), p3 (back May 4)
        [2, 1, None, None],      # p2 (back May 4), p4
        [0, None, None, None],
    ]
    assert r.computed_on["persons"] == 4


def test_first_time_with_a_property_filter_takes_the_first_matching_start():
    ev = frame([("q1", "signup", "2024-05-01", {"plan": "free"}),
                ("q1", "signup", "2024-05-02", {"plan": "pro"}), ("q1", "visit", "2024-05-03"),
                ("q2", "signup", "2024-05-01", {"plan": "pro"}), ("q2", "visit", "2024-05-02")])
    pro = {"event": "signup", "where": {"plan": "pro"}}
    opts = dict(period="day", intervals=3, date_to="2024-05-03")
    first = retention(ev, pro, "visit", kind="first_time", **opts)
    assert first.counts == [[1, 1, 0], [1, 1, None], [0, None, None]]
    assert first.computed_on["start"] == "signup where plan = 'pro'"
    assert retention(ev, pro, "visit", **opts).counts == first.counts  # recurring: the same here
    unfiltered = retention(ev, "signup", "visit", kind="first_time", **opts)
    assert unfiltered.counts == [[2, 1, 1], [0, 0, None], [0, None, None]]
    gte = retention(ev.assign(amount=[5, 20, None, 30, None]),
                    {"event": "signup", "where": {"amount": {"gte": 10}}}, "visit", **opts)
    assert gte.counts == first.counts


# --- periods ------------------------------------------------------------------------
def test_week_start_monday_vs_sunday():
    # Sat Jan 6 and Sun Jan 7 2024: one Monday week, two Sunday weeks
    ev = frame([("u", "signup", "2024-01-06 12:00"), ("u", "visit", "2024-01-07 12:00")])
    mon = retention(ev, "signup", "visit", intervals=2, date_to="2024-01-13")
    assert starts(mon) == ["2024-01-01", "2024-01-08"]
    assert mon.counts == [[1, 0], [0, None]]
    sun = retention(ev, "signup", "visit", intervals=2, date_to="2024-01-13", week_start="sunday")
    assert starts(sun) == ["2023-12-31", "2024-01-07"]
    assert sun.counts == [[1, 1], [0, None]]
    assert sun.computed_on["week_start"] == "sunday"


def test_month_periods_and_midnight_boundaries():
    ev = frame([
        ("m1", "signup", "2024-01-31 23:59:59"), ("m1", "visit", "2024-02-01 00:00:00"),
        ("m1", "visit", "2024-03-31 23:59:59"),
        ("m2", "signup", "2024-02-29 12:00"), ("m2", "visit", "2024-03-01"), ("m2", "visit", "2024-04-01"),
        ("m3", "signup", "2024-01-15"), ("m3", "visit", "2024-01-20"),
    ])
    r = retention(ev, "signup", "visit", period="month", intervals=3, date_to="2024-03-15")
    assert starts(r) == ["2024-01-01", "2024-02-01", "2024-03-01"]
    assert r.counts == [[2, 1, 1], [1, 1, None], [0, None, None]]
    assert r.computed_on["week_start"] is None


def test_periods_are_utc_whatever_the_engine_sessions_time_zone(tmp_path):
    # events a second either side of UTC midnight, on a DuckDB session at UTC+14
    import ibis
    ev = frame([("m1", "signup", "2024-01-31 23:59:59"), ("m1", "visit", "2024-02-01 00:00:00"),
                ("m2", "signup", "2024-02-29 23:59:59"), ("m2", "visit", "2024-02-29 23:59:59"),
                ("m2", "visit", "2024-03-01 00:00:00")])
    table = pa.Table.from_pandas(ev, preserve_index=False)
    for tz in ("UTC", None):  # a UTC timestamp column, and a naive one (UTC by convention)
        typed = table.set_column(2, "ts", table.column("ts").cast(pa.timestamp("us", tz=tz)))
        pq.write_table(typed, tmp_path / "events.parquet")
        con = ibis.duckdb.connect()
        con.raw_sql("SET TimeZone = 'Pacific/Kiritimati'")
        on_engine = con.read_parquet(str(tmp_path / "events.parquet"))
        for period, expected in (("month", [[1, 1, 0], [1, 1, None], [0, None, None]]),
                                 ("day", [[0, 0, 0], [1, 1, None], [0, None, None]])):
            r = retention(on_engine, "signup", "visit", period=period, intervals=3, date_to="2024-03-01")
            assert r.counts == expected
            assert r.to_dict() == retention(ev, "signup", "visit", period=period, intervals=3,
                                            date_to="2024-03-01").to_dict()
        con.disconnect()


# --- cumulative and min_occurrences --------------------------------------------------
ROLLING = frame([
    ("r1", "open", "2024-05-01"), ("r1", "open", "2024-05-04"),
    ("r2", "open", "2024-05-01"), ("r2", "open", "2024-05-02"), ("r2", "open", "2024-05-03"),
    ("r3", "open", "2024-05-02"), ("r3", "open", "2024-05-05"),
    ("r4", "open", "2024-05-01"),
])


def test_cumulative_counts_each_person_once_at_every_interval_up_to_their_furthest():
    opts = dict(period="day", intervals=5, date_to="2024-05-05")
    plain = retention(ROLLING, "open", **opts)
    assert plain.counts == [[3, 1, 1, 1, 0], [2, 1, 0, 1, None], [1, 0, 0, None, None],
                            [1, 0, None, None, None], [1, None, None, None, None]]
    rolling = retention(ROLLING, "open", cumulative=True, **opts)
    assert rolling.counts == [[3, 2, 2, 1, 0], [2, 2, 1, 1, None], [1, 0, 0, None, None],
                              [1, 0, None, None, None], [1, None, None, None, None]]


MINIMUM = frame([
    ("s1", "signup", "2024-05-01"), ("s1", "visit", "2024-05-02 10:00"),
    ("s1", "visit", "2024-05-02 10:00"),  # two visits at one instant: two occurrences
    ("s1", "visit", "2024-05-03 10:00"),
    ("s2", "signup", "2024-05-01"), ("s2", "visit", "2024-05-02 10:00"),
    ("s2", "visit", "2024-05-03 10:00"), ("s2", "visit", "2024-05-03 18:00"),
    ("s3", "signup", "2024-05-02"), ("s3", "visit", "2024-05-03"),
])


def test_min_occurrences_two():
    opts = dict(period="day", intervals=3, date_to="2024-05-03")
    assert retention(MINIMUM, "signup", "visit", **opts).counts == [[2, 2, 2], [1, 1, None], [0, None, None]]
    twice = retention(MINIMUM, "signup", "visit", min_occurrences=2, **opts)
    assert twice.counts == [[2, 1, 1], [1, 0, None], [0, None, None]]  # never on the start event
    rolling = retention(MINIMUM, "signup", "visit", min_occurrences=2, cumulative=True, **opts)
    assert rolling.counts == [[2, 2, 1], [1, 0, None], [0, None, None]]


# --- input forms and row order -------------------------------------------------------
def test_row_order_and_input_form_never_change_the_answer():
    data = random_events(seed=3, users=60)
    expected = retention(data, "signup", "buy", intervals=6, date_to="2024-03-20", cumulative=True).to_dict()
    for seed in range(3):
        shuffled = data.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        for form in (shuffled, pa.Table.from_pandas(shuffled), pl.from_pandas(shuffled),
                     shuffled.to_dict("records")):
            got = retention(form, "signup", "buy", intervals=6, date_to="2024-03-20", cumulative=True)
            assert got.to_dict() == expected


# --- the result object ---------------------------------------------------------------
def test_result_rows_sections_and_interval_means():
    r = retention(DAYS, "open", period="day", intervals=5, date_to="2024-05-05")
    rows = r.rows()
    assert [row["cohort"] for row in rows] == starts(r)
    assert [rows[0][f"interval_{k}"] for k in range(5)] == [2, 1, 1, 1, 0]
    assert rows[1]["interval_4"] is None and rows[1]["rate_4"] is None
    sections = r.sections()
    assert list(sections) == ["cohorts", "intervals"]
    first = sections["cohorts"][0]
    assert first["rate_1"] == 0.5 and 0 < first["rate_1_low"] < 0.5 < first["rate_1_high"]
    means = {row["interval"]: row for row in sections["intervals"]}
    # interval 1 is over for the cohorts of May 1-4: (1 + 0 + 0 + 0) / (2 + 2 + 2 + 1)
    assert (means[1]["cohorts"], means[1]["size"], means[1]["retained"]) == (4, 7, 1)
    assert means[1]["rate"] == pytest.approx(1 / 7)
    assert means[3]["rate"] == pytest.approx(2 / 4)  # May 1 and 2 only
    assert means[4]["rate"] == 0.0 and means[0]["rate"] == 1.0
    empty_cohort = retention(DAYS, "open", period="day", intervals=5, date_to="2024-05-03")
    assert empty_cohort.interval_rows()[0]["cohorts"] == 4  # the empty Apr 29 cohort is left out
    assert json.loads(r.to_json())["cohorts"][0]["counts"] == [2, 1, 1, 1, 0]
    assert "interval_4" in r.to_csv() and len(r.to_pandas("intervals")) == 5
    assert "open" in r.title and "<table>" in r._repr_html_()


# --- errors --------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    ({"period": "weak"}, "did you mean 'week'"),
    ({"period": "hour"}, "unknown period"),
    ({"kind": "first"}, "did you mean 'first_time'"),
    ({"week_start": "tuesday"}, "unknown week_start"),
    ({"intervals": 0}, "intervals must be"),
    ({"intervals": True}, "intervals must be"),
    ({"min_occurrences": 0}, "min_occurrences must be"),
    ({"date_to": "next tuesday"}, "cannot read date_to"),
    ({"date_to": 20240503}, "cannot read date_to"),
])
def test_bad_options(kwargs, message):
    with pytest.raises(QueryError, match=message):
        retention(NAMED, "signup", **kwargs)


def test_unknown_events_and_steps():
    with pytest.raises(QueryError, match="unknown event 'sigup' in retention start.*did you mean 'signup'"):
        retention(NAMED, "sigup")
    with pytest.raises(QueryError, match="unknown event 'vist' in retention returning.*did you mean 'visit'"):
        retention(NAMED, "signup", ["other", "vist"])
    with pytest.raises(QueryError, match="cannot read the retention start"):
        retention(NAMED, 42)
    with pytest.raises(QueryError, match="unknown property 'plann'"):
        retention(FIRSTS.assign(plan="pro"), {"event": "signup", "where": {"plann": "pro"}})


# --- differential: an independent computation in plain DuckDB SQL ---------------------
def random_events(seed: int = 0, users: int = 300) -> pd.DataFrame:
    """Users arriving over ~4 months, each active for a while; ~10% of events get a twin
    at the very same instant (same or another name)."""
    rng = np.random.default_rng(seed)
    names = np.array(["visit", "buy", "signup", "share"])
    t0 = np.datetime64("2024-01-01T00:00:00", "s")
    rows = []
    for u in range(users):
        arrival = rng.integers(0, 110 * 86400)
        for _ in range(rng.integers(1, 40)):
            when = t0 + np.timedelta64(int(arrival + rng.integers(0, 40 * 86400)), "s")
            name = rng.choice(names, p=[0.5, 0.2, 0.1, 0.2])
            rows.append((f"u{u}", name, when, rng.choice(["free", "pro"])))
            if rng.random() < 0.1:
                rows.append((f"u{u}", rng.choice(names), when, "pro"))
    df = pd.DataFrame(rows, columns=["user_id", "event", "ts", "plan"])
    df["ts"] = df["ts"].astype("datetime64[us]")
    return df


def oracle(con, n, period, week_start, kind, cumulative, min_occ, start, returning, date_to):
    """Cohort sizes and the count matrix, from date_trunc / date_diff over table `ev`."""
    def trunc(x):
        if period == "week" and week_start == "sunday":
            return f"(date_trunc('week', {x} + INTERVAL 1 DAY) - INTERVAL 1 DAY)"
        return f"date_trunc('{period}', {x})"

    def diff(a, b):
        if period == "month":
            return f"date_diff('month', {a}, {b})"
        return f"(date_diff('day', {a}, {b}) // {7 if period == 'week' else 1})"

    back = "TRUE" if returning is None else f"event = '{returning}'"
    if kind == "recurring":
        cohorts = f"SELECT DISTINCT user_id, p AS cp FROM inrange WHERE event = '{start}'"
    else:
        cohorts = (f"SELECT user_id, cp FROM (SELECT user_id, min(p) AS cp FROM e WHERE event = '{start}' "
                   "GROUP BY user_id) f, r WHERE f.cp >= r.first_p AND f.cp < r.end_p")
    base = f"""
        WITH b AS (SELECT CAST({trunc(f"TIMESTAMP '{date_to}'")} AS TIMESTAMP) AS last_p),
        r AS (SELECT last_p - to_{period}s({n - 1}) AS first_p, last_p + to_{period}s(1) AS end_p FROM b),
        e AS (SELECT user_id, event, ts, CAST({trunc('ts')} AS TIMESTAMP) AS p FROM ev),
        inrange AS (SELECT e.* FROM e, r WHERE e.ts >= r.first_p AND e.ts < r.end_p),
        cohorts AS ({cohorts}),
        rets AS (SELECT user_id, p AS rp FROM inrange WHERE {back} GROUP BY user_id, p
                 HAVING count(*) >= {min_occ}),
        pairs AS (SELECT c.user_id, {diff('r.first_p', 'c.cp')} AS ci, {diff('c.cp', 'x.rp')} AS k
                  FROM cohorts c JOIN rets x ON c.user_id = x.user_id AND x.rp > c.cp, r)
    """
    sizes = dict(con.sql(base + f"SELECT {diff('r.first_p', 'cp')}, count(*) FROM cohorts, r GROUP BY 1")
                 .fetchall())
    if cumulative:
        cells = con.sql(base + f"""SELECT ci, kk.k, count(DISTINCT user_id) FROM
            (SELECT user_id, ci, max(k) AS mk FROM pairs GROUP BY user_id, ci) m
            JOIN range(1, {n}) kk(k) ON kk.k <= m.mk GROUP BY ci, kk.k""").fetchall()
    else:
        cells = con.sql(base + "SELECT ci, k, count(DISTINCT user_id) FROM pairs GROUP BY ci, k").fetchall()
    persons = con.sql(base + "SELECT count(DISTINCT user_id) FROM cohorts").fetchone()[0]
    got = {(c, k): v for c, k, v in cells}
    matrix = [[None if c + k > n - 1 else sizes.get(c, 0) if k == 0 else got.get((c, k), 0)
               for k in range(n)] for c in range(n)]
    return matrix, persons


RANGES = {("day", "monday"): (10, "2024-03-10"), ("week", "monday"): (6, "2024-03-20"),
          ("week", "sunday"): (6, "2024-03-16"), ("month", "monday"): (3, "2024-04-10")}


@pytest.fixture(scope="module")
def random_data():
    df = random_events(seed=11)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("ev", df)
    return df, con


@pytest.mark.differential
@pytest.mark.parametrize("kind, cumulative, period_ws, min_occ, returning", list(itertools.product(
    ["recurring", "first_time"], [False, True], list(RANGES), [1, 2], [None, "buy"])),
    ids=lambda v: "-".join(v) if isinstance(v, tuple) else str(v))
def test_matches_plain_duckdb_sql(random_data, kind, cumulative, period_ws, min_occ, returning):
    df, con = random_data
    period, week_start = period_ws
    n, date_to = RANGES[period_ws]
    r = retention(df, "signup", returning, period=period, intervals=n, kind=kind, cumulative=cumulative,
                  min_occurrences=min_occ, week_start=week_start, date_to=date_to)
    expected, persons = oracle(con, n, period, week_start, kind, cumulative, min_occ, "signup", returning,
                               date_to)
    assert r.counts == expected
    assert r.computed_on["persons"] == persons
    assert sum(c.size for c in r.cohorts) > 10  # the data exercise the case
    assert any(x for row in expected for x in row[1:] if x)


# --- the same answers on Spark ----------------------------------------------------------
SPARK_CASES = [
    dict(start="signup", returning=None, period="week", intervals=6, date_to="2024-03-20"),
    dict(start="signup", returning="buy", period="month", intervals=3, kind="first_time",
         cumulative=True, min_occurrences=2, date_to="2024-04-10"),
    dict(start={"event": ["signup", "share"], "where": {"plan": "pro"}}, returning="visit", period="day",
         intervals=10, date_to="2024-03-10", cumulative=True),
    dict(start="visit", returning="buy", period="week", week_start="sunday", intervals=5, kind="first_time"),
]


@pytest.mark.slow
def test_spark_gives_the_same_answers_as_duckdb(tmp_path):
    from journeymap.store.engine import connect
    df = random_events(seed=5, users=200)
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.set_column(table.schema.get_field_index("ts"), "ts",
                             table.column("ts").cast(pa.timestamp("us", tz="UTC")))
    path = tmp_path / "events.parquet"
    pq.write_table(table, path)
    duck = connect("duckdb").read_parquet(str(path))
    spark = connect("spark").read_parquet(str(path))
    for case in SPARK_CASES:
        case = dict(case)
        start, returning = case.pop("start"), case.pop("returning")
        d = retention(duck, start, returning, **case).to_dict()
        s = retention(spark, start, returning, **case).to_dict()
        assert sum(c["size"] for c in d["cohorts"]) > 0
        assert json.dumps(d, sort_keys=True) == json.dumps(s, sort_keys=True)
        assert d == retention(df, start, returning, **case).to_dict()  # and the DataFrame's
