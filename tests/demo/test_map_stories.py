"""The measured map finds the stories the demo generator planted, at their sizes."""

from __future__ import annotations

import pytest

import journeymap
from journeymap.demo.stories import rate_tolerance


@pytest.fixture(scope="module")
def measured(demo):
    """The demo measured on mature weekly cohorts (planted sizes hold for complete windows)."""
    return journeymap.measure(demo.journey_text, demo.events, users=demo.users, period="week")


def _close(observed, planted, n):
    assert observed == pytest.approx(planted, abs=rate_tolerance(planted, n)), \
        f"observed {observed:.4f} vs planted {planted:.4f} over {n} users"


def test_stage_rates_match_planted_sizes(measured, demo):
    rates = demo.stories["rates"]
    for stage in measured.stages[:-1]:
        nxt = measured.stages[measured.stages.index(stage) + 1]
        if nxt.id in rates:
            _close(stage.rate, rates[nxt.id], stage.entered)


def test_onboarding_to_first_value_gap(measured, demo):
    onboarding = measured.stage("onboarding")
    _close(onboarding.rate, demo.stories["rates"]["first_value"], onboarding.entered)
    assert onboarding.verdict == "below"
    signup = measured.stage("signup")
    _close(signup.rate, demo.stories["rates"]["onboarding"], signup.entered)
    gap = [f for f in measured.findings if "time-to-value gap" in f]
    assert len(gap) == 1
    assert f"{signup.rate:.0%} reach Onboarding but only {onboarding.rate:.0%}" in gap[0]
    assert "owner customer_success" in gap[0]


def test_each_persona_progresses_at_its_planted_rate(measured, demo):
    planted = demo.stories["first_value_rate_by_persona"]
    for persona, rate in planted.items():
        row = measured.personas[persona][[s.id for s in measured.stages].index("onboarding")]
        _close(row.rate, rate, row.entered)
    finding = [f for f in measured.findings if "persona-specific" in f]
    assert finding and "Enterprise" in finding[0]


def test_immature_cohorts_are_marked_and_left_out(measured):
    immature = [c for c in measured.cohorts if c.immature]
    assert immature, "the demo's last cohorts end inside their time limits"
    for stage in measured.stages[:-1]:
        in_rates = sum(c.entered for c in measured.cohorts
                       if c.stage == stage.id and not c.immature)
        assert stage.entered == in_rates
