"""Leaks, owners, targets and findings, on funnels whose numbers are worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from journeymap.api import measure
from journeymap.insight.diagnose import target_rate
from journeymap.spec.load import load_journey

# Third-party deprecations the project's `filterwarnings = error` would turn into failures:
# ibis 12 calls DuckDB's deprecated fetch_record_batch(), and ibis' to_pandas() reads
# pandas' deprecated `future.infer_string` option (Pandas4Warning under pandas 3.1).
pytestmark = [
    pytest.mark.filterwarnings(r"ignore:fetch_record_batch\(\) is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings(r"ignore:The 'future.infer_string' option is deprecated"),
]

T0 = pd.Timestamp("2024-01-01T00:00:00Z")


def funnel_events(counts, revenue=None, prefix="u") -> pd.DataFrame:
    """User i reaches stage k (event e{k}, k days after T0) when i < counts[k].

    `revenue(i)` gives user i's revenue, put on a separate 'payment' event.
    """
    rows = []
    for i in range(counts[0]):
        uid = f"{prefix}{i:04d}"
        for k, n in enumerate(counts):
            if i < n:
                rows.append({"user_id": uid, "event": f"e{k}", "ts": T0 + pd.Timedelta(days=k)})
        if revenue is not None:
            rows.append({"user_id": uid, "event": "payment", "ts": T0 + pd.Timedelta(days=30),
                         "revenue": float(revenue(i))})
    return pd.DataFrame(rows)


def journey(ids, owners=None, extra_stage=None, tail=""):
    """YAML for stages `ids` entered by events e0, e1, ...; extra_stage[id] adds keys."""
    owners = owners or {}
    extra_stage = extra_stage or {}
    lines = ["name: diag", "min_volume: 1", "stages:"]  # ranking mechanics: no volume floor
    for k, sid in enumerate(ids):
        more = extra_stage.get(sid, "")
        lines.append(f"  - {{id: {sid}, owner: {owners.get(sid, 'team_' + sid)}, "
                     f"enter: {{event: e{k}}}{', ' + more if more else ''}}}")
    return "\n".join(lines) + "\n" + tail


def leak(result, frm):
    for lk in result.leaks:
        if lk.from_stage == frm:
            return lk
    raise AssertionError(f"no leak from {frm}: {[lk.from_stage for lk in result.leaks]}")


# -- ranking -------------------------------------------------------------------------------------

def test_ranking_without_revenue_uses_the_chance_of_reaching_the_end():
    # 100 -> 50 -> 10. a->b: 50 lost x 10/50 = 10; b->c: 40 lost x 10/10 = 40
    r = measure(journey(["a", "b", "c"]), funnel_events([100, 50, 10]))
    assert [(lk.from_stage, lk.to_stage) for lk in r.leaks] == [("b", "c"), ("a", "b")]
    b, a = r.leaks
    assert (b.lost, b.entered, a.lost, a.entered) == (40, 50, 50, 100)
    assert b.value_unit == a.value_unit == "end-stage customers"
    assert b.value_at_stake == pytest.approx(40.0) and b.score == pytest.approx(40.0)
    assert a.value_at_stake == pytest.approx(10.0) and a.score == pytest.approx(10.0)
    assert a.rate == pytest.approx(0.5) and b.rate == pytest.approx(0.2)
    assert r.value_per_user == {}


def _revenue(i):
    # reached c (i < 10): 100; reached b only (10 <= i < 50): 50; stopped at a: 0
    return 100 if i < 10 else 50 if i < 50 else 0


def test_ranking_with_revenue_uses_value_of_advanced_minus_lost():
    # a->b: advanced mean (10*100 + 40*50)/50 = 60, lost mean 0 -> 50 x 60 = 3000
    # b->c: advanced mean 100, lost mean 50 -> 40 x 50 = 2000
    r = measure(journey(["a", "b", "c"]), funnel_events([100, 50, 10], revenue=_revenue))
    assert [(lk.from_stage, lk.to_stage) for lk in r.leaks] == [("a", "b"), ("b", "c")]
    a, b = r.leaks
    assert a.value_unit == b.value_unit == "revenue"
    assert a.value_at_stake == pytest.approx(3000.0)
    assert b.value_at_stake == pytest.approx(2000.0)
    assert a.score == pytest.approx(3000.0) and b.score == pytest.approx(2000.0)
    assert r.value_per_user["a"] == pytest.approx({"advanced": 60.0, "lost": 0.0})
    assert r.value_per_user["b"] == pytest.approx({"advanced": 100.0, "lost": 50.0})


def test_revenue_is_summed_per_user_over_all_events():
    # each of u0000..u0009 pays 40 + 60 (two rows) -> 100, same totals as _revenue
    ev = funnel_events([100, 50, 10], revenue=lambda i: 40 if i < 10 else _revenue(i))
    extra = pd.DataFrame({"user_id": [f"u{i:04d}" for i in range(10)], "event": "payment",
                          "ts": T0 + pd.Timedelta(days=31), "revenue": 60.0})
    r = measure(journey(["a", "b", "c"]), pd.concat([ev, extra], ignore_index=True))
    assert r.value_per_user["b"] == pytest.approx({"advanced": 100.0, "lost": 50.0})
    assert leak(r, "a").value_at_stake == pytest.approx(3000.0)


def test_lost_users_worth_more_than_advanced_ones_put_nothing_at_stake():
    # those who stop at b spend more than those who go on to c: worth max(0, 10 - 50) = 0
    r = measure(journey(["a", "b", "c"]),
                funnel_events([100, 50, 10], revenue=lambda i: 10 if i < 10 else 50 if i < 50 else 0))
    b = leak(r, "b")
    assert b.value_at_stake == 0.0 and b.score == 0.0
    assert r.leaks[0].from_stage == "a"


def test_non_numeric_revenue_is_ignored():
    ev = funnel_events([100, 50, 10], revenue=_revenue)
    ev["revenue"] = ev["revenue"].map(lambda v: None if pd.isna(v) else f"{v:.0f} EUR")
    r = measure(journey(["a", "b", "c"]), ev)
    assert r.value_per_user == {}
    assert [lk.from_stage for lk in r.leaks] == ["b", "a"]
    assert r.leaks[0].value_unit == "end-stage customers"


def test_at_most_three_leaks_ranked_by_score():
    # 1000 -> 500 -> 200 -> 100 -> 60; end-stage worth 60/500, 60/200, 60/100, 60/60
    # scores: 500*0.12 = 60, 300*0.3 = 90, 100*0.6 = 60, 40*1 = 40
    r = measure(journey(["a", "b", "c", "d", "e"]), funnel_events([1000, 500, 200, 100, 60]))
    assert len(r.leaks) == 3
    assert [lk.from_stage for lk in r.leaks] == ["b", "a", "c"]  # a ties c on score, loses more
    assert [lk.score for lk in r.leaks] == pytest.approx([90.0, 60.0, 60.0])


# -- benchmark gap --------------------------------------------------------------------------------

def test_benchmark_gap_raises_a_leak_in_the_ranking():
    # 40 -> 20 -> 10: a->b 20 lost x 10/20 = 10, b->c 10 lost x 1 = 10: a tie, a->b loses more
    ids = ["a", "b", "c"]
    r = measure(journey(ids), funnel_events([40, 20, 10]))
    assert [lk.from_stage for lk in r.leaks] == ["a", "b"]
    assert all(lk.gap_below_benchmark == 0.0 for lk in r.leaks)
    # a benchmark of 60-80% into c puts b->c (50%) 1/6 below it: score 10 x 7/6
    r = measure(journey(ids, tail="benchmarks:\n  c: {low: 0.6, high: 0.8}\n"), funnel_events([40, 20, 10]))
    assert [lk.from_stage for lk in r.leaks] == ["b", "a"]
    b = r.leaks[0]
    assert b.gap_below_benchmark == pytest.approx(1 / 6)
    assert b.score == pytest.approx(10 * 7 / 6)
    assert b.value_at_stake == pytest.approx(10.0)
    assert b.benchmark["low"] == 0.6 and b.benchmark["high"] == 0.8


def test_builtin_benchmark_gap():
    # 'retention' has a built-in 85-95% range: 50% is (0.85 - 0.5) / 0.85 below it
    r = measure(journey(["a", "b", "retention"]), funnel_events([40, 20, 10]))
    b = leak(r, "b")
    assert b.gap_below_benchmark == pytest.approx(0.35 / 0.85)
    assert b.score == pytest.approx(10 * (1 + 0.35 / 0.85))
    assert r.leaks[0].from_stage == "b"
    assert b.target_rate == pytest.approx(0.85)


def test_no_gap_within_or_above_the_benchmark():
    r = measure(journey(["a", "b", "c"], tail="benchmarks:\n  c: {low: 0.5, high: 0.8}\n"),
                funnel_events([40, 20, 10]))
    assert leak(r, "b").gap_below_benchmark == 0.0  # exactly at the low end
    r = measure(journey(["a", "b", "c"], tail="benchmarks:\n  c: {low: 0.1, high: 0.3}\n"),
                funnel_events([40, 20, 10]))
    assert leak(r, "b").gap_below_benchmark == 0.0


# -- targets --------------------------------------------------------------------------------------

@pytest.mark.parametrize("bench, expected", [
    ("{low: 0.6, high: 0.8}", 0.6),  # below: the low end
    ("{low: 0.4, high: 0.8}", 0.65),  # within: halfway to the high end
    ("{low: 0.2, high: 0.3}", 0.55),  # above: 10% relative lift
    (None, 0.55),  # no benchmark: 10% relative lift
])
def test_target_rate_rules(bench, expected):
    tail = f"benchmarks:\n  c: {bench}\n" if bench else ""
    r = measure(journey(["a", "b", "c"], tail=tail), funnel_events([40, 20, 10]))
    assert leak(r, "b").target_rate == pytest.approx(expected)


def test_explicit_stage_target_wins():
    ids = ["a", "b", "c"]
    j = journey(ids, extra_stage={"b": "target: 0.9"}, tail="benchmarks:\n  c: {low: 0.6, high: 0.8}\n")
    r = measure(j, funnel_events([40, 20, 10]))
    assert leak(r, "b").target_rate == 0.9
    assert leak(r, "a").target_rate == pytest.approx(0.55)
    # an explicit target the stage already beats is never proposed: the next rule applies
    # (a 10% lift on 50%), so a target is never below the current rate
    j = journey(ids, extra_stage={"a": "target: 0.3"})
    r = measure(j, funnel_events([40, 20, 10]))
    assert leak(r, "a").target_rate == pytest.approx(0.55)


def test_lift_is_capped_at_one():
    r = measure(journey(["a", "b", "c"]), funnel_events([100, 95, 10]))
    assert leak(r, "a").target_rate == 1.0


def test_target_rate_function_directly():
    j = load_journey(journey(["a", "b", "c"], extra_stage={"b": "target: 0.62"}))
    r = measure(j, funnel_events([40, 20, 10]))
    assert target_rate(j, r.stage("b")) == 0.62
    assert target_rate(j, r.stage("a")) == pytest.approx(0.55)
    assert target_rate(j, r.stage("c")) is None  # the last stage has no rate


# -- owners ---------------------------------------------------------------------------------------

OWNED = """
name: owned
stages:
  - {id: visit, owner: web, enter: {event: e0}}
  - {id: signup, owner: {responsible: product}, enter: {event: e1}}
  - {id: buy, owner: sales, enter: {event: e2}}
  - {id: renew, owner: {responsible: success, accountable: revenue_ops, consulted: finance}, enter: {event: e3}}
handoffs:
  - from: visit
    to: signup
    owner:
      responsible: web
      accountable: marketing
      consulted: [design]
      informed: sales
  - {from: visit, to: buy, owner: nobody_here}
"""


def test_owner_from_handoff_else_from_the_stage_it_leaves():
    r = measure(OWNED, funnel_events([100, 60, 30, 20]))
    by_from = {lk.from_stage: lk for lk in r.leaks}
    assert set(by_from) == {"visit", "signup", "buy"}
    # the handoff owns visit -> signup; its accountable team answers for it
    assert by_from["visit"].owner == "marketing"
    assert by_from["visit"].owner_raci == {
        "responsible": "web", "accountable": "marketing", "consulted": ["design"], "informed": ["sales"]}
    # no handoff signup -> buy (visit -> buy is a different seam): the stage it leaves
    assert by_from["signup"].owner == "product"
    assert by_from["signup"].owner_raci == {
        "responsible": "product", "accountable": "product", "consulted": [], "informed": []}
    assert by_from["buy"].owner == "sales"
    assert by_from["buy"].owner_raci == {
        "responsible": "sales", "accountable": "sales", "consulted": [], "informed": []}
    # stage rows carry the stage's own team
    assert [s.owner for s in r.stages] == ["web", "product", "sales", "revenue_ops"]


def test_findings_name_the_owner_of_each_leak():
    r = measure(OWNED, funnel_events([100, 60, 30, 20]))
    assert len(r.findings) >= len(r.leaks)
    for lk, sentence in zip(r.leaks, r.findings):
        assert f"owner {lk.owner}" in sentence
        assert f"{lk.lost:,} customers lost here" in sentence


# -- findings -------------------------------------------------------------------------------------

def test_plain_leak_sentence():
    r = measure(journey(["a", "b", "c"]), funnel_events([100, 50, 10]))
    assert r.findings[0] == ("Only 20% of the 50 customers who reached b went on to c. "
                             "40 customers lost here; owner team_b; proposed 90-day target 22%.")


def test_time_to_value_gap():
    # 100 sign up, 80 reach onboarding (80% >= 70%), only 24 reach first value (30% < 50%)
    ids = ["signup", "onboarding", "first_value"]
    j = journey(ids, owners={"onboarding": "onboarding_team"}, extra_stage={"first_value": "within: 7d"})
    r = measure(j, funnel_events([100, 80, 24]))
    sentence = next(f for f in r.findings if "onboarding_team" in f)
    assert sentence == (
        "80% reach onboarding but only 30% go on to first value within 7 days: time-to-value gap, "
        "below the 40%–70% benchmark. 56 customers lost here; owner onboarding_team; "
        "proposed 90-day target 40%.")


@pytest.mark.parametrize("third, kind", [("activation", "time-to-value"), ("value_moment", "time-to-value"),
                                         ("checkout", "conversion")])
def test_gap_kind_depends_on_the_next_stage(third, kind):
    r = measure(journey(["signup", "onboarding", third]), funnel_events([100, 80, 24]))
    sentence = next(f for f in r.findings if "owner team_onboarding" in f)
    assert f"80% reach onboarding but only 30% go on to {third.replace('_', ' ')}: {kind} gap" in sentence


def test_no_gap_phrasing_when_the_stage_before_is_under_70_percent():
    r = measure(journey(["signup", "onboarding", "first_value"]), funnel_events([100, 69, 20]))
    sentence = next(f for f in r.findings if "owner team_onboarding" in f)
    assert "gap" not in sentence
    assert sentence.startswith("Only 29% of the 69 customers who reached onboarding went on to first value")


def test_no_gap_phrasing_when_the_next_rate_is_50_percent_or_more():
    r = measure(journey(["signup", "onboarding", "first_value"]), funnel_events([100, 80, 40]))
    assert not any("gap" in f for f in r.findings)


def test_below_benchmark_stage_outside_the_top_leaks_gets_a_finding():
    # 1000 -> 500 -> 200 -> 100 -> 60: top leaks are from b, a, c; d -> e (60%) is below 85-95%
    ids = ["a", "b", "c", "d", "retention"]
    r = measure(journey(ids), funnel_events([1000, 500, 200, 100, 60]))
    assert "d" not in {lk.from_stage for lk in r.leaks}
    assert "d converts at 60%, below its 85%–95% benchmark (owner team_d)." in r.findings


def test_persona_specific_leak_finding():
    j = """
name: personas
stages:
  - {id: visit, owner: web, enter: {event: e0}}
  - {id: buy, owner: sales, enter: {event: e1}}
handoffs:
  - {from: visit, to: buy, owner: growth}
personas:
  - {id: mobile, name: Mobile users, where: {device: mobile}}
  - {id: desktop, name: Desktop users, where: {device: desktop}}
"""
    ev = pd.concat([funnel_events([100, 20], prefix="m"), funnel_events([100, 60], prefix="d")],
                   ignore_index=True)
    users = pd.DataFrame({"user_id": sorted(set(ev.user_id))})
    users["device"] = users.user_id.map(lambda u: "mobile" if u.startswith("m") else "desktop")
    r = measure(j, ev, users=users)
    assert ("Mobile users go from visit to buy at 20% against 60% for Desktop users: "
            "a persona-specific leak, owner growth.") in r.findings
    # the first finding is still the overall leak: 80 of 200 advanced
    assert r.findings[0].startswith("Only 40% of the 200 customers who reached visit went on to buy")
    assert "owner growth" in r.findings[0]


def test_findings_are_plain_sentences():
    r = measure(OWNED, funnel_events([100, 60, 30, 20]))
    assert r.findings
    for f in r.findings:
        assert isinstance(f, str) and f[0].isupper() and f.endswith(".")
