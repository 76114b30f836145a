"""What the customers who advance did that the others did not: leading behaviours.

For a transition (entering stage `from` → entering stage `to`, by the map's stage
engine) over the customers who entered `from`: every candidate behaviour — doing an
event at least n times (n = 1, 2, 3) within a horizon after entering `from` — is
compared between those who did it and those who did not:

- conversion with and without it, the lift (ratio) and the difference;
- the odds ratio with a 95% Wald interval on the log scale (0.5 added to every cell
  of a table with an empty cell), the two-sided p-value of the same test, and the
  p-value adjusted across every candidate tested (Benjamini–Hochberg);
- support: customers who did it, and their share;
- per persona (each customer in the first persona whose rule they meet, the rest in
  "(none)"): the Mantel–Haenszel odds ratio pooled over the personas beside the crude
  one, so that a behaviour that is merely common in a persona that converts well is
  seen for what it is.

**No look-ahead.** A behaviour counts only when it happened at or after entering
`from`, within the horizon, and strictly before the customer advanced. Customers
whose horizon, or the time the journey's `within` limits give them to advance, had
not passed by the end of the data are left out; the result says how many.

**Score** (the ranking): the odds ratio's 95% bound nearest to 1, as a distance on
the log scale (0 when the interval holds 1), times the square root of the share of
customers who did it: large, certain and common effects first. Behaviours whose
odds ratio is above 1 are drivers; below 1, blockers (they predict dropping off).
A candidate needs `min_support` customers (the journey's `min_volume`) on each side.
The transition's own events (the entry events of its stages, from `from` to `to`)
are never candidates, nor the journey's `drivers.exclude_events` (events such as
session starts and page views, which surround every move and so "predict" all of
them).

These are associations, not causes: the result says so, and suggests the drivers
worth testing with an experiment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pyarrow as pa

from journeymap.errors import QueryError
from journeymap.measure._feed.batches import flagged_rows
from journeymap.measure._feed.executors import in_executors, map_users
from journeymap.measure._feed.parallel import over_items
from journeymap.measure._feed.traces import event_pieces, event_stream, user_pieces
from journeymap.measure._feed.users import align, flags_of, positions, values_for
from journeymap.measure.drivers.executors import TALLY, Windows, tallied, tally
from journeymap.measure.drivers.tables import benjamini_hochberg, candidate_rows, table_stats
from journeymap.measure.kernels.windows import windows
from journeymap.measure.map.entries import StageEntries, entries_of
from journeymap.measure.stats import rate
from journeymap.results import Result, clean, flat
from journeymap.spec.durations import parse_duration
from journeymap.spec.model import Journey
from journeymap.store.sources import as_source

COUNTS = (1, 2, 3)
NONE = "(none)"
CAUTION = ("Associations, not causes: customers who do these things may differ in other ways. "
           "Test the top drivers with an experiment before acting on them.")


@dataclass(frozen=True)
class Population:
    """Who a transition's drivers were computed on."""

    entered: int  # entered `from`
    eligible: int  # with their horizon and outcome window over by the end of the data
    left_out: int
    advanced: int  # eligible customers who entered `to`
    base_rate: float | None


@dataclass(frozen=True)
class DriversResult(Result):
    """Drivers and blockers of one transition for each horizon (see the module doc)."""

    from_stage: str
    to_stage: str
    persona: str | None
    horizons: dict[str, Population]
    drivers: list[dict]
    blockers: list[dict]
    computed_on: dict = field(default_factory=dict)
    caution: str = CAUTION
    title = "drivers"

    def rows(self) -> list[dict]:
        return self.drivers

    def sections(self) -> dict[str, list[dict]]:
        return {"drivers": [flat(r) for r in self.drivers], "blockers": [flat(r) for r in self.blockers],
                "population": [{"horizon": h, **vars(p)} for h, p in self.horizons.items()]}

    def top(self, horizon: str | None = None) -> dict | None:
        """The best-scored significant driver (q < 0.05), for one horizon or any."""
        rows = [r for r in self.drivers if r["q_value"] < 0.05 and (horizon is None or r["horizon"] == horizon)]
        return rows[0] if rows else None

    def to_dict(self) -> dict:
        worth = [f"{r['behaviour']} within {r['horizon']}" for r in self.drivers if r["q_value"] < 0.05][:3]
        return clean({"from": self.from_stage, "to": self.to_stage, "persona": self.persona,
                      "computed_on": self.computed_on,
                      "population": {h: vars(p) for h, p in self.horizons.items()},
                      "drivers": self.drivers, "blockers": self.blockers, "caution": self.caution,
                      "worth_an_experiment": worth})


def _horizon_s(h) -> float:
    try:
        return parse_duration(h)
    except ValueError as exc:
        raise QueryError(f"bad horizon {h!r}: {exc}") from None


def _outcome_limit(journey: Journey, k_from: int, k_to: int) -> float | None:
    """Longest time from entering `from` to entering `to` the stage rules allow (None: no limit)."""
    limits = [s.within for s in journey.stages[k_from + 1:k_to + 1]]
    return None if any(w is None for w in limits) else float(sum(limits))


def _strata(journey: Journey, source, users, ids: pa.Array, aligned: dict[str, np.ndarray] | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's persona (the first whose rule they meet; "(none)" otherwise), as
    codes into the labels returned beside them; `aligned`: the persona flags already in
    the order of `ids` (as the map's pass has them)."""
    labels = np.array([p.id for p in journey.personas] + [NONE], object)
    codes = np.full(len(ids), len(labels) - 1, np.int64)
    if not journey.personas:
        return codes, labels
    if aligned is None:
        aligned = align(flags_of(journey, source, users), ids)
    for k in range(len(journey.personas) - 1, -1, -1):
        codes[aligned[journey.personas[k].id]] = k
    return codes, labels


@dataclass(frozen=True)
class _Pass:
    """One read of the events, for counting inside windows: its rows as units of whole
    users (offsets, times, codes into `vocab`, the first user's number), where each of
    its users sits among the population (`pos`, -1: not in it), and the population's
    persona codes (into `labels`) and stage entries (None for a funnel's persons)."""

    units: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]
    vocab: tuple[str, ...]
    pos: np.ndarray
    strata: np.ndarray
    labels: np.ndarray
    entries: StageEntries | None = None

    @classmethod
    def of(cls, streams: list, members: pa.Array, strata: tuple[np.ndarray, np.ndarray],
           entries: StageEntries | None = None) -> _Pass:
        """The pass over `streams` (a stream, or the pieces of one as read), for the
        population `members` (sorted ids)."""
        users = streams[0].users if len(streams) == 1 else \
            pa.concat_arrays([s.users for s in streams]) if streams else pa.array([], pa.string())
        pos = positions(members, users) if len(members) else np.full(len(users), -1, np.int64)
        units, u0 = [], 0
        for offsets, codes, t in (p for s in streams for p in user_pieces(s.offsets, s.codes, s.t)):
            units.append((offsets, t, codes, u0))
            u0 += len(offsets) - 1
        return cls(units, streams[0].vocab if streams else (), pos, strata[0], strata[1], entries)

    def did_cells(self, lo, hi, cell, own, n_s, key=None) -> list[tuple[str, int, np.ndarray]]:
        """(event, m, customers per cell) of every event not in `own` that customers did
        at least m times (COUNTS) in their windows [lo, hi] (per customer of the population;
        lo -1: none), tallied in one compiled pass over the rows, the units in parallel
        (`key`: which transition and horizon the windows are, for passes that counted
        them ahead)."""
        skip = np.array([name in own for name in self.vocab], np.bool_)
        tallies = over_items(self.units, lambda unit: tallied(
            unit[0], unit[1], unit[2], self.pos[unit[3]:unit[3] + len(unit[0]) - 1], lo, hi, cell, skip,
            COUNTS, 2 * n_s))
        if not tallies:
            return []
        tally, seen = sum(t for t, _ in tallies), np.logical_or.reduce([s for _, s in tallies])
        return [(self.vocab[c], m, tally[c, j].reshape(n_s, 2))
                for c in np.flatnonzero(seen) for j, m in enumerate(COUNTS)]


def _population(start: np.ndarray, adv: np.ndarray, eligible: np.ndarray, strata: np.ndarray, n_s: int,
                h_us: int):
    """A transition's population in one pass: each customer's window (lo, hi), from entering
    `from` (lo -1 when not eligible), within the horizon and strictly before advancing, and
    cell (persona * 2 + advanced); the eligible per cell (n_s, 2); and how many entered,
    were eligible, and advanced."""
    lo, hi, cell = (np.empty(len(start), np.int64) for _ in range(3))
    total = np.zeros(2 * n_s, np.int64)
    counts = windows(start, adv, eligible, strata, h_us, lo, hi, cell, total)
    return lo, hi, cell, total.reshape(n_s, 2), counts


class _Tallied:
    """`_Pass`'s counting in the engine's executors, as tallies (see `drivers.executors`):
    the transitions asked for ahead (`prefetch`) are counted in one pass, other windows
    in a pass each."""

    def __init__(self, query, entries: StageEntries, strata: np.ndarray, labels: np.ndarray):
        self.query, self.entries, self.strata, self.labels = query, entries, strata, labels
        self._found: dict[tuple, list] = {}

    def prefetch(self, journey: Journey, transitions: list[tuple[int, int, int]]) -> None:
        """Count the windows of these (k_from, k_to, horizon in µs) in one pass."""
        windows = []
        for k_from, k_to, h_us in transitions:
            start, adv, eligible = _stage_windows(journey, self.entries, k_from, k_to, h_us)
            lo, hi, cell, _, _ = _population(start, adv, eligible, self.strata, len(self.labels), h_us)
            windows.append((lo, hi, cell, _own(journey, k_from, k_to)))
        self._found.update(zip(transitions, self._count(windows)))

    def _count(self, windows: list) -> list[list[tuple[str, int, np.ndarray]]]:
        n_s = len(self.labels)
        plan = Windows(self.entries.users, *(np.stack([w[i] for w in windows]) for i in range(3)),
                       tuple(frozenset(w[3]) for w in windows), COUNTS, 2 * n_s)
        got = map_users(self.query, partial(tally, plan), TALLY, sum_by=("window", "event", "m", "cell"))
        cols = got.to_pydict()
        found: list[dict] = [{} for _ in windows]
        for j, event, m, cell, n in zip(cols["window"], cols["event"], cols["m"], cols["cell"], cols["n"]):
            did = found[j].setdefault((event, m), np.zeros((n_s, 2), np.int64))
            did[cell // 2, cell % 2] += n
        return [[(event, m, did) for (event, m), did in f.items()] for f in found]

    def did_cells(self, lo, hi, cell, own, n_s, key=None) -> list[tuple[str, int, np.ndarray]]:
        if key in self._found:
            return self._found[key]
        return self._count([(lo, hi, cell, own)])[0]


def _read(journey: Journey, source, users, persona: str | None) -> _Pass:
    keep_ids = None
    if persona is not None:
        journey.persona(persona)
        flags = flags_of(journey, source, users)
        keep_ids = flags.filter(flags.column(persona).fill_null(False)).column("user_id")
    stream = event_stream(source, journey=journey, users=None if keep_ids is None else keep_ids.to_pylist())
    entries = entries_of(journey, [stream.as_batch()], stream.n_users, source.data_end_us())
    return _Pass.of([stream], entries.users, _strata(journey, source, users, entries.users), entries)


def _transition(journey: Journey, from_stage: str, to_stage: str | None) -> tuple[int, int]:
    k_from = journey.stage_ids.index(journey.stage(from_stage).id)
    k_to = k_from + 1 if to_stage is None else journey.stage_ids.index(journey.stage(to_stage).id)
    if k_to <= k_from or k_to >= len(journey.stages):
        raise QueryError(f"drivers need a later stage to advance to: '{to_stage or from_stage}' is not after "
                         f"'{from_stage}'")
    return k_from, k_to


def transition_drivers(journey: Journey, source, users=None, *, from_stage: str, to_stage: str | None = None,
                       persona: str | None = None, horizons=("7d",), min_support: int | None = None,
                       top: int = 25, properties=(), traits=()) -> DriversResult:
    """Drivers and blockers of the move from `from_stage` to `to_stage` (default: the next
    stage), for each horizon, in one pass over the events (see the module doc); on
    request also events with a value of each of `properties` and user `traits` values."""
    k_from, k_to = _transition(journey, from_stage, to_stage)
    source = as_source(source)
    ctx = _read(journey, source, users, persona)
    own = {n for k in range(k_from, k_to + 1) for n in journey.stages[k].enter.events}
    more = _more_candidates(source.table, users, ctx.entries, own, list(properties), list(traits)) \
        if properties or traits else None
    return _drivers(journey, ctx, k_from, k_to, persona, horizons, min_support, top, more)


def leak_drivers(journey: Journey, source, users, transitions, horizon=None, known=None) -> dict:
    """(from, to) -> the top significant driver of each transition, from one read; `known`:
    the map's pass (its entries and persona flags), so only the events are read again."""
    source = as_source(source)
    h = horizon or f"{journey.drivers.horizon / 86400:g}d"
    pairs = [_transition(journey, a, b) for a, b in transitions]
    if known is None:
        ctx = _read(journey, source, users, None)
    else:
        strata = _strata(journey, source, users, known.entries.users, known.personas)
        query = flagged_rows(source, [], keep_all=True, extra=("event",))
        if in_executors(query):  # every transition's windows counted in one pass there
            ctx = _Tallied(query, known.entries, *strata)
            ctx.prefetch(journey, [(k_from, k_to, int(round(_horizon_s(h) * 1e6))) for k_from, k_to in pairs])
        else:
            ctx = _Pass.of(event_pieces(source), known.entries.users, strata, known.entries)
    return {(a, b): _drivers(journey, ctx, k_from, k_to, None, (h,), None, 5).top()
            for (a, b), (k_from, k_to) in zip(transitions, pairs)}


def _drivers(journey: Journey, ctx: _Pass, k_from: int, k_to: int, persona, horizons, min_support,
             top: int, more=None) -> DriversResult:
    own = _own(journey, k_from, k_to)
    support = min_support if min_support is not None else journey.min_volume
    pops, rows = {}, []
    for h in horizons:
        pop, cand = _candidates(journey, ctx, k_from, k_to, _horizon_s(h), own, support, more)
        pops[str(h)] = pop
        rows += [{"horizon": str(h), **r} for r in cand]
    drivers, blockers = _ranked(rows, top)
    computed_on = {"from": journey.stage_ids[k_from], "to": journey.stage_ids[k_to], "persona": persona,
                   "horizons": [str(h) for h in horizons], "candidates": len(rows), "min_support": support,
                   "counts": list(COUNTS), "excluded_events": sorted(own),
                   "no_look_ahead": "behaviours at or after entering the stage, within the horizon, "
                                    "strictly before advancing"}
    return DriversResult(journey.stage_ids[k_from], journey.stage_ids[k_to], persona, pops, drivers, blockers,
                         computed_on)


def _own(journey: Journey, k_from: int, k_to: int) -> set[str]:
    """Events that are never candidates of a transition: its stages' own, and the
    journey's excluded ones."""
    own = {n for k in range(k_from, k_to + 1) for n in journey.stages[k].enter.events}
    return own | set(journey.drivers.exclude_events)


def _stage_windows(journey: Journey, entries: StageEntries, k_from: int, k_to: int, h_us: int):
    """(start, advanced-at, eligible) per customer of the map, for a stage transition:
    eligible once their horizon and the stages' time to advance are over."""
    start, adv = entries.entry_t[:, k_from], entries.entry_t[:, k_to]
    limit = _outcome_limit(journey, k_from, k_to)
    wait = max(h_us, int(round(limit * 1e6))) if limit is not None else h_us
    return start, adv, (start >= 0) & (start + wait <= entries.data_end)


def _candidates(journey: Journey, ctx: _Pass, k_from: int, k_to: int, horizon: float, own: set[str],
                support: int, more=None) -> tuple[Population, list[dict]]:
    h_us = int(round(horizon * 1e6))
    start, adv, eligible = _stage_windows(journey, ctx.entries, k_from, k_to, h_us)
    return _counted(ctx, start, adv, eligible, h_us, own, support, more, key=(k_from, k_to, h_us))


def _more_candidates(table, users, entries: StageEntries, own: set[str], properties, traits):
    """Candidates on request: an event with a property value, inside the window
    (`properties`), and a user trait value (`traits`), as `_counted`'s `more`."""
    rows = None
    if properties:
        missing = [p for p in properties if p not in table.columns]
        if missing:
            from journeymap.errors import did_you_mean
            raise QueryError(f"unknown event property '{missing[0]}'" + did_you_mean(missing[0], table.columns))
        cols = [table[p].cast("string").name(p) for p in properties]
        got = table.filter(table.event.notin(sorted(own)) if own else True).select(
            "user_id", "ts", "event", *cols).to_pyarrow()
        rows = got
    trait_rows = {}
    for t in traits or ():
        from journeymap.measure._feed.users import trait_values
        vals = trait_values(table, users, t)
        trait_rows[t] = values_for(vals, entries.users, t, fill=None)

    def more(eligible, lo, hi):
        out = []
        if rows is not None and rows.num_rows:
            pos = positions(entries.users, rows.column("user_id").combine_chunks().cast(pa.string()))
            t = rows.column("ts").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)
            p = np.maximum(pos, 0)
            inside = (pos >= 0) & eligible[p] & (t >= lo[p]) & (t <= hi[p]) & (lo[p] >= 0)
            ev = np.asarray(rows.column("event").to_pylist(), object)
            for prop in properties:
                val = np.asarray(rows.column(prop).to_pylist(), object)
                ok = inside & np.array([v is not None for v in val], bool)
                frame = {}
                for i in np.flatnonzero(ok):
                    frame.setdefault((ev[i], val[i]), set()).add(int(pos[i]))
                for (e, v), members in frame.items():
                    out.append((f"{e}[{prop}={v}]", e, np.fromiter(members, np.int64)))
        for t, values in trait_rows.items():
            labels = np.array([None if v is None or v != v else str(v) for v in values], object)
            for v in sorted({x for x in labels if x is not None}):
                out.append((f"{t}={v} (trait)", None, np.flatnonzero(labels == v)))
        return out
    return more


def _counted(ctx: _Pass, start: np.ndarray, adv: np.ndarray, eligible: np.ndarray, h_us: int, own: set[str],
             support: int, more=None, key=None) -> tuple[Population, list[dict]]:
    """Every candidate of a population (per member: window start, advance time or -1, and
    eligibility), from the events of `ctx`; `more(eligible, lo, hi)`: further
    candidates as (name, event, did members) triples."""
    n_s = len(ctx.labels)
    # a customer's window: at or after entering `from`, within the horizon, before advancing;
    # per stratum: eligible customers who advanced and who did not (cells of "everyone")
    lo, hi, cell, total, (entered, n, n_adv) = _population(start, adv, eligible, ctx.strata, n_s, h_us)
    pop = Population(entered, n, entered - n, n_adv, rate(n_adv, n))
    if not n:
        return pop, []
    found = [(event + (f" ×{m}+" if m > 1 else ""), event, m, did)
             for event, m, did in ctx.did_cells(lo, hi, cell, own, n_s, key)
             if support <= int(did.sum()) <= n - support]
    if more is not None:
        for name, event, members in more(eligible, start, hi):
            members = members[eligible[members]]
            if support <= members.size <= n - support:
                found.append((name, event, 1, np.bincount(cell[members], minlength=2 * n_s).reshape(n_s, 2)))
    out = candidate_rows(found, total, n)
    if not out:
        return pop, []
    st = table_stats(*(np.array([r[x] for r in out]) for x in "abcd"))
    for i, r in enumerate(out):
        lo_, hi_ = float(st["low"][i]), float(st["high"][i])
        r |= {"odds_ratio": float(st["odds_ratio"][i]), "odds_ratio_ci": [lo_, hi_], "p_value": float(st["p"][i])}
        nearest = math.log(lo_) if lo_ > 1 else -math.log(hi_) if hi_ < 1 else 0.0
        r["score"] = nearest * math.sqrt(r["share"])
    return pop, out


def _ranked(rows: list[dict], top: int) -> tuple[list[dict], list[dict]]:
    """BH q-values over every candidate; drivers and blockers, best score first."""
    if rows:
        q = benjamini_hochberg(np.array([r["p_value"] for r in rows]))
        for r, qv in zip(rows, q):
            r["q_value"] = float(qv)
    rows.sort(key=lambda r: (-r["score"], r["behaviour"], r["horizon"]))
    return [r for r in rows if r["odds_ratio"] > 1][:top], [r for r in rows if r["odds_ratio"] < 1][:top]


def step_drivers(source, steps, *, from_step: int = 1, to_step: int | None = None, window="14d",
                 order: str = "ordered", horizons=("7d",), min_support: int = 30, top: int = 25
                 ) -> DriversResult:
    """Drivers and blockers between two funnel steps (1-based; default: step 1 to the
    last): over the persons whose counted attempt reached `from_step`, behaviours within
    the horizon after it and strictly before they reached `to_step` (within the funnel's
    window). Persons whose horizon or window was not over by the end of the data are left
    out. The funnel's own step events are never candidates."""
    from journeymap.measure.funnel.funnel import funnel
    from journeymap.measure.funnel.steps import as_rule, window_us
    source = as_source(source)
    n_steps = len(steps)
    to_step = n_steps if to_step is None else to_step
    if not 1 <= from_step < to_step <= n_steps:
        raise QueryError(f"steps {from_step} → {to_step}: need 1 <= from < to <= {n_steps}")
    result = funnel(source, steps, window=window, order=order)
    stream = event_stream(source)
    times = result.times
    start, adv = times[:, from_step - 1], times[:, to_step - 1]
    end = source.data_end_us()
    ctx = _Pass.of([stream], result.users, (np.zeros(len(result.users), np.int64), np.array(["(all)"], object)))
    own = {n for s in steps for n in as_rule(s).events}
    pops, rows = {}, []
    for h in horizons:
        h_us = int(round(_horizon_s(h) * 1e6))
        eligible = (start >= 0) & (start + max(h_us, window_us(window)) <= end)
        pop, cand = _counted(ctx, start, adv, eligible, h_us, own, min_support)
        pops[str(h)] = pop
        rows += [{"horizon": str(h), **r} for r in cand]
    drivers, blockers = _ranked(rows, top)
    names = [as_rule(s).describe() for s in steps]
    for r in drivers + blockers:
        r["mh_odds_ratio"] = None  # no personas without a journey
    computed_on = {"steps": names, "from_step": from_step, "to_step": to_step, "window": str(window),
                   "horizons": [str(h) for h in horizons], "candidates": len(rows), "min_support": min_support,
                   "counts": list(COUNTS), "excluded_events": sorted(own),
                   "no_look_ahead": "behaviours at or after the step, within the horizon, strictly before "
                                    "reaching the next step considered"}
    return DriversResult(names[from_step - 1], names[to_step - 1], None, pops, drivers, blockers, computed_on)


@dataclass(frozen=True)
class ActivationResult(Result):
    """Each persona's activation moment: the behaviour within the horizon after entering
    `from` that best separates who reached `to` from who did not (the drivers' score,
    among behaviours at least `min_share` of the persona did)."""

    from_stage: str
    to_stage: str
    horizon: str
    moments: list[dict]
    caution: str = CAUTION
    title = "activation moments"

    def rows(self) -> list[dict]:
        return self.moments

    def to_dict(self) -> dict:
        return clean({"from": self.from_stage, "to": self.to_stage, "horizon": self.horizon,
                      "moments": self.moments, "caution": self.caution})


def activation_moments(journey: Journey, source, users=None, *, from_stage: str, to_stage: str,
                       horizon="7d", min_share: float = 0.05) -> ActivationResult:
    """For every persona: its top driver of `from_stage` → `to_stage` within `horizon`,
    with its lift and coverage, side by side (see `ActivationResult`)."""
    out = []
    for p in journey.personas:
        r = transition_drivers(journey, source, users, from_stage=from_stage, to_stage=to_stage,
                               persona=p.id, horizons=(horizon,))
        best = next((d for d in r.drivers if d["share"] >= min_share and d["q_value"] < 0.05), None)
        pop = r.horizons[str(horizon)]
        out.append({"persona": p.id, "name": p.label, "customers": pop.eligible, "base_rate": pop.base_rate,
                    "behaviour": best["behaviour"] if best else None,
                    "lift": best["lift"] if best else None, "coverage": best["share"] if best else None,
                    "rate_did": best["rate_did"] if best else None, "rate_not": best["rate_not"] if best else None,
                    "odds_ratio": best["odds_ratio"] if best else None,
                    "q_value": best["q_value"] if best else None})
    return ActivationResult(journey.stage(from_stage).id, journey.stage(to_stage).id, str(horizon), out)
