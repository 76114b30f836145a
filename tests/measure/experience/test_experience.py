"""Experience per stage on events whose answers are worked out by hand: attribution to
the stage of the moment (ties included), the two buckets, every statistic and its
interval, tickets, comment terms, bad values reported, the resented rule."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from journeymap.api import measure
from journeymap.errors import SpecError
from journeymap.measure.experience.scores import ces, csat, distinctive_terms, nps, t95
from journeymap.spec.load import load_journey

BASE = """\
name: shop
stages:
  - {id: visit, owner: web, enter: {event: visit}}
  - {id: signup, owner: growth, enter: {event: signup}}
  - {id: buy, owner: sales, enter: {event: buy}}
  - {id: gone, owner: cs, enter: {event: cancel}, outcome: churn}
min_volume: 1
signals:
  nps: {event: nps, score: score, comment: comment}
  csat: {event: csat, score: score}
  ces: {event: ces, score: effort, higher_is_easier: false}
  tickets: {event: ticket, channel: channel, topic: topic, resolution_hours: hours}
"""
T0 = pd.Timestamp("2024-03-01T00:00:00Z")


def at(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


def frame(rows) -> pd.DataFrame:
    cols = ["user_id", "event", "ts", "score", "comment", "effort", "channel", "topic", "hours"]
    return pd.DataFrame([dict(zip(cols, r + (None,) * (len(cols) - len(r)))) for r in rows])


# u1: an answer at the very instant of entering visit belongs to visit; after signup, to
#     signup; after buy, to buy; after cancelling, to "(after churn)".
# u2: a 3 before any stage is "(before the journey)"; a ticket in visit.
# u3: never enters the journey: its answer is "(before the journey)".
ROWS = [
    ("u1", "visit", at(0)), ("u1", "csat", at(0), 5),
    ("u1", "signup", at(1)), ("u1", "nps", at(2), 10, "love the steps"),
    ("u1", "buy", at(3)), ("u1", "csat", at(4), 2),
    ("u1", "cancel", at(5)), ("u1", "nps", at(6), 0, "too pricey"),
    ("u2", "nps", at(0), 3, "what is this"), ("u2", "visit", at(1)),
    ("u2", "ticket", at(2), None, None, None, "chat", "login", 2.0),
    ("u2", "ces", at(3), None, None, 2),  # 1-7 with 1 = easiest: oriented to 6
    ("u3", "csat", at(1), 4),
]


@pytest.fixture(scope="module")
def exp():
    return measure(BASE, frame(ROWS)).experience


def stats(exp, stage):
    return next(s for s in exp.stages if s.stage == stage)


def test_every_answer_lands_in_the_stage_of_its_moment(exp):
    assert [s.stage for s in exp.stages] == ["visit", "signup", "buy", "gone", "(before the journey)",
                                             "(after churn)"]
    assert stats(exp, "visit").surveys["csat"]["n"] == 1 and stats(exp, "visit").surveys["csat"]["csat"] == 1.0
    assert stats(exp, "signup").surveys["nps"]["n"] == 1 and stats(exp, "signup").surveys["nps"]["nps"] == 100
    assert stats(exp, "buy").surveys["csat"]["csat"] == 0.0
    before = stats(exp, "(before the journey)")
    assert before.surveys["nps"]["n"] == 1 and before.surveys["csat"]["n"] == 1  # u2's 3, u3's 4
    assert before.customers is None and before.surveys["nps"]["response_rate"] is None
    after = stats(exp, "(after churn)")
    assert after.surveys["nps"]["nps"] == -100 and stats(exp, "gone").surveys["nps"]["n"] == 0
    assert stats(exp, "visit").surveys["ces"]["ces"] == 6.0  # 2 on a 1 = easiest scale


def test_tickets_per_100_customers_of_the_stage(exp):
    visit = stats(exp, "visit")  # u1 and u2 entered visit: one ticket
    assert visit.customers == 2
    assert visit.tickets["tickets"] == 1 and visit.tickets["per_100"] == 50.0
    assert visit.tickets["by_channel"] == {"chat": {"tickets": 1, "per_100": 50.0}}
    assert visit.tickets["by_topic"]["login"]["tickets"] == 1 and visit.tickets["median_resolution_h"] == 2.0
    assert stats(exp, "signup").tickets["per_100"] == 0.0


def test_response_rate_is_respondents_over_customers_in_the_stage(exp):
    assert stats(exp, "visit").surveys["csat"]["response_rate"] == 0.5  # u1 of u1, u2
    assert stats(exp, "signup").surveys["nps"]["response_rate"] == 1.0  # u1 of u1


def test_the_statistics_by_hand():
    scores = np.array([10, 9, 8, 7, 6, 0, 10, 3, 9, 10], float)  # 5 promoters, 3 detractors
    got = nps(scores)
    p, d = 0.5, 0.3
    se = 100 * math.sqrt((p + d - (p - d) ** 2) / 10)
    assert got["nps"] == pytest.approx(20) and got["nps_ci"] == pytest.approx([20 - 1.959964 * se, 20 + 1.959964 * se])
    c = csat(np.array([5, 4, 3, 1, 4], float))
    assert c["csat"] == 0.6 and c["csat_ci"][0] < 0.6 < c["csat_ci"][1]
    e = ces(np.array([1, 2, 3, 4, 5], float))
    assert e["ces"] == 3 and e["ces_ci"] == pytest.approx([3 - 2.776445 * math.sqrt(2.5) / math.sqrt(5),
                                                          3 + 2.776445 * math.sqrt(2.5) / math.sqrt(5)], rel=2e-3)


def test_t_quantile_against_scipy():
    stats_ = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 5, 10, 29, 100, 5000):
        assert t95(df) == pytest.approx(stats_.t.ppf(0.975, df), rel=2e-3), df


def test_distinctive_terms_rank_what_sets_a_stage_apart():
    found = distinctive_terms({
        "signup": ["too many steps", "the steps never end", "steps steps"] * 4 + ["fine"] * 5,
        "checkout": ["checkout loops", "checkout broke my card"] * 4 + ["fine"] * 5})
    assert found["signup"][0]["term"] == "steps" and found["checkout"][0]["term"] == "checkout"
    assert all(t["term"] != "fine" for g in found.values() for t in g)  # said everywhere: not distinctive
    assert all(t["z"] > 1.96 and t["count"] >= 3 for g in found.values() for t in g)


def test_bad_values_are_counted_with_an_example_and_left_out():
    rows = ROWS + [("u1", "csat", at(4.5), "great"), ("u1", "csat", at(4.6), 9),
                   ("u1", "csat", at(4.7), 4.5), ("u2", "nps", at(4), None),
                   ("u2", "ticket", at(5), None, None, None, "email", "billing", -3.0)]
    events = frame(rows)
    events["score"] = [None if v is None or v != v else str(v) for v in events["score"]]  # text, as in a CSV
    exp = measure(BASE, events).experience
    got = {(p["signal"], p["problem"]): p for p in exp.problems}
    assert got[("csat", "not a number")]["count"] == 1
    assert got[("csat", "not a number")]["example"]["value"] == "great"
    assert got[("csat", "not a whole number from 1 to 5")]["count"] == 2  # 9 and 4.5
    assert got[("csat", "not a whole number from 1 to 5")]["example"]["value"] == "9"
    assert got[("nps", "no score")]["count"] == 1
    assert got[("tickets", "negative resolution time")]["example"]["user_id"] == "u2"
    assert stats(exp, "buy").surveys["csat"]["n"] == 1  # only the valid 2 counts
    assert stats(exp, "visit").tickets["tickets"] == 2  # the ticket counts; its time does not
    assert stats(exp, "visit").tickets["median_resolution_h"] == 2.0


def test_a_missing_signal_property_is_reported_not_a_crash():
    exp = measure(BASE, frame(ROWS).drop(columns=["hours"])).experience
    assert {"signal": "tickets", "problem": "no event property 'hours' in the data", "count": None,
            "example": None} in exp.problems
    assert stats(exp, "visit").tickets["median_resolution_h"] is None


def test_no_signals_no_experience():
    plain = BASE.split("signals:")[0]
    assert measure(plain, frame(ROWS)).experience is None


def funnel_with_csat(n: int, advance: int, happy: int, benchmark: str = "") -> pd.DataFrame:
    rows = []
    for i in range(n):
        rows.append((f"u{i}", "visit", at(0)))
        rows.append((f"u{i}", "csat", at(1), 5 if i < happy else 1))
        if i < advance:
            rows.append((f"u{i}", "signup", at(2)))
    return frame(rows)


RESENTED = """\
name: shop
stages:
  - {id: visit, owner: web, enter: {event: visit}}
  - {id: signup, owner: growth, enter: {event: signup}%s}
min_volume: 30
signals:
  csat: {event: csat, score: score}
  %s
"""


def test_a_stage_passed_through_but_resented():
    m = measure(RESENTED % ("", ""), funnel_with_csat(100, 90, 20))
    assert [r.stage for r in m.diagnosis.resented] == ["visit"]
    reason = m.diagnosis.resented[0].reasons[0]
    assert reason["signal"] == "csat" and reason["value"] == 0.2 and reason["n"] == 100
    assert any(f.startswith("visit is resented: 90% go on to signup, but only 20% of 100 CSAT answers")
               for f in m.findings)
    # progression poor (40% < 0.5): a leak, not a resented stage
    assert measure(RESENTED % ("", ""), funnel_with_csat(100, 40, 20)).diagnosis.resented == ()
    # experience fine (80% satisfied)
    assert measure(RESENTED % ("", ""), funnel_with_csat(100, 90, 80)).diagnosis.resented == ()
    # too few answers to judge
    assert measure(RESENTED % ("", ""), funnel_with_csat(20, 18, 2)).diagnosis.resented == ()
    # with a benchmark, "fine" means at or above its low end
    below = RESENTED % (", benchmark: {low: 0.95, high: 0.99}", "")
    assert measure(below, funnel_with_csat(100, 90, 20)).diagnosis.resented == ()
    # thresholds are the journey's: CSAT not judged
    off = RESENTED % ("", "resented: {csat_below: null}")
    assert measure(off, funnel_with_csat(100, 90, 20)).diagnosis.resented == ()


@pytest.mark.parametrize("signals, message", [
    ("  nps: {event: nps}", "3:8: signal 'nps' has no 'score'"),
    ("  nps: {event: nps, scor: s}", "unknown key 'scor' in signal 'nps' — did you mean 'score'?"),
    ("  npx: {event: nps, score: s}", "unknown key 'npx' in 'signals' — did you mean 'nps'?"),
    ("  csat: {event: csat, score: s, higher_is_easier: true}", "only CES has it"),
    ("  tickets: {event: t, resolved_event: done}", "has 'resolved_event' but no 'id'"),
    ("  resented: {csat_below: 2}", "'csat_below' of 'resented' of 'signals' must be a rate between 0 and 1"),
    ("  nps:", "signal 'nps' is empty"),
])
def test_bad_signals_are_located_errors(signals, message):
    text = f"name: s\nsignals:\n{signals}\nstages:\n  - {{id: a, owner: t, enter: {{event: a}}}}\n"
    with pytest.raises(SpecError) as err:
        load_journey(text)
    assert message in str(err.value), str(err.value)
    assert str(err.value).startswith("<journey>:")


def test_signals_are_checked_against_the_data():
    from journeymap.api import validate
    journey = BASE.replace("event: ticket,", "event: tiket,").replace("score: score, comment", "score: scre, comment")
    with pytest.raises(SpecError) as err:
        validate(journey, frame(ROWS))
    text = str(err.value)
    assert "unknown event 'tiket' of signal 'tickets' — did you mean 'ticket'?" in text
    assert "unknown event property 'scre' for the score of signal 'nps' — did you mean 'score'?" in text


def test_a_dataframe_column_of_mixed_kinds_is_a_clear_error():
    from journeymap.errors import IngestError
    events = frame(ROWS + [("u1", "csat", at(4.5), "great")])
    with pytest.raises(IngestError, match="column 'score' of the DataFrame mixes kinds of values"):
        measure(BASE, events)


def test_a_signal_event_that_never_occurs_is_reported():
    exp = measure(BASE, frame([r for r in ROWS if r[1] != "ces"])).experience
    assert {"signal": "ces", "problem": "no 'ces' events in the data: nothing to attribute", "count": 0,
            "example": None} in exp.problems
    assert stats(exp, "visit").surveys["ces"]["n"] == 0


def test_per_entry_cohort_with_a_period():
    rows = ROWS + [("u5", "visit", at(24 * 8)), ("u5", "csat", at(24 * 8 + 1), 1)]
    m = measure(BASE, frame(rows), period="week")
    visit = {c["cohort"]: c for c in m.experience.cohorts if c["stage"] == "visit"}
    # u1 and u2 entered visit in the week of 2024-03-01 (u1's 5 counts), u5 a week later (a 1)
    assert list(visit) == ["2024-02-26/2024-03-03", "2024-03-04/2024-03-10"]
    first, second = visit.values()
    assert (first["customers"], first["csat"], first["csat_answers"]) == (2, 1.0, 1)
    assert (second["customers"], second["csat"], second["csat_answers"]) == (1, 0.0, 1)
    assert first["tickets"] == 1 and first["tickets_per_100"] == 50.0
    assert [c.cohort for c in m.cohorts if c.stage == "visit"] == list(visit)  # the map's own cohorts
    assert "experience_cohorts" in m.sections()
