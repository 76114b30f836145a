"""The journey as typed, immutable objects: stages, owners, handoffs, personas.

These are built by `journeymap.spec.load` from a YAML file (or by hand in
Python) and read by every measure. Durations are stored in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from journeymap.errors import QueryError, did_you_mean
from journeymap.spec.builtin_ranges import SOURCE as BUILTIN_SOURCE
from journeymap.spec.builtin_ranges import builtin_range

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "exists")
NUMERIC_OPERATORS = ("gt", "gte", "lt", "lte")
MAX_STAGES = 62  # stages of a journey, or steps and exclusions of a funnel: a bit each in int64
OUTCOMES = ("churn",)  # kinds of bad-outcome stage
MIN_VOLUME = 30  # default: users a stage needs before a leak or finding is drawn from it
#: survey kinds and the scale of their scores
SURVEY_SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}


@dataclass(frozen=True)
class Location:
    """Where a thing was written: file, 1-based line and column."""

    file: str | None = None
    line: int | None = None
    column: int | None = None

    def as_kwargs(self) -> dict:
        return {"file": self.file, "line": self.line, "column": self.column}


NOWHERE = Location()


@dataclass(frozen=True)
class Owner:
    """RACI ownership. A plain team name means responsible and accountable."""

    responsible: str
    accountable: str | None = None
    consulted: tuple[str, ...] = ()
    informed: tuple[str, ...] = ()

    @property
    def team(self) -> str:
        """The team that answers for it: accountable if named, else responsible."""
        return self.accountable or self.responsible

    def to_dict(self) -> dict:
        return {"responsible": self.responsible, "accountable": self.team,
                "consulted": list(self.consulted), "informed": list(self.informed)}


@dataclass(frozen=True)
class Condition:
    """One property test, e.g. ``plan == 'pro'`` or ``team_size >= 2``."""

    prop: str
    op: str
    value: Any = None
    loc: Location = field(default=NOWHERE, compare=False)

    def describe(self) -> str:
        symbols = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
        if self.op == "exists":
            return f"{self.prop} {'is set' if self.value in (None, True) else 'is not set'}"
        return f"{self.prop} {symbols.get(self.op, self.op)} {self.value!r}"


@dataclass(frozen=True)
class EventRule:
    """How a user enters a stage: one of these event names, with all conditions."""

    events: tuple[str, ...]
    where: tuple[Condition, ...] = ()
    loc: Location = field(default=NOWHERE, compare=False)
    #: where each event name was written, in the order of `events` (may be empty)
    event_locs: tuple[Location, ...] = field(default=(), compare=False)

    @property
    def any_event(self) -> bool:
        """True when every event name qualifies (an activity rule with no event list)."""
        return not self.events

    def matches_name(self, name: str) -> bool:
        """Whether an event of this name can qualify (its conditions aside)."""
        return self.any_event or name in self.events

    def describe(self) -> str:
        names = " or ".join(self.events) or "any event"
        return names + (f" where {' and '.join(c.describe() for c in self.where)}" if self.where else "")


@dataclass(frozen=True)
class ActivityRule(EventRule):
    """Entry by repeated activity: active on at least `days` distinct UTC days within
    `window` seconds (inclusive), counting the events of `events` (any event when
    empty) that meet `where`, since the user entered the previous stage."""

    days: int = 1
    window: float = 30 * 86400.0

    def describe(self) -> str:
        window = self.window / 86400
        span = f"{window:g} days" if window >= 1 else f"{self.window / 3600:g} hours"
        return f"active on {self.days} days within {span} ({super().describe()})"


@dataclass(frozen=True)
class Benchmark:
    """Expected range of the rate *into* a stage (from the stage before it)."""

    low: float
    high: float
    source: str = "journey file"


@dataclass(frozen=True)
class Stage:
    id: str
    enter: EventRule
    owner: Owner | None = None
    name: str | None = None
    goal: str | None = None
    actions: tuple[str, ...] = ()
    touchpoints: tuple[str, ...] = ()
    within: float | None = None  # seconds from entering the previous stage
    optional: bool = False
    benchmark: Benchmark | None = None
    target: float | None = None  # target progression rate out of this stage
    outcome: str | None = None  # "churn": a stage users should not reach (lower is better)
    loc: Location = field(default=NOWHERE, compare=False)

    @property
    def label(self) -> str:
        return self.name or self.id.replace("_", " ")

    @property
    def is_bad_outcome(self) -> bool:
        """A stage users should not reach (e.g. churned): the rate into it is to lower."""
        return self.outcome is not None


@dataclass(frozen=True)
class Handoff:
    """The seam between two stages, owned in its own right."""

    from_stage: str
    to_stage: str
    owner: Owner | None = None
    loc: Location = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class Persona:
    """A named rule over user traits (or first-touch event properties)."""

    id: str
    where: tuple[Condition, ...] = ()
    name: str | None = None
    loc: Location = field(default=NOWHERE, compare=False)

    @property
    def label(self) -> str:
        return self.name or self.id


@dataclass(frozen=True)
class Survey:
    """Answers to one survey, as events: NPS (0-10), CSAT (1-5) or CES (1-7).

    `score` and `comment` name the event properties holding them; for CES,
    `higher_is_easier` says which end of the scale is good (7 = easiest by default).
    """

    kind: str
    rule: EventRule
    score: str
    comment: str | None = None
    higher_is_easier: bool = True
    loc: Location = field(default=NOWHERE, compare=False)

    @property
    def scale(self) -> tuple[int, int]:
        return SURVEY_SCALES[self.kind]


@dataclass(frozen=True)
class TicketSignal:
    """Support tickets, as events: their channel, topic and time to resolve (from a
    property in hours, or from a resolving event with the same ticket id)."""

    rule: EventRule
    channel: str | None = None
    topic: str | None = None
    resolution_hours: str | None = None
    resolved_event: str | None = None
    id: str | None = None
    loc: Location = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class Resented:
    """When a stage is resented: people pass through it (progression at or above its
    benchmark's low end, or `progression_at_least` without a benchmark) but its
    experience is poor (any of the thresholds, each on at least `min_answers`)."""

    progression_at_least: float = 0.5
    csat_below: float | None = 0.6  # share of 4-5 answers
    nps_below: float | None = 0.0  # promoters - detractors, in points (-100..100)
    ces_below: float | None = 4.0  # mean effort score, oriented so higher is easier
    tickets_per_100_above: float | None = None
    min_answers: int = 30


@dataclass(frozen=True)
class Signals:
    """How each stage feels: survey answers and tickets, and what counts as resented."""

    surveys: tuple[Survey, ...] = ()
    tickets: TicketSignal | None = None
    resented: Resented = Resented()

    def __bool__(self) -> bool:
        return bool(self.surveys or self.tickets)

    def survey(self, kind: str) -> Survey | None:
        return next((s for s in self.surveys if s.kind == kind), None)

    @property
    def rules(self) -> list[tuple[str, EventRule]]:
        """(name, rule) of every signal event: the surveys, the tickets, resolutions."""
        out = [(s.kind, s.rule) for s in self.surveys]
        if self.tickets is not None:
            out.append(("tickets", self.tickets.rule))
            if self.tickets.resolved_event:
                out.append(("resolved", EventRule((self.tickets.resolved_event,))))
        return out


@dataclass(frozen=True)
class Revenue:
    """Revenue, as events: which events carry it and the property holding the amount."""

    rule: EventRule
    amount: str
    loc: Location = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class KpiSettings:
    """What the journey KPIs count: a lead and a conversion are entries into stages; time
    to first value runs between two stages; a user's channel and campaign are their
    first-touch properties; churn and revenue are counted per `period`; sessions split
    at `session_gap` seconds of inactivity (or by `session_id` when events carry it)."""

    lead: str | None = None
    conversion: str | None = None
    first_value: tuple[str, str] | None = None
    channel: str = "channel"
    campaign: str = "campaign"
    period: str = "month"
    session_gap: float = 1800.0
    loc: Location = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class DriverSettings:
    """What drivers look at: events left out of the candidates (e.g. sessions and page
    views, which happen around every move) and the default horizon."""

    exclude_events: tuple[str, ...] = ()
    horizon: float = 7 * 86400.0
    loc: Location = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class Journey:
    name: str
    stages: tuple[Stage, ...]
    handoffs: tuple[Handoff, ...] = ()
    personas: tuple[Persona, ...] = ()
    benchmarks: dict[str, Benchmark] = field(default_factory=dict, compare=False)
    inactivity: float = 30 * 86400.0  # seconds of silence that count as an exit
    file: str | None = field(default=None, compare=False)
    min_volume: int = MIN_VOLUME  # users a stage needs before a leak or finding is drawn from it
    signals: Signals = Signals()
    revenue: Revenue | None = None
    churn: EventRule | None = None
    help: EventRule | None = None
    referral: EventRule | None = None
    spend: str | None = None  # a spend file, relative to the journey file's folder
    kpis: KpiSettings = KpiSettings()
    drivers: DriverSettings = DriverSettings()

    def stage(self, stage_id: str) -> Stage:
        for s in self.stages:
            if s.id == stage_id:
                return s
        raise QueryError(f"unknown stage '{stage_id}'" + did_you_mean(stage_id, self.stage_ids)
                         + f" (stages: {', '.join(self.stage_ids)})")

    @property
    def stage_ids(self) -> list[str]:
        return [s.id for s in self.stages]

    def persona(self, persona_id: str) -> Persona:
        for p in self.personas:
            if p.id == persona_id:
                return p
        ids = [p.id for p in self.personas]
        raise QueryError(f"unknown persona '{persona_id}'" + did_you_mean(persona_id, ids)
                         + (f" (personas: {', '.join(ids)})" if ids else " (the journey has no personas)"))

    def handoff(self, from_stage: str, to_stage: str) -> Handoff | None:
        for h in self.handoffs:
            if h.from_stage == from_stage and h.to_stage == to_stage:
                return h
        return None

    def transition_owner(self, from_stage: str, to_stage: str) -> Owner | None:
        """Owner of a transition: the handoff's, else the owner of the stage it leaves."""
        h = self.handoff(from_stage, to_stage)
        if h is not None and h.owner is not None:
            return h.owner
        return self.stage(from_stage).owner

    def benchmark_into(self, stage_id: str) -> Benchmark | None:
        """The benchmark for the rate into `stage_id`: stage's own, journey's, or built-in."""
        st = self.stage(stage_id)
        own = st.benchmark or self.benchmarks.get(stage_id)
        if own is not None:
            return own
        bounds = builtin_range(stage_id)
        return Benchmark(*bounds, BUILTIN_SOURCE) if bounds else None

    @property
    def event_names(self) -> set[str]:
        return {name for s in self.stages for name in s.enter.events}

    @property
    def properties_used(self) -> set[str]:
        return {c.prop for s in self.stages for c in s.enter.where}

    @property
    def traits_used(self) -> set[str]:
        return {c.prop for p in self.personas for c in p.where}
