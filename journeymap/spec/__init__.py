"""The journey file: typed model, YAML loader, JSON Schema and checks against data."""

from journeymap.spec.durations import parse_duration
from journeymap.spec.load import as_journey, load_journey, parse_journey, parse_where
from journeymap.spec.model import (
    NOWHERE,
    NUMERIC_OPERATORS,
    OPERATORS,
    Benchmark,
    Condition,
    EventRule,
    Handoff,
    Journey,
    Location,
    Owner,
    Persona,
    Stage,
)
from journeymap.spec.schema import JOURNEY_SCHEMA, schema_json
from journeymap.spec.validate import check_against_data, validate_journey

__all__ = [
    "as_journey", "load_journey", "parse_journey", "parse_where", "parse_duration", "schema_json", "JOURNEY_SCHEMA", "check_against_data",
    "validate_journey", "Journey", "Stage", "EventRule", "Condition", "Owner", "Handoff", "Persona",
    "Benchmark", "Location", "NOWHERE", "OPERATORS", "NUMERIC_OPERATORS",
]
