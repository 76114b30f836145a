"""Advice an analyst can defend: targets improve on the current rate, nothing is said
about a transition that lost nobody or saw too few users, bad outcomes are lowered."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import journeymap
from journeymap.insight.diagnose import target_rate
from journeymap.spec import load_journey

T0 = pd.Timestamp("2024-01-01T00:00:00Z")


def funnel_events(counts) -> pd.DataFrame:
    """User i reaches stage k (event e{k}, k days after T0) when i < counts[k]."""
    return pd.DataFrame([{"user_id": f"u{i:04d}", "event": f"e{k}", "ts": T0 + pd.Timedelta(days=k)}
                         for i in range(counts[0]) for k, n in enumerate(counts) if i < n])


def journey(n_stages, extra=None, top="", outcome_last=False) -> str:
    extra = extra or {}
    lines = ["name: advice", top, "stages:"]
    for k in range(n_stages):
        more = extra.get(k, "")
        if outcome_last and k == n_stages - 1:
            more = ", ".join(x for x in (more, "outcome: churn") if x)
        lines.append(f"  - {{id: s{k}, owner: team{k}, enter: {{event: e{k}}}"
                     f"{', ' + more if more else ''}}}")
    return "\n".join(line for line in lines if line) + "\n"


def test_a_stage_target_below_the_current_rate_is_not_proposed():
    # 200 -> 133 (66.5%); the stage's own target 50% is already beaten
    r = journeymap.measure(journey(3, {0: "target: 0.5"}), funnel_events([200, 133, 50]))
    a = next(lk for lk in r.leaks if lk.from_stage == "s0")
    assert a.rate == pytest.approx(0.665) and a.target_rate > a.rate
    assert "target 50%" not in " ".join(r.findings)


def test_no_leak_or_finding_from_a_transition_that_lost_nobody():
    r = journeymap.measure(journey(3), funnel_events([100, 100, 40]))
    assert [lk.from_stage for lk in r.leaks] == ["s1"]
    assert not any(re.search(r"(?<![\d,])0 customers|\b100% of", f) for f in r.findings)


def test_no_leak_or_finding_below_the_minimum_volume():
    r = journeymap.measure(journey(3), funnel_events([29, 10, 1]))
    assert r.leaks == () and len(r.findings) == 1
    assert r.findings[0].startswith("No leak or finding is drawn from s0, s1: fewer than 30 users")
    lowered = journeymap.measure(journey(3, top="min_volume: 5"), funnel_events([29, 10, 1]))
    assert {lk.from_stage for lk in lowered.leaks} == {"s0", "s1"}


def test_a_rate_inside_its_benchmark_is_not_called_a_gap():
    # 100 -> 90 -> 45: a healthy stage then a drop under 50%, but 45% is inside 40-70%
    inside = journey(3, top="benchmarks:\n  s2: {low: 0.4, high: 0.7}")
    r = journeymap.measure(inside, funnel_events([100, 90, 41]))
    assert not any("gap" in f for f in r.findings)
    below = journey(3, top="benchmarks:\n  s2: {low: 0.5, high: 0.7}")
    r = journeymap.measure(below, funnel_events([100, 90, 41]))
    assert any("conversion gap" in f for f in r.findings)


def test_a_churn_stage_is_a_rate_to_lower():
    # 300 retained, 60 of them churn (20%); benchmark 5-10% churn
    j = journey(3, top="benchmarks:\n  s2: {low: 0.05, high: 0.10}", outcome_last=True)
    r = journeymap.measure(j, funnel_events([400, 300, 60]))
    churn = next(lk for lk in r.leaks if lk.to_stage == "s2")
    assert churn.direction == "lower" and churn.lost == 60 and churn.entered == 300
    assert churn.rate == pytest.approx(0.2) and churn.target_rate == pytest.approx(0.10)
    assert churn.gap_below_benchmark == pytest.approx(1.0)  # 20% is twice the 10% high end
    assert churn.value_unit == "end-stage customers" and churn.value_at_stake == pytest.approx(60)
    text = " ".join(r.findings)
    assert "proposed 90-day target: lower it to 10%" in text and "above the 5.0%–10% benchmark" in text
    # the goal is s1 (the last stage that is not a bad outcome): s0 -> s1 loses 100 of 300 kept
    first = next(lk for lk in r.leaks if lk.from_stage == "s0")
    assert first.direction == "raise" and first.value_at_stake == pytest.approx(100.0)


def test_win_backs_are_not_backtracks():
    j = journey(3, outcome_last=True)
    rows = [("w", "e0", 0), ("w", "e1", 1), ("w", "e2", 2), ("w", "e1", 3),  # churns, comes back
            ("b", "e0", 0), ("b", "e1", 1), ("b", "e0", 2)]                  # a real backtrack
    ev = pd.DataFrame([{"user_id": u, "event": e, "ts": T0 + pd.Timedelta(days=d)} for u, e, d in rows])
    c = journeymap.paths(j, ev).conformance
    assert c.kinds["backtrack"] == 1 and c.win_backs == 1 and c.conforming == 1
    moves = {m["stage"]: m for m in journeymap.paths(j, ev).stage_moves}
    assert moves["s1"]["win_back_users"] == 1 and moves["s0"]["backtrack_users"] == 1
    # going to churn straight from s0 skips nothing: churn can happen anywhere
    ev = pd.DataFrame([{"user_id": "c", "event": e, "ts": T0 + pd.Timedelta(days=d)}
                       for e, d in (("e0", 0), ("e2", 1))])
    assert journeymap.paths(j, ev).conformance.kinds["skip"] == 0


@st.composite
def funnels(draw):
    n = draw(st.integers(2, 5))
    counts = [draw(st.integers(0, 120))]
    for _ in range(n - 1):
        counts.append(draw(st.integers(0, counts[-1])))
    extra = {}
    for k in range(n - 1):
        if draw(st.booleans()):
            extra[k] = f"target: {draw(st.floats(0, 1)):.3f}"
    bench = ""
    if draw(st.booleans()):
        k = draw(st.integers(1, n - 1))
        lo = draw(st.floats(0, 1))
        hi = draw(st.floats(lo, 1))
        bench = f"benchmarks:\n  s{k}: {{low: {lo:.3f}, high: {max(hi, lo):.3f}}}"
    top = "\n".join(x for x in (bench, f"min_volume: {draw(st.integers(1, 40))}") if x)
    return counts, journey(n, extra, top, outcome_last=draw(st.booleans()) and n > 2)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(funnels())
def test_every_target_improves_and_every_finding_has_losses(case):
    counts, text = case
    if not counts[0]:
        return
    r = journeymap.measure(text, funnel_events(counts))
    j = load_journey(text)
    for lk in r.leaks:
        assert lk.lost > 0 and lk.entered >= j.min_volume
        if lk.target_rate is not None:
            assert (lk.target_rate < lk.rate) if lk.direction == "lower" else (lk.target_rate > lk.rate)
    for s in r.stages[:-1]:
        t = target_rate(j, s)
        if t is not None and s.rate is not None:
            assert (t < s.rate) if s.lower_is_better else (t > s.rate)
    for f in r.findings:
        assert not re.search(r"(?<![\d,])0 customers", f)
