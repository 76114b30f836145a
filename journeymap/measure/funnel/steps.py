"""Funnel steps and windows as users write them, turned into typed rules."""

from __future__ import annotations

from collections.abc import Mapping

from journeymap.errors import QueryError
from journeymap.spec.durations import parse_duration
from journeymap.spec.model import EventRule


def as_rule(step) -> EventRule:
    """An EventRule from an event name, a {"event": .., "where": {..}} mapping or a rule.

    >>> as_rule({"event": "signup", "where": {"plan": "pro"}}).describe()
    "signup where plan = 'pro'"
    """
    if isinstance(step, EventRule):
        return step
    if isinstance(step, str) and step:
        return EventRule((step,))
    if isinstance(step, Mapping) and step.get("event"):
        from journeymap.spec import parse_where
        names = step["event"]
        names = (names,) if isinstance(names, str) else tuple(names)
        return EventRule(names, parse_where(step.get("where") or {}))
    raise QueryError(f"cannot read funnel step {step!r}: give an event name or "
                     "{'event': name, 'where': {property: value}}")


def as_step(step) -> tuple[EventRule, bool]:
    """A step's rule and whether it is optional ({"event": .., "optional": True}).

    >>> rule, optional = as_step({"event": "tour", "optional": True})
    >>> rule.describe(), optional
    ('tour', True)
    """
    optional = step.get("optional", False) if isinstance(step, Mapping) else False
    if not isinstance(optional, bool):
        raise QueryError(f"funnel step {step!r}: 'optional' must be true or false")
    return as_rule(step), optional


def covers(wide: EventRule, narrow: EventRule) -> bool:
    """Whether every event `narrow` takes also qualifies for `wide` (same or more event
    names, the same conditions or fewer)."""
    names = wide.any_event or set(narrow.events) <= set(wide.events)
    return bool(names) and all(c in narrow.where for c in wide.where)


def window_us(window) -> int:
    """A window ("14d", "90s" or seconds) in integer microseconds."""
    try:
        seconds = parse_duration(window)
    except ValueError as exc:
        raise QueryError(f"bad window {window!r}: {exc}") from None
    return int(round(seconds * 1_000_000))
