"""load_journey errors: every kind, with its exact line and column, all collected at once."""

import pytest

from journeymap.errors import SpecError
from journeymap.spec import load_journey

BASE = """\
name: Demo
stages:
  - id: signup
    owner: growth
    enter: {event: signup}
  - id: activation
    owner: product
    enter: {event: first_project}
"""


def problems(text: str) -> list[tuple[int, int, str]]:
    """(line, column, message) of every problem load_journey reports for `text`."""
    with pytest.raises(SpecError) as info:
        load_journey(text)
    err = info.value
    assert str(err) == "\n".join(str(p) for p in err.problems)
    assert all(p.file == "<journey>" for p in err.problems)
    return [(p.line, p.column, p.message) for p in err.problems]


def only(text: str) -> tuple[int, int, str]:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def edit(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1
    return text.replace(old, new)


def test_base_is_valid():
    assert load_journey(BASE).stage_ids == ["signup", "activation"]


# -- the file as a whole ------------------------------------------------------

def test_yaml_syntax_error_has_position():
    line, col, msg = only("name: Demo\n  bad: 1\n")
    assert (line, col) == (2, 6) and msg == "invalid YAML: mapping values are not allowed here"


def test_yaml_duplicate_key_has_position():
    line, col, msg = only(BASE + "name: Again\n")
    assert (line, col) == (9, 1) and 'duplicate key "name"' in msg


@pytest.mark.parametrize(("text", "what"), [("- a\n- b\n", "['a', 'b']"), ("\n", "nothing"), ("hello\n", "'hello'")])
def test_not_a_mapping(text, what):
    assert only(text) == (1, 1, f"a journey file must be a mapping with 'name' and 'stages', not {what}")


def test_missing_name():
    assert only(BASE.replace("name: Demo\n", "")) == (1, 1, "the journey has no 'name'")


def test_missing_stages():
    assert only("name: Demo\n") == (1, 1, "the journey has no 'stages'")


def test_empty_stages():
    assert only("name: Demo\nstages: []\n") == (2, 9, "'stages' is empty: a journey needs at least one stage")


def test_stages_not_a_list():
    assert only("name: Demo\nstages: {id: a}\n") == (2, 9, "'stages' must be a list, not a mapping")


# -- unknown keys at every level ---------------------------------------------

def test_unknown_top_level_key():
    assert only(BASE + "handof: []\n") == (9, 1, "unknown key 'handof' in the journey — did you mean 'handoffs'?")


def test_unknown_stage_key_and_missing_owner():
    assert problems(edit("    owner: growth\n", "    ownr: growth\n")) == [
        (3, 5, "stage 'signup' has no owner"),
        (4, 5, "unknown key 'ownr' in stage 'signup' — did you mean 'owner'?"),
    ]


def test_unknown_enter_key():
    assert only(edit("{event: signup}", "{event: signup, wehre: {a: 1}}")) == (
        5, 28, "unknown key 'wehre' in 'enter' of stage 'signup' — did you mean 'where'?")


def test_unknown_owner_key():
    assert only(edit("owner: growth", "owner: {responsible: a, acountable: b}")) == (
        4, 29, "unknown key 'acountable' in owner of stage 'signup' — did you mean 'accountable'?")


def test_unknown_handoff_persona_and_benchmark_keys():
    text = BASE + ("handoffs:\n  - {from: signup, to: activation, owner: x, onwer: y}\n"
                   "personas:\n  - {id: p, wher: {}}\n"
                   "benchmarks:\n  activation: {low: 0.1, hi: 0.2, high: 0.3}\n")
    assert problems(text) == [
        (10, 46, "unknown key 'onwer' in handoff 1 — did you mean 'owner'?"),
        (12, 13, "unknown key 'wher' in persona 'p' — did you mean 'where'?"),
        (14, 26, "unknown key 'hi' in benchmark of stage 'activation' — did you mean 'high'?"),
    ]


# -- stages -------------------------------------------------------------------

def test_stage_without_id():
    assert only(edit("  - id: activation\n", "  - name: Activation\n")) == (6, 5, "stage 2 has no 'id'")


def test_duplicate_stage_id():
    assert only(edit("id: activation", "id: signup")) == (6, 9, "duplicate stage id 'signup' (first on line 3)")


def test_stage_without_owner():
    assert only(edit("    owner: product\n", "")) == (6, 5, "stage 'activation' has no owner")


def test_owner_mapping_without_responsible():
    assert only(edit("owner: product", "owner: {accountable: ops}")) == (
        7, 12, "owner of stage 'activation' has no 'responsible'")


def test_owner_of_wrong_type():
    assert only(edit("owner: product", "owner: 7")) == (
        7, 12, "owner of stage 'activation' must be a team name or a mapping with 'responsible', not 7")


def test_stage_without_enter():
    assert only(edit("    enter: {event: first_project}\n", "")) == (6, 5, "stage 'activation' has no 'enter' rule")


def test_enter_without_event():
    assert only(edit("{event: first_project}", "{where: {plan: pro}}")) == (
        8, 12, "'enter' of stage 'activation' has no 'event'")


def test_event_of_wrong_type():
    assert only(edit("{event: first_project}", "{event: [a, 3]}")) == (
        8, 20, "'event' of stage 'activation' must be an event name or a non-empty list of names, not ['a', 3]")


@pytest.mark.parametrize(("value", "detail"), [
    ("3 days", "bad duration '3 days'"),
    ("-2d", "bad duration '-2d'"),
    ("0", "bad duration 0: a duration must be a positive, finite length"),
])
def test_bad_within(value, detail):
    line, col, msg = only(edit("    owner: product\n", f"    owner: product\n    within: {value}\n"))
    assert (line, col) == (8, 13) and msg.startswith(f"'within' of stage 'activation': {detail}")


def test_bad_inactivity():
    line, col, msg = only(edit("name: Demo\n", "name: Demo\ninactivity: 30 days\n"))
    assert (line, col) == (2, 13) and msg.startswith("'inactivity' of the journey: bad duration '30 days'")


def test_first_stage_cannot_be_optional_or_have_within():
    text = edit("    owner: growth\n", "    owner: growth\n    optional: true\n    within: 1d\n")
    assert problems(text) == [
        (5, 5, "stage 'signup' is the first stage, which has no previous stage: it cannot be optional"),
        (6, 5, "stage 'signup' is the first stage, which has no previous stage: it cannot have 'within'"),
    ]


def test_optional_must_be_boolean():
    assert only(edit("    owner: product\n", "    owner: product\n    optional: yes please\n")) == (
        8, 15, "'optional' of stage 'activation' must be true or false, not 'yes please'")


@pytest.mark.parametrize(("bench", "col", "message"), [
    ("{low: 0.3, high: 0.1}", 16, "benchmark of stage 'activation' has low 0.3 above high 0.1"),
    ("{low: 0.1, high: 1.5}", 33, "'high' of benchmark of stage 'activation' must be a rate between 0 and 1, not 1.5"),
    ("{low: -0.1, high: 0.5}", 22, "'low' of benchmark of stage 'activation' must be a rate between 0 and 1, not -0.1"),
    ("{low: 0.1}", 16, "benchmark of stage 'activation' has no 'high'"),
    ("0.5", 16, "benchmark of stage 'activation' must be a mapping, not 0.5"),
])
def test_bad_stage_benchmark(bench, col, message):
    assert only(edit("    owner: product\n", f"    owner: product\n    benchmark: {bench}\n")) == (8, col, message)


@pytest.mark.parametrize("target", ["1.5", "-1", "high", "true"])
def test_target_outside_unit_interval(target):
    line, col, msg = only(edit("    owner: product\n", f"    owner: product\n    target: {target}\n"))
    assert (line, col) == (8, 13)
    assert msg.startswith("'target' of stage 'activation' must be a rate between 0 and 1, not ")


# -- conditions -----------------------------------------------------------------

def _where(cond: str) -> str:
    return edit("{event: first_project}", f"{{event: first_project, where: {cond}}}")


def test_unknown_operator():
    assert only(_where("{plan: {gtt: 3}}")) == (
        8, 50, "unknown operator 'gtt' in condition on 'plan' in stage 'activation' — did you mean 'gt'?")


@pytest.mark.parametrize(("cond", "message"), [
    ("{plan: {in: pro}}", "condition 'plan in' needs a non-empty list of values, not 'pro'"),
    ("{plan: {not_in: []}}", "condition 'plan not_in' needs a non-empty list of values, not an empty list"),
    ("{plan: {gte: abc}}", "condition 'plan gte' needs a number or an ISO date, not 'abc'"),
    ("{plan: {lt: true}}", "condition 'plan lt' needs a number or an ISO date, not the boolean true"),
    ("{plan: {exists: 3}}", "condition 'plan exists' takes true or false, not 3"),
    ("{plan: {eq: [a]}}", "condition 'plan eq' needs a single value, not ['a']"),
])
def test_bad_operator_values(cond, message):
    line, col, msg = only(_where(cond))
    assert (line, col, msg) == (8, 42 + cond.index(":", 7) + 2, message)


def test_equality_needs_a_value():
    assert only(_where("{plan: [a, b]}")) == (8, 49, "condition 'plan eq' needs a single value, not ['a', 'b']")


def test_condition_without_operator():
    assert only(_where("{plan: {}}")) == (
        8, 43, "condition on 'plan' in stage 'activation' has no operator "
        "(use one of eq, ne, gt, gte, lt, lte, in, not_in, contains, exists)")


def test_where_not_a_mapping():
    assert only(_where("[plan]")) == (8, 42, "'where' of stage 'activation' must be a mapping, not ['plan']")


# -- handoffs, personas, journey benchmarks --------------------------------------

def _handoffs(*rows: str) -> str:
    return BASE + "handoffs:\n" + "".join(f"  - {row}\n" for row in rows)


def test_handoff_without_owner():
    assert only(_handoffs("{from: signup, to: activation}")) == (
        10, 5, "handoff from 'signup' to 'activation' has no owner")


def test_handoff_to_unknown_stage_suggests_the_closest():
    assert problems(_handoffs("{from: sigup, to: activaton, owner: x}")) == [
        (10, 12, "handoff 1 from unknown stage 'sigup' — did you mean 'signup'?"),
        (10, 23, "handoff 1 to unknown stage 'activaton' — did you mean 'activation'?"),
    ]


def test_handoff_without_ends():
    assert only(_handoffs("{to: activation, owner: x}")) == (10, 5, "handoff 1 has no 'from'")


def test_duplicate_handoff():
    row = "{from: signup, to: activation, owner: x}"
    assert only(_handoffs(row, row)) == (
        11, 5, "duplicate handoff from 'signup' to 'activation' (first on line 10)")


def test_backward_handoff_is_a_cycle():
    assert only(_handoffs("{from: activation, to: signup, owner: x}")) == (
        10, 5, "handoff from 'activation' to 'signup' goes backwards — a handoff cannot go backwards "
        "(that is a cycle); 'activation' must come before 'signup'")


def test_handoff_to_itself_is_a_cycle():
    line, col, msg = only(_handoffs("{from: signup, to: signup, owner: x}"))
    assert (line, col) == (10, 5) and "goes to itself" in msg and "cycle" in msg


def test_handoff_skipping_a_stage_is_allowed():
    text = edit("name: Demo\n", "name: Demo\n", BASE + "  - {id: paid, owner: sales, enter: {event: pay}}\n")
    journey = load_journey(text + "handoffs:\n  - {from: signup, to: paid, owner: x}\n")
    assert journey.handoff("signup", "paid").owner.responsible == "x"


def test_duplicate_persona_id_and_persona_without_id():
    text = BASE + "personas:\n  - {id: pro}\n  - {name: Nameless}\n  - {id: pro}\n"
    assert problems(text) == [
        (11, 5, "persona 2 has no 'id'"),
        (12, 10, "duplicate persona id 'pro' (first on line 10)"),
    ]


def test_persona_condition_errors():
    assert only(BASE + "personas:\n  - {id: big, where: {size: {gte: many}}}\n") == (
        10, 35, "condition 'size gte' needs a number or an ISO date, not 'many'")


def test_benchmarks_for_unknown_stage():
    assert only(BASE + "benchmarks:\n  activaton: {low: 0.1, high: 0.2}\n") == (
        10, 3, "benchmark for unknown stage 'activaton' — did you mean 'activation'?")


def test_journey_benchmark_low_above_high():
    assert only(BASE + "benchmarks:\n  activation: {low: 0.4, high: 0.2}\n") == (
        10, 15, "benchmark of stage 'activation' has low 0.4 above high 0.2")


# -- all problems at once -------------------------------------------------------

def test_all_problems_are_collected_and_sorted():
    text = """\
name: Demo
stages:
  - id: signup
    enter: {event: signup}
    colour: red
  - id: activation
    owner: product
    enter: {event: first_project}
    within: soon
handoffs:
  - {from: signup, to: actvation, owner: x}
benchmarks:
  signup: {low: 2, high: 3}
"""
    found = problems(text)
    assert [(line, col) for line, col, _ in found] == [(3, 5), (5, 5), (9, 13), (11, 24), (13, 17), (13, 26)]
    with pytest.raises(SpecError) as info:
        load_journey(text)
    lines = str(info.value).splitlines()
    assert len(lines) == 6 and lines[0] == "<journey>:3:5: stage 'signup' has no owner"
    assert lines[3] == "<journey>:11:24: handoff 1 to unknown stage 'actvation' — did you mean 'activation'?"
    assert all(isinstance(p, SpecError) for p in info.value.problems)


# -- did you mean, robustness -------------------------------------------------------

@pytest.mark.parametrize(("typo", "suggestion"), [
    ("nmae", "name"), ("inactivty", "inactivity"), ("persona", "personas"), ("benchmark", "benchmarks"),
])
def test_top_level_typos_suggest_the_key(typo, suggestion):
    found = problems(BASE + f"{typo}: x\n")
    assert (9, 1, f"unknown key '{typo}' in the journey — did you mean '{suggestion}'?") in found


def test_no_suggestion_when_nothing_is_close():
    assert only(BASE + "zzzz: 1\n") == (9, 1, "unknown key 'zzzz' in the journey")


def test_complex_mapping_key_is_a_spec_error():
    line, col, msg = only("name: x\nstages:\n  - {id: a, owner: o, enter: {event: e, where: {{in: [a]}: 1}}}\n")
    assert (line, col) == (1, 1) and msg.startswith("invalid YAML")


def test_mangled_files_only_ever_raise_located_spec_errors():
    import random
    from pathlib import Path
    base = (Path(__file__).parent / "examples" / "b2b_trial.yaml").read_text(encoding="utf-8")
    rng = random.Random(7)
    tokens = ["", " ", ":", "-", "[", "{", "}", "]", "x", "1", "\n", "null", "'", "&a ", "*a", "<<: ", "\t", "~"]
    for _ in range(120):
        text = base
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(text))
            text = text[:at] + rng.choice(tokens) + text[at + rng.randint(0, 6):]
        try:
            load_journey(text)
        except SpecError as err:
            assert err.problems and all(p.line and p.column for p in err.problems), text
