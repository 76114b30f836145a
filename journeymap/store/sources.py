"""Where measures read events from: one protocol, whatever holds the events.

A measure asks its source for what it needs and never which kind it holds:

- `table`: the events as an Ibis table, for engine queries (traits, each user's
  first event, revenue, validation);
- `columns`: their column names (known without opening `table`);
- `data_end_us()`: the time of the last event;
- `user_count`: how many users there are, when known before reading;
- rows in user order by batch, which `measure._feed.batches` reads according to
  the capability flags below.

Capability flags, in the style of ibis' `BaseBackend.supports_*`:

- `clustered`: the rows are stored in (user_id, ts, event, event_id) order
  with event names as integer codes, read a row group at a time with no engine
  sort (`row_groups()`, `vocab`, `user_ids`, `starts`); otherwise the engine
  flags and sorts them.
- `passes_use_engine`: walking the rows keeps the engine busy, so another engine
  query cannot run beside a pass (a clustered copy is read from files: it can).

Two kinds exist: `TableEvents` (any Ibis table, on any engine) and the
workspace's clustered copy (`store.clustered.ClusteredEvents`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

import pyarrow as pa

from journeymap._deferred import ir
from journeymap.store import scan
from journeymap.store.frames import typed_events, with_ids

__all__ = ["EventSource", "TableEvents", "as_source"]

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
#: what makes a class an event source; checked on the class, since `isinstance` against
#: the runtime protocol reads every member, and reading `table` may open a connection
MEMBERS = ("clustered", "passes_use_engine", "table", "columns", "user_count", "data_end_us")


@runtime_checkable
class EventSource(Protocol):
    """What every measure may ask of its events."""

    clustered: bool
    passes_use_engine: bool

    @property
    def table(self) -> ir.Table: ...

    @property
    def columns(self) -> Sequence[str]: ...

    @property
    def user_count(self) -> int | None: ...

    def data_end_us(self) -> int: ...


class TableEvents:
    """Events in an Ibis table on any engine: the engine flags, filters and sorts them."""

    clustered = False
    passes_use_engine = True
    user_count = None

    def __init__(self, table: ir.Table, typed: ir.Table | None = None):
        self.table = table
        #: the table before content-derived event ids were added (the same when it had ids)
        self.typed = table if typed is None else typed

    def pieces(self, columns: Sequence[str], coded: Sequence[str] = (),
               ordered_by: str | None = None, max_rows: int | None = None
               ) -> Iterator[pa.Table] | None:
        """The columns read without the engine, where they lie (see `store.scan`), or None;
        `event_id` only when the events came with one."""
        return scan.pieces(self.typed, columns, coded=coded, ordered_by=ordered_by,
                           max_rows=max_rows)

    @property
    def columns(self) -> Sequence[str]:
        return self.table.columns

    def __repr__(self) -> str:
        return f"TableEvents({self.table.get_name() if hasattr(self.table, 'get_name') else '…'})"

    def data_end_us(self) -> int:
        """The time of the last event (µs since the epoch; 0 when there are none)."""
        last = self.table.ts.max().to_pyarrow().as_py()
        if last is None:
            return 0
        if last.tzinfo is None:  # naive means UTC
            last = last.replace(tzinfo=dt.timezone.utc)
        return (last - EPOCH) // dt.timedelta(microseconds=1)


def as_source(obj) -> EventSource:
    """An event source from any accepted form: a source stays itself; a DataFrame, an
    Arrow table, a list of dicts or an Ibis table becomes `TableEvents`."""
    if isinstance(obj, TableEvents) or all(hasattr(type(obj), name) for name in MEMBERS):
        return obj
    typed = typed_events(obj)
    return TableEvents(with_ids(typed), typed)
