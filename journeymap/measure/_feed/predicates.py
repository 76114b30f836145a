"""Journey conditions compiled to backend-neutral Ibis boolean expressions.

One compiler serves stage entry rules (over events), persona rules (over
users with first-touch properties) and funnel step conditions, on any engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from journeymap._deferred import ibis, ir
from journeymap.errors import QueryError, did_you_mean
from journeymap.spec.model import Condition, EventRule

_COMPARE = {
    "eq": lambda c, v: c == v,
    "ne": lambda c, v: (c != v) | c.isnull(),
    "gt": lambda c, v: c > v,
    "gte": lambda c, v: c >= v,
    "lt": lambda c, v: c < v,
    "lte": lambda c, v: c <= v,
}


def column(table: ir.Table, name: str, what: str = "property") -> ir.Column:
    """A column by name, or a QueryError that names the closest one."""
    if name not in table.columns:
        raise QueryError(f"unknown {what} '{name}'" + did_you_mean(name, table.columns))
    return table[name]


def _coerce(col: ir.Column, value):
    """Make `col` comparable with a Python value (numbers against text parse the text)."""
    is_num = isinstance(value, (int, float)) and not isinstance(value, bool)
    if is_num and col.type().is_string():
        return col.try_cast("float64"), value
    if isinstance(value, str) and col.type().is_numeric():
        try:  # "42" against a number column compares as a number, the same on every engine
            return col, float(value)
        except ValueError:
            return col.cast("string"), value
    if isinstance(value, bool) and col.type().is_string():
        return col, str(value).lower()
    return col, value


def condition(table: ir.Table, cond: Condition) -> ir.BooleanValue:
    """One condition as a boolean expression; null values never match (except `ne`)."""
    col = column(table, cond.prop)
    if cond.op == "exists":
        return col.notnull() if cond.value in (None, True) else col.isnull()
    if cond.op in ("in", "not_in"):
        values = list(cond.value)
        c, _ = _coerce(col, values[0]) if values else (col, None)
        test = c.isin(values)
        return test if cond.op == "in" else (~test | col.isnull())
    if cond.op == "contains":
        return col.cast("string").contains(str(cond.value))
    c, v = _coerce(col, cond.value)
    return _COMPARE[cond.op](c, v)


def all_of(table: ir.Table, conds: Iterable[Condition]) -> ir.BooleanValue:
    """Conjunction of conditions (true when there are none)."""
    expr = ibis.literal(True)
    for c in conds:
        expr = expr & condition(table, c)
    return expr


def rule(table: ir.Table, r: EventRule) -> ir.BooleanValue:
    """Rows that satisfy an entry rule: one of its event names (any, for an activity rule
    without a list), all its conditions."""
    names = list(r.events)
    if not names:
        ev = ibis.literal(True)
    else:
        ev = table.event == names[0] if len(names) == 1 else table.event.isin(names)
    return (ev & all_of(table, r.where)).fill_null(False)


def bitmask(flags: list[ir.BooleanValue]) -> ir.IntegerValue:
    """int64 with bit k set where flags[k] holds."""
    total = ibis.literal(0, "int64")
    for k, f in enumerate(flags):
        total = total + f.fill_null(False).ifelse(ibis.literal(1 << k, "int64"),
                                                  ibis.literal(0, "int64"))
    return total


def mask_type(n_rules: int) -> type:
    """The narrowest signed integer holding a bit per rule (less memory to stream)."""
    return next(t for t in (np.int8, np.int16, np.int32, np.int64)
                if n_rules < np.iinfo(t).bits)


def name_ranks(names: Sequence[str]) -> np.ndarray:
    """Each name's place in text order, by its position in `names`."""
    rank = np.empty(len(names), np.int32)
    rank[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names))
    return rank


def name_bits(rules: Sequence[EventRule], names: list) -> np.ndarray:
    """Per dictionary entry: the bits of the rules naming that event."""
    lut = np.zeros(len(names) + 1, mask_type(len(rules)))
    for k, r in enumerate(rules):
        for i, name in enumerate(names):
            if r.matches_name(name):
                lut[i] |= 1 << k
    return lut
