"""Journey conditions evaluated on Arrow, where Arrow's answer is the engine's.

`predicates` compiles every condition to an Ibis expression for the engine, and
stays the definition. A measure that needs only its personas' flags over the
store's users table can skip starting an engine (Ibis, its DuckDB backend and
pandas: most of a cold command's start-up) when every condition is one whose
result Arrow computes exactly as the engine does:

- `exists` on any column;
- on a text column: comparisons, `in` / `not_in` and `contains` with text values
  (byte order and byte substrings, as the engine compares text), and `eq` / `ne`
  with true or false (compared as the text "true" / "false");
- on an integer or boolean column, or a float64 column without NaN: comparisons and
  `in` / `not_in` with numbers (booleans with booleans), or with text that reads
  as a number (as `predicates` turns it into one).

A null value matches no condition but `ne` and `not_in`, as in `predicates`.
Anything else (a number against a text column, which the engine parses; dates;
narrower floats; NaN, which the engine orders above every number; a list holding
null or nothing; text holding NUL, which the engine refuses) gives None, and the
engine answers. A property test holds both to the same flags.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from journeymap.spec.model import Condition
from journeymap.store.frames import from_numbers, from_strings

_COMPARE = {"eq": pc.equal, "ne": pc.not_equal, "gt": pc.greater, "gte": pc.greater_equal,
            "lt": pc.less, "lte": pc.less_equal}


def all_of(table: pa.Table, conds: Iterable[Condition]) -> pa.Array | None:
    """Rows meeting every condition (all rows when there are none), without nulls; None
    when a condition is not one Arrow answers as the engine does (see the module doc)."""
    out = from_numbers(np.ones(table.num_rows, np.bool_))
    for cond in conds:
        if cond.prop not in table.column_names:
            return None
        try:
            got = condition(table.column(cond.prop).combine_chunks(), cond)
        except (pa.ArrowException, OverflowError, UnicodeEncodeError):  # e.g. a number beyond the column's
            # type, or text Python cannot encode: the engine answers
            return None
        if got is None:
            return None
        out = pc.and_(out, got)
    return out


def condition(col: pa.Array, cond: Condition) -> pa.Array | None:
    """One condition over a column, true or false on every row (null never matches but
    for `ne` / `not_in`); None when the engine must answer it."""
    if cond.op == "exists":
        return pc.is_valid(col) if cond.value in (None, True) else pc.is_null(col)
    kind = _kind(col)
    if kind is None:
        return None
    if cond.op in ("in", "not_in"):
        values = list(cond.value)
        if not values or not all(_listed(kind, v) for v in values):
            return None
        col = _as(col, kind, values)
        test = pc.is_in(col, value_set=_array(kind, values).cast(col.type))
        return _no_null(test, False) if cond.op == "in" else _no_null(pc.invert(test), True)
    if cond.op == "contains":
        if kind != "text" or not _text(str(cond.value)):
            return None
        return _no_null(pc.match_substring(col, str(cond.value)), False)
    if cond.op not in _COMPARE:
        return None
    value = _operand(kind, cond.value, text_bool=cond.op in ("eq", "ne"))
    if value is None:
        return None
    return _no_null(_COMPARE[cond.op](col, _array(kind, [value])[0]), cond.op == "ne")


def _kind(col: pa.Array) -> str | None:
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "number"
    if pa.types.is_float64(t) and not pc.any(pc.is_nan(col)).as_py():  # a narrower float: the engine
        return "number"  # narrows the value to it, Arrow widens the column
    return None


def _operand(kind: str, value, text_bool: bool = False):
    """The value as the engine compares it with a column of this kind, or None."""
    if kind == "text":
        if isinstance(value, bool):
            return str(value).lower() if text_bool else None
        return value if _text(value) else None
    if kind == "bool":
        return value if isinstance(value, bool) else None
    if isinstance(value, str):  # text that reads as a number compares as that number
        try:
            value = float(value)
        except ValueError:
            return None
    return value if _number(value) else None


def _listed(kind: str, value) -> bool:
    """A value of an `in` list Arrow matches as the engine does (no conversions)."""
    if kind == "text":
        return _text(value)
    if kind == "bool":
        return isinstance(value, bool)
    return _number(value)


def _text(value) -> bool:
    """Text the engine takes as a literal (it refuses a NUL character)."""
    return isinstance(value, str) and "\x00" not in value


def _number(value) -> bool:
    """A finite number (not a boolean) within int64 when it is an integer: NaN and the
    infinities order differently in the engine."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, int):
        return -(1 << 63) <= value < (1 << 63)
    return math.isfinite(value)


def _as(col: pa.Array, kind: str, values: list) -> pa.Array:
    """The column in the type its `in` list is matched in: floats when either holds one,
    with -0.0 made 0.0 (equal to the engine, distinct to Arrow's hashing)."""
    if kind == "number" and (pa.types.is_floating(col.type) or any(isinstance(v, float) for v in values)):
        return pc.add(col.cast(pa.float64()), from_numbers(np.zeros(1))[0])
    return col


def _array(kind: str, values: list) -> pa.Array:
    """Values of a condition as Arrow, built from buffers: pyarrow's own conversion of
    Python values imports pandas (half a second of a one-command process)."""
    if kind == "text":
        return from_strings(values)
    if kind == "bool":
        return from_numbers(np.array(values, np.bool_))
    if any(isinstance(v, float) for v in values):
        return from_numbers(np.array(values, np.float64) + 0.0)  # -0.0 as 0.0 (see `_as`)
    return from_numbers(np.array(values, np.int64))


def _no_null(test: pa.Array, where_null: bool) -> pa.Array:
    """The test with `where_null` on the rows whose value is null."""
    return pc.or_kleene(test, pc.is_null(test)) if where_null else pc.and_kleene(test, pc.is_valid(test))
