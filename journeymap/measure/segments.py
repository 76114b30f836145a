"""Who a user is: traits, first-touch properties, personas and value.

A persona or `--by` property is read from the users table when it holds that
trait, else from the user's first event (first touch). Computed in the engine.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from journeymap.errors import QueryError, did_you_mean
from journeymap.measure.predicates import all_of
from journeymap.spec.model import Journey

VALUE_COLUMN = "revenue"


def attributes(events: ir.Table, users: ir.Table | None, props: set[str]) -> ir.Table:
    """Per user: the requested props, from traits where known, else first touch."""
    traits = [p for p in props if users is not None and p in users.columns]
    touch = sorted(p for p in props if p not in traits)
    unknown = [p for p in touch if p not in events.columns]
    if unknown:
        known = list(events.columns) + (list(users.columns) if users is not None else [])
        raise QueryError(f"unknown trait or property '{unknown[0]}'" + did_you_mean(unknown[0], known))
    if not touch and users is not None:  # every trait is in the users table: no event scan
        return users.select("user_id", *traits)
    order = [c for c in ("ts", "event", "event_id") if c in events.columns]
    first = events.mutate(_rn=ibis.row_number().over(group_by="user_id", order_by=order))
    base = first.filter(first._rn == 0).select("user_id", *touch)
    if traits:
        base = base.left_join(users.select("user_id", *traits), "user_id").drop("user_id_right")
    return base


def persona_flags(journey: Journey, events: ir.Table, users: ir.Table | None) -> pd.DataFrame:
    """Boolean column per persona, indexed by user_id (personas may overlap)."""
    if not journey.personas:
        return pd.DataFrame(index=pd.Index([], name="user_id"))
    attrs = attributes(events, users, journey.traits_used)
    flags = attrs.select("user_id", **{p.id: all_of(attrs, p.where).fill_null(False)
                                       for p in journey.personas})
    return flags.to_pandas().set_index("user_id")


def align(flags: pd.DataFrame, users: pa.Array) -> pd.DataFrame:
    """Persona flags in the order of `users` (False where a user has no row)."""
    return flags.astype(bool).reindex(users.to_pandas(), fill_value=False)


def values_for(frame: pd.DataFrame, users: pa.Array, column: str, fill=False) -> np.ndarray:
    """A column of a per-user frame aligned to the given user ids."""
    if frame.empty and column not in frame.columns:
        return np.full(len(users), fill)
    series = frame[column].reindex(users.to_pandas())
    return series.fillna(fill).to_numpy() if fill is not None else series.to_numpy()


def user_values(events: ir.Table) -> pd.Series | None:
    """Total `revenue` per user when events carry a numeric revenue property."""
    if VALUE_COLUMN not in events.columns or not events[VALUE_COLUMN].type().is_numeric():
        return None
    agg = events.group_by("user_id").aggregate(value=events[VALUE_COLUMN].sum())
    return agg.to_pandas().set_index("user_id")["value"]


def trait_values(events: ir.Table, users: ir.Table | None, prop: str) -> pd.Series:
    """One value per user of a trait or first-touch property."""
    return attributes(events, users, {prop}).to_pandas().set_index("user_id")[prop]

