"""load_journey: the documented example and a richer one load into the expected objects."""

from pathlib import Path

import pytest

from journeymap.errors import SpecError
from journeymap.spec import (
    Benchmark,
    Condition,
    EventRule,
    Handoff,
    Journey,
    Location,
    Owner,
    Persona,
    Stage,
    load_journey,
)

EXAMPLES = Path(__file__).parent / "examples"
DAY = 86_400.0


def test_documented_example_loads_into_expected_objects():
    journey = load_journey(EXAMPLES / "saas.yaml")
    bench = Benchmark(0.02, 0.15)
    assert journey == Journey(
        name="Self-serve SaaS",
        stages=(
            Stage("awareness", EventRule(("ad_click",)), Owner("marketing"), name="Awareness",
                  goal="Learn that the product exists"),
            Stage("purchase", EventRule(("subscription_started",), (Condition("plan", "eq", "pro"),)),
                  Owner("sales"), within=30 * DAY, benchmark=bench, target=0.2),
        ),
        handoffs=(Handoff("awareness", "purchase", Owner("growth")),),
        personas=(Persona("team", (Condition("team_size", "gte", 2),), "Teams"),),
        inactivity=30 * DAY,
    )
    assert journey.benchmarks == {"purchase": bench}
    assert journey.file == str(EXAMPLES / "saas.yaml")
    assert journey.benchmark_into("purchase") == bench


def test_locations_are_one_based_and_point_at_the_yaml_nodes():
    journey = load_journey(EXAMPLES / "saas.yaml")
    file = str(EXAMPLES / "saas.yaml")
    purchase = journey.stage("purchase")
    assert purchase.loc == Location(file, 9, 5)
    assert purchase.enter.loc == Location(file, 11, 12)
    assert purchase.enter.event_locs == (Location(file, 11, 20),)
    assert purchase.enter.where[0].loc == Location(file, 11, 50)
    assert journey.handoffs[0].loc == Location(file, 17, 5)
    assert journey.personas[0].where[0].loc == Location(file, 19, 37)


def test_rich_example_owners_conditions_durations():
    journey = load_journey(str(EXAMPLES / "b2b_trial.yaml"))
    visit, signup, activation, purchase = journey.stages
    assert journey.inactivity == 14 * DAY
    assert visit.owner == Owner("web", "marketing", ("design",), ("sales", "support"))
    assert visit.owner.team == "marketing"
    assert visit.actions == ("read pricing", "watch demo") and visit.touchpoints == ("website",)
    assert visit.enter.events == ("page_view", "demo_view")
    assert [loc.column for loc in visit.enter.event_locs] == [15, 26]
    assert signup.enter.where == (
        Condition("plan", "in", ("team", "business")),
        Condition("seats", "gte", 2),
        Condition("seats", "lt", 500),
        Condition("coupon", "exists", False),
    )
    assert signup.within == 12 * 3600.0 and signup.name is None and signup.label == "signup"
    assert activation.owner == Owner("product")
    assert activation.enter.where == (Condition("source", "ne", "import"),
                                      Condition("started_at", "gte", "2024-01-01"))
    assert activation.target == 0.5 and activation.within == 7 * DAY
    assert purchase.optional is True and purchase.within == 1800.0
    assert purchase.benchmark == Benchmark(0.05, 0.25, "last year's cohort")
    assert purchase.enter.where == (Condition("plan", "not_in", ("free",)), Condition("email", "contains", "@"))
    assert journey.handoffs == (Handoff("visit", "signup", Owner("growth", "marketing")),
                                Handoff("signup", "purchase", Owner("sales")))
    assert journey.personas == (
        Persona("smb", (Condition("company_size", "lt", 50), Condition("country", "in", ("US", "CA"))),
                "Small business"),
        Persona("enterprise", (Condition("company_size", "gte", 1000),)),
        Persona("everyone"),
    )
    assert journey.benchmarks == {"activation": Benchmark(0.3, 0.6)}
    assert journey.transition_owner("visit", "signup").team == "marketing"
    assert journey.transition_owner("activation", "purchase") == Owner("product")


def test_text_source_has_no_file_and_defaults_apply():
    journey = load_journey("name: T\nstages:\n  - {id: a, owner: x, enter: {event: e}}\n")
    assert journey.file is None
    assert journey.inactivity == 30 * DAY
    assert journey.stages[0].loc == Location("<journey>", 3, 5)
    assert journey.stages[0].name is None and journey.stages[0].label == "a"
    assert journey.handoffs == () and journey.personas == () and journey.benchmarks == {}


def test_values_become_plain_python_types():
    journey = load_journey(
        "name: T\nstages:\n  - id: a\n    owner: x\n"
        "    enter: {event: e, where: {day: 2024-03-01, n: 0x10, r: {gt: 1.5}}}\n")
    where = journey.stages[0].enter.where
    assert [(c.value, type(c.value)) for c in where] == [("2024-03-01", str), (16, int), (1.5, float)]
    assert hash(journey.stages[0])  # frozen and hashable all the way down


def test_missing_file_is_a_spec_error(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SpecError, match="cannot read journey file") as info:
        load_journey(missing)
    assert info.value.problems[0].file == str(missing)


def test_path_errors_use_the_path_as_file_name(tmp_path):
    path = tmp_path / "j.yaml"
    path.write_text("name: T\nstages: []\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_journey(str(path))
    assert str(info.value) == f"{path}:2:9: 'stages' is empty: a journey needs at least one stage"


def test_non_text_source_is_a_type_error():
    with pytest.raises(TypeError):
        load_journey(42)


def test_parse_where_reads_plain_mappings():
    from journeymap.spec import parse_where
    assert parse_where({"plan": "pro", "seats": {"gte": 2, "in": (2, 3)}}) == (
        Condition("plan", "eq", "pro"), Condition("seats", "gte", 2), Condition("seats", "in", (2, 3)))
    with pytest.raises(SpecError) as info:
        parse_where({"plan": {"in": "pro"}, "n": {"gtt": 1}})
    assert str(info.value).splitlines() == [
        "condition 'plan in' needs a non-empty list of values, not 'pro'",
        "unknown operator 'gtt' in condition on 'n' in the step — did you mean 'gt'?",
    ]


def test_a_changed_file_is_read_again_and_errors_are_never_remembered(tmp_path):
    path = tmp_path / "j.yaml"
    text = "name: J\nstages:\n  - {id: a, owner: t, enter: {event: x}}\n"
    path.write_text(text)
    first = load_journey(path)
    assert load_journey(path) == first and load_journey(text).file is None
    path.write_text(text.replace("event: x", "event: y"))
    assert load_journey(path).stages[0].enter.events == ("y",)
    path.write_text("name: J\nstages: []\n")
    for _ in range(2):  # a bad file fails every time, not once
        with pytest.raises(SpecError):
            load_journey(path)
    path.write_text(text)
    assert load_journey(path) == first
    first.benchmarks["a"] = None  # a caller changing its copy changes no one else's
    assert load_journey(path).benchmarks == {}
