"""Reading the journey file's `signals`: surveys, tickets and the resented-stage rule.

    signals:
      nps:  {event: nps_answered, score: score, comment: comment}   # 0-10
      csat: {event: csat_answered, score: rating}                   # 1-5
      ces:  {event: ces_answered, score: effort, higher_is_easier: true}   # 1-7
      tickets: {event: ticket_opened, channel: channel, topic: topic,
                resolution_hours: hours}        # or resolved_event + id
      resented: {progression_at_least: 0.5, csat_below: 0.6, nps_below: 0,
                 ces_below: 4, tickets_per_100_above: 10, min_answers: 30}
"""

from __future__ import annotations

from collections.abc import Mapping

from journeymap.spec._parts import read_count, read_flag, read_where
from journeymap.spec._reader import Reader, describe
from journeymap.spec.model import SURVEY_SCALES, EventRule, Resented, Signals, Survey, TicketSignal

SIGNAL_KEYS = (*SURVEY_SCALES, "tickets", "resented")
SURVEY_KEYS = ("event", "where", "score", "comment", "higher_is_easier")
TICKET_KEYS = ("event", "where", "channel", "topic", "resolution_hours", "resolved_event", "id")
RESENTED_KEYS = ("progression_at_least", "csat_below", "nps_below", "ces_below", "tickets_per_100_above",
                 "min_answers")


def read_signals(r: Reader, data: Mapping) -> Signals:
    """The `signals` section (empty Signals when absent), every problem reported."""
    section = data.get("signals")
    if section is None or not r.is_mapping(section, r.value(data, "signals"), "'signals'"):
        return Signals()
    r.check_keys(section, SIGNAL_KEYS, "'signals'")
    surveys = tuple(s for kind in SURVEY_SCALES if kind in section
                    for s in [_survey(r, section, kind)] if s is not None)
    tickets = _tickets(r, section) if "tickets" in section else None
    resented = _resented(r, section) if "resented" in section else Resented()
    return Signals(surveys, tickets, resented)


def _rule(r: Reader, m: Mapping, what: str) -> EventRule | None:
    """The signal's event (one name) and its conditions."""
    name = r.text(m, "event", what, required=True)
    where = read_where(r, m, "where", what)
    return EventRule((name,), where, r.node(m), event_locs=(r.value(m, "event"),)) if name else None


def _section(r: Reader, parent: Mapping, key: str, keys: tuple[str, ...]) -> Mapping | None:
    value = parent.get(key)
    what = f"signal '{key}'"
    if value is None or not r.is_mapping(value, r.value(parent, key), what):
        if value is None:
            r.error(r.key(parent, key), f"{what} is empty: give at least its 'event'")
        return None
    r.check_keys(value, keys, what)
    return value


def _survey(r: Reader, section: Mapping, kind: str) -> Survey | None:
    m = _section(r, section, kind, SURVEY_KEYS)
    if m is None:
        return None
    what = f"signal '{kind}'"
    rule = _rule(r, m, what)
    score = r.text(m, "score", what, required=True)
    comment = r.text(m, "comment", what)
    easier = read_flag(r, m, "higher_is_easier", what) if "higher_is_easier" in m else True
    if "higher_is_easier" in m and kind != "ces":
        r.error(r.key(m, "higher_is_easier"), f"'higher_is_easier' of {what}: only CES has it "
                "(NPS and CSAT are higher-is-better by definition)")
    if rule is None or score is None:
        return None
    return Survey(kind, rule, score, comment, easier, r.node(m))


def _tickets(r: Reader, section: Mapping) -> TicketSignal | None:
    m = _section(r, section, "tickets", TICKET_KEYS)
    if m is None:
        return None
    what = "signal 'tickets'"
    rule = _rule(r, m, what)
    props = {k: r.text(m, k, what) for k in ("channel", "topic", "resolution_hours", "resolved_event", "id")}
    if props["resolved_event"] and not props["id"]:
        r.error(r.key(m, "resolved_event"), f"{what} has 'resolved_event' but no 'id': a resolution "
                "is matched to its ticket by the ticket id property")
    if props["resolved_event"] and props["resolution_hours"]:
        r.error(r.key(m, "resolution_hours"), f"{what} gives both 'resolution_hours' and "
                "'resolved_event': give one way to time a resolution")
    return TicketSignal(rule, **props, loc=r.node(m)) if rule is not None else None


def _resented(r: Reader, section: Mapping) -> Resented:
    m = section.get("resented")
    what = "'resented' of 'signals'"
    if not r.is_mapping(m, r.value(section, "resented"), what):
        return Resented()
    r.check_keys(m, RESENTED_KEYS, what)
    out = {}
    for key in RESENTED_KEYS[:-1]:
        if key not in m:
            continue
        value = m[key]
        bounded = key in ("progression_at_least", "csat_below")
        ok = value is None and key != "progression_at_least" or (
            isinstance(value, int | float) and not isinstance(value, bool)
            and (not bounded or 0 <= value <= 1) and (key != "nps_below" or -100 <= value <= 100))
        if not ok:
            limits = "a rate between 0 and 1" if bounded else "between -100 and 100" \
                if key == "nps_below" else "a number"
            r.error(r.value(m, key), f"'{key}' of {what} must be {limits}"
                    f"{'' if key == 'progression_at_least' else ' (or null: not used)'}, "
                    f"not {describe(value)}", value)
            continue
        out[key] = None if value is None else float(value)
    out["min_answers"] = read_count(r, m, "min_answers", what, Resented.min_answers)
    return Resented(**out)
