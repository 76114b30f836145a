"""Activity-based entry (`enter: {active: {days, within, events}}`), worked out by hand.

The rule: a user enters the stage at the first instant at which their activity
events since entering the previous stage (that stage's own entry event left out)
fall on at least `days` distinct UTC days within `within` (inclusive) up to that
instant; the stage's own `within` still limits the time from the previous stage.
"""

from __future__ import annotations

import pandas as pd
import pytest

import journeymap
from journeymap.errors import SpecError
from journeymap.spec import load_journey

T0 = pd.Timestamp("2024-03-04T09:00:00Z")  # a Monday, 09:00 UTC

JOURNEY = """\
name: activity
stages:
  - {id: signup, owner: growth, enter: {event: signup}}
  - id: regular
    owner: success
    within: 60d
    enter: {active: {days: 3, within: 30d}}
  - {id: advocacy, owner: marketing, enter: {event: referral}}
"""


def at(days: float, hours: float = 0, seconds: float = 0) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=days, hours=hours, seconds=seconds)


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame([{"user_id": u, "event": e, "ts": t, **(p[0] if p else {})}
                         for u, e, t, *p in rows])


CASES = {
    # three distinct days after sign-up: entered at the event that makes the third
    "third_day": ([("u", "signup", at(0)), ("u", "x", at(1)), ("u", "y", at(1, 3)),
                   ("u", "x", at(5)), ("u", "z", at(10))], at(10)),
    # another event on the sign-up day counts for that day; the sign-up event itself does not
    "signup_day_counts_other_rows": ([("u", "signup", at(0)), ("u", "x", at(0, 1)),
                                      ("u", "x", at(2)), ("u", "x", at(3))], at(3)),
    "signup_event_itself_does_not": ([("u", "signup", at(0)), ("u", "x", at(20)),
                                      ("u", "x", at(21))], None),
    # the window is inclusive: days 1, 16 and 31 fall within 30 days ending at the third
    "window_inclusive": ([("u", "signup", at(0)), ("u", "x", at(1, 3)), ("u", "x", at(16)),
                          ("u", "x", at(31, 3))], at(31, 3)),
    "window_one_second_too_long": ([("u", "signup", at(0)), ("u", "x", at(1, 3)),
                                    ("u", "x", at(16)), ("u", "x", at(31, 3, 1))], None),
    # activity before entering the previous stage does not count
    "before_signup_ignored": ([("u", "x", at(-5)), ("u", "x", at(-3)), ("u", "signup", at(0)),
                               ("u", "x", at(1)), ("u", "x", at(2))], None),
    # the stage's own `within` (60 days from sign-up) still applies
    "stage_within": ([("u", "signup", at(0)), ("u", "x", at(58)), ("u", "x", at(59)),
                      ("u", "x", at(61))], None),
    # many events on few days are not many days
    "busy_two_days": ([("u", "signup", at(0))] + [("u", "x", at(d, h)) for d in (1, 2)
                                                   for h in range(10)], None),
}


@pytest.mark.parametrize("name", CASES)
def test_entry_time(name):
    rows, expected = CASES[name]
    m = journeymap.measure(JOURNEY, frame(rows))
    signup = m.stage("signup")
    assert signup.entered == 1
    assert signup.advanced == (0 if expected is None else 1)
    if expected is not None:
        assert signup.median_time_to_next_s == (expected - at(0)).total_seconds()


@pytest.mark.parametrize("name", CASES)
def test_row_order_does_not_matter(name):
    rows, _ = CASES[name]
    a = journeymap.measure(JOURNEY, frame(rows)).to_dict()
    b = journeymap.measure(JOURNEY, frame(rows[::-1])).to_dict()
    assert a == b


def test_only_the_listed_events_with_their_conditions_count():
    journey = JOURNEY.replace("enter: {active: {days: 3, within: 30d}}",
                              "enter: {active: {days: 2, within: 7d, events: [login]}, "
                              "where: {plan: pro}}")
    rows = [("a", "signup", at(0)), ("a", "login", at(1), {"plan": "pro"}),
            ("a", "view", at(2), {"plan": "pro"}), ("a", "login", at(3), {"plan": "pro"}),
            ("b", "signup", at(0)), ("b", "login", at(1), {"plan": "pro"}),
            ("b", "login", at(2), {"plan": "free"}), ("b", "view", at(3), {"plan": "pro"})]
    m = journeymap.measure(journey, frame(rows))
    assert m.stage("signup").advanced == 1  # a: logins on days 1 and 3; b: one pro login only
    assert m.stage("signup").median_time_to_next_s == 3 * 86400


def test_a_later_stage_needs_its_own_event_at_the_instant_of_entry():
    base = [("u", "signup", at(0)), ("u", "x", at(1)), ("u", "x", at(2))]
    # the referral is the third day's activity: it enters regular, and advocacy needs another
    alone = journeymap.measure(JOURNEY, frame(base + [("u", "referral", at(3))]))
    assert alone.stage("regular").entered == 1 and alone.stage("regular").advanced == 0
    # another event at the same instant makes the third day: regular and advocacy both
    both = journeymap.measure(JOURNEY, frame(base + [("u", "referral", at(3)), ("u", "x", at(3))]))
    assert both.stage("regular").advanced == 1
    assert both.stage("regular").median_time_to_next_s == 0


def test_activity_stage_first_in_the_journey():
    journey = "name: j\nstages:\n  - {id: active, owner: t, enter: {active: {days: 2, within: 2d}}}\n" \
              "  - {id: buy, owner: s, enter: {event: buy}}\n"
    rows = [("a", "x", at(0, 14)), ("a", "x", at(0, 16)), ("a", "buy", at(0, 17)),  # 23:00, 01:00 UTC
            ("b", "x", at(0)), ("b", "x", at(2, 0, 1))]  # two days, but 2 days and 1 s apart
    m = journeymap.measure(journey, frame(rows))
    assert m.stage("active").entered == 1 and m.stage("active").advanced == 1


def test_paths_show_the_activity_stage_once_at_its_entry():
    rows = [("u", "signup", at(0)), ("u", "x", at(1)), ("u", "x", at(2)), ("u", "x", at(3)),
            ("u", "x", at(4)), ("u", "referral", at(5))]
    r = journeymap.paths(JOURNEY, frame(rows))
    assert [tuple(p["path"]) for p in r.paths.paths][0][:2] == ("signup", "x")
    stage_edges = {(e["from"], e["to"]): e["count"] for e in r.stage_transitions.edges}
    assert stage_edges == {("$start", "signup"): 1, ("signup", "regular"): 1,
                           ("regular", "advocacy"): 1, ("advocacy", "$end"): 1}
    assert r.conformance.conforming == 1


@pytest.mark.parametrize("text, message", [
    ("{active: {days: 0, within: 30d}}", "must be a whole number of days, at least 1"),
    ("{active: {days: 3}}", "has no 'within'"),
    ("{active: {days: 5, within: 3d}}", "asks for 5 distinct days within 3 days"),
    ("{active: {days: 3, within: 30d, event: [a]}}", "unknown key 'event'"),
    ("{event: a, active: {days: 3, within: 30d}}", "both 'event' and 'active'"),
    ("{active: {days: 2, within: soon}}", "bad duration"),
])
def test_bad_activity_rules_are_refused_with_their_place(text, message):
    journey = JOURNEY.replace("{active: {days: 3, within: 30d}}", text)
    with pytest.raises(SpecError, match=message) as info:
        load_journey(journey)
    assert info.value.problems[0].line == 7  # the enter rule's line


def test_validate_checks_the_activity_event_names(tmp_path):
    journey = JOURNEY.replace("{active: {days: 3, within: 30d}}",
                              "{active: {days: 3, within: 30d, events: [lgoin]}}")
    rows = frame([("u", "signup", at(0)), ("u", "login", at(1)), ("u", "referral", at(2))])
    with pytest.raises(SpecError, match=r"unknown event 'lgoin' — did you mean 'login'\?"):
        journeymap.validate(journey, rows)
