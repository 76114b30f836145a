"""When each user entered each stage of the journey: one pass over their events.

Stage semantics (also in the README): a user enters stage 1 at their first
qualifying event; stage k at their first qualifying event (a distinct row) at
or after their entry into stage k-1, and no later than `within` after it when
set. An optional stage may be skipped: a user who enters the stage after it
without it still counts there, flagged as having skipped it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from journeymap.measure._feed.batches import Batch, flagged_rows, iter_batches, users_ahead
from journeymap.measure._feed.executors import in_executors
from journeymap.measure.map.executors import on_executors
from journeymap.measure.map.stage_batch import StageRules, gather, run
from journeymap.spec.model import Journey
from journeymap.store.frames import from_numbers


@dataclass(frozen=True)
class StageEntries:
    """Per user (sorted by id): entry time of each stage in µs (-1: never), skips."""

    users: pa.Array
    entry_t: np.ndarray  # shape (n_users, n_stages)
    skipped: np.ndarray  # bool, same shape
    entry_props: dict[str, np.ndarray]  # property values on the stage-1 entry event
    data_end: int  # µs timestamp of the last event in the data

    def subset(self, keep: np.ndarray) -> StageEntries:
        return StageEntries(self.users.filter(pa.array(keep)), self.entry_t[keep],
                            self.skipped[keep], {k: v[keep] for k, v in self.entry_props.items()},
                            self.data_end)

    @property
    def n_users(self) -> int:
        return len(self.users)


def stage_entries(journey: Journey, events, *, entry_props: tuple[str, ...] = ()
                  ) -> StageEntries:
    """Run the stage kernel over every user who entered stage 1; `entry_props`: event
    properties to read on each user's stage-1 entry event."""
    query = flagged_rows(events, [s.enter for s in journey.stages], extra=entry_props)
    if in_executors(query):  # Spark: the kernel in the executors, a row per user back
        users, entry_t, skipped, props = on_executors(StageRules.of(journey), query, entry_props)
        return StageEntries(users, entry_t, skipped, props, query.source.data_end_us())
    return entries_of(journey, iter_batches(query, task="stage entries"), users_ahead(query),
                      query.source.data_end_us(), entry_props)


@dataclass(frozen=True)
class SideRows:
    """Rows the stage pass saw flagged by other rules (e.g. survey answers): whose, when,
    which of those rules (bit k = rule k), and the columns asked for."""

    users: pa.Array
    t: np.ndarray
    bits: np.ndarray
    columns: dict[str, pa.Array]

    missing: tuple[str, ...] = ()  # columns asked for that the events do not have

    def of(self, k: int) -> np.ndarray:
        """Indexes of the rows flagged by rule k."""
        return np.flatnonzero((self.bits >> k) & 1)

    def only(self, keep: np.ndarray) -> SideRows:
        """The rows where `keep` is true."""
        rows = pa.array(np.flatnonzero(keep))
        return SideRows(self.users.take(rows), self.t[keep], self.bits[keep],
                        {c: v.take(rows) for c, v in self.columns.items()}, self.missing)

    def with_missing(self, names) -> SideRows:
        """The same rows; `names` columns are absent from the events (all null here)."""
        nulls = {c: pa.nulls(len(self.t)) for c in names}
        return SideRows(self.users, self.t, self.bits, {**self.columns, **nulls}, tuple(names))


def stage_entries_and(journey: Journey, events, rules, *, entry_props: tuple[str, ...] = (),
                      columns: tuple[str, ...] = ()) -> tuple[StageEntries, SideRows]:
    """The stage pass, also collecting the rows that `rules` flag (with `columns`) as it
    goes: one read of the events, in the same order and with the same tie rules. On an
    engine with executors (Spark) the stage pass runs there and only the rows `rules`
    flag reach the driver (a second read, of those rows alone)."""
    n = len(journey.stages)
    query = flagged_rows(events, [*(s.enter for s in journey.stages), *rules],
                         extra=tuple(dict.fromkeys([*entry_props, *columns])))
    if in_executors(query):
        entries = stage_entries(journey, query.source, entry_props=entry_props)
        only = flagged_rows(query.source, list(rules), extra=columns)
        side = [_side_part(b, b.mask.astype(np.int64), columns)
                for b in iter_batches(only, task="signal rows")]
        return entries, _side_rows([p for p in side if p is not None], columns)
    side: list[tuple] = []
    stage_bits = (1 << n) - 1

    def stage_batches():
        for b in iter_batches(query, task="stage entries"):
            part = _side_part(b, b.mask.astype(np.int64) >> n, columns)
            if part is not None:
                side.append(part)
                b = Batch(b.users, b.offsets, b.t, b.mask & b.mask.dtype.type(stage_bits), b.columns)
            yield b

    entries = entries_of(journey, stage_batches(), users_ahead(query), query.source.data_end_us(),
                         entry_props)
    return entries, _side_rows(side, columns)


def _side_part(b: Batch, other: np.ndarray, columns: tuple[str, ...]) -> tuple | None:
    """A batch's rows with `other` bits set: (users, times, bits, columns); None if none."""
    rows = np.flatnonzero(other)
    if not rows.size:
        return None
    whose = np.searchsorted(b.offsets, rows, side="right") - 1
    return (b.users.take(from_numbers(whose)), b.t[rows], other[rows],
            {c: b.columns[c].take(from_numbers(rows)) for c in columns})


def _side_rows(parts: list[tuple], columns: tuple[str, ...]) -> SideRows:
    if not parts:
        return SideRows(pa.array([], pa.string()), np.zeros(0, np.int64), np.zeros(0, np.int64),
                        {c: pa.array([], pa.null()) for c in columns})
    cols = {c: pa.concat_arrays([_plain(p[3][c]) for p in parts]) for c in columns}
    return SideRows(pa.concat_arrays([_plain(p[0]) for p in parts]), np.concatenate([p[1] for p in parts]),
                    np.concatenate([p[2] for p in parts]), cols)


def _plain(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One array, dictionary-encoded values as plain ones (pieces may hold different
    dictionaries)."""
    if isinstance(array, pa.ChunkedArray):
        array = pa.concat_arrays([_plain(c) for c in array.chunks]) if array.num_chunks else \
            pa.array([], array.type.value_type if pa.types.is_dictionary(array.type) else array.type)
    return array.dictionary_decode() if pa.types.is_dictionary(array.type) else array


def stage_at(entries: StageEntries, pos: np.ndarray, t: np.ndarray) -> np.ndarray:
    """For rows (a user's position in `entries.users`, -1 for none; a time): the last
    stage the user had entered at or before that time (the stage engine's entry times,
    so an event at the very instant of an entry belongs to the stage entered); -1
    before the journey, and for users who never entered it."""
    if not len(t) or not entries.n_users:
        return np.full(len(t), -1, np.int64)
    entry = entries.entry_t[np.maximum(pos, 0)]
    reached = (pos[:, None] >= 0) & (entry >= 0) & (entry <= t[:, None])
    k = reached.shape[1] - 1 - np.argmax(reached[:, ::-1], axis=1)
    return np.where(reached.any(axis=1), k, -1).astype(np.int64)


def entries_of(journey: Journey, batches, capacity: int, data_end: int,
               entry_props: tuple[str, ...] = ()) -> StageEntries:
    """The stage kernel over batches of whole users whose `mask` holds the stage bits
    (bit k: the row qualifies for stage k), e.g. one batch of a trace's rows."""
    rules = StageRules.of(journey)
    out = gather(rules, capacity)
    read = [run(b, rules, entry_props, out) for b in batches]
    users, cols = out.result()
    props = {c: np.concatenate([r[c].to_numpy(zero_copy_only=False) for r in read])
             if read else np.zeros(0, object) for c in entry_props}
    return StageEntries(users, cols["entry_t"], cols["skipped"], props, data_end)
