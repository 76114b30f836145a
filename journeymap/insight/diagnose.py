"""Where the journey leaks, who owns it, and what to aim for in 90 days.

Every transition is a rate to raise (a conversion) or, into a bad-outcome stage
(`outcome: churn`), a rate to lower. A transition's score = customers lost x
what each was worth x (1 + relative distance beyond its benchmark): customers
lost are those who did not advance (or, into a bad outcome, those who did);
worth is the extra revenue of the customers kept over the customers lost when
events carry `revenue`, otherwise the chance that a customer kept reaches the
journey's goal (its last stage that is not a bad outcome).

Advice an analyst can defend: no leak and no finding is drawn from a
transition that lost nobody, or whose stage fewer than `journey.min_volume`
users entered (30 unless the journey file says otherwise); a proposed 90-day
target always improves on the current rate — the stage's own `target` when it
does, else the benchmark's near end when the rate is beyond it, else halfway
to its far end, else a 10% relative step.
"""

from __future__ import annotations

from dataclasses import dataclass

from journeymap.measure.map.measured_map import MapResult
from journeymap.measure.map.stage_stats import StageStats
from journeymap.results import Result, flat
from journeymap.spec.model import Journey

TOP_LEAKS = 3
ACTIVATION_WORDS = ("value", "activat", "aha", "setup")


@dataclass(frozen=True)
class Leak:
    """One transition that loses customers, with its owner and a proposed target.

    `direction` is "raise" for a conversion and "lower" for a move into a bad-outcome
    stage (then `lost` counts those who made it). `to_dict()`: {"from", "to",
    "direction", "lost", "entered", "rate", "rate_ci", "value_at_stake", "value_unit",
    "benchmark", "gap_below_benchmark", "owner", "owner_raci", "target_rate", "score"}.
    """

    from_stage: str
    to_stage: str
    direction: str
    lost: int
    entered: int
    rate: float
    rate_ci: list[float] | None
    value_at_stake: float
    value_unit: str  # "revenue" or "end-stage customers" (customers reaching the goal)
    benchmark: dict | None
    gap_below_benchmark: float  # relative distance beyond the benchmark's near end (0 if none)
    owner: str | None
    owner_raci: dict | None
    target_rate: float | None
    score: float

    def to_dict(self) -> dict:
        return {"from": self.from_stage, "to": self.to_stage, "direction": self.direction,
                "lost": self.lost, "entered": self.entered, "rate": self.rate,
                "rate_ci": self.rate_ci, "value_at_stake": self.value_at_stake,
                "value_unit": self.value_unit, "benchmark": self.benchmark,
                "gap_below_benchmark": self.gap_below_benchmark, "owner": self.owner,
                "owner_raci": self.owner_raci, "target_rate": self.target_rate, "score": self.score}


@dataclass(frozen=True)
class OwnedTransition:
    """The move from one stage to the next as an owned object: who owns it (the
    declared handoff's owner, else the owner of the stage it leaves) and what it lost.

    `to_dict()`: {"from", "to", "owner", "owner_raci", "declared", "direction",
    "entered", "lost", "rate"}; `declared` is true when the journey file names a
    handoff with an owner for this move.
    """

    from_stage: str
    to_stage: str
    owner: str | None
    owner_raci: dict | None
    declared: bool
    direction: str
    entered: int
    lost: int
    rate: float | None

    def to_dict(self) -> dict:
        return {"from": self.from_stage, "to": self.to_stage, "owner": self.owner,
                "owner_raci": self.owner_raci, "declared": self.declared,
                "direction": self.direction, "entered": self.entered, "lost": self.lost,
                "rate": self.rate}


@dataclass(frozen=True)
class ResentedStage:
    """A stage people pass through but resent: progression fine, experience poor.

    `to_dict()`: {"stage", "owner", "rate", "benchmark", "reasons": [{"signal", "value",
    "ci", "n", "threshold"}]}."""

    stage: str
    owner: str | None
    rate: float | None
    benchmark: dict | None
    reasons: tuple[dict, ...]

    def to_dict(self) -> dict:
        return {"stage": self.stage, "owner": self.owner, "rate": self.rate,
                "benchmark": self.benchmark, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class Diagnosis(Result):
    """Where a measured map leaks and what to say about it: the top leaks, the findings,
    every transition between consecutive stages with its owner (`handoffs`), and the
    stages people pass through but resent."""

    leaks: tuple[Leak, ...]
    findings: tuple[str, ...]
    handoffs: tuple[OwnedTransition, ...] = ()
    resented: tuple[ResentedStage, ...] = ()
    leak_drivers: tuple[dict, ...] = ()  # {"from", "to", "driver"}: the top driver of each top leak
    title = "diagnosis"

    def rows(self) -> list[dict]:
        return [lk.to_dict() for lk in self.leaks]

    def sections(self) -> dict[str, list[dict]]:
        return {"leaks": [flat(r) for r in self.rows()],
                "findings": [{"finding": f} for f in self.findings],
                "handoffs": [flat(h.to_dict()) for h in self.handoffs],
                "resented": [flat({**r.to_dict(), "reasons": ", ".join(x["signal"] for x in r.reasons)})
                             for r in self.resented]}

    def to_dict(self) -> dict:
        return {"leaks": self.rows(), "findings": list(self.findings),
                "handoffs": [h.to_dict() for h in self.handoffs],
                "resented": [r.to_dict() for r in self.resented],
                "leak_drivers": list(self.leak_drivers)}


def _lowers(s: StageStats) -> bool:
    return s.lower_is_better


def _lost(s: StageStats) -> int:
    """Customers a transition lost: who did not advance, or who went into a bad outcome."""
    return s.advanced if _lowers(s) else s.drop_off


def _goal(journey: Journey) -> int:
    """The journey's goal: its last stage that is not a bad outcome."""
    return max(k for k, st in enumerate(journey.stages) if not st.is_bad_outcome)


def _worth(journey: Journey, result: MapResult, k: int) -> tuple[float, str]:
    """What each customer lost on transition k was worth, and in what unit."""
    stages = result.stages
    if result.value_per_user:
        v = result.value_per_user.get(stages[k].id, {})
        kept, gone = ("lost", "advanced") if _lowers(stages[k]) else ("advanced", "lost")
        return max(0.0, v.get(kept, 0.0) - v.get(gone, 0.0)), "revenue"
    goal = _goal(journey)
    keeper = k if _lowers(stages[k]) else k + 1  # the stage a kept customer is in
    if keeper >= goal:
        return 1.0, "end-stage customers"
    base = stages[keeper].entered
    return (stages[goal].entered / base if base else 0.0), "end-stage customers"


def _gap(s: StageStats) -> float:
    """Relative distance beyond the benchmark's near end (below low; above high when lower
    is better); 0 inside the range or without one."""
    bm = s.benchmark
    if not bm or s.rate is None:
        return 0.0
    if _lowers(s):
        return (s.rate - bm["high"]) / bm["high"] if s.rate > bm["high"] and bm["high"] > 0 else 0.0
    return (bm["low"] - s.rate) / bm["low"] if s.rate < bm["low"] and bm["low"] > 0 else 0.0


def _candidates(own: float | None, rate: float, bm: dict | None, lower: bool) -> list[float]:
    """Targets in order of preference, as if raising (`lower` mirrors rates)."""
    flip = (lambda x: 1.0 - x) if lower else (lambda x: x)
    r = flip(rate)
    out = [flip(own)] if own is not None else []
    if bm:
        near, far = (flip(bm["high"]), flip(bm["low"])) if lower else (bm["low"], bm["high"])
        if r < near:
            out.append(near)
        if r <= far:
            out.append(r + (far - r) / 2)
    out.append(min(1.0, r * 1.10) if not lower else r + (1.0 - r) * 0.10)
    return [flip(c) for c in out]


def target_rate(journey: Journey, s: StageStats) -> float | None:
    """Proposed 90-day target for the rate out of a stage: the first candidate that
    improves on the current rate (higher, or lower into a bad outcome); None when the
    rate cannot improve (100%, or 0% into a bad outcome)."""
    if s.rate is None:
        return None
    lower = _lowers(s)
    for c in _candidates(journey.stage(s.id).target, s.rate, s.benchmark, lower):
        c = round(c, 4)
        if (c < s.rate) if lower else (c > s.rate):
            return c
    return None


def _defensible(journey: Journey, s: StageStats) -> bool:
    """Enough users entered the stage and the transition lost somebody."""
    return s.rate is not None and s.entered >= journey.min_volume and _lost(s) > 0


def leaks(journey: Journey, result: MapResult, top: int = TOP_LEAKS) -> list[Leak]:
    """The transitions that lose the most, ranked by value at stake and benchmark gap."""
    out = []
    for k, s in enumerate(result.stages[:-1]):
        if not _defensible(journey, s):
            continue
        worth, unit = _worth(journey, result, k)
        nxt = result.stages[k + 1]
        owner = journey.transition_owner(s.id, nxt.id)
        gap, lost = _gap(s), _lost(s)
        out.append(Leak(s.id, nxt.id, "lower" if _lowers(s) else "raise", lost, s.entered, s.rate,
                        s.rate_ci, lost * worth, unit, s.benchmark, gap,
                        owner.team if owner else None, owner.to_dict() if owner else None,
                        target_rate(journey, s), lost * worth * (1 + gap)))
    out.sort(key=lambda lk: (-lk.score, -lk.lost, lk.from_stage))
    return out[:top]


def _pct(x: float) -> str:
    return f"{x:.0%}" if x >= 0.1 or x == 0 else f"{x:.1%}"


def _within(journey: Journey, stage_id: str) -> str:
    w = journey.stage(stage_id).within
    if w is None:
        return ""
    days = w / 86400
    return f" within {days:g} days" if days >= 1 else f" within {w / 3600:g} hours"


def _gap_kind(journey: Journey, result: MapResult, leak: Leak) -> str | None:
    """'time-to-value' or 'conversion' when a healthy stage (>= 70%) is followed by a
    sharp drop (< 50%) that is also below its benchmark where one is set; None
    otherwise (and never for a move into a bad outcome)."""
    k = journey.stage_ids.index(leak.from_stage)
    prev = result.stages[k - 1] if k > 0 else None
    if leak.direction == "lower" or prev is None or prev.rate is None or prev.lower_is_better:
        return None
    if prev.rate < 0.7 or leak.rate >= 0.5:
        return None
    if leak.benchmark and leak.rate >= leak.benchmark["low"]:
        return None
    return "time-to-value" if any(w in leak.to_stage for w in ACTIVATION_WORDS) else "conversion"


def _benchmark_phrase(leak: Leak) -> str:
    bm = leak.benchmark
    if not bm or leak.gap_below_benchmark <= 0:
        return ""
    side = "above" if leak.direction == "lower" else "below"
    return f", {side} the {_pct(bm['low'])}–{_pct(bm['high'])} benchmark"


def _leak_sentence(journey: Journey, result: MapResult, leak: Leak) -> str:
    k = journey.stage_ids.index(leak.from_stage)
    frm, to = journey.stage(leak.from_stage), journey.stage(leak.to_stage)
    kind = _gap_kind(journey, result, leak)
    if leak.direction == "lower":
        head = (f"Of the {leak.entered:,} customers who reached {frm.label}, {_pct(leak.rate)} "
                f"went on to {to.label}{_within(journey, to.id)}")
        lost = f"{leak.lost:,} customers went to {to.label} here"
        aim = "proposed 90-day target: lower it to"
    else:
        if kind:
            head = (f"{_pct(result.stages[k - 1].rate)} reach {frm.label} but only "
                    f"{_pct(leak.rate)} go on to {to.label}{_within(journey, to.id)}: {kind} gap")
        else:
            head = (f"Only {_pct(leak.rate)} of the {leak.entered:,} customers who reached "
                    f"{frm.label} went on to {to.label}{_within(journey, to.id)}"
                    if leak.rate < 0.5 else
                    f"Of the {leak.entered:,} customers who reached {frm.label}, {_pct(leak.rate)} "
                    f"went on to {to.label}{_within(journey, to.id)}")
        lost = f"{leak.lost:,} customers lost here"
        aim = "proposed 90-day target"
    target = f"; {aim} {_pct(leak.target_rate)}" if leak.target_rate is not None else ""
    return f"{head}{_benchmark_phrase(leak)}. {lost}; owner {leak.owner}{target}."


def _persona_sentences(journey: Journey, result: MapResult, limit: int = 2) -> list[str]:
    """Transitions where one persona does clearly worse than another (intervals apart,
    1.5 times the loss), each persona above the minimum volume."""
    found = []
    for k, st in enumerate(journey.stages[:-1]):
        rows = [(pid, rows[k]) for pid, rows in result.personas.items()
                if _defensible(journey, rows[k])]
        if len(rows) < 2:
            continue
        lower = rows[0][1].lower_is_better
        good = min if lower else max
        bad = max if lower else min
        worst, best = bad(rows, key=lambda r: r[1].rate), good(rows, key=lambda r: r[1].rate)
        lo, hi = sorted((worst, best), key=lambda r: r[1].rate)
        loss = (lambda r: r[1].rate) if lower else (lambda r: 1 - r[1].rate)
        if lo[1].rate_ci[1] >= hi[1].rate_ci[0] or loss(worst) < 1.5 * loss(best):
            continue
        nxt = journey.stages[k + 1]
        owner = journey.transition_owner(st.id, nxt.id)
        found.append((abs(hi[1].rate - lo[1].rate) * worst[1].entered,
                      f"{journey.persona(worst[0]).label} go from {st.label} to {nxt.label} at "
                      f"{_pct(worst[1].rate)} against {_pct(best[1].rate)} for "
                      f"{journey.persona(best[0]).label}: a persona-specific leak, owner "
                      f"{owner.team if owner else 'unassigned'}."))
    found.sort(key=lambda x: -x[0])
    return [s for _, s in found[:limit]]


def _benchmark_sentences(journey: Journey, result: MapResult, said: set[str]) -> list[str]:
    """Transitions beyond their benchmark that no leak sentence named yet."""
    out = []
    for s in result.stages[:-1]:
        if s.id in said or not _defensible(journey, s):
            continue
        bm = s.benchmark
        if s.lower_is_better and s.verdict == "above":
            out.append(f"Of those who reached {s.name}, {_pct(s.rate)} went on to "
                       f"{journey.stage(s.next).label}, above its {_pct(bm['low'])}–"
                       f"{_pct(bm['high'])} benchmark (owner {s.owner}).")
        elif not s.lower_is_better and s.verdict == "below":
            out.append(f"{s.name} converts at {_pct(s.rate)}, below its {_pct(bm['low'])}–"
                       f"{_pct(bm['high'])} benchmark (owner {s.owner}).")
    return out


def findings(journey: Journey, result: MapResult, top: list[Leak]) -> list[str]:
    """Plain-language sentences a team lead can act on: the top leaks, any sharp drop
    after a healthy stage, persona-specific leaks, transitions beyond their benchmark,
    immature cohorts left out."""
    out = [_leak_sentence(journey, result, leak) for leak in top]
    said = {lk.from_stage for lk in top}
    for leak in leaks(journey, result, top=len(result.stages)):
        if leak.from_stage not in said and _gap_kind(journey, result, leak):
            out.append(_leak_sentence(journey, result, leak))
            said.add(leak.from_stage)
    out += _persona_sentences(journey, result)
    out += _benchmark_sentences(journey, result, said)
    small = [s for s in result.stages[:-1] if s.rate is not None and s.entered < journey.min_volume]
    if small:
        names = ", ".join(s.name for s in small)
        out.append(f"No leak or finding is drawn from {names}: fewer than {journey.min_volume} users "
                   "entered (the journey's min_volume).")
    immature = [c for c in result.cohorts if c.immature]
    if immature:
        out.append(f"{len(immature)} stage entry cohorts are immature (their time limit had not "
                   f"passed by {result.computed_on['data_end'][:10]}) and are left out of rates.")
    return out


def handoffs(journey: Journey, result: MapResult) -> list[OwnedTransition]:
    """Every move between consecutive stages, with its owner and the customers it lost
    (who did not advance; into a bad outcome, who did)."""
    out = []
    for s in result.stages[:-1]:
        declared = journey.handoff(s.id, s.next)
        owner = journey.transition_owner(s.id, s.next)
        out.append(OwnedTransition(s.id, s.next, owner.team if owner else None,
                                   owner.to_dict() if owner else None,
                                   declared is not None and declared.owner is not None,
                                   "lower" if _lowers(s) else "raise", s.entered, _lost(s), s.rate))
    return out


def _progression_fine(journey: Journey, s: StageStats) -> bool:
    """At or beyond the benchmark's good end; without one, at least the journey's
    `resented.progression_at_least`."""
    if s.rate is None:
        return False
    if s.verdict is not None:
        return s.verdict in ("within", "below") if s.lower_is_better else s.verdict in ("within", "above")
    return s.rate >= journey.signals.resented.progression_at_least


def _poor(journey: Journey, feel, entered: int) -> list[dict]:
    """The experience thresholds a stage misses, each with its value and interval."""
    rule = journey.signals.resented
    out = []
    for kind, limit in (("csat", rule.csat_below), ("nps", rule.nps_below), ("ces", rule.ces_below)):
        stat = feel.surveys.get(kind)
        if limit is None or not stat or stat["n"] < rule.min_answers or stat[kind] is None:
            continue
        if stat[kind] < limit:
            out.append({"signal": kind, "value": stat[kind], "ci": stat.get(f"{kind}_ci"), "n": stat["n"],
                        "threshold": limit})
    tickets = feel.tickets
    if rule.tickets_per_100_above is not None and tickets and entered >= rule.min_answers and \
            tickets["per_100"] is not None and tickets["per_100"] > rule.tickets_per_100_above:
        out.append({"signal": "tickets_per_100", "value": tickets["per_100"], "ci": None,
                    "n": tickets["tickets"], "threshold": rule.tickets_per_100_above})
    return out


def resented(journey: Journey, result: MapResult) -> list[ResentedStage]:
    """Stages with fine progression but poor experience (the journey's `resented` rule),
    each entered by at least `min_volume` customers."""
    if result.experience is None:
        return []
    out = []
    for s in result.stages[:-1]:
        if s.entered < journey.min_volume or not _progression_fine(journey, s):
            continue
        reasons = _poor(journey, result.experience.stage(s.id), s.entered)
        if reasons:
            out.append(ResentedStage(s.id, s.owner, s.rate, s.benchmark, tuple(reasons)))
    return out


_SIGNAL_PHRASE = {
    "csat": lambda r: f"only {_pct(r['value'])} of {r['n']:,} CSAT answers are satisfied "
                      f"(95% CI {_pct(r['ci'][0])}–{_pct(r['ci'][1])})",
    "nps": lambda r: f"NPS is {r['value']:+.0f} over {r['n']:,} answers "
                     f"(95% CI {r['ci'][0]:+.0f} to {r['ci'][1]:+.0f})",
    "ces": lambda r: f"effort scores {r['value']:.2f} of 7 (higher is easier; "
                     f"95% CI {r['ci'][0]:.2f}–{r['ci'][1]:.2f})",
    "tickets_per_100": lambda r: f"{r['value']:.1f} tickets per 100 customers",
}


def _resented_sentence(journey: Journey, r: ResentedStage) -> str:
    st, nxt = journey.stage(r.stage), journey.stages[journey.stage_ids.index(r.stage) + 1]
    said = "; ".join(_SIGNAL_PHRASE[x["signal"]](x) for x in r.reasons)
    return (f"{st.label} is resented: {_pct(r.rate)} go on to {nxt.label}, but {said}. "
            f"Customers pass through it unhappy; owner {r.owner or 'unassigned'}.")


def diagnose(journey: Journey, result: MapResult) -> Diagnosis:
    """The leaks, findings, owned transitions and resented stages of a measured map."""
    top = leaks(journey, result)
    hurt = resented(journey, result)
    said = findings(journey, result, top)
    said[len(top):len(top)] = [_resented_sentence(journey, r) for r in hurt]  # after the leaks
    return Diagnosis(tuple(top), tuple(said), tuple(handoffs(journey, result)), tuple(hurt))


def _driver_sentence(journey: Journey, frm: str, to: str, d: dict) -> str:
    lo, hi = d["odds_ratio_ci"]
    times = f"{d['lift']:.1f}× the rate of the others" if d["lift"] else "a higher rate than the others"
    return (f"Of those who reached {journey.stage(frm).label}, customers who did {d['behaviour']} within "
            f"{d['horizon']} went on to {journey.stage(to).label} at {times} ({_pct(d['rate_did'])} vs "
            f"{_pct(d['rate_not'])}; odds ratio {d['odds_ratio']:.1f}, 95% CI {lo:.1f}–{hi:.1f}): an "
            "association, worth testing with an experiment.")


def with_leak_drivers(journey: Journey, diagnosis: Diagnosis, found: dict) -> Diagnosis:
    """The diagnosis with the top driver of each top leak named: (from, to) -> driver row."""
    kept = [(a, b, d) for (a, b), d in found.items() if d is not None]
    if not kept:
        return diagnosis
    said = list(diagnosis.findings)
    at = len(diagnosis.leaks)
    said[at:at] = [_driver_sentence(journey, a, b, d) for a, b, d in kept]
    return Diagnosis(diagnosis.leaks, tuple(said), diagnosis.handoffs, diagnosis.resented,
                     tuple({"from": a, "to": b, "driver": d} for a, b, d in kept))
