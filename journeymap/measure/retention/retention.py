"""Retention with PostHog's semantics: cohorts by the period of a start event, and who
comes back (does the returning event) in each later period.

What PostHog does, and where it says so (read in the PostHog repository; no code copied):

- **Range** (`posthog/hogql_queries/utils/query_date_range.py`,
  `QueryDateRangeWithIntervals.date_to` / `date_from` / `intervals_between`): the end
  is the start of the period after the one holding `date_to`; the start is that end
  minus `totalIntervals` periods, truncated to a period start. So the range is the N
  periods ending with `date_to`'s period, and there are N cohorts and N intervals.
  Weeks start on the team's `week_start_day` (`date_to_start_of_interval`; PostHog's
  default is Sunday, ours Monday).
- **Interval 0 is the cohort size** (`retention/retention_query_runner.py`,
  `RetentionQueryRunner._get_default_intervals_from_base_expr`: `[0]` whenever the
  start event falls in the cohort's period; returning events are mapped to period
  offsets and kept only when `x > 0`, "has to be at least one interval after start
  event"). The docs say the same ("Week 0 … is always 100% because all users in that
  cohort must perform the event", https://posthog.com/docs/product-analytics/retention).
  Hence a returning event in the cohort's own period never counts, and a returning
  event at the very instant of the start event changes nothing, whether or not the
  two are the same event. (Only PostHog's property-aggregation mode, sum/avg of a
  property, counts interval-0 returns, those strictly after the first start event:
  `actor_query_calendar`, not a count of persons and not implemented here.)
- **Recurring** (`actor_query_calendar`: `has(start_event_timestamps, interval_date)`
  exploded with `arrayJoin`): a person is in the cohort of every period of the range
  in which they did the start event. (The docs' "users cannot exist in more than one
  cohort" holds for first-time retention only; we follow the code.)
- **First time** (`retentionType: retention_first_time`, `is_first_occurrence_matching_filters`;
  `_get_first_time_anchor_expr`: `minIf(timestamp, start entity with its properties)`
  over all time, no date filter in `events_where_clause`): the cohort is the period of
  the person's first start event that matches the start rule *including its `where`*;
  when that period lies outside the range the person is in no cohort (test
  `test_first_time_retention`, person `shouldnt_include`). PostHog's other variant,
  `retention_first_ever_occurrence` (first event of that name whatever its
  properties, kept only if it matches), is not implemented.
- **Returning events** are read inside the range only (`events_timestamp_filter`):
  interval k of cohort c counts persons of the cohort who did the returning event in
  period c + k; `returning=None` is PostHog's "All events" (any event, start included).
- **min_occurrences** (`_get_minimum_occurrences_aliases`: `countEqual` of the period
  of every returning event row): at least that many returning events in that period;
  rows at one timestamp count one each (`test_rolling_retention_with_minimum_occurrences`).
  It never applies to the start event.
- **Cumulative** ("on or after", rolling; `_build_cumulative_actors_query` then
  `_explode_cumulative_actors`): each person's furthest interval m in the cohort, counted
  at every interval 0..m, once each (`test_rolling_retention`).
- **Cells past the range** (c + k > N − 1) are zeros in PostHog's response (the test
  helper `pad`) and hidden by its frontend (`retentionLogic.ts`, `isFuture`); here they
  are None: not yet over, not zero.
- **Mean per interval** (`frontend/src/scenes/retention/retentionLogic.ts`,
  `retentionMeans`, `weighted`): Σ count / Σ cohort size over cohorts with a size and
  that interval available. PostHog also leaves out the period holding *now*; we have
  no now, so an available cell counts.

Not implemented: hour periods, 24-hour windows, custom brackets, breakdowns, the
"previous period" reference (a display option; rates here are against the cohort
size, PostHog's default "Period 0").

Everything is one Ibis expression over the event table (any engine); only the
per-cohort counts come back. Periods are found by comparing `ts` with UTC period
starts, so no engine's session time zone or week convention enters. Rows without a
`user_id` are nobody's and are left out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from journeymap._deferred import ibis, ir
from journeymap.errors import QueryError, did_you_mean
from journeymap.measure._feed.predicates import rule
from journeymap.measure.funnel.steps import as_rule
from journeymap.measure.stats import rate, wilson_ci
from journeymap.results import Result, flat
from journeymap.spec.model import EventRule
from journeymap.store.sources import EPOCH, as_source

__all__ = ["RetentionCohort", "RetentionResult", "retention", "retention_rules"]

PERIODS = ("day", "week", "month")
KINDS = ("recurring", "first_time")
WEEK_STARTS = {"monday": 0, "sunday": 6}  # date.weekday() of the first day


@dataclass(frozen=True)
class RetentionCohort:
    """One cohort: its period, its size, and per interval the persons retained (None:
    that period is not over), their share of the cohort and its Wilson 95% interval."""

    start: str
    size: int
    counts: tuple[int | None, ...]
    rates: tuple[float | None, ...]
    rate_cis: tuple[tuple[float, float] | None, ...]

    def to_dict(self) -> dict:
        return {"start": self.start, "size": self.size, "counts": list(self.counts),
                "rates": list(self.rates), "rate_cis": [list(c) if c else None for c in self.rate_cis]}


@dataclass(frozen=True)
class RetentionResult(Result):
    """A retention table: cohorts by period, persons retained N periods later."""

    cohorts: tuple[RetentionCohort, ...]
    computed_on: dict = field(default_factory=dict)
    title: str = "retention"

    @property
    def n_intervals(self) -> int:
        return int(self.computed_on.get("intervals", len(self.cohorts)))

    @property
    def counts(self) -> list[list[int | None]]:
        """Per cohort, persons retained at each interval (None: not yet over)."""
        return [list(c.counts) for c in self.cohorts]

    def interval_rows(self) -> list[dict]:
        """Each interval over all cohorts: the rate weighted by cohort size (Σ retained /
        Σ size) over the cohorts, not empty, for which that interval is over."""
        out = []
        for k in range(self.n_intervals):
            cells = [(c.counts[k], c.size) for c in self.cohorts if c.counts[k] is not None and c.size]
            size, kept = sum(s for _, s in cells), sum(n for n, _ in cells)
            out.append({"interval": k, "cohorts": len(cells), "size": size, "retained": kept,
                        "rate": rate(kept, size), "rate_ci": wilson_ci(kept, size)})
        return out

    def rows(self) -> list[dict]:
        """One row per cohort: interval_k counts, then rate_k with rate_k_ci."""
        n = self.n_intervals
        out = []
        for c in self.cohorts:
            row = {"cohort": c.start, "size": c.size}
            row.update({f"interval_{k}": c.counts[k] for k in range(n)})
            for k in range(n):
                row[f"rate_{k}"] = c.rates[k]
                row[f"rate_{k}_ci"] = list(c.rate_cis[k]) if c.rate_cis[k] else None
            out.append(row)
        return out

    def sections(self) -> dict[str, list[dict]]:
        """cohorts (one row per cohort) and intervals (each interval over the cohorts)."""
        return {"cohorts": [flat(r) for r in self.rows()],
                "intervals": [flat(r) for r in self.interval_rows()]}

    def to_dict(self) -> dict:
        return {"title": self.title, "computed_on": dict(self.computed_on),
                "cohorts": [c.to_dict() for c in self.cohorts], "intervals": self.interval_rows()}


def _check_options(period, kind, week_start, intervals, min_occurrences) -> None:
    if period not in PERIODS:
        raise QueryError(f"unknown period {period!r}: use one of {', '.join(PERIODS)}"
                         + did_you_mean(str(period), PERIODS))
    if kind not in KINDS:
        raise QueryError(f"unknown retention kind {kind!r}: use one of {', '.join(KINDS)}"
                         + did_you_mean(str(kind), KINDS))
    if week_start not in WEEK_STARTS:
        raise QueryError(f"unknown week_start {week_start!r}: use one of {', '.join(WEEK_STARTS)}"
                         + did_you_mean(str(week_start), WEEK_STARTS))
    for name, value in (("intervals", intervals), ("min_occurrences", min_occurrences)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise QueryError(f"{name} must be a whole number of at least 1, not {value!r}")


def retention_rules(start, returning) -> tuple[EventRule, EventRule | None]:
    """The start and returning rules as written (`returning=None`: any event)."""
    return _as_rule(start, "start"), None if returning is None else _as_rule(returning, "returning event")


def _as_rule(step, what: str) -> EventRule:
    """A funnel step's rule (`as_rule`); a bare list of names reads as {"event": [...]}."""
    if isinstance(step, (list, tuple)) and step and all(isinstance(s, str) and s for s in step):
        step = {"event": list(step)}
    try:
        return as_rule(step)
    except QueryError:
        raise QueryError(f"cannot read the retention {what} {step!r}: give an event name, a list "
                         "of names or {'event': name, 'where': {property: value}}") from None


def _as_date(value) -> dt.date:
    """A UTC date from a date, a datetime (naive = UTC) or an ISO string."""
    try:
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value.strip())
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(dt.timezone.utc)
            return dt.date(value.year, value.month, value.day)
        if isinstance(value, dt.date):
            return value
    except (ValueError, TypeError, OverflowError):
        pass
    raise QueryError(f"cannot read date_to {value!r}: give a date, a datetime or an ISO string "
                     "such as '2024-03-31'")


def _period_start(day: dt.date, period: str, week_start: str) -> dt.date:
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=(day.weekday() - WEEK_STARTS[week_start]) % 7)
    return day.replace(day=1)


def _shift(day: dt.date, period: str, k: int) -> dt.date:
    """The period start k periods after `day` (a period start)."""
    if period == "day":
        return day + dt.timedelta(days=k)
    if period == "week":
        return day + dt.timedelta(weeks=k)
    months = day.year * 12 + day.month - 1 + k
    return dt.date(months // 12, months % 12 + 1, 1)


def _period_starts(date_to: dt.date, period: str, week_start: str, n: int) -> list[dt.date]:
    """The starts of the N periods ending with date_to's, then the end of the last (N+1)."""
    try:
        first = _shift(_period_start(date_to, period, week_start), period, -(n - 1))
        return [_shift(first, period, k) for k in range(n + 1)]
    except (ValueError, OverflowError):
        raise QueryError(f"date_to {date_to.isoformat()} with {n} {period}s reaches past the "
                         "calendar's range") from None


def _instant(ts: ir.TimestampValue, day: dt.date) -> ir.TimestampScalar:
    """Midnight UTC of `day` as a literal of `ts`'s type (naive timestamps are UTC)."""
    tz = ts.type().timezone
    value = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc if tz else None)
    return ibis.literal(value, type=ts.type())


def _period_index(ts: ir.TimestampValue, starts: list) -> ir.IntegerValue:
    """0..N-1: the period of the range holding ts (ts inside the range), by binary search
    over the period starts (comparisons only, so no engine calendar is involved)."""
    def node(lo: int, hi: int):
        if lo == hi:
            return ibis.literal(lo, "int64")
        mid = (lo + hi + 1) // 2
        return ibis.ifelse(ts < starts[mid], node(lo, mid - 1), node(mid, hi))
    return node(0, len(starts) - 2)


def _cells_query(table: ir.Table, start: EventRule, returning: EventRule | None, starts: list[dt.date],
                 kind: str, cumulative: bool, min_occurrences: int) -> ir.Table:
    """(c, k, n) rows: k = 0 the size of cohort c; k >= 1 persons retained (cumulative:
    whose furthest interval is k); c = k = -1 the persons in any cohort."""
    t = table.filter(table.user_id.notnull())
    is_return = ibis.literal(True) if returning is None else rule(t, returning)
    ev = t.select("user_id", "ts", s=rule(t, start), r=is_return)
    bounds = [_instant(ev.ts, d) for d in starts]
    inside = ev.filter((ev.s | ev.r) & (ev.ts >= bounds[0]) & (ev.ts < bounds[-1]))
    inside = inside.mutate(p=_period_index(inside.ts, bounds))
    per = inside.group_by(["user_id", "p"]).aggregate(
        ns=inside.user_id.count(where=inside.s), nr=inside.user_id.count(where=inside.r))
    if kind == "recurring":
        cohorts = per.filter(per.ns > 0).select("user_id", c=per.p)
    else:  # the first start event ever, wherever it falls
        firsts = ev.filter(ev.s).group_by("user_id").aggregate(first=lambda x: x.ts.min())
        firsts = firsts.filter((firsts.first >= bounds[0]) & (firsts.first < bounds[-1]))
        cohorts = firsts.select("user_id", c=_period_index(firsts.first, bounds))
    back = per.filter(per.nr >= min_occurrences).select(ru=per.user_id, rp=per.p)
    pairs = cohorts.join(back, [cohorts.user_id == back.ru, back.rp > cohorts.c])
    pairs = pairs.select("user_id", "c", k=pairs.rp - pairs.c)
    if cumulative:
        pairs = pairs.group_by(["user_id", "c"]).aggregate(k=lambda x: x.k.max())
    cells = pairs.group_by(["c", "k"]).aggregate(n=lambda x: x.count())
    sizes = cohorts.group_by("c").aggregate(n=lambda x: x.count()).select(
        "c", k=ibis.literal(0, "int64"), n="n")
    persons = cohorts.aggregate(n=cohorts.user_id.nunique()).select(
        c=ibis.literal(-1, "int64"), k=ibis.literal(-1, "int64"), n="n")
    typed = [q.select(c=q.c.cast("int64"), k=q.k.cast("int64"), n=q.n.cast("int64"))
             for q in (sizes, cells, persons)]
    return typed[0].union(typed[1], distinct=False).union(typed[2], distinct=False)


def _assemble(cells: dict, n: int, cumulative: bool) -> tuple[list[int], list[list[int | None]], int]:
    """Sizes and count matrix (None past the range) from the (c, k) -> n cells."""
    sizes = [int(cells.get((c, 0), 0)) for c in range(n)]
    counts = []
    for c in range(n):
        row = []
        for k in range(n):
            if c + k > n - 1:
                row.append(None)
            elif k == 0:
                row.append(sizes[c])
            elif cumulative:  # retained at k: furthest interval k or later
                row.append(sum(int(cells.get((c, m), 0)) for m in range(k, n - c)))
            else:
                row.append(int(cells.get((c, k), 0)))
        counts.append(row)
    return sizes, counts, int(cells.get((-1, -1), 0))


def retention(events, start, returning=None, *, period: str = "week", intervals: int = 8,
              kind: str = "recurring", cumulative: bool = False, min_occurrences: int = 1,
              week_start: str = "monday", date_to=None) -> RetentionResult:
    """Retention cohorts as PostHog counts them (see the module docstring for the sources).

    `start` / `returning`: an event name, a list of names, or `{"event": ..., "where":
    {prop: value or {op: value}}}` (`returning=None`: any event). `period`: day, week
    (starting on `week_start`) or month, in UTC. The range is the `intervals` periods
    ending with the one holding `date_to` (default: the last event's date). Cohort c,
    interval k: persons of c who did the returning event at least `min_occurrences`
    times in period c + k (k = 0: the cohort itself); None once c + k is past the range.
    `kind="first_time"`: each person only in the cohort of their first start event ever.
    `cumulative=True`: retained at k counts at every interval up to k.

    >>> import pandas as pd
    >>> ev = pd.DataFrame({"user_id": ["a", "a", "b", "b", "c"],
    ...                    "event": ["signup", "visit", "signup", "visit", "signup"],
    ...                    "ts": pd.to_datetime(["2024-01-01", "2024-01-09", "2024-01-02",
    ...                                          "2024-01-20", "2024-01-08"])})
    >>> r = retention(ev, "signup", period="week", intervals=3, date_to="2024-01-21")
    >>> [(c.start, c.size, c.counts) for c in r.cohorts]
    [('2024-01-01', 2, (2, 1, 1)), ('2024-01-08', 1, (1, 0, None)), ('2024-01-15', 0, (0, None, None))]
    >>> r.cohorts[0].rates
    (1.0, 0.5, 0.5)
    """
    _check_options(period, kind, week_start, intervals, min_occurrences)
    start_rule, return_rule = retention_rules(start, returning)
    given = None if date_to is None else _as_date(date_to)
    source = as_source(events)
    if given is None:
        given = (EPOCH + dt.timedelta(microseconds=source.data_end_us())).date()
    starts = _period_starts(given, period, week_start, intervals)
    query = _cells_query(source.table, start_rule, return_rule, starts, kind, cumulative, min_occurrences)
    got = query.to_pyarrow().to_pydict()
    cells = {(c, k): n for c, k, n in zip(got["c"], got["k"], got["n"])}
    sizes, counts, persons = _assemble(cells, intervals, cumulative)
    cohorts = tuple(
        RetentionCohort(starts[c].isoformat(), sizes[c], tuple(counts[c]),
                        tuple(None if x is None else rate(x, sizes[c]) for x in counts[c]),
                        tuple(None if x is None or not sizes[c] else tuple(wilson_ci(x, sizes[c]))
                              for x in counts[c]))
        for c in range(intervals))
    back = "any event" if return_rule is None else return_rule.describe()
    computed_on = {
        "date_from": starts[0].isoformat(), "date_to": given.isoformat(),
        "end_exclusive": starts[-1].isoformat(), "period": period,
        "week_start": week_start if period == "week" else None, "intervals": intervals,
        "kind": kind, "cumulative": cumulative, "min_occurrences": min_occurrences,
        "start": start_rule.describe(), "returning": back, "persons": persons,
    }
    title = f"retention: {start_rule.describe()} → {back} ({kind}, by {period})"
    return RetentionResult(cohorts, computed_on, title)

