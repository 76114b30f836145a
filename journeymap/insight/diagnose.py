"""Where the journey leaks, who owns it, and what to aim for in 90 days.

A transition's score = customers lost x what each was worth downstream x
(1 + relative distance below its benchmark). Worth downstream is the extra
revenue of users who advanced over those who did not when events carry
`revenue`; otherwise the chance that a user who advanced reaches the last
stage. The proposed 90-day target is the stage's own `target` when set, else
the benchmark's low end when below it, else halfway to its high end, else a
10% relative lift.
"""

from __future__ import annotations

from dataclasses import dataclass

from journeymap.measure.map.measured_map import MapResult
from journeymap.measure.map.stage_stats import StageStats
from journeymap.results import Result
from journeymap.spec.model import Journey

TOP_LEAKS = 3
ACTIVATION_WORDS = ("value", "activat", "aha", "setup")


@dataclass(frozen=True)
class Leak:
    """One transition that loses customers, with its owner and a proposed target.

    `to_dict()`: {"from", "to", "lost", "entered", "rate", "rate_ci", "value_at_stake",
    "value_unit", "benchmark", "gap_below_benchmark", "owner", "owner_raci",
    "target_rate", "score"}.
    """

    from_stage: str
    to_stage: str
    lost: int
    entered: int
    rate: float
    rate_ci: list[float] | None
    value_at_stake: float
    value_unit: str  # "revenue" or "end-stage customers"
    benchmark: dict | None
    gap_below_benchmark: float  # relative distance below the benchmark's low end (0 if none)
    owner: str | None
    owner_raci: dict | None
    target_rate: float | None
    score: float

    def to_dict(self) -> dict:
        return {"from": self.from_stage, "to": self.to_stage, "lost": self.lost,
                "entered": self.entered, "rate": self.rate, "rate_ci": self.rate_ci,
                "value_at_stake": self.value_at_stake, "value_unit": self.value_unit,
                "benchmark": self.benchmark, "gap_below_benchmark": self.gap_below_benchmark,
                "owner": self.owner, "owner_raci": self.owner_raci,
                "target_rate": self.target_rate, "score": self.score}


@dataclass(frozen=True)
class Diagnosis(Result):
    """Where a measured map leaks and what to say about it: the top leaks and findings."""

    leaks: tuple[Leak, ...]
    findings: tuple[str, ...]
    title = "diagnosis"

    def rows(self) -> list[dict]:
        return [lk.to_dict() for lk in self.leaks]

    def to_dict(self) -> dict:
        return {"leaks": self.rows(), "findings": list(self.findings)}


def _worth(result: MapResult, k: int) -> tuple[float, str]:
    stages = result.stages
    if result.value_per_user:
        v = result.value_per_user.get(stages[k].id, {})
        return max(0.0, v.get("advanced", 0.0) - v.get("lost", 0.0)), "revenue"
    nxt = stages[k + 1].entered
    return (stages[-1].entered / nxt if nxt else 0.0), "end-stage customers"


def _gap(s: StageStats) -> float:
    bm = s.benchmark
    if not bm or s.rate is None or s.rate >= bm["low"] or bm["low"] <= 0:
        return 0.0
    return (bm["low"] - s.rate) / bm["low"]


def target_rate(journey: Journey, s: StageStats) -> float | None:
    """Proposed 90-day target for the rate out of a stage."""
    own = journey.stage(s.id).target
    if own is not None:
        return own
    if s.rate is None:
        return None
    bm = s.benchmark
    if bm and s.rate < bm["low"]:
        return bm["low"]
    if bm and s.rate <= bm["high"]:
        return round(s.rate + (bm["high"] - s.rate) / 2, 4)
    return round(min(1.0, s.rate * 1.10), 4)


def leaks(journey: Journey, result: MapResult, top: int = TOP_LEAKS) -> list[Leak]:
    """The transitions that lose the most, ranked by value at stake and benchmark gap."""
    out = []
    for k, s in enumerate(result.stages[:-1]):
        if not s.entered or s.rate is None:
            continue
        worth, unit = _worth(result, k)
        nxt = result.stages[k + 1]
        owner = journey.transition_owner(s.id, nxt.id)
        gap = _gap(s)
        out.append(Leak(s.id, nxt.id, s.drop_off, s.entered, s.rate, s.rate_ci,
                        s.drop_off * worth, unit, s.benchmark, gap,
                        owner.team if owner else None, owner.to_dict() if owner else None,
                        target_rate(journey, s), s.drop_off * worth * (1 + gap)))
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
    sharp drop (< 50%); None otherwise."""
    k = journey.stage_ids.index(leak.from_stage)
    prev = result.stages[k - 1] if k > 0 else None
    if prev is None or prev.rate is None or prev.rate < 0.7 or leak.rate >= 0.5:
        return None
    return "time-to-value" if any(w in leak.to_stage for w in ACTIVATION_WORDS) else "conversion"


def _leak_sentence(journey: Journey, result: MapResult, leak: Leak) -> str:
    k = journey.stage_ids.index(leak.from_stage)
    frm, to = journey.stage(leak.from_stage), journey.stage(leak.to_stage)
    kind = _gap_kind(journey, result, leak)
    if kind:
        head = (f"{_pct(result.stages[k - 1].rate)} reach {frm.label} but only "
                f"{_pct(leak.rate)} go on to {to.label}{_within(journey, to.id)}: {kind} gap")
    else:
        head = (f"Only {_pct(leak.rate)} of the {leak.entered:,} customers who reached "
                f"{frm.label} went on to {to.label}{_within(journey, to.id)}")
    bm = leak.benchmark
    below = (f", below the {_pct(bm['low'])}–{_pct(bm['high'])} benchmark"
             if bm and leak.gap_below_benchmark > 0 else "")
    target = f"; proposed 90-day target {_pct(leak.target_rate)}" if leak.target_rate else ""
    return (f"{head}{below}. {leak.lost:,} customers lost here; owner {leak.owner}{target}.")


def _persona_sentences(journey: Journey, result: MapResult, limit: int = 2) -> list[str]:
    found = []
    for k, st in enumerate(journey.stages[:-1]):
        rows = [(pid, rows[k]) for pid, rows in result.personas.items()
                if rows[k].entered >= 30 and rows[k].rate is not None]
        if len(rows) < 2:
            continue
        lo = min(rows, key=lambda r: r[1].rate)
        hi = max(rows, key=lambda r: r[1].rate)
        if lo[1].rate_ci[1] >= hi[1].rate_ci[0] or hi[1].rate < 1.5 * lo[1].rate:
            continue
        nxt = journey.stages[k + 1]
        owner = journey.transition_owner(st.id, nxt.id)
        found.append(((hi[1].rate - lo[1].rate) * lo[1].entered,
                      f"{journey.persona(lo[0]).label} go from {st.label} to {nxt.label} at "
                      f"{_pct(lo[1].rate)} against {_pct(hi[1].rate)} for "
                      f"{journey.persona(hi[0]).label}: a persona-specific leak, owner "
                      f"{owner.team if owner else 'unassigned'}."))
    found.sort(key=lambda x: -x[0])
    return [s for _, s in found[:limit]]


def findings(journey: Journey, result: MapResult, top: list[Leak]) -> list[str]:
    """Plain-language sentences a team lead can act on: the top leaks, any sharp drop
    after a healthy stage, persona-specific leaks, stages below benchmark, immaturity."""
    out = [_leak_sentence(journey, result, leak) for leak in top]
    said = {lk.from_stage for lk in top}
    for leak in leaks(journey, result, top=len(result.stages)):
        if leak.from_stage not in said and _gap_kind(journey, result, leak):
            out.append(_leak_sentence(journey, result, leak))
            said.add(leak.from_stage)
    out += _persona_sentences(journey, result)
    for s in result.stages[:-1]:
        if s.verdict == "below" and s.id not in said:
            out.append(f"{s.name} converts at {_pct(s.rate)}, below its "
                       f"{_pct(s.benchmark['low'])}–{_pct(s.benchmark['high'])} benchmark "
                       f"(owner {s.owner}).")
    immature = [c for c in result.cohorts if c.immature]
    if immature:
        out.append(f"{len(immature)} stage entry cohorts are immature (their time limit had not "
                   f"passed by {result.computed_on['data_end'][:10]}) and are left out of rates.")
    return out


def diagnose(journey: Journey, result: MapResult) -> Diagnosis:
    """The leaks and findings of a measured map."""
    top = leaks(journey, result)
    return Diagnosis(tuple(top), tuple(findings(journey, result, top)))
