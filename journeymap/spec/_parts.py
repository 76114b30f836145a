"""Small building blocks of a journey file: conditions, owners, rates, durations."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from journeymap.errors import did_you_mean
from journeymap.spec._reader import Reader, describe
from journeymap.spec.durations import parse_duration
from journeymap.spec.model import NUMERIC_OPERATORS, OPERATORS, Benchmark, Condition, Location, Owner

OWNER_KEYS = ("responsible", "accountable", "consulted", "informed")
BENCHMARK_KEYS = ("low", "high", "source")


def read_where(r: Reader, parent: Mapping, key: str, what: str) -> tuple[Condition, ...]:
    """The conditions under `parent[key]`: one Condition per property and operator."""
    where = parent.get(key)
    if where is None or not r.is_mapping(where, r.value(parent, key), f"'{key}' of {what}"):
        return ()
    out: list[Condition | None] = []
    for prop, spec in where.items():
        loc = r.key(where, prop)
        if not isinstance(prop, str) or not prop.strip():
            r.error(loc, f"property name in {what} must be a non-empty string, not {describe(prop)}", prop)
        elif isinstance(spec, Mapping):
            out += _operators(r, str(prop), spec, loc, what)
        else:
            out.append(_condition(r, str(prop), "eq", spec, r.value(where, prop), loc))
    return tuple(c for c in out if c is not None)


def _operators(r: Reader, prop: str, spec: Mapping, loc: Location, what: str) -> list[Condition | None]:
    """One Condition per `op: value` pair of a property's condition mapping."""
    if not spec:
        r.error(loc, f"condition on '{prop}' in {what} has no operator (use one of {', '.join(OPERATORS)})")
    out = []
    for op, value in spec.items():
        if op in OPERATORS:
            out.append(_condition(r, prop, str(op), value, r.value(spec, op), loc))
        else:
            r.error(r.key(spec, op), f"unknown operator '{op}' in condition on '{prop}' in {what}"
                    + did_you_mean(op, OPERATORS), op)
    return out


def _condition(r: Reader, prop: str, op: str, value: object, vloc: Location,
               loc: Location) -> Condition | None:
    """A Condition, or None after reporting a value that does not suit the operator."""
    problem = _value_problem(op, value)
    if problem:
        r.error(vloc, f"condition '{prop} {op}' {problem}, not {describe(value)}", value)
        return None
    return Condition(prop, op, plain(value), loc)


def _value_problem(op: str, value: object) -> str | None:
    """Why `value` does not suit `op`, or None when it does."""
    if op in ("in", "not_in"):
        ok = isinstance(value, list | tuple) and bool(value) and all(_is_scalar(v) for v in value)
        return None if ok else "needs a non-empty list of values"
    if op in NUMERIC_OPERATORS:
        return None if _is_number(value) or _is_date(value) else "needs a number or an ISO date"
    if op == "exists":
        return None if isinstance(value, bool) else "takes true or false"
    return None if _is_scalar(value) else "needs a single value"


def _is_scalar(value: object) -> bool:
    return value is not None and not isinstance(value, Mapping | list | tuple | set)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_date(value: object) -> bool:
    """A date, a datetime, or a string in ISO 8601 form."""
    if isinstance(value, dt.date):
        return True
    if not isinstance(value, str):
        return False
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def plain(value: object) -> object:
    """A YAML scalar as a plain Python value: dates as ISO strings, lists as tuples."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return tuple(plain(v) for v in value)
    return str(value)


def read_owner(r: Reader, parent: Mapping, what: str) -> Owner | None:
    """The required `owner` of a stage or handoff: a team name or a RACI mapping."""
    value = parent.get("owner")
    if value is None:
        r.error(r.key(parent, "owner") if "owner" in parent else r.node(parent), f"{what} has no owner")
        return None
    if isinstance(value, str) and value.strip():
        return Owner(responsible=str(value))
    if not isinstance(value, Mapping):
        r.error(r.value(parent, "owner"), f"owner of {what} must be a team name or a mapping with "
                f"'responsible', not {describe(value)}", value)
        return None
    r.check_keys(value, OWNER_KEYS, f"owner of {what}")
    responsible = r.text(value, "responsible", f"owner of {what}", required=True)
    accountable = r.text(value, "accountable", f"owner of {what}")
    consulted = r.texts(value, "consulted", f"owner of {what}")
    informed = r.texts(value, "informed", f"owner of {what}")
    return Owner(responsible, accountable, consulted, informed) if responsible else None


def read_rate(r: Reader, parent: Mapping, key: str, what: str) -> float | None:
    """An optional rate between 0 and 1."""
    value = parent.get(key)
    if value is None:
        return None
    if _is_number(value) and 0 <= value <= 1:
        return float(value)
    r.error(r.value(parent, key), f"'{key}' of {what} must be a rate between 0 and 1, "
            f"not {describe(value)}", value)
    return None


def read_benchmark(r: Reader, parent: Mapping, key: str, what: str) -> Benchmark | None:
    """An optional `{low, high}` range of rates, with low <= high."""
    value = parent.get(key)
    if value is None or not r.is_mapping(value, r.value(parent, key), f"benchmark of {what}"):
        return None
    r.check_keys(value, BENCHMARK_KEYS, f"benchmark of {what}")
    for bound in ("low", "high"):
        if value.get(bound) is None:
            r.error(r.node(value), f"benchmark of {what} has no '{bound}'")
    low, high = (read_rate(r, value, b, f"benchmark of {what}") for b in ("low", "high"))
    source = r.text(value, "source", f"benchmark of {what}") or "journey file"
    if low is None or high is None:
        return None
    if low > high:
        r.error(r.node(value), f"benchmark of {what} has low {low:g} above high {high:g}", (low, high))
        return None
    return Benchmark(low, high, source)


def read_duration(r: Reader, parent: Mapping, key: str, what: str) -> float | None:
    """An optional duration in seconds."""
    value = parent.get(key)
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        r.error(r.value(parent, key), f"'{key}' of {what}: {exc}", value)
        return None


def read_flag(r: Reader, parent: Mapping, key: str, what: str) -> bool:
    """An optional true/false value (false when absent)."""
    value = parent.get(key, False)
    if isinstance(value, bool):
        return value
    r.error(r.value(parent, key), f"'{key}' of {what} must be true or false, not {describe(value)}", value)
    return False


def read_count(r: Reader, parent: Mapping, key: str, what: str, default: int) -> int:
    """An optional whole number of at least 1 (`default` when absent or wrong)."""
    value = parent.get(key)
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return int(value)
    r.error(r.value(parent, key), f"'{key}' of {what} must be a whole number, at least 1, "
            f"not {describe(value)}", value)
    return default
