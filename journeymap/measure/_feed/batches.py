"""Users' events in a deterministic order, delivered in user-aligned batches.

Every event source is read here, and only here, by its capability flags: a
clustered source hands over its row groups as they are (no sort); any other
source has the engine flag, filter and sort its rows by (user_id, ts, event,
event_id). Either way the kernels get numpy arrays of whole users; a batch
never splits one user's rows, so memory stays bounded by the batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from journeymap._deferred import ibis
from journeymap.errors import QueryError
from journeymap.measure._feed.predicates import bitmask, name_bits, rule
from journeymap.measure._feed.presorted import InOrder, read_in_order, read_reordered
from journeymap.progress import report
from journeymap.spec.model import MAX_STAGES, EventRule
from journeymap.store.clustered import ClusteredEvents, RowGroup, new_users
from journeymap.store.frames import from_numbers, from_strings
from journeymap.store.schema import USER_ORDER
from journeymap.store.sources import EventSource, as_source

BATCH_ROWS = 1 << 21


@dataclass
class Batch:
    """Rows of whole users: ids, user starts (`offsets`), time in µs, flag bits (rows
    with no bit may be among them, and users with none)."""

    users: pa.Array
    offsets: np.ndarray
    t: np.ndarray
    mask: np.ndarray
    columns: dict[str, pa.Array] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return len(self.offsets) - 1


@dataclass(frozen=True)
class FlagQuery:
    """What to stream: the events, the rules whose bits make `mask`, extra columns."""

    source: EventSource
    rules: tuple[EventRule, ...]
    keep_all: bool = False
    extra: tuple[str, ...] = ()


def flagged_rows(events, rules: Sequence[EventRule], *, keep_all: bool = False,
                 extra: Sequence[str] = ()) -> FlagQuery:
    """Rows flagged by rules (bit k of `mask` = rules[k]). Unless keep_all, unflagged rows
    may be left out (the engine drops them; a clustered source keeps them with mask 0,
    which every kernel passes over)."""
    if len(rules) > MAX_STAGES:
        raise QueryError(f"{len(rules)} steps or stages (exclusions included): one query "
                         f"follows at most {MAX_STAGES}")
    return FlagQuery(as_source(events), tuple(rules), keep_all, tuple(extra))


def users_ahead(q: FlagQuery) -> int:
    """How many users the batches can hold at most, where the source knows it before
    reading, else a starting size."""
    return q.source.user_count or 1 << 16


def flag_rows(q: FlagQuery):
    """The engine's query of the flagged rows, in no order: `_mask`, the columns of
    USER_ORDER the events have (`user_order`), and the extra columns."""
    events = q.source.table
    rows = events.mutate(_mask=bitmask([rule(events, r) for r in q.rules]))
    if not q.keep_all:
        rows = rows.filter(rows._mask != 0)
    return rows.select(*dict.fromkeys([*user_order(q), "_mask", *q.extra]))


def user_order(q: FlagQuery) -> list[str]:
    """The columns of USER_ORDER the events have: every engine sorts users' rows by them."""
    return [c for c in USER_ORDER if c in q.source.table.columns]


def _ibis_tables(q: FlagQuery, batch_rows: int) -> Iterator[pa.Table]:
    """Portable path: the engine flags, filters and sorts."""
    query = flag_rows(q).order_by(user_order(q)).select("user_id", "ts", "_mask", *q.extra)
    for rb in query.to_pyarrow_batches(chunk_size=batch_rows):
        yield pa.Table.from_batches([rb])


def _condition_bits(table: pa.Table, mask: np.ndarray, rules: Sequence[EventRule],
                    engine=None) -> np.ndarray:
    """Clear the bits of rows that have a rule's event but fail its `where` conditions
    (evaluated on `engine`, the events' own Ibis backend, so its session settings such
    as the time zone read the conditions' literals; the default backend when None)."""
    for k, r in enumerate(rules):
        if not r.where:
            continue
        rows = np.flatnonzero((mask >> k) & 1)
        if not rows.size:
            continue
        sub = table.take(pa.array(rows))
        sub = sub.set_column(sub.schema.get_field_index("event"), "event",
                             sub.column("event").cast(pa.string()))
        view = ibis.memtable(sub)
        expr = view.select(ok=rule(view, r))
        got = engine.to_pyarrow(expr) if engine is not None else expr.to_pyarrow()
        ok = got["ok"].to_numpy(zero_copy_only=False)
        mask[rows[~ok.astype(bool)]] &= ~(1 << k)
    return mask


def _ordered_batch(src: ClusteredEvents, chunk: RowGroup, q: FlagQuery, lut: np.ndarray) -> Batch:
    """A batch of whole users from the clustered copy: no sort, no string compares, no
    copies. Unflagged rows stay in (mask 0): the kernels pass over them."""
    u0, u1 = int(chunk.uid[0]), int(chunk.uid[-1]) + 1
    mask = np.take(lut, chunk.codes) if q.rules else np.zeros(len(chunk.codes), np.int8)
    # columns as read (a row group, or a piece across two): taken from, never copied whole
    extra = {c: chunk.extra.column(c) for c in q.extra if c != "event"}
    if "event" in q.extra or any(r.where for r in q.rules):
        events = pa.DictionaryArray.from_arrays(from_numbers(chunk.codes), from_strings(src.vocab))
        extra |= {"event": events} if "event" in q.extra else {}
        if any(r.where for r in q.rules):
            props = dict(zip(chunk.extra.column_names, chunk.extra.columns))
            mask = _condition_bits(pa.table({**props, "event": events}), mask, q.rules)
    return Batch(users=src.user_ids.slice(u0, u1 - u0), offsets=src.starts[u0:u1 + 1] - chunk.row0,
                 t=chunk.t, mask=mask, columns=extra)


def _whole_users(src: ClusteredEvents, chunks: Iterator[RowGroup]) -> Iterator[RowGroup]:
    """Row groups cut at user starts: each row group's whole users as they are (no
    copy), and a user who runs across row groups as a small piece of their own."""
    carry = None  # the rows so far of a user who began in an earlier row group
    for chunk in chunks:
        n, at = len(chunk.t), 0
        if carry is not None:
            at = min(int(src.starts[carry.uid[0] + 1]) - chunk.row0, n)
            carry = RowGroup.concat([carry, chunk.slice(0, at)])
            if at == n:
                continue
            yield carry
            carry = None
        last = int(chunk.uid[-1])
        ends_here = src.starts[last + 1] == chunk.row0 + n
        cut = n if ends_here else int(src.starts[last]) - chunk.row0
        if cut > at:
            yield chunk.slice(at, cut)
        if cut < n:
            carry = chunk.slice(cut, n)
    if carry is not None:
        yield carry


def _ordered_batches(q: FlagQuery, task: str) -> Iterator[Batch]:
    """Fast path: rows already in (user, time) order; event names compared as codes."""
    src: ClusteredEvents = q.source
    props = sorted({c.prop for r in q.rules for c in r.where})
    columns = [c for c in dict.fromkeys([*props, *q.extra]) if c != "event"]
    lut = name_bits(q.rules, list(src.vocab))
    done = 0
    for piece in _whole_users(src, src.row_groups(columns)):
        yield _ordered_batch(src, piece, q, lut)
        done += len(piece.t)
        report(task, done)


def _in_order(q: FlagQuery) -> InOrder | None:
    """The rows, when they can be read and stand in user order without the engine."""
    props = sorted({c.prop for r in q.rules for c in r.where})
    carried = [c for c in dict.fromkeys([*props, *q.extra]) if c != "event"]
    how = dict(keep_all=q.keep_all, carried=carried,
               by_id=bool(carried) or any(r.where for r in q.rules))
    rows = read_in_order(q.source, q.rules, **how)
    return rows if rows is not None else read_reordered(q.source, q.rules, **how)


def _in_order_batches(q: FlagQuery, rows: InOrder, batch_rows: int, task: str
                      ) -> Iterator[Batch]:
    """Batches of whole users, of about `batch_rows` rows or a part each, from rows in
    user order."""
    vocab = pa.array(rows.vocab, pa.string())
    where = any(r.where for r in q.rules)
    engine = q.source.table._find_backend(use_default=True) if where else None
    done = 0
    for part in rows.parts:
        offsets, n_users, u0 = part.offsets, len(part.offsets) - 1, 0
        while u0 < n_users:
            r0 = int(offsets[u0])
            u1 = min(max(int(np.searchsorted(offsets, r0 + batch_rows, "right")) - 1, u0 + 1),
                     n_users)
            r1 = int(offsets[u1])
            cols = {c: v.slice(r0, r1 - r0) for c, v in part.carried.items()}
            events = pa.DictionaryArray.from_arrays(pa.array(part.codes[r0:r1]), vocab) \
                if where or "event" in q.extra else None
            mask = part.mask[r0:r1]
            if where:
                mask = _condition_bits(pa.table({**cols, "event": events}), mask.copy(), q.rules,
                                       engine)
            extra = {c: cols[c] for c in q.extra if c != "event"}
            extra |= {"event": events} if "event" in q.extra else {}
            yield Batch(users=part.users.slice(u0, u1 - u0), offsets=offsets[u0:u1 + 1] - r0,
                        t=part.t[r0:r1], mask=mask, columns=extra)
            report(task, done + r1)
            u0 = u1
        done += int(offsets[-1])


def _to_batch(table: pa.Table, extra: Sequence[str]) -> Batch:
    ids = table["user_id"].combine_chunks()
    starts = np.flatnonzero(new_users(ids))
    offsets = np.append(starts, table.num_rows).astype(np.int64)
    users = ids.take(pa.array(starts))
    if pa.types.is_dictionary(users.type):
        users = users.cast(pa.string())
    ts = table["ts"].combine_chunks()
    if ts.type.unit != "us":  # engines may hand back ns or ms: always count in µs
        ts = ts.cast(pa.timestamp("us", tz=ts.type.tz))
    t = ts.cast(pa.int64()).to_numpy(zero_copy_only=False)
    mask = table["_mask"].combine_chunks().cast(pa.int64()).to_numpy(zero_copy_only=False)
    return Batch(users=users, offsets=offsets, t=np.ascontiguousarray(t),
                 mask=np.ascontiguousarray(mask),
                 columns={c: table[c].combine_chunks() for c in extra})


def iter_batches(query: FlagQuery, *, batch_rows: int | None = None, task: str = "events"
                 ) -> Iterator[Batch]:
    """Stream flagged rows as user-aligned batches (progress: rows read): from an engine or
    from rows already in user order (`presorted`), of about `batch_rows` (default
    BATCH_ROWS) rows; from the clustered copy, a row group each."""
    batch_rows = batch_rows or BATCH_ROWS
    if query.source.clustered:
        yield from _ordered_batches(query, task)
        return
    rows = _in_order(query)
    if rows is not None:
        yield from _in_order_batches(query, rows, batch_rows, task)
        return
    yield from user_batches(_counted(_ibis_tables(query, batch_rows), task), query.extra,
                            batch_rows)


def _counted(tables: Iterator[pa.Table], task: str) -> Iterator[pa.Table]:
    done = 0
    for table in tables:
        done += table.num_rows
        report(task, done)
        yield table


def _last_user(users: pa.ChunkedArray) -> pa.ChunkedArray:
    """Rows of the last row's user (missing ids, sorted together, are one nameless user)."""
    last = users[-1]
    return pc.is_null(users) if not last.is_valid else pc.equal(users, last).fill_null(False)


def user_batches(tables: Iterator[pa.Table], extra: Sequence[str], batch_rows: int
                 ) -> Iterator[Batch]:
    """Tables of rows in user order (`user_id`, `ts`, `_mask`, the `extra` columns) as
    batches of whole users, of about `batch_rows` rows (a user's rows are never split)."""
    pending: list[pa.Table] = []
    pending_rows = 0
    for table in tables:
        if table.num_rows == 0:
            continue
        pending.append(table)
        pending_rows += table.num_rows
        if pending_rows < batch_rows:
            continue
        table = pa.concat_tables(pending)
        keep = _last_user(table["user_id"])
        head, tail = table.filter(pc.invert(keep)), table.filter(keep)
        pending, pending_rows = [tail], tail.num_rows
        if head.num_rows:
            yield _to_batch(head, extra)
    if pending_rows:
        yield _to_batch(pa.concat_tables(pending), extra)
