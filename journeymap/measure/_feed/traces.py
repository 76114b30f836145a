"""Users' event traces as integer codes: the input of paths and transitions.

Events are ordered per user by (ts, event, event_id) — the same deterministic
order as the funnel — and coded against one vocabulary. With a journey, events
that share a timestamp are simultaneous, as in the stage engine: at one instant
the events that qualify for an earlier stage come first (then the others, in the
deterministic order), so a tie never reads as a backtrack or a skip. At stage
level each event that qualifies for a stage becomes that stage (the earliest
stage in the journey whose rule it meets); other events drop out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from journeymap._deferred import ibis, ir
from journeymap.errors import QueryError
from journeymap.measure._feed.batches import Batch, flagged_rows, iter_batches
from journeymap.measure._feed.parallel import joined, over_ranges, user_ranges
from journeymap.measure._feed.users import positions
from journeymap.measure.kernels.order import stage_order_at_ties
from journeymap.spec.model import ActivityRule, Journey
from journeymap.store.frames import numbers
from journeymap.store.sources import as_source

OTHER = "other"


def users_with_rows(offsets: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """After keeping only the rows in `keep`: the new user offsets (users left with no
    rows dropped) and which users still have rows."""
    per_user = np.add.reduceat(keep.astype(np.int64), offsets[:-1]) \
        if len(offsets) > 1 else np.zeros(0, np.int64)
    has = per_user > 0
    return np.concatenate(([0], np.cumsum(per_user[has]))).astype(np.int64), has


@dataclass(frozen=True)
class Stream:
    """All selected users' sequences: codes into `vocab`, times in µs, user starts."""

    users: pa.Array
    offsets: np.ndarray
    t: np.ndarray
    codes: np.ndarray
    vocab: tuple[str, ...]
    stage_bits: np.ndarray | None = None  # per row, bit k = qualifies for stage k

    @property
    def n_users(self) -> int:
        return len(self.offsets) - 1

    def user_of_row(self) -> np.ndarray:
        """Index of the user each row belongs to."""
        return np.repeat(np.arange(self.n_users), np.diff(self.offsets))

    def as_batch(self) -> Batch:
        """The stream's rows as one batch for a kernel, its stage bits as the mask."""
        return Batch(self.users, self.offsets, self.t, self.stage_bits)

    def keep_rows(self, keep: np.ndarray, codes: np.ndarray | None = None,
                  vocab: tuple[str, ...] | None = None) -> Stream:
        """The stream with only some rows (users left with no rows are dropped)."""
        offsets, has = users_with_rows(self.offsets, keep)
        new_codes = (self.codes if codes is None else codes)[keep]
        bits = None if self.stage_bits is None else self.stage_bits[keep]
        return Stream(self.users.filter(pa.array(has)), offsets, self.t[keep], new_codes,
                      vocab or self.vocab, bits)


def select_users(events: ir.Table, users: Iterable[str] | None) -> ir.Table:
    """Only the events of the given users (all when None)."""
    if users is None:
        return events
    ids = ibis.memtable(pa.table({"user_id": pa.array(sorted({str(u) for u in users}),
                                                          pa.string())}))
    return events.semi_join(ids, "user_id")


def event_stream(events, *, journey: Journey | None = None,
                 users: Iterable[str] | None = None, include=None, exclude=None) -> Stream:
    """Every selected event of every selected user, coded, in deterministic order (with a
    journey: simultaneous events in stage order, and each row's stage bits). `include` /
    `exclude` keep or drop event names after the stage rules were read, so the bits of
    the rows kept are what the stage engine sees."""
    source = as_source(events)
    if users is not None:
        source = as_source(select_users(source.table, users))
    stream = coded_stream(_sequences(source, journey), journey is not None)
    return only_events(stream, include, exclude)


def _sequences(source, journey: Journey | None):
    """Every event of a source as batches of whole users, with their names (and, with a
    journey, stage bits as their masks)."""
    rules = [s.enter for s in journey.stages] if journey else []
    return iter_batches(flagged_rows(source, rules, keep_all=True, extra=("event",)), task="sequences")


def user_pieces(offsets: np.ndarray, codes: np.ndarray, t: np.ndarray) -> list[tuple]:
    """Rows of whole users (a stream, or a batch) as (offsets, codes, t) pieces: their
    user ranges, so that one large batch is still worked on by every core."""
    return [(offsets[u0:u1 + 1], codes, t) for u0, u1 in user_ranges(offsets)]


def event_pieces(events) -> list[Stream]:
    """Every event of a source as it is read, not joined: a stream of whole users per
    batch (per user in the deterministic order), every piece coded against one
    vocabulary; no stage bits, and same-instant rows not put in stage order (for counts
    inside time windows, which the order of one instant's rows does not change)."""
    parts, names = coded_parts(iter_batches(flagged_rows(as_source(events), [], keep_all=True, extra=("event",)),
                                            task="sequences"))
    return [Stream(b.users, b.offsets, b.t, c, names) for b, c in parts]


def coded_stream(batches, with_bits: bool) -> Stream:
    """Batches of whole users (with their `event` column) as one coded stream; `with_bits`:
    their masks are stage bits, and same-instant rows are put in stage order."""
    parts, names = coded_parts(batches)
    if not parts:
        return Stream(pa.array([], pa.string()), np.zeros(1, np.int64), np.zeros(0, np.int64),
                      np.zeros(0, np.int32), names, np.zeros(0, np.int64) if with_bits else None)
    stream = _concat(parts, names, with_bits)
    return _ties_in_stage_order(stream) if with_bits else stream


def coded_parts(batches) -> tuple[list[tuple[Batch, np.ndarray]], tuple[str, ...]]:
    """Each batch with its events' codes against one vocabulary (names in the order first
    seen), and that vocabulary."""
    vocab: dict[str, int] = {}
    parts = []
    for b in batches:
        enc = event_names(b)
        local = np.array([vocab.setdefault(name, len(vocab)) for name in enc.dictionary.to_pylist()],
                         np.int32)
        idx = numbers(enc.indices)
        same = len(local) == 0 or (local == np.arange(len(local))).all()  # e.g. the clustered copy
        codes = idx if same and idx.dtype == np.int32 else local[idx] if len(local) else \
            np.zeros(0, np.int32)
        parts.append((b, codes))
    return parts, tuple(sorted(vocab, key=vocab.get))


def event_names(batch: Batch) -> pa.DictionaryArray:
    """A batch's event names, dictionary-encoded; a row without a name is an error (a
    sequence needs a name on every row)."""
    col = batch.columns["event"]
    enc = col if pa.types.is_dictionary(col.type) else pc.dictionary_encode(col)
    enc = enc.combine_chunks() if isinstance(enc, pa.ChunkedArray) else enc
    if enc.null_count:
        row = int(np.flatnonzero(enc.is_null().to_numpy(zero_copy_only=False))[0])
        user = batch.users[int(np.searchsorted(batch.offsets, row, "right")) - 1]
        raise QueryError(f"events without an event name (the first of user {user}): paths, "
                         "transitions and drivers need a name on every row; fill or filter them")
    return enc


def _ties_in_stage_order(stream: Stream) -> Stream:
    """Rows of one user at one instant reordered by the earliest stage each qualifies
    for (rows for no stage last), the deterministic order kept otherwise (in place: the
    stream's codes and bits are its own, fresh from `_concat`)."""
    offsets = stream.offsets
    over_ranges(user_ranges(offsets), lambda u0, u1: stage_order_at_ties(
        offsets[u0:u1 + 1], stream.t, stream.stage_bits, stream.codes))
    return stream


def only_events(stream: Stream, include=None, exclude=None) -> Stream:
    """The stream with only the event names in `include` (all when None) and none in
    `exclude`, coded against the names left (in the order they were first seen)."""
    if not include and not exclude:
        return stream
    wanted = set(include) if include else set(stream.vocab)
    wanted -= set(exclude or ())
    kept_names = np.array([v in wanted for v in stream.vocab] + [False], np.bool_)
    keep = kept_names[stream.codes] if len(stream.codes) else np.zeros(0, np.bool_)
    left = stream.keep_rows(keep)
    used = np.zeros(len(stream.vocab), np.bool_)
    used[left.codes] = True
    remap = np.cumsum(used).astype(np.int32) - 1
    return Stream(left.users, left.offsets, left.t, remap[left.codes],
                  tuple(v for v, u in zip(stream.vocab, used) if u), left.stage_bits)


def _concat(parts, names, with_bits) -> Stream:
    offsets, shift = [np.zeros(1, np.int64)], 0
    for b, _ in parts:
        offsets.append(b.offsets[1:] + shift)
        shift += int(b.offsets[-1])
    return Stream(pa.concat_arrays([b.users for b, _ in parts]), np.concatenate(offsets),
                  joined([b.t for b, _ in parts]), joined([c for _, c in parts]),
                  names, joined([b.mask for b, _ in parts]) if with_bits else None)


def fold_rare(stream: Stream, threshold: float) -> Stream:
    """Events making up less than `threshold` of all occurrences become 'other'."""
    if threshold <= 0 or not len(stream.codes):
        return stream
    counts = np.bincount(stream.codes, minlength=len(stream.vocab))
    rare = counts / counts.sum() < threshold
    if not rare.any():
        return stream
    kept = [v for v, r in zip(stream.vocab, rare) if not r]
    vocab = tuple(kept) + ((OTHER,) if OTHER not in kept else ())
    index = {v: i for i, v in enumerate(vocab)}
    remap = np.array([index[OTHER] if r else index[v] for v, r in zip(stream.vocab, rare)], np.int32)
    return Stream(stream.users, stream.offsets, stream.t, remap[stream.codes], vocab,
                  stream.stage_bits)


def lowest_bit(bits: np.ndarray) -> np.ndarray:
    """Index of the lowest set bit of each value (-1 for zero)."""
    low = bits & -bits
    out = np.full(bits.shape, -1, np.int64)
    nz = low > 0
    out[nz] = np.log2(low[nz].astype(np.float64)).round().astype(np.int64)
    return out


def stage_stream(stream: Stream, journey: Journey, entries=None) -> Stream:
    """The stream at stage level: qualifying events become their (earliest) stage. An
    activity stage (entered by repeated activity, not by one event) appears once, at
    the event that entered it; `entries` (StageEntries of these users) says when."""
    bits = stream.stage_bits
    activity = [k for k, s in enumerate(journey.stages) if isinstance(s.enter, ActivityRule)]
    if activity:
        bits = _activity_at_entry(stream, activity, entries)
    stage = lowest_bit(bits)
    keep = stage >= 0
    return stream.keep_rows(keep, codes=stage.astype(np.int32),
                            vocab=tuple(s.id for s in journey.stages))


def _activity_at_entry(stream: Stream, activity: list[int], entries) -> np.ndarray:
    """Stage bits with each activity stage's bit kept only on the user's first row at
    the instant they entered it (not skipped)."""
    if entries is None:
        raise ValueError("a journey with activity stages needs its stage entries here")
    bits = stream.stage_bits.copy()
    if not entries.n_users:  # nobody entered the journey: no activity stage either
        for k in activity:
            bits &= ~(np.int64(1) << k)
        return bits
    pos = positions(entries.users, stream.users)
    user = stream.user_of_row()
    known = pos[user] >= 0
    at = np.maximum(pos[user], 0)
    for k in activity:
        flag = np.int64(1) << k
        entered = known & (entries.entry_t[at, k] == stream.t) & ~entries.skipped[at, k]
        rows = np.flatnonzero(((stream.stage_bits & flag) != 0) & entered)
        bits &= ~flag
        first = rows[np.unique(user[rows], return_index=True)[1]]
        bits[first] |= flag
    return bits
