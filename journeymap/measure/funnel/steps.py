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


def window_us(window) -> int:
    """A window ("14d", "90s" or seconds) in integer microseconds."""
    try:
        seconds = parse_duration(window)
    except ValueError as exc:
        raise QueryError(f"bad window {window!r}: {exc}") from None
    return int(round(seconds * 1_000_000))
