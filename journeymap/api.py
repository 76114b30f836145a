"""The public Python surface over events you hold: the one place measures meet insight.

`measure`, `funnel`, `paths`, `transitions` and `validate` take a journey (a
`Journey`, a YAML path or YAML text) and events in any form journeymap reads (a
pandas or polars DataFrame, an Arrow table, a list of dicts, an Ibis table on any
engine, or an event source). A workspace (`journeymap.open`) offers the same
methods over its store; the CLI, and every later interface, call only these.
"""

from __future__ import annotations

from dataclasses import dataclass

from journeymap.errors import QueryError, did_you_mean
from journeymap.insight.customers import CustomerJourney, StuckCustomers, customer_journey, stuck_customers
from journeymap.insight.diagnose import Diagnosis, Leak, diagnose, with_leak_drivers
from journeymap.measure.customers.positions import positions
from journeymap.measure.customers.timeline import timeline
from journeymap.measure.funnel.funnel import FunnelResult
from journeymap.measure.funnel.funnel import funnel as _funnel
from journeymap.measure.funnel.steps import as_rule
from journeymap.measure.correlation.correlation import CorrelationResult
from journeymap.measure.correlation.correlation import correlation as _correlation
from journeymap.measure.drivers.drivers import (ActivationResult, DriversResult, activation_moments,
                                                leak_drivers, step_drivers, transition_drivers)
from journeymap.measure.kpis.kpis import KpiResult, journey_kpis
from journeymap.measure.map.measured_map import MapResult, measure_map_pass
from journeymap.measure.map.stage_stats import Cohort, StageStats
from journeymap.measure.paths.actual import ActualJourney, actual_journey
from journeymap.measure.paths.transitions import TransitionsResult
from journeymap.measure.retention.retention import RetentionResult, retention_rules
from journeymap.measure.retention.retention import retention as _retention
from journeymap.measure.paths.transitions import transitions as _transitions
from journeymap.results import Result
from journeymap.spec.load import as_journey
from journeymap.spec.model import Journey
from journeymap.spec.schema import schema_json
from journeymap.spec.validate import validate_journey
from journeymap.store.engine import engine_errors
from journeymap.store.frames import as_table
from journeymap.store.schema import property_columns
from journeymap.store.sources import as_source
from journeymap.store.spend import read_spend
from journeymap.store.stored_users import StoredUsers

__all__ = ["ActualJourney", "CustomerJourney", "FunnelResult", "JourneyMap", "MapResult",
           "ActivationResult", "CorrelationResult", "DriversResult", "KpiResult", "RetentionResult",
           "StuckCustomers", "TransitionsResult", "activation", "correlation", "customer", "drivers", "funnel",
           "funnel_drivers",
           "journey_schema", "kpis",
           "measure", "paths", "retention", "stuck", "transitions", "validate"]


@dataclass(frozen=True)
class JourneyMap(Result):
    """The measured map and its diagnosis: what `measure` returns.

    `measured` holds the measurements (`MapResult`), `diagnosis` the leaks and
    findings judged from them. `to_dict()` is the measured map's shape with
    `leaks` and `findings` beside its stages (see the README's "The measured map").
    """

    measured: MapResult
    diagnosis: Diagnosis
    title = "measured journey map"

    # the measurements, as on MapResult
    @property
    def journey(self) -> str:
        return self.measured.journey

    @property
    def stages(self) -> list[StageStats]:
        return self.measured.stages

    def stage(self, stage_id: str) -> StageStats:
        return self.measured.stage(stage_id)

    @property
    def computed_on(self) -> dict:
        return self.measured.computed_on

    @property
    def personas(self) -> dict[str, list[StageStats]]:
        return self.measured.personas

    @property
    def by(self) -> str | None:
        return self.measured.by

    @property
    def groups(self) -> dict[str, list[StageStats]]:
        return self.measured.groups

    @property
    def cohorts(self) -> list[Cohort]:
        return self.measured.cohorts

    @property
    def value_per_user(self) -> dict:
        return self.measured.value_per_user

    # the judgements
    @property
    def leaks(self) -> tuple[Leak, ...]:
        return self.diagnosis.leaks

    @property
    def findings(self) -> tuple[str, ...]:
        return self.diagnosis.findings

    @property
    def experience(self):
        """How each stage feels (`Experience`), when the journey declares signals."""
        return self.measured.experience

    def rows(self) -> list[dict]:
        return self.measured.rows()

    def sections(self) -> dict[str, list[dict]]:
        """stages, leaks, findings, personas, groups, cohorts (and value_per_user): the
        tables `--section` exports."""
        measured = self.measured.sections()
        return {"stages": measured.pop("stages"), **self.diagnosis.sections(), **measured}

    def to_dict(self) -> dict:
        d = self.measured.to_dict()
        stages_at = list(d).index("stages") + 1
        items = list(d.items())
        return dict(items[:stages_at] + list(self.diagnosis.to_dict().items()) + items[stages_at:])


def map_of(journey: Journey, source, users=None, **options) -> JourneyMap:
    """Measure a journey over an event source and diagnose it: the one composition. The
    top driver of each top leak (7 days) is named in the findings."""
    with engine_errors(f"measure {journey.name!r}", _engine(source)):
        measured, done = measure_map_pass(journey, source, users, **options)
        diagnosis = diagnose(journey, measured)
        raising = [(lk.from_stage, lk.to_stage) for lk in diagnosis.leaks if lk.direction == "raise"]
        if raising and options.get("persona") is None:
            found = leak_drivers(journey, source, users, raising, known=done)
            diagnosis = with_leak_drivers(journey, diagnosis, found)
    return JourneyMap(measured, diagnosis)


def _engine(source) -> str | None:
    """The engine holding a source's events, for error messages (a clustered copy is
    read by DuckDB; asking its table would open a connection the measure may not need)."""
    if source.clustered:
        return "duckdb"
    try:
        return source.table._find_backend().name
    except Exception:  # noqa: BLE001 - only a label: an unbound table has no backend
        return None


def _traits(users, *, stored: bool = False):
    """Users as an Ibis table; the store's users file as it is where `stored` (a measure
    that reads traits off it as Arrow, see `measure._feed.users.flags_of`)."""
    if isinstance(users, StoredUsers):
        return users if stored else users.table
    return as_table(users) if users is not None else None


def measure(journey, events, *, users=None, persona: str | None = None, by: str | None = None,
            period: str | None = None) -> JourneyMap:
    """Measure a journey over events: stages, leaks with owners, findings.

    `journey` is a Journey, a YAML path or YAML text; `events` any table form
    `funnel` accepts; `users` an optional table of traits (user_id + columns).

    >>> import pandas as pd
    >>> ev = pd.DataFrame({"user_id": ["a", "a", "b"], "event": ["visit", "buy", "visit"],
    ...                    "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-01"])})
    >>> yaml = '''
    ... name: shop
    ... stages:
    ...   - {id: visit, owner: marketing, enter: {event: visit}}
    ...   - {id: buy, owner: sales, enter: {event: buy}}
    ... '''
    >>> measure(yaml, ev).stage("visit").rate
    0.5
    """
    return map_of(as_journey(journey), as_source(events), _traits(users, stored=True), persona=persona, by=by,
                  period=period)


def funnel(events, steps, *, window="14d", order: str = "ordered", exclusions=(),
           breakdown: str | None = None) -> FunnelResult:
    """Persons reaching each step of a funnel, by their best attempt (see the README's
    "Funnels" for the exact semantics).

    >>> import pandas as pd
    >>> ev = pd.DataFrame({"user_id": ["a", "a", "b"], "event": ["signup", "pay", "signup"],
    ...                    "ts": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-02"])})
    >>> funnel(ev, ["signup", "pay"], window="7d").counts
    [2, 1]
    """
    source = as_source(events)
    with engine_errors("funnel", _engine(source)):
        result = _funnel(source, steps, window=window, order=order, exclusions=exclusions,
                         breakdown=breakdown)
        named = (list(steps) if 0 in result.counts else []) + [e[0] for e in exclusions]
        if named:  # a step nobody did, or an exclusion: say so when its event does not exist
            _check_events(source, [(f"funnel step '{as_rule(s).describe()}'", as_rule(s)) for s in named])
    return result


def _check_events(source, named) -> None:
    """QueryError for an event name the data never has, with "did you mean" (a misspelt
    step reads as silent zeros, a misspelt exclusion as too many conversions).
    `named`: (what it is, its rule) pairs."""
    if source.clustered:
        names = set(source.vocab)
    else:
        table = source.table
        names = set(table.select("event").distinct().to_pyarrow()["event"].to_pylist())
    for what, rule in named:
        for name in rule.events:
            if name not in names:
                raise QueryError(f"unknown event '{name}' in {what}"
                                 + did_you_mean(name, sorted(n for n in names if n is not None)))


def retention(events, start, returning=None, *, period: str = "week", intervals: int = 8,
              kind: str = "recurring", cumulative: bool = False, min_occurrences: int = 1,
              week_start: str = "monday", date_to=None) -> RetentionResult:
    """Retention cohorts with PostHog's semantics: who did `start` in each period (every
    period for `kind="recurring"`, the first-ever one for `"first_time"`) and who did
    `returning` (any event when None) in each later period. See the README's
    "Retention" and `journeymap.measure.retention.retention` for every option.

    >>> import pandas as pd
    >>> ev = pd.DataFrame({"user_id": ["a", "a", "b"], "event": ["signup", "visit", "signup"],
    ...                    "ts": pd.to_datetime(["2024-01-01", "2024-01-09", "2024-01-02"])})
    >>> retention(ev, "signup", period="week", intervals=2, date_to="2024-01-14").counts
    [[2, 1], [0, None]]
    """
    source = as_source(events)
    with engine_errors("retention", _engine(source)):
        start_rule, return_rule = retention_rules(start, returning)
        _check_events(source, [(f"retention start '{start_rule.describe()}'", start_rule)]
                      + ([(f"retention returning event '{return_rule.describe()}'", return_rule)]
                         if return_rule else []))
        return _retention(source, start_rule, return_rule, period=period, intervals=intervals, kind=kind,
                          cumulative=cumulative, min_occurrences=min_occurrences,
                          week_start=week_start, date_to=date_to)


def paths(journey, events, *, users=None, persona: str | None = None, stage: str | None = None,
          start: str | None = None, end: str | None = None, depth: int = 6, top: int = 20,
          include=None, exclude=None) -> ActualJourney:
    """The actual journey: transitions, top paths, loops, backtracks, skips, exits and
    conformance to the designed stage order; with `stage`, paths of users who advanced
    from it versus those who dropped.

    >>> import pandas as pd
    >>> ev = pd.DataFrame({"user_id": ["a", "a", "b"], "event": ["visit", "buy", "visit"],
    ...                    "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-01"])})
    >>> yaml = "name: s\\nstages:\\n  - {id: visit, owner: m, enter: {event: visit}}\\n"
    >>> paths(yaml, ev).paths.paths[0]["path"]
    ['visit']
    """
    j, source = as_journey(journey), as_source(events)
    with engine_errors(f"paths of {j.name!r}", _engine(source)):
        return actual_journey(j, source, _traits(users), persona=persona, stage=stage, start=start,
                              end=end, depth=depth, top=top, include=include, exclude=exclude)


def transitions(events, *, level: str = "event", journey=None, users=None, include=None,
                exclude=None, fold_below: float = 0.0) -> TransitionsResult:
    """Directly-follows transitions between events (or, with a journey, stages).

    `users` restricts to those ids; `include`/`exclude` keep or drop event names
    before pairing; `fold_below` folds events rarer than that share into "other".

    >>> import pandas as pd
    >>> ev = pd.DataFrame({"user_id": ["a", "a", "b"], "event": ["view", "buy", "view"],
    ...                    "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-01"])})
    >>> t = transitions(ev).to_pandas()
    >>> t[t["from"] == "view"][["to", "count"]].values.tolist()
    [['$end', 1], ['buy', 1]]
    """
    source = as_source(events)
    with engine_errors("transitions", _engine(source)):
        return _transitions(source, level=level,
                            journey=as_journey(journey) if journey is not None else None, users=users,
                            include=include, exclude=exclude, fold_below=fold_below)


def customer(journey, events, user_id: str, *, users=None, measured: JourneyMap | None = None,
             limit: int = 500, looked_up: str | None = None) -> CustomerJourney:
    """One customer: current stage, since when, stuck or not (against `measured`, the map
    of all customers, measured here when not given), and their most recent `limit`
    events with properties. QueryError when the data has no such user.

    >>> import pandas as pd
    >>> ev = pd.DataFrame({"user_id": ["a", "a", "b"], "event": ["visit", "buy", "visit"],
    ...                    "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-20"])})
    >>> yaml = "name: s\\nstages:\\n  - {id: visit, owner: m, enter: {event: visit}}\\n" \\
    ...        "  - {id: buy, owner: s, enter: {event: buy}, within: 7d}\\n"
    >>> c = customer(yaml, ev, "b")
    >>> c.stage, c.status
    ('visit', 'in progress')
    >>> customer(yaml, ev, "a").status
    'completed'
    """
    j, source = as_journey(journey), as_source(events)
    measured = measured or map_of(j, source, _traits(users))
    with engine_errors(f"look up customer {user_id!r}", _engine(source)):
        tl = timeline(j, source, str(user_id), _traits(users))
    if not tl.rows.num_rows:
        raise QueryError(f"no customer '{user_id}' in these events")
    return customer_journey(j, tl, looked_up or str(user_id), measured.stages, limit=limit)


def stuck(journey, events, stage: str, *, users=None, measured: JourneyMap | None = None
          ) -> StuckCustomers:
    """The customers stuck in `stage` now, longest first: longer there than the p90 time
    of those who advanced, or past the next stage's `within` (see
    `journeymap.insight.customers`).

    >>> import pandas as pd
    >>> ev = pd.DataFrame({"user_id": ["a", "a", "b", "c"],
    ...                    "event": ["visit", "buy", "visit", "visit"],
    ...                    "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-01",
    ...                                          "2024-01-20"])})
    >>> yaml = "name: s\\nstages:\\n  - {id: visit, owner: m, enter: {event: visit}}\\n" \\
    ...        "  - {id: buy, owner: s, enter: {event: buy}, within: 7d}\\n"
    >>> [(c["user_id"], c["reason"]) for c in stuck(yaml, ev, "visit").customers]
    [('b', 'past the 7.0d limit to reach buy: can no longer advance')]
    """
    j, source = as_journey(journey), as_source(events)
    j.stage(stage)
    measured = measured or map_of(j, source, _traits(users))
    with engine_errors(f"stuck customers in {stage!r}", _engine(source)):
        pos = positions(j, source, _traits(users))
    return stuck_customers(j, pos, stage, measured.stages)


def kpis(journey, events, *, users=None, spend=None, lead: str | None = None,
         conversion: str | None = None, first_value=None, measured: JourneyMap | None = None) -> KpiResult:
    """The journey KPIs (marketing, conversion, churn, revenue, NRR, CLV, referral, time to
    first value, help content, tickets), each with its definition; `spend`: a spend file
    path (date, channel, campaign, cost, impressions, clicks) or None for the journey's
    `spend`. See the README's "Journey KPIs".

    >>> import pandas as pd
    >>> ev = pd.DataFrame({"user_id": ["a", "a", "b"], "event": ["visit", "buy", "visit"],
    ...                    "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-01"])})
    >>> yaml = "name: s\\nstages:\\n  - {id: visit, owner: m, enter: {event: visit}}\\n" \\
    ...        "  - {id: buy, owner: s, enter: {event: buy}}\\n"
    >>> kpis(yaml, ev).kpi("conversion_rate")["value"]
    0.5
    """
    j, source = as_journey(journey), as_source(events)
    path = spend if spend is not None else _journey_relative(j, j.spend)
    with engine_errors("KPIs", _engine(source)):
        measured = measured or map_of(j, source, _traits(users))
        return journey_kpis(j, source, _traits(users), read_spend(path) if path else None, measured.stages,
                            lead=lead, conversion=conversion,
                            first_value=tuple(first_value) if first_value else None)


def funnel_drivers(events, steps, *, from_step: int = 1, to_step: int | None = None, window="14d",
                   order: str = "ordered", horizon="7d", min_support: int = 30) -> DriversResult:
    """Drivers between two steps of a funnel (1-based; default step 1 to the last): what
    the persons who reached `to_step` did after `from_step` that the others did not, no
    look-ahead (see `journeymap.measure.drivers.drivers.step_drivers`)."""
    source = as_source(events)
    hs = (horizon,) if isinstance(horizon, str | int | float) else tuple(horizon)
    with engine_errors("funnel drivers", _engine(source)):
        _check_events(source, [(f"funnel step '{as_rule(s).describe()}'", as_rule(s)) for s in steps])
        return step_drivers(source, steps, from_step=from_step, to_step=to_step, window=window, order=order,
                            horizons=hs, min_support=min_support)


def drivers(journey, events, *, from_stage: str, to_stage: str | None = None, users=None,
            persona: str | None = None, horizon="7d", min_support: int | None = None, properties=(),
            traits=()) -> DriversResult:
    """What the customers who advanced from `from_stage` (to the next stage, or `to_stage`)
    did within `horizon` (or each of several horizons) that the others did not: drivers
    and blockers with lift, odds ratio, 95% interval, BH-adjusted p-values and the
    Mantel–Haenszel odds ratio across personas; no look-ahead (see the README's
    "Drivers").

    >>> import pandas as pd
    >>> rows = [(f"u{i}", e, pd.Timestamp("2024-01-01") + pd.Timedelta(hours=h))
    ...         for i in range(40) for e, h in [("signup", 0)] + ([("tour", 1), ("buy", 2)] if i < 20
    ...                                                            else [("buy", 3)] if i < 24 else [])]
    >>> rows.append(("u39", "ping", pd.Timestamp("2024-01-05")))  # the data run past every horizon
    >>> ev = pd.DataFrame(rows, columns=["user_id", "event", "ts"])
    >>> yaml = "name: s\\nstages:\\n  - {id: signup, owner: g, enter: {event: signup}}\\n" \\
    ...        "  - {id: buy, owner: s, enter: {event: buy}}\\nmin_volume: 10\\n"
    >>> top = drivers(yaml, ev, from_stage="signup", horizon="1d").drivers[0]
    >>> top["behaviour"], round(top["lift"], 2)
    ('tour', 5.0)
    """
    j, source = as_journey(journey), as_source(events)
    hs = (horizon,) if isinstance(horizon, str | int | float) else tuple(horizon)
    with engine_errors("drivers", _engine(source)):
        return transition_drivers(j, source, _traits(users), from_stage=from_stage, to_stage=to_stage,
                                  persona=persona, horizons=hs, min_support=min_support,
                                  properties=properties, traits=traits)


def correlation(events, steps, *, window="14d", order: str = "ordered", kind: str = "events",
                exclude_events=(), exclude_properties=(), min_persons: int | None = None,
                min_share: float | None = None, properties=None, users=None) -> CorrelationResult:
    """PostHog's funnel correlation: for each event (or event property value, or person
    property value), persons who did it among those who converted through the funnel
    and those who did not, the odds ratio with a +1 prior on every cell, success or
    failure; PostHog's significance filter (see the README's "Funnel correlation").

    >>> import pandas as pd
    >>> rows = [(f"u{i}", e, pd.Timestamp("2024-01-01") + pd.Timedelta(hours=h)) for i in range(40)
    ...         for e, h in [("signup", 0)] + ([("tour", 1), ("pay", 2)] if i < 20 else [("browse", 1)])]
    >>> ev = pd.DataFrame(rows, columns=["user_id", "event", "ts"])
    >>> [(d.event, d.correlation_type) for d in correlation(ev, ["signup", "pay"]).dimensions]
    [('tour', 'success'), ('browse', 'failure')]
    """
    source = as_source(events)
    with engine_errors("correlation", _engine(source)):
        _check_events(source, [(f"funnel step '{as_rule(s).describe()}'", as_rule(s)) for s in steps])
        return _correlation(source, steps, window=window, order=order, kind=kind, exclude_events=exclude_events,
                            exclude_properties=exclude_properties, min_persons=min_persons, min_share=min_share,
                            properties=properties, users=_traits(users))


def activation(journey, events, *, from_stage: str, to_stage: str, users=None, horizon="7d"
               ) -> ActivationResult:
    """Each persona's activation moment: the behaviour within `horizon` of entering
    `from_stage` that best separates who reached `to_stage` from who did not."""
    j, source = as_journey(journey), as_source(events)
    with engine_errors("activation moments", _engine(source)):
        return activation_moments(j, source, _traits(users), from_stage=from_stage, to_stage=to_stage,
                                  horizon=horizon)


def _journey_relative(journey: Journey, path: str | None) -> str | None:
    """A path written in the journey file, relative to that file's folder."""
    if path is None:
        return None
    from pathlib import Path
    p = Path(path)
    return str(p if p.is_absolute() or journey.file is None else Path(journey.file).parent / p)


def journey_schema() -> str:
    """The JSON Schema of the journey file, as indented JSON.

    >>> import json
    >>> json.loads(journey_schema())["title"]
    'journeymap journey file'
    """
    return schema_json()


def data_facts(events, users=None) -> dict:
    """What validation needs to know about the data: event counts, properties, traits."""
    table = as_source(events).table
    counts = table.group_by("event").aggregate(n=table.count()).to_pyarrow()
    traits = _traits(users)
    return {"event_counts": dict(zip(counts["event"].to_pylist(), counts["n"].to_pylist())),
            "event_properties": property_columns(table.columns),
            "user_traits": [c for c in traits.columns if c != "user_id"] if traits is not None else []}


def validate(journey, events=None, *, users=None) -> Journey:
    """The journey, checked; with events (and users), also every event name, property and
    trait it names against the data. Raises one SpecError listing every problem.

    >>> validate("name: s\\nstages:\\n  - {id: a, owner: t, enter: {event: a}}\\n").name
    's'
    """
    j = as_journey(journey)
    if events is not None:
        with engine_errors("validate against the data"):
            facts = data_facts(events, users)
        validate_journey(j, **facts)
    return j
