"""JSON Schema (draft 2020-12) of a journey file, for editors and CI checks."""

from __future__ import annotations

import json

from journeymap.spec.durations import UNITS
from journeymap.spec.model import MAX_STAGES, MIN_VOLUME, NUMERIC_OPERATORS, OUTCOMES, SURVEY_SCALES

__all__ = ["JOURNEY_SCHEMA", "schema_json"]


def _ref(name: str, description: str | None = None) -> dict:
    return {"$ref": f"#/$defs/{name}", **({"description": description} if description else {})}


def _obj(properties: dict, required: list[str], description: str) -> dict:
    return {"type": "object", "description": description, "properties": properties,
            "required": required, "additionalProperties": False}


_SCALAR = {"type": ["string", "number", "boolean"]}
_NUMBER_OR_DATE = {"oneOf": [{"type": "number"}, {"type": "string", "description": "an ISO 8601 date"}]}

_DEFS_RATE = {"type": "number", "minimum": 0, "maximum": 1}

_OPERATORS = {
    "type": "object", "minProperties": 1, "additionalProperties": False,
    "description": "Operator tests on one property; all must hold.",
    "properties": {
        "eq": {**_SCALAR, "description": "equal to"},
        "ne": {**_SCALAR, "description": "not equal to"},
        **{op: {**_NUMBER_OR_DATE, "description": f"{op} (numbers or ISO dates)"}
           for op in NUMERIC_OPERATORS},
        "in": {"type": "array", "minItems": 1, "items": _SCALAR, "description": "one of these values"},
        "not_in": {"type": "array", "minItems": 1, "items": _SCALAR, "description": "none of these values"},
        "contains": {**_SCALAR, "description": "text or list contains this value"},
        "exists": {"type": "boolean", "description": "the property is set (true) or not set (false)"},
    },
}

_DEFS = {
    "name": {"type": "string", "minLength": 1},
    "names": {"oneOf": [_ref("name"), {"type": "array", "items": _ref("name")}]},
    "duration": {"description": "Seconds, or a number with a unit: 90s, 15m, 12h, 30d, 2w.", "oneOf": [
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "string", "pattern": rf"^\s*\d+(\.\d+)?\s*[{''.join(UNITS)}]\s*$"}]},
    "rate": {"type": "number", "minimum": 0, "maximum": 1},
    "owner": {"description": "A team name (responsible), or a RACI mapping.", "oneOf": [
        _ref("name"),
        _obj({"responsible": _ref("name", "team that does the work"),
              "accountable": _ref("name", "team that answers for the result"),
              "consulted": _ref("names", "teams asked before decisions"),
              "informed": _ref("names", "teams kept up to date")}, ["responsible"], "RACI ownership")]},
    "conditions": {"type": "object", "description": "property -> value (equality) or {operator: value}.",
                   "propertyNames": {"minLength": 1},
                   "additionalProperties": {"anyOf": [_SCALAR, _OPERATORS]}},
    "benchmark": _obj({"low": _ref("rate"), "high": _ref("rate"), "source": _ref("name")},
                      ["low", "high"], "Expected range of the rate into a stage (low <= high)."),
    "events": {"description": "An event name, or a list of names (any of them).", "oneOf": [
        _ref("name"), {"type": "array", "minItems": 1, "items": _ref("name")}]},
    "active": _obj({"days": {"type": "integer", "minimum": 1,
                             "description": "Distinct UTC days with activity, at least."},
                    "within": _ref("duration", "Window the active days must fall in (inclusive)."),
                    "events": _ref("events", "Events that count as activity (default: any).")},
                   ["days", "within"], "Repeated activity, e.g. active on 3 days within 30 days."),
    "enter": {"description": "How a user enters this stage: an event, or repeated activity.", "oneOf": [
        _obj({"event": _ref("events"),
              "where": _ref("conditions", "Conditions on the event's properties.")},
             ["event"], "The event that puts a user in this stage."),
        _obj({"active": _ref("active"),
              "where": _ref("conditions", "Conditions on the activity events' properties.")},
             ["active"], "Active on at least `days` distinct days within `within`, counted since "
                         "entering the previous stage.")]},
    "stage": _obj({
        "id": _ref("name", "Unique stage id."),
        "name": _ref("name", "Display name (defaults to the id)."),
        "goal": {"type": "string", "description": "What the customer wants at this stage."},
        "actions": _ref("names", "What the customer does."),
        "touchpoints": _ref("names", "Where the customer meets the product or team."),
        "owner": _ref("owner", "Who owns the stage."),
        "enter": _ref("enter", "The event that puts a user in this stage."),
        "within": _ref("duration", "Maximum time from entering the previous stage."),
        "optional": {"type": "boolean", "description": "Users may skip this stage (not the first)."},
        "benchmark": _ref("benchmark", "Expected range of the rate into this stage."),
        "target": _ref("rate", "90-day target of the rate out of this stage."),
        "outcome": {"enum": list(OUTCOMES), "description": "A bad outcome (churn): the rate into "
                    "this stage is to lower, and a move out of it is a win-back, not a backtrack."},
    }, ["id", "owner", "enter"], "One stage of the journey, in order."),
    "handoff": _obj({"from": _ref("name", "Stage id handing off."),
                     "to": _ref("name", "A later stage id."),
                     "owner": _ref("owner", "Who owns the seam.")},
                    ["from", "to", "owner"], "The seam between two stages, owned in its own right."),
    "survey": _obj({"event": _ref("name", "The event that records an answer."),
                    "where": _ref("conditions", "Conditions on the answer event's properties."),
                    "score": _ref("name", "The property holding the score."),
                    "comment": _ref("name", "The property holding a free-text comment."),
                    "higher_is_easier": {"type": "boolean", "description": "CES only: 7 is the "
                                         "easiest end of the scale (default true)."}},
                   ["event", "score"], "Survey answers, as events."),
    "tickets": _obj({"event": _ref("name", "The event that opens a ticket."),
                     "where": _ref("conditions", "Conditions on the ticket event's properties."),
                     "channel": _ref("name", "The property naming the channel (chat, email, ...)."),
                     "topic": _ref("name", "The property naming the topic."),
                     "resolution_hours": _ref("name", "The property holding hours to resolve."),
                     "resolved_event": _ref("name", "The event that resolves a ticket (with `id`)."),
                     "id": _ref("name", "The ticket id property, on both events.")},
                    ["event"], "Support tickets, as events."),
    "resented": _obj({"progression_at_least": {**_DEFS_RATE, "description":
                                               "Progression counted as fine without a benchmark "
                                               "(default 0.5); with one, its low end."},
                      "csat_below": {"type": ["number", "null"], "minimum": 0, "maximum": 1,
                                     "description": "CSAT (share of 4-5) below this is poor (0.6)."},
                      "nps_below": {"type": ["number", "null"], "minimum": -100, "maximum": 100,
                                    "description": "NPS below this is poor (0)."},
                      "ces_below": {"type": ["number", "null"], "description": "Mean effort "
                                    "score below this is poor (4, higher = easier)."},
                      "tickets_per_100_above": {"type": ["number", "null"], "description":
                                                "Tickets per 100 customers above this are poor "
                                                "(default: not used)."},
                      "min_answers": {"type": "integer", "minimum": 1, "description":
                                      "Answers (or customers) a threshold needs (30)."}},
                     [], "When a stage is resented: progression fine, experience poor."),
    "event_rule": _obj({"event": _ref("events"), "where": _ref("conditions")}, ["event"],
                       "An event (or any of several), with conditions on its properties."),
    "persona": _obj({"id": _ref("name", "Unique persona id."), "name": _ref("name", "Display name."),
                     "where": _ref("conditions",
                                   "Conditions on user traits or first-touch event properties.")},
                    ["id"], "A named segment of users."),
}

JOURNEY_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "journeymap journey file",
    "description": ("A customer journey: ordered stages entered by events, "
                    "with owners, handoffs and personas."),
    "type": "object",
    "required": ["name", "stages"],
    "additionalProperties": False,
    "properties": {
        "name": _ref("name", "Name of the journey."),
        "inactivity": _ref("duration", "Silence that counts as leaving the journey (default 30d)."),
        "min_volume": {"type": "integer", "minimum": 1, "description": "Users a stage needs before "
                       f"a leak or finding is drawn from it (default {MIN_VOLUME})."},
        "stages": {"type": "array", "minItems": 1, "maxItems": MAX_STAGES, "items": _ref("stage"),
                   "description": "Stages, in order."},
        "handoffs": {"type": "array", "items": _ref("handoff")},
        "personas": {"type": "array", "items": _ref("persona")},
        "benchmarks": {"type": "object", "additionalProperties": _ref("benchmark"),
                       "description": "Overrides of the built-in benchmark ranges, keyed by stage id."},
        "revenue": _obj({"event": _ref("events"), "where": _ref("conditions"),
                         "amount": _ref("name", "The property holding the amount.")},
                        ["event", "amount"], "Revenue, as events carrying an amount."),
        "churn": _ref("event_rule", "The event that ends a customer's subscription."),
        "help": _ref("event_rule", "Help-content page views (e.g. $pageview where path contains /help)."),
        "referral": _ref("event_rule", "The event of a customer referring someone."),
        "spend": _ref("name", "A spend file (date, channel, campaign, cost, impressions, clicks), "
                              "relative to the journey file."),
        "kpis": _obj({"lead": _ref("name", "The stage whose entry is a lead."),
                      "conversion": _ref("name", "The stage whose entry is a conversion."),
                      "first_value": {"type": "array", "items": _ref("name"), "minItems": 2, "maxItems": 2,
                                      "description": "[from, to] stages of time to first value."},
                      "channel": _ref("name", "The first-touch property naming the channel."),
                      "campaign": _ref("name", "The first-touch property naming the campaign."),
                      "period": {"enum": ["week", "month"], "description": "Churn, revenue and NRR "
                                 "are counted per period (default month)."},
                      "session_gap": _ref("duration", "Inactivity that ends a session (default 30m).")},
                     [], "What the journey KPIs count."),
        "drivers": _obj({"exclude_events": _ref("names", "Events never taken as candidate behaviours "
                                                         "(e.g. sessions, page views)."),
                         "horizon": _ref("duration", "Default horizon after entering a stage (7d).")},
                        [], "What drivers look at."),
        "signals": {"type": "object", "additionalProperties": False,
                    "description": "How each stage feels: surveys and tickets, attributed to the "
                                   "stage a customer was in when they happened.",
                    "properties": {**{kind: _ref("survey", f"{kind.upper()} answers, scores "
                                                 f"{lo}-{hi}.") for kind, (lo, hi) in SURVEY_SCALES.items()},
                                   "tickets": _ref("tickets"), "resented": _ref("resented")}},
    },
    "$defs": _DEFS,
}


def schema_json() -> str:
    """The journey schema as indented JSON."""
    return json.dumps(JOURNEY_SCHEMA, indent=2, ensure_ascii=False) + "\n"
