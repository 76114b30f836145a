"""The canonical shape of the tables journeymap reads.

events: one row per event. `event_id` is unique (the de-duplication key;
a content hash when the source has none), `ts` is UTC with microsecond
precision, and every other column is an event property.
users: `user_id` plus trait columns. identities: `anonymous_id` -> `user_id`.
"""

from __future__ import annotations

import pyarrow as pa

TS_TYPE = pa.timestamp("us", tz="UTC")
#: the times journeymap keeps, [1678-01-01, 2262-01-01) UTC in microseconds: every
#: tool a measure hands times to (pandas' nanosecond timestamps end in April 2262) can
#: hold them; a row outside is a bad row, never stored
TS_MIN_US, TS_MAX_US = -9_214_560_000_000_000, 9_214_646_400_000_000
TS_RANGE_TEXT = "1678-01-01 to 2261-12-31 UTC"

EVENT_CORE = {
    "event_id": pa.string(),
    "user_id": pa.string(),
    "event": pa.string(),
    "ts": TS_TYPE,
}
EVENT_OPTIONAL = {
    "anonymous_id": pa.string(),
    "session_id": pa.string(),
}
RESERVED = set(EVENT_CORE) | set(EVENT_OPTIONAL)

#: the order of one user's events everywhere: time, then a deterministic tie-breaker
#: (results never depend on row order or on the engine; simultaneous events are
#: treated as simultaneous by the kernels, whatever this order put first)
EVENT_ORDER = ("ts", "event", "event_id")
#: every user's events together, in EVENT_ORDER
USER_ORDER = ("user_id", *EVENT_ORDER)

IDENTITIES = pa.schema([("anonymous_id", pa.string()), ("user_id", pa.string())])

#: hive partition key of the event store (`events/date=YYYY-MM-DD/`); a source
#: property of that name is stored as `prop_date` so readers never see a clash
PARTITION_COLUMN = "date"
#: source columns accepted as `ts` when no `ts` column or mapping is given
TS_ALIASES = ("ts", "timestamp")


def safe_property_name(name: str) -> str:
    """Rename a property that would clash with a canonical or partition column."""
    return f"prop_{name}" if name in RESERVED or name == PARTITION_COLUMN else name


def property_columns(columns) -> list[str]:
    """Names of the event-property columns among an events table's column names."""
    return [n for n in columns if n not in RESERVED]
