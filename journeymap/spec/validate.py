"""Check a journey against the data: do its events, properties and traits exist?"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from journeymap.errors import SpecError, did_you_mean
from journeymap.spec._reader import combine
from journeymap.spec.model import Condition, Journey, Location

__all__ = ["check_against_data", "validate_journey"]


def check_against_data(journey: Journey, *, event_counts: Mapping[str, int],
                       event_properties: Collection[str], user_traits: Collection[str]) -> list[SpecError]:
    """Every name in the journey that the data does not have, as located SpecErrors."""
    problems = _event_problems(journey, event_counts)
    for stage in journey.stages:
        problems += _condition_problems(stage.enter.where, set(event_properties),
                                        "event property", f"stage '{stage.id}'")
    traits = set(user_traits) | set(event_properties)
    for persona in journey.personas:
        problems += _condition_problems(persona.where, traits, "trait", f"persona '{persona.id}'")
    return problems + _signal_problems(journey, event_counts, set(event_properties)) + \
        _money_problems(journey, event_counts, set(event_properties))


def _money_problems(journey: Journey, event_counts: Mapping[str, int], properties: set[str]) -> list[SpecError]:
    """Revenue, churn, help and referral events and properties the data does not have."""
    seen = [name for name, count in event_counts.items() if count]
    problems = []
    rules = [(k, getattr(journey, k)) for k in ("churn", "help", "referral")]
    rules += [("revenue", journey.revenue.rule)] if journey.revenue else []
    for key, rule in rules:
        if rule is None:
            continue
        for i, name in enumerate(rule.events):
            if not event_counts.get(name):
                where = rule.event_locs[i] if i < len(rule.event_locs) else rule.loc
                problems.append(_error(f"unknown event '{name}' of '{key}'" + did_you_mean(name, seen)
                                       if name not in event_counts else
                                       f"event '{name}' of '{key}' never occurs in the data", where, name))
        problems += _condition_problems(rule.where, properties, "event property", f"'{key}'")
    if journey.revenue and journey.revenue.amount not in properties:
        problems.append(_error(f"unknown event property '{journey.revenue.amount}' for the amount of "
                               "'revenue'" + did_you_mean(journey.revenue.amount, properties),
                               journey.revenue.loc, journey.revenue.amount))
    return problems


def _signal_problems(journey: Journey, event_counts: Mapping[str, int],
                     properties: set[str]) -> list[SpecError]:
    """Signal events and properties the data does not have."""
    seen = [name for name, count in event_counts.items() if count]
    problems = []
    sig = journey.signals
    parts = [(s.kind, s.rule, {"score": s.score, "comment": s.comment}, s.loc) for s in sig.surveys]
    if sig.tickets is not None:
        t = sig.tickets
        parts.append(("tickets", t.rule, {k: getattr(t, k) for k in ("channel", "topic",
                                                                      "resolution_hours", "id")}, t.loc))
    for kind, rule, props, loc in parts:
        for i, name in enumerate(rule.events):
            if not event_counts.get(name):
                where = rule.event_locs[i] if i < len(rule.event_locs) else loc
                problems.append(_error(f"event '{name}' of signal '{kind}' never occurs in the data"
                                       if name in event_counts else f"unknown event '{name}' of signal "
                                       f"'{kind}'" + did_you_mean(name, seen), where, name))
        problems += _condition_problems(rule.where, properties, "event property", f"signal '{kind}'")
        for key, prop in props.items():
            if prop and prop not in properties:
                problems.append(_error(f"unknown event property '{prop}' for the {key} of signal "
                                       f"'{kind}'" + did_you_mean(prop, properties), loc, prop))
    if sig.tickets is not None and sig.tickets.resolved_event and \
            not event_counts.get(sig.tickets.resolved_event):
        name = sig.tickets.resolved_event
        problems.append(_error(f"resolved_event '{name}' of signal 'tickets' never occurs in the data"
                               + did_you_mean(name, seen), sig.tickets.loc, name))
    return problems


def validate_journey(journey: Journey, *, event_counts: Mapping[str, int],
                     event_properties: Collection[str], user_traits: Collection[str]) -> None:
    """Raise one SpecError listing every problem `check_against_data` finds."""
    problems = check_against_data(journey, event_counts=event_counts,
                                  event_properties=event_properties, user_traits=user_traits)
    if problems:
        raise combine(problems)


def _event_problems(journey: Journey, event_counts: Mapping[str, int]) -> list[SpecError]:
    """Enter-rule event names that never occur in the data."""
    seen = [name for name, count in event_counts.items() if count]
    problems = []
    for stage in journey.stages:
        rule = stage.enter
        for i, name in enumerate(rule.events):
            loc = rule.event_locs[i] if i < len(rule.event_locs) else rule.loc
            if name in event_counts and not event_counts[name]:
                message = f"event '{name}' of stage '{stage.id}' never occurs in the data"
            elif name not in event_counts:
                message = f"unknown event '{name}'" + did_you_mean(name, seen)
            else:
                continue
            problems.append(_error(message, loc, name))
    return problems


def _condition_problems(conditions: tuple[Condition, ...], known: set[str], kind: str,
                        owner: str) -> list[SpecError]:
    """Conditions on names not in `known`, one problem per property and location."""
    problems, reported = [], set()
    for cond in conditions:
        if cond.prop in known or (cond.prop, cond.loc) in reported:
            continue
        reported.add((cond.prop, cond.loc))
        message = f"unknown {kind} '{cond.prop}' in {owner}" + did_you_mean(cond.prop, known)
        problems.append(_error(message, cond.loc, cond.prop))
    return problems


def _error(message: str, loc: Location, value: object) -> SpecError:
    return SpecError(message, value=value, **loc.as_kwargs())
