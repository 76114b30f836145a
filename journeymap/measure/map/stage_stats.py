"""Per-stage numbers of the measured map, from users' stage entry times.

Progression rate of stage k = users who entered k+1 / users who entered k,
with a Wilson 95% interval; time to next = entry(k+1) - entry(k) over users
who advanced without skipping. Entry cohorts (week/month of entering k) whose
time limit to k+1 had not elapsed by the end of the data are immature.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from journeymap._deferred import pd
from journeymap.measure._feed.parallel import over_items, over_ranges, user_ranges
from journeymap.measure.kernels import stages as kernels
from journeymap.measure.map.entries import StageEntries
from journeymap.measure.map.stage_batch import within_us
from journeymap.measure.stats import rate, time_summary, wilson_ci
from journeymap.spec.model import Journey

PERIODS = {"week": "W-SUN", "month": "M"}


@dataclass(frozen=True)
class StageStats:
    """One stage's numbers. `rate`, its interval, times, `benchmark` and `verdict` are
    those of the transition to the `next` stage (None for the last stage);
    `lower_is_better` when that next stage is a bad outcome (churn)."""

    id: str
    name: str
    owner: str | None
    goal: str | None
    actions: list[str]
    touchpoints: list[str]
    outcome: str | None
    next: str | None
    lower_is_better: bool
    entered: int
    advanced: int | None
    rate: float | None
    rate_ci: list[float] | None
    drop_off: int | None
    skipped: int
    pending: int | None
    median_time_to_next_s: float | None
    p90_time_to_next_s: float | None
    time_to_next: dict | None
    benchmark: dict | None
    verdict: str | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Cohort:
    """Users who entered a stage in one week or month, and how many went on.

    Immature: the cohort's time limit to the next stage had not passed by the end of
    the data, so it is listed but left out of the stage's rates.
    """

    stage: str
    cohort: str  # the period, e.g. 2024-01-01/2024-01-07 or 2024-01
    entered: int
    advanced: int
    rate: float | None
    rate_ci: list[float] | None
    immature: bool

    def to_dict(self) -> dict:
        return asdict(self)


def verdict(value: float | None, low: float, high: float) -> str | None:
    """below / within / above a benchmark range."""
    if value is None:
        return None
    return "below" if value < low else "above" if value > high else "within"


def _stage(journey: Journey, k: int, entered: int, skipped: int, advanced: int,
           pending: int | None, times: dict | None) -> StageStats:
    st = journey.stages[k]
    nxt = journey.stages[k + 1] if k + 1 < len(journey.stages) else None
    base = dict(id=st.id, name=st.label, owner=st.owner.team if st.owner else None, goal=st.goal,
                actions=list(st.actions), touchpoints=list(st.touchpoints), outcome=st.outcome,
                next=nxt.id if nxt else None, lower_is_better=bool(nxt and nxt.is_bad_outcome),
                entered=entered, skipped=skipped)
    if times is None:  # the last stage: nothing after it
        return StageStats(**base, advanced=None, rate=None, rate_ci=None, drop_off=None,
                          pending=None, median_time_to_next_s=None, p90_time_to_next_s=None,
                          time_to_next=None, benchmark=None, verdict=None)
    r = rate(advanced, entered)
    bm = journey.benchmark_into(journey.stages[k + 1].id)
    return StageStats(**base, advanced=advanced, rate=r, rate_ci=wilson_ci(advanced, entered),
                      drop_off=entered - advanced, pending=pending,
                      median_time_to_next_s=times["median_s"], p90_time_to_next_s=times["p90_s"],
                      time_to_next=times,
                      benchmark=None if bm is None else {"low": bm.low, "high": bm.high,
                                                          "source": bm.source},
                      verdict=None if bm is None else verdict(r, bm.low, bm.high))


def stage_stats_of(journey: Journey, entries: StageEntries, groups: dict,
                   mature: np.ndarray | None = None) -> dict:
    """Stats of every stage for each group of users (key -> boolean mask over entries;
    groups may overlap), all from one pass over the users; `mature[u, k]` (optional)
    keeps only mature cohorts of stage k."""
    within = within_us(journey)
    n, names = len(journey.stages), list(groups)
    member = np.empty((entries.n_users, len(names)), np.bool_)
    for g, name in enumerate(names):
        member[:, g] = groups[name]
    include = np.ones((1, 1), np.bool_) if mature is None else np.ascontiguousarray(mature)
    ranges = user_ranges(np.arange(entries.n_users + 1))  # one row per user: equal user counts
    parts = over_ranges(ranges, lambda u0, u1: kernels.stage_tally(
        entries.entry_t, entries.skipped, member, u0, u1, include, mature is not None,
        within, entries.data_end))  # user ranges in parallel; seconds joined back in user order
    entered, skipped, advanced, pending = (sum(p[i] for p in parts) for i in range(4))
    slots = [(g, k) for g in range(len(names)) for k in range(n - 1)]
    secs = [np.concatenate([sec[starts[g * n + k]:starts[g * n + k + 1]] for *_, starts, sec in parts])
            for g, k in slots]
    times = dict(zip(slots, over_items(secs, time_summary)))  # the quantiles in parallel
    return {name: [_stage(journey, k, int(entered[g, k]), int(skipped[g, k]),
                          int(advanced[g, k]),
                          int(pending[g, k]) if k + 1 < n and within[k + 1] >= 0 else None,
                          times.get((g, k)))
                   for k in range(n)]
            for g, name in enumerate(names)}


def _period_starts(us: np.ndarray, period: str) -> pd.PeriodIndex:
    stamps = pd.to_datetime(us, unit="us")
    return stamps.to_period(PERIODS[period])


def cohort_labels(period: str):
    """µs entry times -> their cohort's label (as the cohort table names them)."""
    return lambda us: np.asarray(_period_starts(us, period).astype(str), dtype=object)


def maturity(journey: Journey, entries: StageEntries, period: str) -> tuple[np.ndarray, list[Cohort]]:
    """Per user and stage: is the entry cohort mature? Plus the cohort table."""
    within = within_us(journey)
    n, k_count = entries.entry_t.shape
    mature = np.ones((n, k_count), bool)
    rows = []
    for k, st in enumerate(journey.stages[:-1]):
        t = entries.entry_t[:, k]
        entered = t >= 0
        if not entered.any():
            continue
        periods = _period_starts(t[entered], period)
        ends_us = (periods.end_time.as_unit("us").asi8 + 1)
        limit = within[k + 1]
        immature_rows = (ends_us + limit > entries.data_end) if limit >= 0 else np.zeros(len(ends_us), bool)
        idx = np.flatnonzero(entered)
        mature[idx[immature_rows], k] = False
        adv = entries.entry_t[idx, k + 1] >= 0
        frame = pd.DataFrame({"cohort": periods.astype(str), "adv": adv, "immature": immature_rows})
        for cohort, g in frame.groupby("cohort", sort=True):
            a, m = int(g.adv.sum()), len(g)
            rows.append(Cohort(st.id, cohort, m, a, rate(a, m), wilson_ci(a, m),
                               bool(g.immature.iloc[0])))
    return mature, rows
