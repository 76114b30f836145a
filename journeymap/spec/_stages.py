"""Read the `stages` list of a journey file: ids, owners, enter rules, timing, targets."""

from __future__ import annotations

from collections.abc import Mapping

from journeymap.errors import did_you_mean
from journeymap.spec._parts import read_benchmark, read_duration, read_flag, read_owner, read_rate, read_where
from journeymap.spec._reader import Reader, describe
from journeymap.spec.model import MAX_STAGES, OUTCOMES, ActivityRule, EventRule, Stage

STAGE_KEYS = ("id", "name", "goal", "actions", "touchpoints", "owner", "enter",
              "within", "optional", "benchmark", "target", "outcome")
ENTER_KEYS = ("event", "active", "where")
ACTIVE_KEYS = ("days", "within", "events")


def read_stages(r: Reader, data: Mapping) -> tuple[list[Stage], dict[str, int]]:
    """The stages, and the position of every stage id written (even in a broken stage)."""
    seq = data.get("stages")
    if seq is None:
        r.error(r.key(data, "stages") if "stages" in data else r.node(data), "the journey has no 'stages'")
        return [], {}
    if not r.is_list(seq, r.value(data, "stages"), "'stages'"):
        return [], {}
    if not seq:
        r.error(r.value(data, "stages"), "'stages' is empty: a journey needs at least one stage")
    if len(seq) > MAX_STAGES:
        r.error(r.item(seq, MAX_STAGES), f"{len(seq)} stages: a journey has at most {MAX_STAGES}")
    stages, order, lines = [], {}, {}
    for i, m in enumerate(seq):
        if not r.is_mapping(m, r.item(seq, i), "each stage"):
            continue
        sid = r.text(m, "id", f"stage {i + 1}", required=True)
        if sid in lines:
            r.error(r.value(m, "id"), f"duplicate stage id '{sid}' (first on line {lines[sid]})", sid)
        elif sid is not None:
            lines[sid], order[sid] = r.node(m).line, len(order)
        stage = _stage(r, m, sid, f"stage '{sid}'" if sid else f"stage {i + 1}", first=i == 0)
        if stage is not None:
            stages.append(stage)
    return stages, order


def _stage(r: Reader, m: Mapping, sid: str | None, what: str, *, first: bool) -> Stage | None:
    """One stage; None when its id or enter rule is unusable."""
    r.check_keys(m, STAGE_KEYS, what)
    owner = read_owner(r, m, what)
    enter = _enter(r, m, what)
    within = read_duration(r, m, "within", what)
    optional = read_flag(r, m, "optional", what)
    if first and within is not None:
        r.error(r.key(m, "within"), f"{what} is the first stage, which has no previous stage: "
                "it cannot have 'within'", within)
    if first and optional:
        r.error(r.key(m, "optional"), f"{what} is the first stage, which has no previous stage: "
                "it cannot be optional", optional)
    outcome = r.text(m, "outcome", what)
    if outcome is not None and outcome not in OUTCOMES:
        r.error(r.value(m, "outcome"), f"'outcome' of {what} must be one of {', '.join(OUTCOMES)}, "
                f"not {describe(outcome)}" + did_you_mean(outcome, OUTCOMES), outcome)
        outcome = None
    if first and outcome is not None:
        r.error(r.key(m, "outcome"), f"{what} is the first stage: a journey cannot start with a "
                "bad outcome", outcome)
    fields = dict(name=r.text(m, "name", what), goal=r.text(m, "goal", what), outcome=outcome,
                  actions=r.texts(m, "actions", what), touchpoints=r.texts(m, "touchpoints", what),
                  benchmark=read_benchmark(r, m, "benchmark", what), target=read_rate(r, m, "target", what))
    if sid is None or enter is None:
        return None
    return Stage(sid, enter, owner, within=within, optional=optional, loc=r.node(m), **fields)


def _enter(r: Reader, m: Mapping, what: str) -> EventRule | None:
    """The `enter` rule: an event name or a list of them, or repeated activity
    (`active`), with optional conditions on the events."""
    enter = m.get("enter")
    if enter is None:
        r.error(r.key(m, "enter") if "enter" in m else r.node(m), f"{what} has no 'enter' rule")
        return None
    loc = r.value(m, "enter")
    if not r.is_mapping(enter, loc, f"'enter' of {what}"):
        return None
    r.check_keys(enter, ENTER_KEYS, f"'enter' of {what}")
    where = read_where(r, enter, "where", what)
    if "active" in enter:
        if "event" in enter:
            r.error(r.key(enter, "event"), f"'enter' of {what} has both 'event' and 'active': give "
                    "one (the events counted as activity go under 'active: {events: [...]}')")
            return None
        return _activity(r, enter, where, loc, what)
    event = enter.get("event")
    if event is None:
        r.error(r.key(enter, "event") if "event" in enter else loc,
                f"'enter' of {what} has no 'event'")
        return None
    names = _names(r, enter, "event", f"'event' of {what}")
    if names is None:
        return None
    return EventRule(names[0], where, loc, event_locs=names[1])


def _names(r: Reader, parent: Mapping, key: str, what: str) -> tuple[tuple, tuple] | None:
    """(event names, their locations) of an event name or a non-empty list of names."""
    event = parent.get(key)
    if isinstance(event, str) and event.strip():
        return (str(event),), (r.value(parent, key),)
    if isinstance(event, list) and event and all(isinstance(e, str) and e.strip() for e in event):
        return tuple(str(e) for e in event), tuple(r.item(event, j) for j in range(len(event)))
    r.error(r.value(parent, key), f"{what} must be an event name or a non-empty list "
            f"of names, not {describe(event)}", event)
    return None


def _activity(r: Reader, enter: Mapping, where, loc, what: str) -> ActivityRule | None:
    """`active: {days: N, within: D, events: [...]}`: on N distinct days within D."""
    spec = enter.get("active")
    if not r.is_mapping(spec, r.value(enter, "active"), f"'active' of {what}"):
        return None
    r.check_keys(spec, ACTIVE_KEYS, f"'active' of {what}")
    days = spec.get("days")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        r.error(r.value(spec, "days") if "days" in spec else r.node(spec),
                f"'days' of 'active' in {what} must be a whole number of days, at least 1, "
                f"not {describe(days)}", days)
        days = None
    window = read_duration(r, spec, "within", f"'active' of {what}")
    if "within" not in spec:
        r.error(r.node(spec), f"'active' of {what} has no 'within' (e.g. within: 30d)")
    elif window is not None and days is not None and window < (days - 1) * 86400:
        r.error(r.value(spec, "within"), f"'active' of {what} asks for {days} distinct days "
                f"within {window / 86400:g} days, which no user can meet", window)
        window = None
    names = _names(r, spec, "events", f"'events' of 'active' in {what}") \
        if "events" in spec else ((), ())
    if days is None or window is None or names is None:
        return None
    return ActivityRule(names[0], where, loc, event_locs=names[1], days=days, window=window)
