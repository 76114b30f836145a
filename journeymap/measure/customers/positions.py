"""Where customers are now: the furthest stage each one entered, since when, last seen.

The same stage engine and tie rules as the map (`measure.map.entries`), so a
customer's stage here is the stage the map counts them in. "Now" is the end of
the data (the last event's time): a workspace refreshed daily reads it as today.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from journeymap._deferred import ir
from journeymap.measure._feed.users import persona_flags, values_for
from journeymap.measure.map.entries import StageEntries, stage_entries
from journeymap.spec.model import Journey
from journeymap.store.sources import as_source


@dataclass(frozen=True)
class Positions:
    """Per customer who entered the journey (ids sorted): stage entry times, last event,
    persona flags; `data_end` is "now"."""

    entries: StageEntries
    last_seen: np.ndarray  # µs of each customer's last event
    personas: dict[str, np.ndarray]  # persona id -> bool per customer

    @property
    def data_end(self) -> int:
        return self.entries.data_end

    def current(self) -> np.ndarray:
        """Index of each customer's furthest stage entered."""
        entered = self.entries.entry_t >= 0
        n = entered.shape[1]
        return n - 1 - np.argmax(entered[:, ::-1], axis=1)


def last_seen(events: ir.Table, users: pa.Array) -> np.ndarray:
    """Each user's last event time in µs, in the order of `users` (-1: none)."""
    last = events.group_by("user_id").aggregate(last=events.ts.max()).to_pyarrow()
    last = last.set_column(1, "last", last.column("last").cast(pa.timestamp("us", tz="UTC"))
                           .cast(pa.int64()))
    return values_for(last, users, "last", fill=-1).astype(np.int64)


def positions(journey: Journey, source, users: ir.Table | None = None) -> Positions:
    """Where every customer who entered the journey is now (one stage pass)."""
    source = as_source(source)
    entries = stage_entries(journey, source)
    flags = persona_flags(journey, source.table, users)
    return Positions(entries, last_seen(source.table, entries.users),
                     {p.id: values_for(flags, entries.users, p.id).astype(bool)
                      for p in journey.personas})
