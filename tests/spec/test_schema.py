"""JOURNEY_SCHEMA: a valid draft 2020-12 schema that accepts the examples and rejects wrong files."""

import json
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from journeymap.spec import JOURNEY_SCHEMA, load_journey, schema_json
from journeymap.spec._parts import BENCHMARK_KEYS, OWNER_KEYS
from journeymap.spec._stages import ACTIVE_KEYS, ENTER_KEYS, STAGE_KEYS
from journeymap.spec.load import HANDOFF_KEYS, PERSONA_KEYS, TOP_KEYS
from journeymap.spec.model import OPERATORS

EXAMPLES = sorted((Path(__file__).parent / "examples").glob("*.yaml"))
VALIDATOR = jsonschema.Draft202012Validator(JOURNEY_SCHEMA)


def _data(text: str) -> object:
    return YAML(typ="safe").load(text)


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(JOURNEY_SCHEMA)
    assert JOURNEY_SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_json_round_trips():
    text = schema_json()
    assert json.loads(text) == JOURNEY_SCHEMA
    assert text.startswith("{\n  ")


def test_schema_keys_match_the_loader():
    defs = JOURNEY_SCHEMA["$defs"]
    assert set(JOURNEY_SCHEMA["properties"]) == set(TOP_KEYS)
    assert set(defs["stage"]["properties"]) == set(STAGE_KEYS)
    assert set().union(*(v["properties"] for v in defs["enter"]["oneOf"])) == set(ENTER_KEYS)
    assert set(defs["active"]["properties"]) == set(ACTIVE_KEYS)
    assert set(defs["handoff"]["properties"]) == set(HANDOFF_KEYS)
    assert set(defs["persona"]["properties"]) == set(PERSONA_KEYS)
    assert set(defs["benchmark"]["properties"]) == set(BENCHMARK_KEYS)
    assert set(defs["owner"]["oneOf"][1]["properties"]) == set(OWNER_KEYS)
    assert set(defs["conditions"]["additionalProperties"]["anyOf"][1]["properties"]) == set(OPERATORS)


def test_every_property_has_a_description():
    for name, prop in JOURNEY_SCHEMA["$defs"]["stage"]["properties"].items():
        assert "description" in prop, name


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate_and_load(path):
    VALIDATOR.validate(_data(path.read_text(encoding="utf-8")))
    load_journey(path)


def test_there_are_examples():
    assert {p.name for p in EXAMPLES} >= {"saas.yaml", "b2b_trial.yaml", "minimal.yaml"}


GOOD = "name: T\nstages:\n  - {id: a, owner: x, enter: {event: e}}\n"


@pytest.mark.parametrize(("old", "new"), [
    ("owner: x, ", ""),                               # stage without owner
    ("owner: x", "ownr: x"),                          # unknown key
    ("{event: e}", "{where: {p: 1}}"),                # enter without event
    ("{event: e}", "{event: []}"),                    # empty event list
    ("{event: e}", "{event: e, where: {p: {gtt: 1}}}"),   # unknown operator
    ("{event: e}", "{event: e, where: {p: {in: x}}}"),    # in needs a list
    ("owner: x", "owner: x, within: 3 days"),         # bad duration
    ("owner: x", "owner: x, target: 1.5"),            # rate above 1
    ("owner: x", "owner: {accountable: y}"),          # RACI without responsible
    ("stages:\n  - {id: a, owner: x, enter: {event: e}}\n", "stages: []\n"),   # empty stages
    ("name: T\n", ""),                                # no name
])
def test_wrong_files_do_not_validate(old, new):
    VALIDATOR.validate(_data(GOOD))
    assert GOOD.count(old) == 1
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(_data(GOOD.replace(old, new)))


def test_a_list_is_not_a_journey():
    assert not VALIDATOR.is_valid(["name", "stages"])
