"""Drivers find what the demo generator planted: setup within 7 days of sign-up multiplies
paid conversion, and each persona has its own activation moment."""

from __future__ import annotations

import pytest

import journeymap
from journeymap.api import activation, drivers


@pytest.fixture(scope="module")
def setup(demo):
    return drivers(demo.journey_text, demo.events, users=demo.users, from_stage="signup", to_stage="purchase",
                   horizon="7d")


def test_setup_within_7_days_multiplies_paid_conversion(setup, demo):
    row = next(r for r in setup.drivers if r["behaviour"] == demo.stories["setup_event"])
    planted = demo.stories["setup_within_7d_paid_multiplier"]
    assert row["lift"] == pytest.approx(planted, rel=demo.stories["tolerance"]["ratio_rel"])
    assert row["q_value"] < 1e-6 and row["odds_ratio_ci"][0] > 1
    # the persona mix does not make it: within personas the odds ratio holds
    assert row["mh_odds_ratio"] == pytest.approx(row["odds_ratio"], rel=0.25)


def test_each_persona_has_its_planted_activation_moment(demo):
    moments = demo.stories["activation_moments"]["event_by_persona"]
    r = activation(demo.journey_text, demo.events, users=demo.users, from_stage="onboarding",
                   to_stage="regular_use", horizon=f"{demo.stories['activation_moments']['within_days_of_onboarding']}d")
    assert {m["persona"]: m["behaviour"] for m in r.moments} == moments
    assert all(m["lift"] > 3 for m in r.moments)


def test_the_findings_name_the_top_driver_of_a_top_leak(demo):
    m = journeymap.measure(demo.journey_text, demo.events, users=demo.users)
    said = [f for f in m.findings if "an association, worth testing with an experiment" in f]
    assert said and len(said) == len(m.diagnosis.leak_drivers) <= len(m.leaks)
    for found in m.diagnosis.leak_drivers:
        d = found["driver"]
        assert any(f"customers who did {d['behaviour']} within 7d went on to" in f and f"{d['lift']:.1f}×" in f
                   for f in said)
        assert (found["from"], found["to"]) in {(lk.from_stage, lk.to_stage) for lk in m.leaks}
        assert d["q_value"] < 0.05 and d["event"] not in ("session_start", "$pageview", "help_article_view")
