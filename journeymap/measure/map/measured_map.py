"""The measured map: every stage's numbers, split by persona and by a property."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from journeymap._deferred import ir, pd
from journeymap.errors import QueryError
from journeymap.measure._feed.parallel import beside_pass
from journeymap.measure._feed.users import align, flags_of, trait_values, user_values, values_for
from journeymap.measure.experience.experience import Experience, experience_of
from journeymap.measure.map.entries import SideRows, StageEntries, stage_at, stage_entries, stage_entries_and
from journeymap.measure.map.stage_stats import (
    PERIODS,
    Cohort,
    StageStats,
    cohort_labels,
    maturity,
    stage_stats_of,
)
from journeymap.results import Result, flat
from journeymap.spec.model import Journey
from journeymap.store.sources import EPOCH, as_source

#: the columns of a stage row, in table order (the rate and its benchmark are those of
#: the transition to `next`)
STAGE_COLUMNS = ("id", "owner", "entered", "advanced", "rate", "rate_ci", "drop_off", "skipped",
                 "pending", "median_time_to_next_s", "p90_time_to_next_s", "next", "benchmark",
                 "verdict", "lower_is_better", "name", "goal", "actions", "touchpoints", "outcome")
MAX_GROUPS = 20
OTHER, NONE = "(other)", "(none)"


@dataclass(frozen=True)
class MapResult(Result):
    """A journey measured: every stage's numbers, and the same per persona, per `by`
    group and per entry cohort; `value_per_user` holds, per stage, the mean revenue of
    users who advanced and of those who did not (empty without a numeric `revenue`)."""

    journey: str
    stages: list[StageStats]
    computed_on: dict
    personas: dict[str, list[StageStats]] = field(default_factory=dict)
    by: str | None = None
    groups: dict[str, list[StageStats]] = field(default_factory=dict)
    cohorts: list[Cohort] = field(default_factory=list)
    value_per_user: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)
    experience: Experience | None = field(default=None, repr=False)
    title = "measured journey map"

    def stage(self, stage_id: str) -> StageStats:
        for s in self.stages:
            if s.id == stage_id:
                return s
        raise QueryError(f"no stage '{stage_id}' in this map")

    def rows(self) -> list[dict]:
        """One row per stage (see `STAGE_COLUMNS`)."""
        return [stage_row(s) for s in self.stages]

    def sections(self) -> dict[str, list[dict]]:
        """stages; personas and groups (a row per persona or `by` value and stage);
        cohorts; value_per_user (where revenue was measured)."""
        out = {"stages": [flat(stage_row(s)) for s in self.stages]}
        out["personas"] = [flat({"persona": p, **stage_row(s)})
                           for p, rows in self.personas.items() for s in rows]
        out["groups"] = [flat({"group": g, **stage_row(s)})
                         for g, rows in self.groups.items() for s in rows]
        out["cohorts"] = [flat(c.to_dict()) for c in self.cohorts]
        out["value_per_user"] = [{"stage": k, **v} for k, v in self.value_per_user.items()]
        if self.experience is not None:
            out["experience"] = [flat(s.row()) for s in self.experience.stages]
            out["experience_personas"] = [flat({"persona": p, **s.row()})
                                          for p, rows in self.experience.personas.items() for s in rows]
            out["experience_cohorts"] = [flat(c) for c in self.experience.cohorts]
            out["experience_problems"] = [
                flat({**p, **{f"example_{k}": v for k, v in (p["example"] or {}).items()}})
                for p in self.experience.problems]
        return out

    def to_dict(self) -> dict:
        d = {"journey": self.journey, "computed_on": self.computed_on,
             "stages": [s.to_dict() for s in self.stages]}
        if self.personas:
            d["personas"] = {p: [s.to_dict() for s in rows] for p, rows in self.personas.items()}
        if self.by:
            d["by"] = self.by
            d["groups"] = {g: [s.to_dict() for s in rows] for g, rows in self.groups.items()}
        if self.cohorts:
            d["cohorts"] = [c.to_dict() for c in self.cohorts]
        if self.value_per_user:
            d["value_per_user"] = self.value_per_user
        if self.experience is not None:
            d["experience"] = self.experience.to_dict()
        return d


def stage_row(s: StageStats) -> dict:
    """A stage's numbers as one table row, in `STAGE_COLUMNS` order."""
    d = s.to_dict()
    return {k: d[k] for k in STAGE_COLUMNS}


def _labels(values: np.ndarray) -> np.ndarray:
    """Group labels: text values, (none) for missing, rare ones folded into (other)."""
    labels = pd.Series(values, dtype=object).map(lambda v: NONE if v is None or v != v else str(v))
    top = labels.value_counts().index[:MAX_GROUPS]
    return labels.where(labels.isin(top), OTHER).to_numpy()


def _by_labels(entries: StageEntries, source, users, by: str, flags: dict[str, np.ndarray]
               ) -> np.ndarray:
    if by == "persona":
        first = np.full(entries.n_users, NONE, dtype=object)
        for pid in reversed(list(flags)):
            first[flags[pid]] = pid
        return first
    return entry_labels(entries, source.table, users, by)


def entry_labels(entries: StageEntries, events: ir.Table, users, prop: str) -> np.ndarray:
    """Per user of `entries`: `prop` as a user trait, else as the property on the event
    that put them in the first stage (read by the stage pass when asked for), as group
    labels ((none), the 20 largest, (other))."""
    if prop in entries.entry_props:
        return _labels(entries.entry_props[prop])
    return _labels(values_for(trait_values(events, users, prop), entries.users, prop, fill=None))


def _by_order(groups: dict[str, list[StageStats]]) -> dict[str, list[StageStats]]:
    """Groups by users entering stage 1, most first."""
    return dict(sorted(groups.items(), key=lambda kv: -kv[1][0].entered))


@dataclass(frozen=True)
class MapPass:
    """What the map's pass over the events left behind, for measures that build on it
    (the drivers of its leaks): stage entries per customer and their persona flags (a
    column per persona, in the order of the entries' users)."""

    entries: StageEntries
    personas: dict[str, np.ndarray]


def measure_map(journey: Journey, source, users: ir.Table | None = None, **options) -> MapResult:
    """Measure every stage (and per persona / `by` group / entry cohort)."""
    return measure_map_pass(journey, source, users, **options)[0]


def measure_map_pass(journey: Journey, source, users: ir.Table | None = None, *,
                persona: str | None = None, by: str | None = None, period: str | None = None
                     ) -> tuple[MapResult, MapPass]:
    """The map and its pass (see `MapPass`)."""
    if period is not None and period not in PERIODS:
        raise QueryError(f"unknown period '{period}': use week or month")
    source = as_source(source)
    touch = (by,) if by and by != "persona" and by in source.columns and not (
        users is not None and by in users.columns) else ()
    flags_job = beside_pass(source, flags_of, journey, source, users)
    entries, side = _stage_pass(journey, source, touch)
    flags_all = flags_job.result()
    flags = align(flags_all, entries.users)
    if persona is not None:
        journey.persona(persona)
        keep = flags[persona]
        entries, flags = entries.subset(keep), {p: f[keep] for p, f in flags.items()}
        if side is not None:
            side = side.only(values_for(flags_all, side.users, persona).astype(bool))
    mature, cohorts = maturity(journey, entries, period) if period else (None, [])
    sets = {("all", ""): np.ones(entries.n_users, np.bool_)}
    sets |= {("persona", p.id): flags[p.id] for p in journey.personas
             if persona is None}
    if by:
        labels = _by_labels(entries, source, users, by, flags)
        sets |= {("group", str(g)): labels == g for g in pd.unique(labels)}
    stats = stage_stats_of(journey, entries, sets, mature)  # one pass for every set of users
    of = {kind: {name: s for (k, name), s in stats.items() if k == kind}
          for kind in ("persona", "group")}
    computed_on = {"users": entries.n_users, "persona": persona, "period": period,
                   "data_end": (EPOCH + dt.timedelta(microseconds=int(entries.data_end))).isoformat(),
                   "immature_cohorts_excluded": bool(period) and any(c.immature for c in cohorts)}
    experience = None
    if side is not None:
        entered = {name or "all": [s.entered for s in rows] for (kind, name), rows in stats.items()
                   if kind in ("all", "persona")}
        groups = {name: mask for (kind, name), mask in sets.items() if kind == "persona"}
        experience = experience_of(journey, entries, side, stage_at, entered, groups,
                                   cohort_of=cohort_labels(period) if period else None)
    return MapResult(journey.name, stats[("all", "")], computed_on, of["persona"], by,
                     _by_order(of["group"]), cohorts, _value_per_user(journey, entries, source),
                     experience), MapPass(entries, flags)


def _stage_pass(journey: Journey, source, touch: tuple[str, ...]) -> tuple[StageEntries, SideRows | None]:
    """The stage pass; with signals declared, it also collects the signal rows."""
    if not journey.signals:
        return stage_entries(journey, source, entry_props=touch), None
    present = set(source.columns)
    wanted = [p for s in journey.signals.surveys for p in (s.score, s.comment)]
    t = journey.signals.tickets
    if t is not None:
        wanted += [t.channel, t.topic, t.resolution_hours, t.id]
    columns = tuple(dict.fromkeys(p for p in wanted if p and p in present))
    entries, side = stage_entries_and(journey, source, [r for _, r in journey.signals.rules],
                                      entry_props=touch, columns=columns)
    missing = sorted({p for p in wanted if p and p not in present})
    return entries, side.with_missing(missing)


def _value_per_user(journey: Journey, entries: StageEntries, source) -> dict:
    """Mean revenue per user of those who entered vs did not enter each next stage."""
    values = user_values(source)
    if values is None:
        return {}
    v = values_for(values, entries.users, "value", fill=0).astype(float)
    out = {}
    for k in range(len(journey.stages) - 1):
        entered = entries.entry_t[:, k] >= 0
        adv = entered & (entries.entry_t[:, k + 1] >= 0)
        lost = entered & ~adv
        out[journey.stages[k].id] = {
            "advanced": float(v[adv].mean()) if adv.any() else 0.0,
            "lost": float(v[lost].mean()) if lost.any() else 0.0}
    return out
