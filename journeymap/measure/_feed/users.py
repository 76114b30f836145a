"""Who a user is: traits, first-touch properties, personas and value.

A persona or `--by` property is read from the users table when it holds that
trait, else from the user's first event (first touch). Computed in the engine.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from journeymap._deferred import duckdb, ibis, ir
from journeymap.errors import QueryError, did_you_mean
from journeymap.measure._feed import arrow_conditions
from journeymap.measure._feed.predicates import all_of
from journeymap.spec.model import Journey
from journeymap.store import _strings as kernels
from journeymap.store.frames import booleans, from_numbers, from_strings, numbers, string_buffers
from journeymap.store.schema import EVENT_ORDER
from journeymap.store.stored_users import StoredUsers, ibis_users

VALUE_COLUMN = "revenue"


def _all_traits(users: ir.Table | None, props) -> bool:
    """Every prop is a column of the users table: read from it alone, no event scan."""
    return users is not None and set(props) <= set(users.columns)


def attributes(events: ir.Table, users: ir.Table | None, props: set[str]) -> ir.Table:
    """Per user: the requested props, from traits where known, else first touch."""
    users = ibis_users(users)
    traits = [p for p in props if users is not None and p in users.columns]
    touch = sorted(p for p in props if p not in traits)
    unknown = [p for p in touch if p not in events.columns]
    if unknown:
        known = list(events.columns) + (list(users.columns) if users is not None else [])
        raise QueryError(f"unknown trait or property '{unknown[0]}'" + did_you_mean(unknown[0], known))
    if _all_traits(users, props):
        return users.select("user_id", *traits)
    order = [c for c in EVENT_ORDER if c in events.columns]
    first = events.mutate(_rn=ibis.row_number().over(group_by="user_id", order_by=order))
    base = first.filter(first._rn == 0).select("user_id", *touch)
    if traits:
        base = base.left_join(users.select("user_id", *traits), "user_id").drop("user_id_right")
    return base


def persona_flags(journey: Journey, events: ir.Table, users: ir.Table | None) -> pa.Table:
    """user_id and a boolean column per persona (personas may overlap)."""
    if not journey.personas:  # (no Python value through pyarrow's conversion: it imports pandas)
        return pa.table({"user_id": from_strings([])})
    users = ibis_users(users)
    attrs = attributes(events, users, journey.traits_used)
    flags = attrs.select("user_id", **{p.id: all_of(attrs, p.where).fill_null(False)
                                       for p in journey.personas})
    return _by_user(flags, try_as_stored=_all_traits(users, journey.traits_used))


def flags_of(journey: Journey, source, users) -> pa.Table:
    """`persona_flags` of an event source and its users. From the store's users file as
    Arrow, with no engine started, when every persona reads only traits and each of
    their conditions is one Arrow answers as the engine does (see `arrow_conditions`);
    else by the engine."""
    if not journey.personas:
        return persona_flags(journey, None, None)
    if isinstance(users, StoredUsers) and journey.traits_used <= set(users.columns):
        got = _stored_flags(journey, users)
        if got is not None:
            return got
    return persona_flags(journey, source.table, users)


def _stored_flags(journey: Journey, users: StoredUsers) -> pa.Table | None:
    """The personas' flags read off the users file (None: the engine must answer)."""
    table = users.read(["user_id", *sorted(journey.traits_used)])
    ids = table.column("user_id").combine_chunks()
    bufs = _buffers(ids) if pa.types.is_string(ids.type) else None
    if bufs is None or not kernels.strictly_increasing(*bufs):  # not as the store writes it
        return None
    flags = {}
    for p in journey.personas:
        flags[p.id] = arrow_conditions.all_of(table, p.where)
        if flags[p.id] is None:
            return None
    return pa.table({"user_id": ids, **flags})


def _by_user(table: ir.Table, *, try_as_stored: bool = False) -> pa.Table:
    """The table in user_id order. With try_as_stored (a cheap query, e.g. of the users
    table, which the store keeps in id order) it is read as it comes first, and sorted by
    the engine only when it did not come in order."""
    if try_as_stored:
        got = table.to_pyarrow()
        ids = _buffers(got.column("user_id"))
        if ids is not None and kernels.strictly_increasing(*ids):
            return got
    return table.order_by("user_id").to_pyarrow()


def _buffers(ids: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray] | None:
    """(offsets, bytes) of string ids, None when some are missing (not comparable)."""
    return None if ids.null_count else string_buffers(ids)


def positions(keys: pa.Array | pa.ChunkedArray, users: pa.Array, *, keys_sorted: bool = False
              ) -> np.ndarray:
    """Where each of `users` sits in `keys` (-1: absent), with no Python strings: one merge
    when both are sorted (as engines return user ids), else hashed in Arrow. With
    `keys_sorted` (the caller knows the keys are strictly increasing), the merge reads only
    the keys from the first user's to the last's (a batch of users against everyone)."""
    keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
    k, u = _buffers(keys), _buffers(users)
    if keys_sorted and k is not None and u is not None and len(users) and len(keys) \
            and kernels.strictly_increasing(*u):
        a, b = kernels.sorted_bounds(*k, *u)
        found = positions(keys.slice(a, b - a), users)
        return np.where(found >= 0, found + a, -1)
    found = kernels.sorted_positions(*k, *u) if k is not None and u is not None else None
    if found is not None:
        return found
    idx = pc.index_in(users, value_set=keys.cast(users.type))
    return idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def positions_of_rows(keys: pa.Array | pa.ChunkedArray, users: pa.Array) -> np.ndarray:
    """`positions` for ids that repeat in runs (rows grouped by user, as every pass hands
    them over): looked up once per run, then repeated."""
    n = len(users)
    if n < 2:
        return positions(keys, users)
    change = pc.not_equal(users.slice(1), users.slice(0, n - 1))
    change = pc.or_kleene(change, pc.is_null(change))  # a missing id starts a run
    starts = np.concatenate(([0], np.flatnonzero(booleans(change)) + 1))
    found = positions(keys, users.take(from_numbers(starts)))
    return np.repeat(found, np.diff(np.append(starts, n)))


def values_for(table: pa.Table, users: pa.Array, column: str, fill=False,
               pos: np.ndarray | None = None) -> np.ndarray:
    """A column of a per-user table (keyed by user_id) in the order of `users`; `fill`
    where a user has no row or no value (None: keep the gaps). `pos`: the users'
    positions in the table, when already known."""
    if column not in table.column_names:
        return np.full(len(users), fill)
    pos = positions(table.column("user_id"), users) if pos is None else pos
    col = table.column(column).combine_chunks()
    if _is_number(fill) and len(table) and (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
        at, found = np.maximum(pos, 0), pos >= 0  # numbers, in numpy
        if col.null_count:
            found &= booleans(pc.is_valid(col))[at]
        return np.where(found, numbers(col, masked=True)[at], fill)
    values = table.column(column).take(pa.array(np.maximum(pos, 0))) if len(table) else \
        pa.nulls(len(users), table.schema.field(column).type)
    values = pc.if_else(pa.array(pos >= 0), values, pa.scalar(None, values.type))
    if fill is not None:
        values = values.fill_null(fill)
    return values.to_numpy(zero_copy_only=False)


def align(flags: pa.Table, users: pa.Array) -> dict[str, np.ndarray]:
    """Persona flags in the order of `users`, a boolean array per persona (False where a
    user has no row)."""
    pos = positions(flags.column("user_id"), users)
    found = pos >= 0
    out = {}
    for p in flags.column_names[1:]:
        col = flags.column(p).combine_chunks()
        out[p] = np.zeros(len(users), np.bool_)
        out[p][found] = booleans(pc.and_kleene(col, pc.is_valid(col)) if col.null_count else col)[pos[found]]
    return out


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def user_values(source) -> pa.Table | None:
    """Total `revenue` per user (user_id, value) when the events carry a numeric revenue.
    Of a clustered copy (float revenue, as the store keeps it), DuckDB is asked directly,
    the query Ibis would send it, so no Ibis starts for it."""
    if VALUE_COLUMN not in source.columns:
        return None
    if source.clustered:
        rel = duckdb.connect().read_parquet(list(source.files), union_by_name=True)
        if str(dict(zip(rel.columns, rel.types))[VALUE_COLUMN]) == "DOUBLE":
            return rel.aggregate(f"user_id, SUM({VALUE_COLUMN}) AS value", "user_id").order("user_id") \
                .fetch_arrow_table()
    events = source.table
    if not events[VALUE_COLUMN].type().is_numeric():
        return None
    agg = events.group_by("user_id").aggregate(value=events[VALUE_COLUMN].sum())
    return agg.order_by("user_id").to_pyarrow()


def trait_values(events: ir.Table, users: ir.Table | None, prop: str) -> pa.Table:
    """One value per user of a trait or first-touch property (user_id, prop)."""
    users = ibis_users(users)
    return _by_user(attributes(events, users, {prop}), try_as_stored=_all_traits(users, {prop}))
