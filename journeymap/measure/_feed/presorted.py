"""Events that already stand in user order, read without an engine sort.

Events are often written in (user_id, ts) order: a warehouse export clustered by
user, a DataFrame sorted before, a file journeymap wrote. When the events are a
table held in memory or a DuckDB view over Parquet files (`store.scan`), their
rows are read straight into Arrow, flagged by event name, and their order is
checked, not trusted: user ids never go down (in text order, as every engine
sorts them) and no user's time goes back. Rows of one user at one instant are
put in (event, event_id) order here when they are not.

Events in another order (a log in time order, a DataFrame sorted by time) that fit
in memory (REORDER_ROWS) are put in user order here instead (`read_reordered`): read
whole, flagged, their user ids coded and ranked, then counted into user order, each
user's rows in time order.

Anything else (a missing id, time or name, a time finer than a microsecond, a table
only the engine can read, more rows than fit) gives None before a row is handed on,
and the engine flags and sorts as always: the same rows in the same order, so the
same numbers either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from journeymap.measure._feed.parallel import over_items
from journeymap.measure._feed.predicates import name_bits, name_ranks
from journeymap.measure.kernels.order import (
    IN_ORDER,
    OUT_OF_ORDER,
    TIES_OUT_OF_ORDER,
    counting_order,
    keep_flagged,
    order_of_rows,
)
from journeymap.spec.model import EventRule
from journeymap.store.clustered import new_users_at
from journeymap.store.frames import odd_last_bytes

#: text columns read dictionary-coded from Parquet: user order and names come from codes
CODED = ("user_id", "event")
#: rows flagged and checked at once, on the kernels' threads (a DataFrame is one big chunk)
CHUNK_ROWS = 1 << 20
#: events put in user order in memory at most (about 90 bytes a row at the peak, text ids
#: of 10-40 bytes); beyond, the engine sorts them (and spills to disk)
REORDER_ROWS = 20_000_000


@dataclass(frozen=True)
class Users:
    """Whole users' (flagged) rows, one user after another: ids, starts, times, names, bits."""

    users: pa.Array  # the user ids, sorted
    offsets: np.ndarray  # row where each user starts, plus the end
    t: np.ndarray  # int64 µs
    codes: np.ndarray  # int32 into the vocabulary
    mask: np.ndarray  # bit k = rules[k] matched the name
    carried: dict[str, pa.Array]  # other columns asked for, row for row


@dataclass(frozen=True)
class InOrder:
    """The rows of every user in user order, as read: parts of whole users, each user in
    one part (never joined into one array: a copy of every row and its page faults)."""

    parts: list[Users]
    vocab: tuple[str, ...]


def read_in_order(source, rules: Sequence[EventRule], *, keep_all: bool,
                  carried: Sequence[str], by_id: bool) -> InOrder | None:
    """The rows of `source` in user order, flagged by event name, each row with the
    `carried` columns (only rows with a bit unless keep_all); None when they cannot be
    read without the engine or do not stand in user order. `by_id`: rows of one user,
    instant and name differ (they carry columns or conditions), so `event_id` orders
    them as well."""
    got = _read(source, carried, by_id, coded=CODED, ordered_by="user_id")
    if got is None:
        return None
    rows = _Reader(rules, keep_all, got[0], carried)
    for piece in got[1]:
        chunks = _prepared(rows, piece)
        if chunks is None:
            return None
        for part in over_items(chunks, rows.flag):
            if part is None or not rows.join(part):
                return None
    return rows.in_order(by_id)


def read_reordered(source, rules: Sequence[EventRule], *, keep_all: bool,
                   carried: Sequence[str], by_id: bool) -> InOrder | None:
    """`read_in_order` for rows in any order: read whole (at most REORDER_ROWS), flagged,
    then put in user order here; None when they cannot be read without the engine."""
    got = _read(source, carried, by_id, coded=("event",), max_rows=REORDER_ROWS)
    if got is None:
        return None
    rows, kept = _Reader(rules, keep_all, got[0], carried), []
    for piece in got[1]:
        chunks = _prepared(rows, piece)
        if chunks is None:
            return None
        kept += over_items(chunks, rows.kept)
        if any(k is None for k in kept):
            return None
    return rows.reordered([k for k in kept if len(k.t)], by_id)


def _read(source, carried: Sequence[str], by_id: bool, **how):
    """The columns to read and their pieces (`source.pieces(columns, **how)`), or None
    when the source cannot be read without its engine."""
    pieces = getattr(source, "pieces", None)
    if pieces is None or {"user_id", "ts"} & set(carried):  # carried as core columns, not here
        return None
    columns = list(dict.fromkeys(["user_id", "ts", "event", *(["event_id"] if by_id else []),
                                  *carried]))
    read = pieces(columns, **how)
    return None if read is None else (columns, read)


def _prepared(rows: _Reader, piece: pa.Table) -> list | None:
    """A piece's chunks with their names coded (`_Reader.prepare`), or None when one
    cannot be read here (a missing id, time or name)."""
    batches = [c for c in piece.to_batches(max_chunksize=CHUNK_ROWS) if c.num_rows]
    names = over_items(batches, _names)
    if any(n is None for n in names):
        return None
    return [rows.prepare(c, n) for c, n in zip(batches, names)]


@dataclass
class _Part:
    """A chunk's kept rows: where users start, times, name codes, bits, carried columns."""

    starts: np.ndarray
    t: np.ndarray
    codes: np.ndarray
    mask: np.ndarray
    users: pa.Array  # the id of each user starting here
    first: str
    last: str
    carried: dict[str, pa.Array]

    def slice(self, lo: int, hi: int) -> _Part:
        """Rows lo..hi-1 (views)."""
        u0 = int(np.count_nonzero(self.starts[:lo]))
        u1 = u0 + int(np.count_nonzero(self.starts[lo:hi]))
        return _Part(self.starts[lo:hi], self.t[lo:hi], self.codes[lo:hi], self.mask[lo:hi],
                     self.users.slice(u0, u1 - u0), self.first, self.last,
                     {c: v.slice(lo, hi - lo) for c, v in self.carried.items()})

    @staticmethod
    def concat(parts: list[_Part]) -> _Part:
        """Consecutive parts as one (copies)."""
        if len(parts) == 1:
            return parts[0]
        return _Part(*(np.concatenate([getattr(p, f) for p in parts])
                       for f in ("starts", "t", "codes", "mask")),
                     pa.concat_arrays([p.users for p in parts]), parts[0].first, parts[-1].last,
                     {c: pa.concat_arrays([p.carried[c] for p in parts]) for c in parts[0].carried})


@dataclass(frozen=True)
class _Kept:
    """A chunk's kept rows in the order they come: each row's user id, time, name code,
    bits and carried columns."""

    ids: pa.Array
    t: np.ndarray
    codes: np.ndarray
    mask: np.ndarray
    carried: dict[str, pa.Array]


class _Reader:
    """Chunks of rows, flagged, filtered and checked against the chunk before: `prepare`
    and `join` one chunk after another, `flag` in parallel."""

    def __init__(self, rules: Sequence[EventRule], keep_all: bool, columns: list[str],
                 carried: Sequence[str]):
        self.rules, self.keep_all, self.columns = rules, keep_all, columns
        self.carried = carried
        self.vocab: dict[str, int] = {}
        self.last_user: str | None = None
        self.parts: list[_Part] = []

    def prepare(self, chunk: pa.RecordBatch, names: pa.DictionaryArray):
        """The chunk with its names (`_names`) coded into the vocabulary."""
        labels = names.dictionary.to_pylist()
        codes_of = np.array([self.vocab.setdefault(v, len(self.vocab)) for v in labels],
                            np.int32)
        bits = name_bits(self.rules, labels) if self.rules else np.zeros(len(labels) + 1, np.int8)
        return chunk, names.indices.to_numpy(zero_copy_only=False), bits, codes_of

    @property
    def names(self) -> tuple[str, ...]:
        """The event names seen, by code."""
        return tuple(sorted(self.vocab, key=self.vocab.get))

    def flag(self, prepared) -> _Part | None:
        """The chunk's kept rows (see `_Part`); None if a user id is below the one before
        it, or a time is finer than a microsecond."""
        chunk, rows, mask, codes, t, whole = self._taken(prepared)
        if not len(rows):
            return _Part(np.zeros(0, np.bool_), np.zeros(0, np.int64), codes, mask,
                         pa.array([], pa.string()), "", "", {})
        if t is None:
            return None
        user = chunk.column("user_id")
        starts = _user_starts(user, rows, whole)
        if starts is None:
            return None
        ids = user.take(pa.array(rows[starts])).cast(pa.string())
        return _Part(starts, t, codes, mask, ids, ids[0].as_py(), user[int(rows[-1])].as_py(),
                     self._carried(chunk, rows, whole))

    def kept(self, prepared) -> _Kept | None:
        """A chunk's kept rows in the order they come; None if a time is finer than a
        microsecond."""
        chunk, rows, mask, codes, t, whole = self._taken(prepared)
        if t is None:
            return None
        user = chunk.column("user_id")
        user = user.cast(pa.string()) if pa.types.is_dictionary(user.type) else user
        return _Kept(user if whole else user.take(pa.array(rows)), t, codes, mask,
                     self._carried(chunk, rows, whole))

    def reordered(self, kept: list[_Kept], by_id: bool) -> InOrder | None:
        """Kept rows (`kept`) put in order of user id (byte-wise, as engines sort text),
        then time (rows at one instant as `_in_event_order` puts them)."""
        if not kept:
            return InOrder([], self.names)
        t = np.concatenate([k.t for k in kept])
        ids, user = _coded_ids([k.ids for k in kept])
        by_text = pc.sort_indices(ids).to_numpy(zero_copy_only=False)
        place = np.empty(len(ids), np.int64)
        place[by_text] = np.arange(len(ids))
        user = place[user]
        order = np.argsort(t, kind="stable") if len(t) > 1 and (t[1:] < t[:-1]).any() \
            else None  # not in time order: in time order first, then counted by user
        if order is not None:
            user = user[order]
        within, offsets = counting_order(user, len(ids))
        order = within if order is None else order[within]
        del user, within
        starts = np.zeros(len(t), np.bool_)
        starts[offsets[:-1]] = True
        taken = pa.array(order)
        part = _Part(starts, t[order], np.concatenate([k.codes for k in kept])[order],
                     np.concatenate([k.mask for k in kept])[order],
                     ids.take(pa.array(by_text)).cast(pa.string()), "", "",
                     {c: pa.concat_arrays([k.carried[c] for k in kept]).take(taken)
                      for c in self.columns[3:]})
        return self._in_event_order([part], by_id)

    def join(self, part: _Part) -> bool:
        """Put a chunk's rows after the rows so far; False if its first id is below the last."""
        if not len(part.t):
            return True
        if self.last_user is not None:
            if part.first < self.last_user:
                return False
            if part.first == self.last_user:  # the user goes on from the chunk before
                part.starts[0] = False
                part.users = part.users.slice(1)
        self.last_user = part.last
        self.parts.append(part)
        return True

    def in_order(self, by_id: bool) -> InOrder | None:
        """Every row taken, each user's rows in event order; None if a user's time goes back."""
        parts, self.parts = _whole_users(self.parts), []
        return self._in_event_order(parts, by_id)

    def _taken(self, prepared):
        """A chunk's rows with a rule's bit (every row if keep_all): the chunk, their row
        numbers, bits, name codes and times (None: one finer than a microsecond), and
        whether that is every row."""
        chunk, names, bits, codes_of = prepared
        n = len(names)
        rows, mask, codes = np.empty(n, np.int64), np.empty(n, bits.dtype), np.empty(n, np.int32)
        k = keep_flagged(names, bits, codes_of, self.keep_all, rows, mask, codes)
        t = _micros(chunk.column("ts")) if k else np.zeros(0, np.int64)
        if t is not None and k < n:
            t = t[rows[:k]]
        return chunk, rows[:k], mask[:k], codes[:k], t, k == n

    def _carried(self, chunk: pa.RecordBatch, rows: np.ndarray, whole: bool) -> dict:
        """The other columns asked for, at `rows` (all of them when `whole`)."""
        return {c: chunk.column(c) if whole else chunk.column(c).take(pa.array(rows))
                for c in self.columns[3:]}

    def _in_event_order(self, parts: list[_Part], by_id: bool) -> InOrder | None:
        """Parts of whole users with each one's rows in event order (`_in_event_order`, on
        both cores); None if a user's time goes back."""
        names = self.names
        rank = name_ranks(names)
        users = over_items(parts, lambda p: _in_event_order(p, rank, by_id))
        if any(u is None for u in users):
            return None
        if "event_id" not in self.carried:  # read to order ties only
            for u in users:
                u.carried.pop("event_id", None)
        return InOrder(users, names)


def _coded_ids(users: list[pa.Array]) -> tuple[pa.Array, np.ndarray]:
    """The distinct ids among `users` (ids row by row, array by array) and each row's
    code among them. Coding hashes every row into a table of all the distinct ids (random
    memory access), so the ids are split by their last byte into two disjoint halves,
    each coded on a core of its own."""
    kind = users[0].type
    odd = [odd_last_bytes(u) for u in users]

    def code(side: bool) -> tuple[pa.Array, np.ndarray]:
        picked = [u.filter(pa.array(o if side else ~o)) for u, o in zip(users, odd)]
        coded = pc.dictionary_encode(pa.chunked_array(picked, type=kind))
        if not coded.num_chunks:
            return pa.array([], kind), np.zeros(0, np.int64)
        return coded.chunk(coded.num_chunks - 1).dictionary, np.concatenate(
            [c.indices.to_numpy(zero_copy_only=False) for c in coded.chunks])

    (even_ids, even), (odd_ids, odd_codes) = over_items([False, True], code)
    side = np.concatenate(odd)
    codes = np.empty(len(side), np.int64)
    codes[~side] = even
    codes[side] = odd_codes + len(even_ids)
    return pa.concat_arrays([even_ids, odd_ids]), codes


def _whole_users(parts: list[_Part]) -> list[_Part]:
    """The parts cut at user starts, so that every user is in one part: a user who runs on
    into the next part becomes a small part of their own (the only rows copied)."""
    out, carry = [], []  # carry: the rows so far of a user running across parts
    for k, p in enumerate(parts):
        if carry:  # p begins with the rest of that user
            at = _next_start(p.starts)
            carry.append(p.slice(0, at))
            if at == len(p.t):
                continue
            out.append(_Part.concat(carry))
            carry, p = [], p.slice(at, len(p.t))
        if k + 1 < len(parts) and not parts[k + 1].starts[0]:
            last = int(np.flatnonzero(p.starts)[-1])
            if last:
                out.append(p.slice(0, last))
            carry = [p.slice(last, len(p.t))]
        else:
            out.append(p)
    if carry:
        out.append(_Part.concat(carry))
    return out


def _next_start(starts: np.ndarray) -> int:
    """The first row that begins a user (len(starts) if none)."""
    found = np.flatnonzero(starts)
    return int(found[0]) if len(found) else len(starts)


def _in_event_order(p: _Part, rank: np.ndarray, by_id: bool) -> Users | None:
    """A part's users with each one's rows in event order; None if a user's time goes back
    or rows that event ids would order lack one."""
    status, same = order_of_rows(p.starts, p.t, p.codes, rank)
    if status == OUT_OF_ORDER:
        return None
    ids = p.carried.get("event_id") if by_id else None
    if ids is not None and ids.null_count:
        return None
    codes, mask, carried = p.codes, p.mask, p.carried
    if status == IN_ORDER and ids is not None and same:
        status = _ids_out_of_order(p.starts, p.t, rank[codes], ids)
    if status != IN_ORDER:
        perm = _ties_in_order(p.starts, p.t, rank[codes], ids)
        codes, mask = codes[perm], mask[perm]
        carried = {c: v.take(pa.array(perm)) for c, v in carried.items()}
    offsets = np.append(np.flatnonzero(p.starts), len(p.t)).astype(np.int64)
    return Users(p.users, offsets, p.t, codes, mask, carried)


def _names(chunk: pa.RecordBatch) -> pa.DictionaryArray | None:
    """A chunk's event names dictionary-coded (as read from Parquet, else encoded here, on
    the kernels' threads); None when it cannot be read here (a missing id, time or name)."""
    user, ts, event = (chunk.column(c) for c in ("user_id", "ts", "event"))
    if user.null_count or ts.null_count or event.null_count or \
            not pa.types.is_timestamp(ts.type):
        return None
    return event if pa.types.is_dictionary(event.type) else pc.dictionary_encode(event)


def _micros(ts: pa.Array) -> np.ndarray | None:
    """Times as int64 µs; None if one is finer than a microsecond."""
    if ts.type.unit != "us":
        try:  # exact or not at all
            ts = ts.cast(pa.timestamp("us", tz=ts.type.tz))
        except pa.ArrowInvalid:
            return None
    return ts.cast(pa.int64()).to_numpy(zero_copy_only=False)


def _user_starts(user: pa.Array, rows: np.ndarray, whole: bool) -> np.ndarray | None:
    """Per kept row (`rows`, all of them when `whole`): it begins a user; None if an id is
    below the one before it."""
    if pa.types.is_dictionary(user.type):  # ordered codes of an ordered dictionary
        d, codes = user.dictionary, user.indices.to_numpy(zero_copy_only=False)
        codes = codes if whole else codes[rows]
        step = np.diff(codes)
        if (step >= 0).all() and (len(d) < 2 or pc.all(pc.less(d.slice(0, len(d) - 1),
                                                                d.slice(1))).as_py()):
            return np.concatenate(([True], step != 0))
        user = user.cast(pa.string())
    return new_users_at(user, rows)


def _ids_out_of_order(starts, t, ranks, ids: pa.Array) -> int:
    """TIES_OUT_OF_ORDER if a row's event id is below that of the row before it in the
    same user, instant and name, else IN_ORDER."""
    i = np.flatnonzero(~starts[1:] & (t[1:] == t[:-1]) & (ranks[1:] == ranks[:-1])) + 1
    below = pc.any(pc.less(ids.take(pa.array(i)), ids.take(pa.array(i - 1)))).as_py()
    return TIES_OUT_OF_ORDER if below else IN_ORDER


def _ties_in_order(starts, t, ranks, ids: pa.Array | None) -> np.ndarray:
    """The row order with each user's rows at one instant by (event name, event id)."""
    n = len(t)
    tie = ~starts[1:] & (t[1:] == t[:-1])
    run = np.cumsum(np.concatenate(([True], ~tie))) - 1
    rows = np.flatnonzero(np.bincount(run)[run] > 1)
    keys = {"run": run[rows], "rank": ranks[rows]}
    if ids is not None:
        keys["id"] = ids.take(pa.array(rows))
    order = pc.sort_indices(pa.table(keys), sort_keys=[(k, "ascending") for k in keys])
    perm = np.arange(n)
    perm[rows] = rows[order.to_numpy()]
    return perm
