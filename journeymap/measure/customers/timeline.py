"""One customer's events, in the journey's order, and the stages they entered.

The rows come from the source's table filtered to one user id; on a workspace's
copy clustered by user, the engine reads only the row group that holds them
(its min/max statistics on `user_id`), so a lookup costs no scan of the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from journeymap._deferred import ir
from journeymap.measure._feed.batches import flagged_rows, iter_batches
from journeymap.measure._feed.users import persona_flags
from journeymap.measure.map.entries import StageEntries, entries_of
from journeymap.spec.model import Journey
from journeymap.store.frames import as_events
from journeymap.store.schema import USER_ORDER
from journeymap.store.sources import TableEvents, as_source
from journeymap.store.stored_users import ibis_users


@dataclass(frozen=True)
class Timeline:
    """One user's rows (every column, in (ts, event, event_id) order) and stage entries."""

    user_id: str
    rows: pa.Table
    entries: StageEntries  # one user, or none when they never entered stage 1
    personas: list[str]  # the personas whose rules the user meets

    @property
    def entry_t(self) -> np.ndarray | None:
        return self.entries.entry_t[0] if self.entries.n_users else None


def timeline(journey: Journey, source, user_id: str, users: ir.Table | None = None) -> Timeline:
    """The events of one user, when they entered each stage (the map's engine, with the
    data's end as "now") and their personas (traits from `users`, else first touch)."""
    source = as_source(source)
    table = source.table
    order = [c for c in USER_ORDER if c in table.columns]
    rows = table.filter(table.user_id == user_id).order_by(order).to_pyarrow()
    if not rows.num_rows:
        return Timeline(user_id, rows, entries_of(journey, [], 0, source.data_end_us()), [])
    one = TableEvents(as_events(rows))
    query = flagged_rows(one, [s.enter for s in journey.stages])
    entries = entries_of(journey, iter_batches(query), 1, source.data_end_us())
    users = ibis_users(users)
    mine_only = users.filter(users.user_id == user_id) if users is not None else None
    flags = persona_flags(journey, one.table, mine_only)
    mine = pc.equal(flags.column("user_id"), user_id)  # traits may come for every user
    personas = [p.id for p in journey.personas
                if any(flags.column(p.id).filter(mine).fill_null(False).to_pylist())]
    return Timeline(user_id, rows, entries, personas)
