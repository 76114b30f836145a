"""The experience per stage finds what the demo generator planted, at its sizes: answers
and tickets attributed to the stage of the moment, the resented stage, comment themes."""

from __future__ import annotations

import math

import pytest

import journeymap
from journeymap.demo.stories import mean_tolerance, rate_tolerance


@pytest.fixture(scope="module")
def measured(demo):
    return journeymap.measure(demo.journey_text, demo.events, users=demo.users)


def feel(measured, stage):
    return measured.experience.stage(stage)


def test_nps_csat_and_ces_per_stage_at_their_planted_sizes(measured, demo):
    surveys = demo.stories["experience"]["surveys"]
    tol = demo.stories["tolerance"]
    for stage, expected in surveys["nps_answered"]["expected_nps_by_stage"].items():
        s = feel(measured, stage).surveys["nps"]
        se = 100 * math.sqrt(max(s["promoters"] + s["detractors"] - (s["promoters"] - s["detractors"]) ** 2, 1e-9)
                             / s["n"])
        assert s["nps"] == pytest.approx(expected, abs=tol["z"] * se + 1.0), (stage, s["n"])
    for kind, name in (("csat", "csat_answered"), ("ces", "ces_answered")):
        for stage, mean in surveys[name]["mean_by_stage"].items():
            s = feel(measured, stage).surveys[kind]
            observed = s["mean"] if kind == "csat" else s["ces"]
            sd = (s["ces_ci"][1] - s["ces_ci"][0]) / (2 * 1.96) * math.sqrt(s["n"]) if kind == "ces" else 1.2
            assert observed == pytest.approx(mean, abs=mean_tolerance(sd, s["n"])), (kind, stage, s["n"])


def test_tickets_per_100_customers_and_their_resolution(measured, demo):
    tickets = demo.stories["experience"]["tickets"]
    for stage, per_100 in tickets["per_100_by_stage"].items():
        t = feel(measured, stage).tickets
        entered = feel(measured, stage).customers
        assert t["per_100"] / 100 == pytest.approx(per_100 / 100, abs=rate_tolerance(per_100 / 100, entered)), stage
        assert set(t["by_topic"]) <= set(tickets["topics_by_stage"][stage])
        # resolution hours ~ Gamma(2, mean/2): median = 1.678 * mean / 2
        median = 1.678 * tickets["mean_resolution_hours_by_stage"][stage] / 2
        assert t["median_resolution_h"] == pytest.approx(median, rel=0.25), stage
    chat = sum(feel(measured, s).tickets["by_channel"].get("chat", {}).get("tickets", 0) for s in tickets["per_100_by_stage"])
    total = sum(feel(measured, s).tickets["tickets"] for s in tickets["per_100_by_stage"])
    assert chat / total == pytest.approx(tickets["channel_mix"]["chat"], abs=rate_tolerance(0.55, total))


def test_the_resented_stage_is_found_and_said(measured, demo):
    planted = demo.stories["experience"]["resented_stage"]
    assert [r.stage for r in measured.diagnosis.resented] == [planted]
    said = [f for f in measured.findings if "is resented" in f]
    assert len(said) == 1 and said[0].startswith("Sign-up is resented: 80% go on to Onboarding")


def test_comment_themes_are_the_distinctive_terms(measured, demo):
    themes = demo.stories["experience"]["comment_theme_by_stage"]
    for stage, theme in themes.items():
        top = [t["term"] for t in feel(measured, stage).terms[:3]]
        assert theme in top, (stage, top)


def test_nothing_in_the_demo_signals_is_bad_data(measured):
    assert measured.experience.problems == []
