"""Customers one by one: where each one is, and whether they are stuck there.

A customer in stage k (the furthest they entered; "now" is the end of the data)
is **stuck** when they have been there longer than the p90 time to the next stage
of the customers who did advance, or longer than the next stage's `within` (then
they can no longer advance by the journey's rules). A customer in the last stage
has completed the journey; one in a bad-outcome stage (`outcome: churn`) has
churned; one who never entered stage 1 has not started.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from journeymap._deferred import pd
from journeymap.measure.customers.positions import Positions
from journeymap.measure.customers.timeline import Timeline
from journeymap.measure.map.stage_stats import StageStats
from journeymap.results import Result, clean, flat, human_duration
from journeymap.spec.model import Journey
from journeymap.store.schema import RESERVED

TIMELINE_LIMIT = 500  # most recent events shown by default


def iso(us: int | None) -> str | None:
    """A µs timestamp as ISO 8601 UTC (None for -1 / None)."""
    if us is None or us < 0:
        return None
    return pd.Timestamp(int(us), unit="us", tz="UTC").isoformat()


def _limits(journey: Journey, k: int, stats: StageStats | None) -> dict:
    """What stuck means in stage k (not the last): the next stage's time limit and the
    p90 time of those who advanced, each with the reason a customer past it is given."""
    nxt = journey.stages[k + 1]
    p90 = stats.p90_time_to_next_s if stats is not None else None
    return {"within": nxt.within, "p90": p90,
            "past": f"past the {human_duration(nxt.within)} limit to reach {nxt.label}: can no "
                    "longer advance" if nxt.within is not None else None,
            "slow": f"longer than {human_duration(p90)}, the time in which 90% of the "
                    f"{stats.advanced:,} who advanced reached {nxt.label}" if p90 is not None else None}


def status_of(journey: Journey, k: int, time_in_s: float, stats: StageStats | None
              ) -> tuple[str, str | None]:
    """(status, reason) of a customer whose furthest stage is k, there for time_in_s."""
    if k < 0:
        return "not started", None
    if journey.stages[k].is_bad_outcome:
        return "churned", None
    if k == len(journey.stages) - 1:
        return "completed", None
    lim = _limits(journey, k, stats)
    if lim["within"] is not None and time_in_s > lim["within"]:
        return "stuck", lim["past"]
    if lim["p90"] is not None and time_in_s > lim["p90"]:
        return "stuck", lim["slow"]
    return "in progress", None


@dataclass(frozen=True)
class CustomerJourney(Result):
    """One customer: where they are now, since when, whether they are stuck, the stages
    they entered and their timeline (events, answers, tickets) with properties."""

    user_id: str
    looked_up: str  # the id asked for (an anonymous or device id resolves to user_id)
    status: str
    reason: str | None
    stage: str | None
    stage_name: str | None
    owner: str | None
    since: str | None
    time_in_stage_s: float | None
    next_stage: str | None
    personas: list[str]
    first_seen: str | None
    last_seen: str | None
    data_end: str | None
    stages: list[dict]
    timeline: list[dict]
    events_total: int
    title = "customer journey"

    def rows(self) -> list[dict]:
        return self.stages

    def sections(self) -> dict[str, list[dict]]:
        """summary, stages (entered when), timeline (events with properties)."""
        summary = {k: v for k, v in self.to_dict().items() if k not in ("stages", "timeline")}
        return {"summary": [flat(summary)], "stages": [flat(s) for s in self.stages],
                "timeline": [flat({**{k: v for k, v in e.items() if k != "properties"},
                                   **{f"property.{k}": v for k, v in e["properties"].items()}})
                             for e in self.timeline]}

    def to_dict(self) -> dict:
        return {"user_id": self.user_id, "looked_up": self.looked_up, "status": self.status,
                "reason": self.reason, "stage": self.stage, "stage_name": self.stage_name,
                "owner": self.owner, "since": self.since, "time_in_stage_s": self.time_in_stage_s,
                "next_stage": self.next_stage, "personas": self.personas,
                "first_seen": self.first_seen, "last_seen": self.last_seen,
                "data_end": self.data_end, "stages": self.stages, "timeline": self.timeline,
                "events_total": self.events_total}


def _timeline_rows(journey: Journey, tl: Timeline, limit: int) -> list[dict]:
    """The most recent `limit` events, oldest first; the row that entered a stage says so."""
    rows = tl.rows
    ts = rows.column("ts").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy() \
        if rows.num_rows else np.zeros(0, np.int64)
    events = rows.column("event").to_pylist() if rows.num_rows else []
    entered_by_row: dict[int, list[str]] = {}
    if tl.entry_t is not None:
        for k, t in enumerate(tl.entry_t):
            if t < 0:
                continue
            rule = journey.stages[k].enter
            at = [i for i in np.flatnonzero(ts == t) if rule.matches_name(events[i])]
            if at:
                entered_by_row.setdefault(int(at[0]), []).append(journey.stages[k].id)
    props = [c for c in rows.column_names if c not in RESERVED]
    columns = {c: rows.column(c).to_pylist() for c in props}
    start = max(0, rows.num_rows - limit)
    return [{"ts": iso(int(ts[i])), "event": events[i],
             "entered": entered_by_row.get(i, []),
             "properties": clean({c: columns[c][i] for c in props if columns[c][i] is not None})}
            for i in range(start, rows.num_rows)]


def customer_journey(journey: Journey, tl: Timeline, looked_up: str, stats: list[StageStats], *,
                     limit: int = TIMELINE_LIMIT) -> CustomerJourney:
    """Judge one customer's timeline against the measured map's stage stats."""
    end = tl.entries.data_end
    entry = tl.entry_t if tl.entry_t is not None else np.full(len(journey.stages), -1)
    entered = np.flatnonzero(entry >= 0)
    k = int(entered[-1]) if entered.size else -1
    time_in = (end - int(entry[k])) / 1e6 if k >= 0 else None
    status, reason = status_of(journey, k, time_in or 0.0, stats[k] if k >= 0 else None)
    stage = journey.stages[k] if k >= 0 else None
    ts = tl.rows.column("ts") if tl.rows.num_rows else None
    skipped = tl.entries.skipped[0] if tl.entries.n_users else np.zeros(len(journey.stages), bool)
    return CustomerJourney(
        user_id=tl.user_id, looked_up=looked_up, status=status, reason=reason,
        stage=stage.id if stage else None, stage_name=stage.label if stage else None,
        owner=stage.owner.team if stage and stage.owner else None,
        since=iso(int(entry[k])) if k >= 0 else None, time_in_stage_s=time_in,
        next_stage=journey.stages[k + 1].id if 0 <= k < len(journey.stages) - 1 else None,
        personas=tl.personas,
        first_seen=ts[0].as_py().isoformat() if ts is not None else None,
        last_seen=ts[-1].as_py().isoformat() if ts is not None else None,
        data_end=iso(end),
        stages=[{"id": s.id, "name": s.label, "entered_at": iso(int(entry[i])),
                 "skipped": bool(skipped[i])} for i, s in enumerate(journey.stages)],
        timeline=_timeline_rows(journey, tl, limit), events_total=tl.rows.num_rows)


@dataclass(frozen=True)
class StuckCustomers(Result):
    """The customers stuck in one stage now, with why (see the module doc): those who can
    still advance first, each group longest in the stage first.

    The list is held as columns (`table`: user_id, entered_us, time_in_stage_s,
    can_still_advance, last_seen_us, silent_s and a flag per persona), so a stage with
    a hundred thousand stuck customers stays cheap to keep and to page through;
    `page(offset, limit)` and `customers` give rows as dicts.
    """

    stage: str
    stage_name: str
    owner: str | None
    next_stage: str | None
    in_stage: int  # customers whose furthest stage is this one
    p90_time_to_next_s: float | None
    within_s: float | None
    data_end: str | None
    table: pa.Table
    personas: tuple[str, ...]
    slow_reason: str | None  # why a customer who can still advance is stuck
    past_reason: str | None  # why one past the time limit is
    title = "stuck customers"

    @property
    def stuck(self) -> int:
        return self.table.num_rows

    @property
    def can_still_advance(self) -> int:
        return int(pc.sum(self.table.column("can_still_advance")).as_py() or 0)

    def page(self, offset: int = 0, limit: int | None = None) -> list[dict]:
        """Rows offset.. (at most `limit`), in list order, as dicts."""
        part = self.table.slice(offset, limit)
        cols = {c: part.column(c).to_pylist() for c in part.column_names}
        return [{"user_id": cols["user_id"][i], "entered_at": iso(cols["entered_us"][i]),
                 "time_in_stage_s": cols["time_in_stage_s"][i],
                 "can_still_advance": cols["can_still_advance"][i],
                 "reason": self.slow_reason if cols["can_still_advance"][i] else self.past_reason,
                 "last_seen": iso(cols["last_seen_us"][i]), "silent_s": cols["silent_s"][i],
                 "personas": [p for p in self.personas if cols[f"persona:{p}"][i]]}
                for i in range(part.num_rows)]

    @property
    def customers(self) -> list[dict]:
        return self.page()

    def rows(self) -> list[dict]:
        return self.customers

    def sections(self) -> dict[str, list[dict]]:
        return {"customers": [flat(c) for c in self.customers]}

    def to_dict(self, offset: int = 0, limit: int | None = None) -> dict:
        """The list's facts and its rows (`offset`, `limit`: one page of them)."""
        return {"stage": self.stage, "stage_name": self.stage_name, "owner": self.owner,
                "next_stage": self.next_stage, "in_stage": self.in_stage, "stuck": self.stuck,
                "can_still_advance": self.can_still_advance,
                "p90_time_to_next_s": self.p90_time_to_next_s, "within_s": self.within_s,
                "data_end": self.data_end, "offset": offset, "customers": self.page(offset, limit)}


def stuck_customers(journey: Journey, pos: Positions, stage_id: str, stats: list[StageStats]
                    ) -> StuckCustomers:
    """Everyone stuck in `stage_id` now (see the module doc): first those who can still
    advance (slower than p90, inside the time limit), then those past the limit, each
    longest in the stage first."""
    st = journey.stage(stage_id)
    k = journey.stage_ids.index(st.id)
    here = np.flatnonzero(pos.current() == k)
    since = pos.entries.entry_t[here, k]
    time_in = (pos.data_end - since) / 1e6
    last = k == len(journey.stages) - 1
    stuck = np.zeros(here.size, bool)
    lapsed = np.zeros(here.size, bool)  # past the time limit: can no longer advance
    lim = {"slow": None, "past": None}
    if not last and not st.is_bad_outcome:
        lim = _limits(journey, k, stats[k])
        if lim["p90"] is not None:
            stuck |= time_in > lim["p90"]
        if lim["within"] is not None:
            lapsed = time_in > lim["within"]
            stuck |= lapsed
    # those who can still advance first, then those past the limit; longest first in each
    order = np.lexsort((-time_in, lapsed))
    order = order[stuck[order]]
    users, seen = here[order], pos.last_seen[here[order]]
    columns = {"user_id": pos.entries.users.take(pa.array(users)),
               "entered_us": pa.array(since[order], pa.int64()),
               "time_in_stage_s": pa.array(time_in[order], pa.float64()),
               "can_still_advance": pa.array(~lapsed[order]),
               "last_seen_us": pa.array(seen, pa.int64()),
               "silent_s": pa.array(np.where(seen >= 0, (pos.data_end - seen) / 1e6, np.nan),
                                    pa.float64(), from_pandas=True)}
    columns |= {f"persona:{p}": pa.array(flags[users]) for p, flags in pos.personas.items()}
    nxt = None if last else journey.stages[k + 1]
    return StuckCustomers(st.id, st.label, st.owner.team if st.owner else None,
                          nxt.id if nxt else None, int(here.size), stats[k].p90_time_to_next_s,
                          nxt.within if nxt else None, iso(pos.data_end), pa.table(columns),
                          tuple(pos.personas), lim["slow"], lim["past"])
