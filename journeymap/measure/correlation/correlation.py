"""Funnel correlation with PostHog's semantics: for every event (or event property value,
or person property value) seen by persons who entered a funnel, how much more or less
likely they were to convert, as an odds ratio.

What PostHog does, and where it says so (read in the PostHog repository, files under
`posthog/hogql_queries/insights/funnels/`; no code copied):

- **Persons, success and failure** (`funnel_correlation_query_runner.py`:
  `FunnelCorrelationQueryRunner.__init__` sets the actors' `funnelStep` to 1, everyone who
  entered the funnel; `get_event_query` counts `countDistinctIf(actor_id, steps =
  target_step)` as successes and `steps <> target_step` as failures, `target_step` being
  the number of steps; the totals row `TOTAL_IDENTIFIER` counts the same over all funnel
  actors). Success = the person's counted (best) attempt reached the last step. Here the
  funnel engine (`journeymap.measure.funnel.funnel`) decides both, so windows, orders,
  ties and optional steps are the funnel's own (an optional last step: done or not).
- **Which events count** (`_get_events_join_query`): a person's events strictly after the
  first step of their counted attempt and strictly before `coalesce(final_timestamp,
  first_timestamp + window)`; the two timestamps come from the actors query
  (`funnel_udf.py`, `FunnelUDF._get_timestamp_outer_select`: `first_timestamp` the
  attempt's first step, `final_timestamp` its last step, null when not converted). So a
  success's events run up to (not including) the instant of conversion, a failure's up to
  (not including) the end of the window from its first step, even when it dropped
  earlier. An event at the very instant of the first step or of the conversion is out,
  whatever the row order; an event before the attempt or after its window is out.
- **The funnel's own events are never dimensions** (`_get_events_join_query`:
  `event.event NOT IN funnel_step_names`; `_get_funnel_step_names` collects the *names* of
  the steps' events, for an action every event name of its steps, whatever property
  filters they carry): an occurrence of a step's event that fails the step's `where` is
  excluded all the same (test `test_action_events_are_excluded_from_correlations`: a
  second "user signed up" without the action's property is not a dimension). Optional
  steps are steps: their events are excluded too.
- **Odds ratio** (`get_entity_odds_ratio`, `PRIOR_COUNT = 1`): with s, f the successes and
  failures that have the dimension and S, F the totals, (s + 1)(F − f + 1) / ((S − s + 1)
  (f + 1)): a +1 prior on every cell of the 2×2 table. `correlation_type` is "success"
  when the ratio is above 1, else "failure" (exactly 1 is "failure").
- **Significance** (`FunnelCorrelationQueryRunner.MIN_PERSON_COUNT = 25`,
  `MIN_PERSON_PERCENTAGE = 0.02`, `are_results_insignificant`): a dimension is dropped
  when s + f < min(25, 0.02 × (S + F)): the *smaller* of the two bars applies (test
  `test_are_results_insignificant`). These are `min_persons` / `min_share`'s defaults.
- **No contrast, skew** (`_calculate_internal`): when S or F is 0 there are no results
  (and `skewed` is true); otherwise `skewed` when S / F or F / S exceeds 10.
- **Order** (`_calculate_internal`): "success" rows by odds ratio descending, then
  "failure" rows ascending (the strongest of each first); PostHog returns the first ten
  of each (`top()` here; `dimensions` keeps them all). PostHog leaves ties in database
  order; here ties go by name, so the order is deterministic.
- **Excluded events** (`get_event_query`: `event.event NOT IN
  funnelCorrelationExcludeEventNames`): dropped as dimensions (persons still count in the
  totals). Here they also apply to event-property triples.
- **Event properties** (`get_event_property_query`): one dimension per (event, property,
  value) with the value read as text (`JSONExtractKeysAndValues(properties, 'String')`),
  named `event::key::value`; a property the event does not carry (null here) makes no
  triple; triples held by two persons or fewer are dropped (`HAVING (success_count +
  failure_count) > 2`, test `test_funnel_correlation_with_event_properties`); keys in
  `funnelCorrelationEventExcludePropertyNames` are dropped (`exclude_properties`).
- **Person properties** (`get_properties_query`, `_get_properties_prop_clause`): one
  dimension per (key, value) named `key::value`, the value read as text; a named key a
  person lacks reads as the empty string (`JSONExtractString`, so `key::` is a dimension:
  test `test_correlation_with_multiple_properties`, "$nice::"), while `$all` reads only the
  keys a person has; keys in `funnelCorrelationExcludeNames` are dropped. Person
  properties are not limited to the attempt's window. Here a person's property is the
  users table's trait when that table has the key, else the property on the counted
  attempt's first step event (several such rows at that instant: the first by event name
  and event id, so row order never matters).
- Docs: https://posthog.com/docs/product-analytics/correlation (odds ratios, the three
  kinds, "x times more/less likely to convert").

Differences, on purpose: PostHog's event-property kind names *events* and reads all their
properties; here `properties` names the property keys (or `"$all"`) and every non-step
event in the attempts is read. PostHog reads events inside the insight's date range;
here the funnel has none, so all events count. Values become text by the engine's cast,
a whole number in a floating column (pandas makes integers with gaps float) as the integer.
Not implemented: groups (PostHog's aggregation by group), autocapture element chains, the
funnel's exclusions and breakdowns.

One Ibis query per call (events joined to each person's attempt bounds, grouped per
dimension and outcome; only the counts come back) after the funnel's own pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from journeymap._deferred import ibis, ir
from journeymap.errors import QueryError, did_you_mean
from journeymap.measure._feed.predicates import rule
from journeymap.measure.funnel.funnel import FunnelResult, funnel
from journeymap.measure.funnel.steps import as_step, window_us
from journeymap.measure.stats import rate
from journeymap.results import Result, flat
from journeymap.store.frames import as_table
from journeymap.store.schema import property_columns
from journeymap.store.sources import TableEvents, as_source

__all__ = ["CorrelationResult", "Dimension", "correlation", "MIN_PERSONS", "MIN_SHARE", "PRIOR"]

KINDS = ("events", "event_properties", "properties")
MIN_PERSONS = 25  # PostHog's MIN_PERSON_COUNT
MIN_SHARE = 0.02  # PostHog's MIN_PERSON_PERCENTAGE
PRIOR = 1  # PostHog's PRIOR_COUNT: added to every cell of the 2×2 table
TRIPLE_MIN = 3  # PostHog's event-property HAVING (success_count + failure_count) > 2
SKEW = 10  # PostHog calls totals skewed beyond 1:10
TOP = 10  # PostHog returns this many of each correlation type
ALL = "$all"
# columns of the per-person attempt table (prefixed: never a property's name)
_U, _LO, _HI, _WON = "_jm_user", "_jm_lo", "_jm_hi", "_jm_won"


@dataclass(frozen=True)
class Dimension:
    """One event, (event, property, value) or (property, value): persons who have it among
    successes and failures, the odds ratio, and the conversion of persons with / without it."""

    event: str | None
    key: str | None
    value: str | None
    success_count: int
    failure_count: int
    odds_ratio: float
    correlation_type: str
    with_conversion_rate: float | None
    without_conversion_rate: float | None

    @property
    def name(self) -> str:
        """PostHog's name: `event`, `event::key::value` or `key::value`."""
        return "::".join(p for p in (self.event, self.key, self.value) if p is not None)

    @property
    def persons(self) -> int:
        return self.success_count + self.failure_count


@dataclass(frozen=True)
class CorrelationResult(Result):
    """Dimensions correlated with converting, PostHog's order (success rows by odds ratio
    descending, then failure rows ascending), and what they were computed on."""

    kind: str
    dimensions: tuple[Dimension, ...]
    computed_on: dict = field(default_factory=dict)
    title: str = "funnel correlation"

    @property
    def skewed(self) -> bool:
        return bool(self.computed_on.get("skewed"))

    def top(self, n: int = TOP) -> list[Dimension]:
        """What PostHog returns: the first n success rows, then the first n failure rows."""
        good = [d for d in self.dimensions if d.correlation_type == "success"]
        bad = [d for d in self.dimensions if d.correlation_type == "failure"]
        return good[:n] + bad[:n]

    def rows(self) -> list[dict]:
        """One row per dimension (event / key / value columns as the kind has them)."""
        out = []
        for d in self.dimensions:
            row = {"name": d.name}
            if self.kind != "properties":
                row["event"] = d.event
            if self.kind != "events":
                row.update(key=d.key, value=d.value)
            row.update(success_count=d.success_count, failure_count=d.failure_count,
                       persons=d.persons, odds_ratio=d.odds_ratio, correlation_type=d.correlation_type,
                       with_conversion_rate=d.with_conversion_rate,
                       without_conversion_rate=d.without_conversion_rate)
            out.append(row)
        return out

    def sections(self) -> dict[str, list[dict]]:
        """dimensions (one row per dimension kept) and filters (each filter applied, in
        order, with the dimensions it discarded)."""
        return {"dimensions": [flat(r) for r in self.rows()],
                "filters": [flat(f) for f in self.computed_on.get("filters", [])]}

    def to_dict(self) -> dict:
        return {"title": self.title, "kind": self.kind, "skewed": self.skewed,
                "computed_on": dict(self.computed_on), "dimensions": self.rows()}


# --------------------------------------------------------------------------- options
def _as_names(value, what: str) -> list[str]:
    names = [value] if isinstance(value, str) else list(value or ())
    if not all(isinstance(n, str) and n for n in names):
        raise QueryError(f"{what} must be names (text), not {value!r}")
    return names


def _check_options(kind, properties, exclude_events, exclude_properties, min_persons, min_share):
    if kind not in KINDS:
        raise QueryError(f"unknown correlation kind {kind!r}: use one of {', '.join(KINDS)}"
                         + did_you_mean(str(kind), KINDS))
    if kind == "events" and properties:
        raise QueryError("properties apply to kind='event_properties' or 'properties', not 'events'")
    if kind != "events" and not properties:
        raise QueryError(f"kind={kind!r} needs properties: the property keys to correlate "
                         f"(or '{ALL}' for every one), as PostHog requires naming them")
    if kind == "events" and exclude_properties:
        raise QueryError("exclude_properties applies to the property kinds, not kind='events'")
    if kind == "properties" and exclude_events:
        raise QueryError("exclude_events applies to kind='events' or 'event_properties': person "
                         "properties do not come from the events in the attempt")
    if isinstance(min_persons, bool) or not isinstance(min_persons, int) or min_persons < 0:
        raise QueryError(f"min_persons must be a whole number of at least 0, not {min_persons!r}")
    if isinstance(min_share, bool) or not isinstance(min_share, (int, float)) or not 0 <= min_share <= 1:
        raise QueryError(f"min_share must be a share between 0 and 1, not {min_share!r}")


def _keys(kind: str, properties: list[str], events: ir.Table, users: ir.Table | None) -> list[str]:
    """The property keys to read, `$all` expanded; unknown keys said with "did you mean"."""
    event_keys = property_columns(events.columns)
    traits = [c for c in users.columns if c != "user_id"] if users is not None else []
    known = event_keys if kind == "event_properties" else list(dict.fromkeys(traits + event_keys))
    if ALL in properties:
        return known
    for key in properties:
        if key not in known:
            where = "event property" if kind == "event_properties" else "person trait or event property"
            raise QueryError(f"unknown {where} '{key}'" + did_you_mean(key, known))
    return list(dict.fromkeys(properties))


def _named_persons(events):
    """The events as a source, rows without a user_id left out (they are nobody's)."""
    source = as_source(events)
    if source.clustered:  # the store's copy: every row has a user
        return source
    return TableEvents(source.table.filter(source.table.user_id.notnull()))


# --------------------------------------------------------------------------- attempts
def _attempts(result: FunnelResult, window: int, ts_type) -> tuple[pa.Table, int]:
    """Per person who did step 1: the attempt's first instant (exclusive lower bound), the
    conversion instant or first instant + window (exclusive upper bound), and whether the
    counted attempt did the last step (PostHog's steps = target_step); and how many did."""
    n = len(result.steps)
    times = result.times.reshape(-1, n)
    required = [k for k in range(n) if not (result.optional and result.optional[k])]
    won = result.levels >= n if result.done is None else result.done[:, n - 1].copy()
    big = np.iinfo(np.int64).max
    req = times[:, required]
    first = np.where(req >= 0, req, big).min(axis=1, initial=big)  # step 1 (unordered: the earliest)
    last = np.where(times >= 0, times, -1).max(axis=1, initial=-1)  # the conversion, when won
    end = np.where(won, last, first + window)
    unit = pa.timestamp("us", tz="UTC" if ts_type.timezone else None)  # the events' ts type
    table = pa.table({_U: result.users.cast(pa.string()),
                      _LO: pa.array(first, pa.int64()).cast(unit),
                      _HI: pa.array(end, pa.int64()).cast(unit),
                      _WON: pa.array(np.asarray(won, bool), pa.bool_())})
    return table, int(np.count_nonzero(won))


def _in_attempts(events: ir.Table, bounds: ir.Table) -> ir.Table:
    """The events strictly inside their person's attempt bounds, with its outcome."""
    j = events.join(bounds, events.user_id == bounds[_U])
    return j.filter((j.ts > j[_LO]) & (j.ts < j[_HI]))


def _text(col: ir.Column) -> ir.StringValue:
    """A property value as text (PostHog reads values as text): a whole number held in a
    floating column (a missing value makes pandas' integers float) reads as the integer."""
    if col.type().is_string():
        return col
    if col.type().is_floating():
        whole = (col == col.round(0)) & (col.abs() < 2**53)
        return ibis.ifelse(whole, col.cast("int64").cast("string"), col.cast("string"))
    return col.cast("string")


def _counted(t: ir.Table, key: str | None, event=None, value=None) -> ir.Table:
    """(event, key, value, won, n): persons per dimension and outcome."""
    by = {name: expr for name, expr in (("_e", event), ("_v", value)) if expr is not None}
    g = t.group_by(_WON, **by).aggregate(_n=t[_U].nunique())
    none = ibis.literal(None, "string")
    return g.select(event=g._e if event is not None else none, key=ibis.literal(key, "string"),
                    value=g._v if value is not None else none, won=g[_WON], n=g._n.cast("int64"))


def _event_counts(events: ir.Table, bounds: ir.Table) -> ir.Table:
    j = _in_attempts(events, bounds)
    return _counted(j, None, event=j.event)


def _event_property_counts(events: ir.Table, bounds: ir.Table, keys: list[str]) -> ir.Table:
    j = _in_attempts(events, bounds)
    parts = []
    for k in keys:
        has = j.filter(j[k].notnull())
        parts.append(_counted(has, k, event=has.event, value=_text(has[k])))
    return ibis.union(*parts, distinct=False)


def _first_step_rows(events: ir.Table, bounds: ir.Table, rules, order: str) -> ir.Table:
    """Each person's first step event of the counted attempt: a row of step 1's rule (any
    required step's, unordered) at the attempt's first instant; several: the first by
    event name and event id."""
    hit = rule(events, rules[0])
    if order == "unordered":
        for r in rules[1:]:
            hit = hit | rule(events, r)
    ev = events.filter(hit)
    j = ev.join(bounds, ev.user_id == bounds[_U])
    j = j.filter(j.ts == j[_LO])
    ties = [c for c in ("event", "event_id") if c in events.columns]
    j = j.mutate(_rn=ibis.row_number().over(group_by=_U, order_by=ties))
    return j.filter(j._rn == 0)


def _person_property_counts(events: ir.Table, users: ir.Table | None, bounds: ir.Table,
                            keys: list[str], named: bool, rules, order: str) -> ir.Table:
    """Per person one value of each key (the users table's trait where it has the key,
    else the first step event's property), counted per (key, value) and outcome."""
    cols = {k: f"_jm_p{i}" for i, k in enumerate(keys)}
    traits = [k for k in keys if users is not None and k in users.columns]
    touch = [k for k in keys if k not in traits]
    persons = bounds.select(_U, _WON)
    if traits:
        u = users.select(_jm_tu=users.user_id, **{cols[k]: users[k] for k in traits})
        persons = persons.left_join(u, persons[_U] == u._jm_tu).select(_U, _WON, *[cols[k] for k in traits])
    if touch:
        f = _first_step_rows(events, bounds, rules, order)
        f = f.select(_jm_fu=f[_U], **{cols[k]: f[k] for k in touch})
        kept = [c for c in persons.columns]
        persons = persons.left_join(f, persons[_U] == f._jm_fu).select(*kept, *[cols[k] for k in touch])
    parts = []
    for k in keys:
        rows = persons if named else persons.filter(persons[cols[k]].notnull())
        value = _text(rows[cols[k]])
        # a named key a person lacks reads as '' (PostHog's JSONExtractString)
        parts.append(_counted(rows, k, value=value.fill_null("") if named else value))
    return ibis.union(*parts, distinct=False)


# --------------------------------------------------------------------------- judging
def _tally(got: pa.Table) -> dict[tuple, list[int]]:
    """(event, key, value) -> [persons who converted, persons who did not]."""
    out: dict[tuple, list[int]] = {}
    d = got.to_pydict()
    for e, k, v, won, n in zip(d["event"], d["key"], d["value"], d["won"], d["n"]):
        out.setdefault((e, k, v), [0, 0])[0 if won else 1] += int(n)
    return out


def _dimension(dim: tuple, s: int, f: int, won: int, lost: int) -> Dimension:
    odds = ((s + PRIOR) * (lost - f + PRIOR)) / ((won - s + PRIOR) * (f + PRIOR))
    return Dimension(*dim, success_count=s, failure_count=f, odds_ratio=odds,
                     correlation_type="success" if odds > 1 else "failure",
                     with_conversion_rate=rate(s, s + f),
                     without_conversion_rate=rate(won - s, won - s + lost - f))


def _filters(kind, step_names, exclude_events, exclude_properties, won, lost, threshold) -> list:
    """The filters in the order they apply: (name, value, test of a dimension's key and
    counts that says "discard")."""
    out = []
    if kind != "properties":
        out.append(("funnel step events", sorted(step_names), lambda d, s, f: d[0] in step_names))
        out.append(("exclude_events", sorted(exclude_events), lambda d, s, f: d[0] in exclude_events))
    if kind != "events":
        out.append(("exclude_properties", sorted(exclude_properties),
                    lambda d, s, f: d[1] in exclude_properties))
    if kind == "event_properties":
        out.append(("held by fewer than 3 persons (PostHog's event-property rule)", TRIPLE_MIN,
                    lambda d, s, f: s + f < TRIPLE_MIN))
    if not won or not lost:
        out.append(("no contrast: no successes or no failures", None, lambda d, s, f: True))
    out.append(("fewer persons than min(min_persons, min_share × persons)", threshold,
                lambda d, s, f: s + f < threshold))
    return out


def _judge(counts: dict, filters: list, won: int, lost: int) -> tuple[list[Dimension], list[dict]]:
    """Apply the filters in order (counting what each discards), then rank the rest."""
    left = dict(counts)
    report = []
    for name, value, drop in filters:
        gone = [d for d, (s, f) in left.items() if drop(d, s, f)]
        for d in gone:
            del left[d]
        report.append({"filter": name, "value": value, "discarded": len(gone)})
    dims = [_dimension(d, s, f, won, lost) for d, (s, f) in left.items()]
    key = lambda d: tuple("" if p is None else p for p in (d.event, d.key, d.value))  # noqa: E731
    good = sorted((d for d in dims if d.correlation_type == "success"), key=lambda d: (-d.odds_ratio, key(d)))
    bad = sorted((d for d in dims if d.correlation_type == "failure"), key=lambda d: (d.odds_ratio, key(d)))
    return good + bad, report


# --------------------------------------------------------------------------- the measure
def correlation(events, steps: Sequence, *, window="14d", order: str = "ordered", kind: str = "events",
                exclude_events: Sequence[str] = (), exclude_properties: Sequence[str] = (),
                min_persons: int | None = None, min_share: float | None = None,
                properties: Sequence[str] | str | None = None, users=None) -> CorrelationResult:
    """Events (or event property values, or person property values) correlated with
    converting in a funnel, ranked by odds ratio as PostHog ranks them (see the module
    docstring for each rule and its PostHog source).

    `steps`, `window`, `order`: as `journeymap.measure.funnel.funnel.funnel` takes them;
    persons who did step 1 count, a success reaches the last step. `kind`: "events" (a
    dimension per event name), "event_properties" (per event, property and value, for the
    keys in `properties`), "properties" (per person property and value, for the keys in
    `properties`: the `users` table's trait, else the property on the attempt's first
    step event; `users` is read for this kind only); `properties="$all"` reads every key
    (event properties; for persons, the traits and event properties) but, unlike a named
    key, skips a person's missing values (a named key reads them as ""). Events count only
    inside each person's attempt: after its first step, before its conversion (successes)
    or the end of its window (failures). A dimension needs at least min(`min_persons`,
    `min_share` × persons) persons (PostHog's 25 and 2% when None).

    >>> import pandas as pd
    >>> ev = pd.DataFrame({"user_id": list("aaabbbccdd"),
    ...                    "event": ["signup", "video", "pay", "signup", "video", "pay",
    ...                              "signup", "help", "signup", "video"],
    ...                    "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"] * 2
    ...                                         + ["2024-01-01", "2024-01-02"] * 2, utc=True)})
    >>> r = correlation(ev, ["signup", "pay"], window="7d")
    >>> [(d.name, d.success_count, d.failure_count, round(d.odds_ratio, 3), d.correlation_type)
    ...  for d in r.dimensions]
    [('video', 2, 1, 3.0, 'success'), ('help', 0, 1, 0.333, 'failure')]
    """
    min_persons = MIN_PERSONS if min_persons is None else min_persons
    min_share = MIN_SHARE if min_share is None else min_share
    exclude_events = _as_names(exclude_events, "exclude_events")
    exclude_properties = _as_names(exclude_properties, "exclude_properties")
    props = _as_names(properties, "properties")
    _check_options(kind, props, exclude_events, exclude_properties, min_persons, min_share)
    source = _named_persons(events)
    table = source.table
    users_t = as_table(users) if users is not None and kind == "properties" else None
    keys = _keys(kind, props, table, users_t) if kind != "events" else []
    rules = [r for r, optional in (as_step(s) for s in steps) if not optional]
    step_names = {name for s in steps for name in as_step(s)[0].events}
    result = funnel(source, steps, window=window, order=order)
    win = window_us(window)
    bounds_arrow, won = _attempts(result, win, table.ts.type())
    persons = bounds_arrow.num_rows
    lost = persons - won
    counts: dict = {}
    if persons and (keys or kind == "events"):
        bounds = ibis.memtable(bounds_arrow)
        if kind == "events":
            query = _event_counts(table, bounds)
        elif kind == "event_properties":
            query = _event_property_counts(table, bounds, keys)
        else:
            query = _person_property_counts(table, users_t, bounds, keys, ALL not in props, rules, order)
        counts = _tally(query.to_pyarrow())
    threshold = min(min_persons, min_share * persons)
    filters = _filters(kind, step_names, set(exclude_events), set(exclude_properties), won, lost, threshold)
    dims, report = _judge(counts, filters, won, lost)
    computed_on = {
        "persons": persons, "successes": won, "failures": lost, "conversion": rate(won, persons),
        "skewed": not won or not lost or won / lost > SKEW or lost / won > SKEW,
        "steps": list(result.steps), "order": order, "window_s": win / 1e6, "kind": kind,
        "properties": keys if kind != "events" else None,
        "min_persons": min_persons, "min_share": min_share, "min_persons_needed": threshold,
        "dimensions_found": len(counts), "dimensions_kept": len(dims), "filters": report,
    }
    title = f"funnel correlation: {' → '.join(result.steps)} ({kind})"
    return CorrelationResult(kind, tuple(dims), computed_on, title)
