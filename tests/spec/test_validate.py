"""check_against_data / validate_journey: names the data does not have, with their YAML positions."""

import pytest

from journeymap.errors import SpecError
from journeymap.spec import check_against_data, load_journey, validate_journey

TEXT = """\
name: Demo
stages:
  - id: signup
    owner: growth
    enter: {event: [sigup, visit]}
  - id: paid
    owner: sales
    enter:
      event: subscribed
      where: {plna: pro, seats: {gte: 2, lt: 9}}
personas:
  - {id: team, where: {team_sise: {gte: 2}, utm_source: ads}}
"""
DATA = dict(event_counts={"signup": 10, "visit": 40, "subscribed": 3, "legacy": 0},
            event_properties=["plan", "seats", "utm_source"], user_traits=["team_size", "country"])


def _found(journey, **data):
    return [(p.line, p.column, p.message) for p in check_against_data(journey, **{**DATA, **data})]


def test_unknown_names_are_reported_where_they_are_written():
    journey = load_journey(TEXT)
    assert _found(journey) == [
        (5, 21, "unknown event 'sigup' — did you mean 'signup'?"),
        (10, 15, "unknown event property 'plna' in stage 'paid' — did you mean 'plan'?"),
        (12, 24, "unknown trait 'team_sise' in persona 'team' — did you mean 'team_size'?"),
    ]
    assert all(p.file == "<journey>" for p in check_against_data(journey, **DATA))


def test_a_matching_journey_has_no_problems():
    journey = load_journey(TEXT.replace("sigup", "signup").replace("plna", "plan").replace("sise", "size"))
    assert check_against_data(journey, **DATA) == []
    assert validate_journey(journey, **DATA) is None


def test_personas_may_use_event_properties_but_stages_may_not_use_traits():
    journey = load_journey(TEXT.replace("plna", "country"))
    messages = [m for _, _, m in _found(journey)]
    assert "unknown event property 'country' in stage 'paid'" in messages
    assert not any("utm_source" in m for m in messages)


def test_event_with_zero_count_never_occurs():
    journey = load_journey(TEXT.replace("subscribed", "legacy"))
    assert (9, 14, "event 'legacy' of stage 'paid' never occurs in the data") in _found(journey)


def test_no_suggestion_when_nothing_is_close():
    journey = load_journey(TEXT.replace("sigup", "zzz"))
    assert (5, 21, "unknown event 'zzz'") in _found(journey)


def test_one_problem_per_property_even_with_several_operators():
    journey = load_journey(TEXT)
    found = _found(journey, event_properties=["plan"])
    assert [m for _, _, m in found].count("unknown event property 'seats' in stage 'paid'") == 1


def test_validate_journey_raises_one_error_listing_all():
    journey = load_journey(TEXT)
    with pytest.raises(SpecError) as info:
        validate_journey(journey, **DATA)
    assert len(info.value.problems) == 3
    assert str(info.value).splitlines() == [
        "<journey>:5:21: unknown event 'sigup' — did you mean 'signup'?",
        "<journey>:10:15: unknown event property 'plna' in stage 'paid' — did you mean 'plan'?",
        "<journey>:12:24: unknown trait 'team_sise' in persona 'team' — did you mean 'team_size'?",
    ]
